/**
 * The in-process `RemoteCacheBackend`: the same contract as `RedisBackend`, with no server. It is the embedded
 * default for demos and the layer to swap in for tests.
 *
 * It behaves like Redis where a test could tell the difference: values are stored serialized (so mutating a
 * value after `set` does not change the cached one, and a value the serializer rejects fails `set`), keys are
 * `prefix + key`, `clear` removes exactly the keys under the backend's prefix, and TTLs follow the shared
 * semantics. Time comes from Effect's `Clock`, so a test clock (`TestClock.adjust`) expires entries.
 *
 * @since 0.1.0
 */
import * as Cause from "#effect/Cause"
import * as Clock from "#effect/Clock"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as Backend from "./internal/backend/backend.js"
import * as Codec from "./internal/backend/codec.js"
import * as Listing from "./internal/backend/keys.js"
import { type ResolvedTtl, resolveTtl } from "./internal/backend/ttl.js"
import { RemoteCacheBackend, type RemoteCacheBackendShape } from "./RemoteCacheBackend.js"
import type * as Serializer from "./Serializer.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const StoreTypeId: unique symbol = Symbol.for("effect-remote-cache/MemoryBackend/MemoryStore")

/**
 * @since 0.1.0
 * @category type ids
 */
export type StoreTypeId = typeof StoreTypeId

/**
 * The storage behind one or more memory backends: a map from full key (`prefix + key`) to serialized bytes and
 * an expiry, bounded by `capacity` with least-recently-used eviction.
 *
 * Several backends with different prefixes may share one store, as several `RedisBackend`s share one server;
 * each one's `clear` then removes only the keys under its own prefix. Create one with {@link makeStore}.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryStore {
  /** Marks a store made by {@link makeStore}. */
  readonly [StoreTypeId]: StoreTypeId
  /** The most entries the store holds before evicting the least recently used; `Infinity` when unbounded. */
  readonly capacity: number
}

/**
 * Options of {@link makeStore}.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreOptions {
  /**
   * The most entries the store holds: a positive integer, or `Infinity` (the default) for no bound. Any other
   * value is a defect (`IllegalArgumentError`; `IllegalArgumentException` on Effect 3) when the store is made,
   * since it is a programming error, not a condition to recover from.
   */
  readonly capacity?: number | undefined
}

/**
 * Options of {@link make} and {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  /** Prepended to every key; `"ac:"` by default, as for `RedisBackend`. */
  readonly prefix?: string | undefined
  /**
   * The serializer of values. When omitted, the `Serializer` service is used if the context has one, else
   * `Serializer.v8`.
   */
  readonly serializer?: Serializer.SerializerShape | undefined
  /**
   * The store to use, to share one between several backends. When omitted the backend gets a store of its
   * own. Passing both `store` and `capacity` is a defect: a shared store's capacity is set by `makeStore`.
   */
  readonly store?: MemoryStore | undefined
  /** The capacity of the backend's own store (see {@link StoreOptions}); not allowed together with `store`. */
  readonly capacity?: number | undefined
}

/**
 * The prefix used when none is given, the same for every backend.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPrefix: string = Backend.defaultPrefix

interface Entry {
  readonly bytes: Uint8Array
  /** Epoch milliseconds; `Infinity` for no expiry. */
  readonly expiresAt: number
}

// Map iteration follows insertion order, so re-inserting an entry on every read and write keeps the map ordered
// from least to most recently used and eviction takes from the front. All methods are synchronous: JavaScript
// runs them to completion, so every operation (a whole `setMany` included) is atomic without a lock.
class StoreImpl implements MemoryStore {
  readonly [StoreTypeId]: StoreTypeId = StoreTypeId
  readonly entries = new Map<string, Entry>()
  // A lower bound of every entry's expiry: before it nothing can have expired, so a full store of live entries
  // does not pay for a sweep on every write.
  private earliestExpiry = Infinity

  constructor(readonly capacity: number) {}

  lookup(fullKey: string, now: number): Uint8Array | undefined {
    return this.lookupEntry(fullKey, now)?.bytes
  }

  lookupEntry(fullKey: string, now: number): Entry | undefined {
    const entry = this.entries.get(fullKey)
    if (entry === undefined) return undefined
    this.entries.delete(fullKey)
    if (isExpired(entry, now)) return undefined
    this.entries.set(fullKey, entry)
    return entry
  }

  put(fullKey: string, bytes: Uint8Array, expiresAt: number, now: number): void {
    this.entries.delete(fullKey)
    this.entries.set(fullKey, { bytes, expiresAt })
    if (expiresAt < this.earliestExpiry) this.earliestExpiry = expiresAt
    if (this.entries.size > this.capacity) this.makeRoom(now)
  }

  /**
   * Stores the entry only when the key holds nothing live (an expired entry counts as nothing); `true` when it
   * stored. One synchronous step, so no other operation comes between the check and the write. A live entry is
   * left as it is, its place in the eviction order included: a write that did not happen is no use of the key.
   */
  putIfAbsent(fullKey: string, bytes: Uint8Array, expiresAt: number, now: number): boolean {
    const entry = this.entries.get(fullKey)
    if (entry !== undefined && !isExpired(entry, now)) return false
    this.put(fullKey, bytes, expiresAt, now)
    return true
  }

  remove(fullKey: string): void {
    this.entries.delete(fullKey)
  }

  // A literal prefix test, not a pattern: no character of the prefix is special.
  removePrefix(prefix: string): void {
    for (const fullKey of this.entries.keys()) {
      if (fullKey.startsWith(prefix)) this.entries.delete(fullKey)
    }
  }

  // A literal prefix test, as in `removePrefix`; expired entries are left out (and left in place), and listing is
  // no use of a key, so the eviction order does not change.
  liveKeysUnder(prefix: string, now: number): Array<string> {
    const found: Array<string> = []
    for (const [fullKey, entry] of this.entries) {
      if (fullKey.startsWith(prefix) && !isExpired(entry, now)) found.push(fullKey)
    }
    return found
  }

  // Expired entries go first, so they never push out a live one; only then the least recently used.
  private makeRoom(now: number): void {
    if (now > this.earliestExpiry) this.sweep(now)
    for (const fullKey of this.entries.keys()) {
      if (this.entries.size <= this.capacity) break
      this.entries.delete(fullKey)
    }
  }

  private sweep(now: number): void {
    let earliest = Infinity
    for (const [fullKey, entry] of this.entries) {
      if (isExpired(entry, now)) this.entries.delete(fullKey)
      else if (entry.expiresAt < earliest) earliest = entry.expiresAt
    }
    this.earliestExpiry = earliest
  }
}

// Redis keeps a key alive through the millisecond its expiry names (it expires when now > when); so do we.
const isExpired = (entry: Entry, now: number): boolean => now > entry.expiresAt

const validCapacity = (capacity: number): boolean =>
  capacity === Infinity || (Number.isSafeInteger(capacity) && capacity > 0)

/**
 * Makes an empty store. `capacity` must be a positive integer or `Infinity` (the default); anything else is a
 * defect (`IllegalArgumentError`; `IllegalArgumentException` on Effect 3).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStore = (options?: StoreOptions): Effect.Effect<MemoryStore> =>
  Effect.suspend(() => {
    const capacity = options?.capacity ?? Infinity
    return validCapacity(capacity)
      ? Effect.sync((): MemoryStore => new StoreImpl(capacity))
      : Effect.die(
        new Cause.IllegalArgumentError(
          `MemoryBackend capacity must be a positive integer or Infinity, got ${String(capacity)}`
        )
      )
  })

/**
 * Stores `bytes` as they are under the full key `fullKey` (the prefix is not added), bypassing the serializer and
 * the TTL rules: without expiry, or expiring `ttlMillis` ms from now whatever its size. For tests that simulate an
 * entry written by another program: a later `get` of that key fails with `CacheSerializationError` when the
 * serializer cannot decode the bytes. The bytes are copied.
 *
 * @since 0.2.0
 * @category testing
 */
export const unsafeSetRaw = (
  store: MemoryStore,
  fullKey: string,
  bytes: Uint8Array,
  ttlMillis?: number
): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.sync(() =>
      // Only this module makes stores, so every MemoryStore is a StoreImpl.
      (store as StoreImpl).put(fullKey, bytes.slice(), now + (ttlMillis ?? Infinity), now)
    ))

/**
 * Makes a memory backend.
 *
 * Keys are stored as `prefix + key` (the empty key is allowed: its full key is the prefix). Values are stored
 * serialized; a value the serializer rejects fails `set` with `CacheSerializationError` and stores nothing, and
 * bytes it cannot decode fail `get` the same way. TTLs follow the shared semantics on Effect's `Clock`: none,
 * infinite or longer than `Number.MAX_SAFE_INTEGER` ms means no expiry, one that truncates to 0 ms or less
 * removes the key, `NaN` fails with `CacheInputError`. Expired entries are removed when read and before eviction
 * needs room. `setIfAbsent` checks and writes in one synchronous step (after serializing), so concurrent calls
 * cannot both store; an expired entry counts as no entry, and a refused write leaves the entry's place in the
 * eviction order as it was. `deleteMany` removes its keys in one synchronous step.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: MakeOptions): Effect.Effect<RemoteCacheBackendShape> =>
  Effect.gen(function*() {
    if (options?.store !== undefined && options.capacity !== undefined) {
      return yield* Effect.die(
        new Cause.IllegalArgumentError(
          "MemoryBackend: pass capacity to makeStore when sharing a store, not to make"
        )
      )
    }
    const prefix = options?.prefix ?? defaultPrefix
    const codec = Codec.make(yield* Backend.resolveSerializer(options?.serializer))
    // Only this module makes stores, so every MemoryStore is a StoreImpl.
    const store = (options?.store ?? (yield* makeStore({ capacity: options?.capacity }))) as StoreImpl

    const invalidTtl = Codec.invalidTtl

    const expiresAt = (ttl: ResolvedTtl, now: number): number => ttl._tag === "Millis" ? now + ttl.millis : Infinity

    const get = (key: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const bytes = store.lookup(prefix + key, now)
        return bytes === undefined ? Effect.succeedNone : codec.decode("get", key, bytes)
      })

    const getWithTtl = (key: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const entry = store.lookupEntry(prefix + key, now)
        if (entry === undefined) return Effect.succeedNone
        const remainingTtl = entry.expiresAt === Infinity
          ? Option.none()
          : Option.some(Duration.millis(entry.expiresAt - now))
        return Effect.map(
          codec.decode("getWithTtl", key, entry.bytes),
          Option.map((value) => ({ value, remainingTtl }))
        )
      })

    const getMany = (keys: ReadonlyArray<string>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        // One read of every key before any decoding, as one MGET would see them.
        const found = keys.map((key) => store.lookup(prefix + key, now))
        return codec.decodeAll("getMany", keys, found)
      })

    const set = (key: string, value: unknown, ttl?: Duration.Input) => {
      const resolved = resolveTtl(ttl)
      switch (resolved._tag) {
        case "Invalid":
          return invalidTtl("set", key, resolved.reason)
        case "Expired":
          // Stores nothing, so there is nothing to serialize; an earlier value must not outlive this write.
          return Effect.sync(() => store.remove(prefix + key))
        default:
          // Serialized when the effect runs, each run anew.
          return Effect.suspend(() =>
            codec.encode("set", key, value, (bytes) =>
              Effect.flatMap(
                Clock.currentTimeMillis,
                (now) => Effect.sync(() => store.put(prefix + key, bytes, expiresAt(resolved, now), now))
              ))
          )
      }
    }

    const setMany = (
      entries: Iterable<readonly [key: string, value: unknown]>,
      ttl?: Duration.Input
    ) => {
      const list = Backend.entriesOf(entries)
      const resolved = resolveTtl(ttl)
      switch (resolved._tag) {
        case "Invalid":
          return invalidTtl("setMany", list[0]?.[0], resolved.reason)
        case "Expired":
          return Effect.sync(() => {
            for (const [key] of list) store.remove(prefix + key)
          })
        default:
          // Every value is serialized before the first is stored, so a failure leaves the store untouched.
          return Effect.flatMap(
            Effect.suspend(() => codec.encodeAll("setMany", list)),
            (encoded) =>
              Effect.flatMap(Clock.currentTimeMillis, (now) =>
                Effect.sync(() => {
                  const at = expiresAt(resolved, now)
                  for (let i = 0; i < list.length; i++) store.put(prefix + list[i]![0], encoded[i]!, at, now)
                }))
          )
      }
    }

    const setIfAbsent = (key: string, value: unknown, ttl?: Duration.Input) => {
      const resolved = resolveTtl(ttl)
      switch (resolved._tag) {
        case "Invalid":
          return invalidTtl("setIfAbsent", key, resolved.reason)
        case "Expired":
          // Stores nothing and removes nothing, so there is nothing to serialize.
          return Effect.succeed(false)
        default:
          // Serialized first (a serializer may yield), then checked and written in one synchronous step: another
          // fiber's write that lands while this one serializes is seen by the check, never overwritten.
          return Effect.suspend(() =>
            codec.encode("setIfAbsent", key, value, (bytes) =>
              Effect.flatMap(
                Clock.currentTimeMillis,
                (now) => Effect.sync(() => store.putIfAbsent(prefix + key, bytes, expiresAt(resolved, now), now))
              ))
          )
      }
    }

    // Read at call time, as `getMany` reads its keys; removed in one synchronous step, as one command would.
    const deleteMany = (keys: ReadonlyArray<string>) => {
      const fullKeys = keys.map((key) => prefix + key)
      return Effect.sync(() => {
        for (const fullKey of fullKeys) store.remove(fullKey)
      })
    }

    const backend = RemoteCacheBackend.of({
      prefix,
      get,
      getWithTtl,
      getMany,
      set,
      setMany,
      setIfAbsent,
      delete: (key) => Effect.sync(() => store.remove(prefix + key)),
      deleteMany,
      clear: Effect.sync(() => store.removePrefix(prefix))
    })
    // Key listing for `KeyValueStore` (internal, see internal/backend/keys.ts).
    return Listing.attach(backend, {
      keys: (under) =>
        Effect.flatMap(
          Clock.currentTimeMillis,
          (now) => Effect.sync(() => store.liveKeysUnder(prefix + under, now).map((key) => key.slice(prefix.length)))
        ),
      clear: (under) => Effect.sync(() => store.removePrefix(prefix + under))
    })
  })

/**
 * A layer of a memory backend (see {@link make}); each layer built gets its own store unless `store` is given.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: MakeOptions): Layer.Layer<RemoteCacheBackend> =>
  Layer.effect(RemoteCacheBackend, make(options))
