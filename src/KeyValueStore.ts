/**
 * Effect's own `KeyValueStore` service over a `RemoteCacheBackend` (Redis, a cluster, or in process), or over a
 * `RemoteCache` and its failure policy. Code written against Effect's interface (Effect 4's
 * `effect/persistence` `KeyValueStore`; on Effect 3, `@effect/platform`'s, an optional peer of the 1.x line that
 * only this module needs) then keeps its data in Redis.
 *
 * Import it from its own path, `effect-remote-cache/KeyValueStore`: the package root does not load it, so the
 * Effect 3 line works without `@effect/platform` installed.
 *
 * - **Keys** are stored as the backend's prefix, then the store's {@link Options.prefix} (default `"kv:"`), then
 *   the key: any string, the empty one, Unicode, `\r\n` and NUL included.
 * - **Values** round-trip exactly and stay apart: a string written reads back as the same string (lone surrogates
 *   included), bytes as the same bytes. `get` of bytes answers their base64 and `getUint8Array` of a string its
 *   UTF-8, as Effect's in-memory store does. Wire format: the value handed to the backend (and its serializer)
 *   is a string, `"s"` followed by the string written, or `"b"` followed by the bytes in base64 (RFC 4648, padded).
 *   A value under the store's prefix that is not such a string (written by someone else) fails the read.
 * - **`size`, `keys`, `isEmpty`, `clear` and `clearPrefix`** see exactly the keys under the store's prefix. They list
 *   them with the backend's key listing: on Redis `SCAN … MATCH <escaped prefix>*` over every primary (then
 *   `UNLINK` for `clear`), never `KEYS`. A key written or removed while they run may or may not be counted. The
 *   `RemoteCacheBackend` contract has no listing: `RedisBackend` and `MemoryBackend` carry one of their own; over
 *   another backend these operations fail.
 * - **`modify`** is read-then-write (Effect's default): a write by someone else between the two is overwritten.
 * - **TTL**: none, as the interface has none, unless {@link Options.timeToLive} gives every write one.
 * - **Failures** are the interface's error: `KeyValueStoreError` on Effect 4, `PlatformError` (a `SystemError` of the
 *   module `KeyValueStore`, reason `Unknown`) on Effect 3, carrying the method, the key and, as `cause`, the
 *   backend's `CacheError`.
 *
 * @since 0.2.0
 */
import type * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Kvs from "#effect/KeyValueStore"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as Listing from "./internal/backend/keys.js"
import { RemoteCache } from "./RemoteCache.js"
import { type CacheOps, RemoteCacheBackend, type RemoteCacheBackendShape } from "./RemoteCacheBackend.js"

/**
 * Effect's `KeyValueStore` service, the tag the layers of this module provide: Effect 4's from
 * `effect/persistence`, Effect 3's from `@effect/platform/KeyValueStore` (the same tag as Effect's own).
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { MemoryBackend } from "effect-remote-cache"
 * import * as KeyValueStore from "effect-remote-cache/KeyValueStore"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* KeyValueStore.KeyValueStore
 *   yield* store.set("greeting", "hello")
 *   return yield* store.size // 1
 * })
 *
 * Effect.runPromise(program.pipe(Effect.provide(KeyValueStore.layer().pipe(Layer.provide(MemoryBackend.layer())))))
 * ```
 *
 * @since 0.2.0
 * @category tags
 */
export const KeyValueStore: typeof Kvs.KeyValueStore = Kvs.KeyValueStore

/**
 * Effect's `KeyValueStore` interface (Effect 4: a miss is `undefined`; Effect 3: an `Option`).
 *
 * @since 0.2.0
 * @category models
 */
export type KeyValueStore = Kvs.KeyValueStore

/**
 * The error of the store's operations: `KeyValueStoreError` on Effect 4, `PlatformError` on Effect 3.
 *
 * @since 0.2.0
 * @category errors
 */
export type StoreError = Kvs.StoreError

/**
 * Options of every constructor of this module.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /**
   * Prepended to every key of the store, after the backend's own prefix; `size`, `keys` and `clear` see only the
   * keys under it. Default `"kv:"`. A store whose prefix extends another's (`"kv:"` and `"kv:a:"`) lives inside
   * its namespace, as with backends: the shorter one counts and clears the longer one's keys.
   */
  readonly prefix?: string | undefined
  /**
   * The TTL of every write (any `Duration` input, with the backend's TTL semantics). Default: none, keys never
   * expire, as Effect's `KeyValueStore` has no TTL.
   */
  readonly timeToLive?: Duration.Input | undefined
}

/**
 * The options of {@link fromCache}: {@link Options} and the backend that lists the keys.
 *
 * @since 0.2.0
 * @category models
 */
export interface FromCacheOptions extends Options {
  /**
   * The backend whose key listing `size`, `keys`, `isEmpty`, `clear` and `clearPrefix` use, with the same prefix
   * as the cache (typically the one under it). Default: the cache itself, when it is a `RedisBackend` or a
   * `MemoryBackend`; otherwise those operations fail.
   */
  readonly backend?: RemoteCacheBackendShape | undefined
}

/**
 * The store's prefix when none is given.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultPrefix: string = "kv:"

// ---------------------------------------------------------------------------------------------------------------
// Wire format
// ---------------------------------------------------------------------------------------------------------------

const stringTag = "s"
const bytesTag = "b"
const utf8Encoder = new TextEncoder()

/** The bytes' base64 (RFC 4648, padded). */
const base64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

/** The value handed to the backend: the tag, then the string or the bytes' base64. */
const encode = (value: string | Uint8Array): string =>
  typeof value === "string" ? stringTag + value : bytesTag + base64(value)

type Decoded = { readonly string: string } | { readonly bytes: Uint8Array }

/** A stored value back, `undefined` when it is not one this module wrote. */
const decode = (stored: unknown): Decoded | undefined => {
  if (typeof stored !== "string") return undefined
  if (stored.startsWith(stringTag)) return { string: stored.slice(1) }
  if (stored.startsWith(bytesTag)) return { bytes: Uint8Array.from(Buffer.from(stored.slice(1), "base64")) }
  return undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------------------------

const cacheError = (method: string, key: string | undefined) => (error: unknown): StoreError =>
  Kvs.storeError({
    method,
    key,
    message: typeof error === "object" && error !== null && "_tag" in error && "message" in error
      ? `${String(error._tag)}: ${String(error.message)}`
      : `the cache failed: ${String(error)}`,
    cause: error
  })

/**
 * A `KeyValueStore` over `cache`: a `RemoteCacheBackend`, or any view of one with the same operations (the
 * `RemoteCache` service, or `RemoteCache.fromBackend(backend, policy)`). Single-key operations go through `cache`,
 * so a policy's timeouts, retries and recovery apply to them (a failure the policy recovers to a miss reads as a
 * miss, and a write it recovers is not reported). `size`, `keys`, `isEmpty`, `clear` and `clearPrefix` use the key
 * listing of `options.backend` (default: `cache` itself), outside any policy. See the module's description for the
 * wire format and the semantics.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MemoryBackend } from "effect-remote-cache"
 * import * as KeyValueStore from "effect-remote-cache/KeyValueStore"
 *
 * const program = Effect.gen(function*() {
 *   const backend = yield* MemoryBackend.make({ prefix: "app:" })
 *   const store = KeyValueStore.fromCache(backend, { prefix: "sessions:", timeToLive: "1 day" })
 *   yield* store.set("s1", new Uint8Array([1, 2, 3]))
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromCache = <E>(cache: CacheOps<E>, options: FromCacheOptions = {}): KeyValueStore => {
  const prefix = options.prefix ?? defaultPrefix
  const ttl = options.timeToLive
  const listing = Listing.listingOf(options.backend ?? cache)

  const read = (method: string, key: string) =>
    Effect.flatMap(
      Effect.mapError(cache.get(prefix + key), cacheError(method, key)),
      (found): Effect.Effect<Decoded | undefined, StoreError> => {
        if (Option.isNone(found)) return Effect.succeed(undefined)
        const decoded = decode(found.value)
        return decoded === undefined
          ? Effect.fail(Kvs.storeError({
            method,
            key,
            message: "the value under this key was not written by a KeyValueStore " +
              "(expected a string starting with \"s\" or \"b\")"
          }))
          : Effect.succeed(decoded)
      }
    )

  const unlisted = (method: string) =>
    Effect.fail(Kvs.storeError({
      method,
      message: "this cache cannot list its keys (a RedisBackend or a MemoryBackend can): " +
        `${method} needs the keys under the store's prefix`
    }))

  const keysOf = (method: string): Effect.Effect<ReadonlyArray<string>, StoreError> =>
    listing === undefined
      ? unlisted(method)
      : Effect.map(
        Effect.mapError(listing.keys(prefix), cacheError(method, undefined)),
        (keys) => keys.map((key) => key.slice(prefix.length))
      )

  const clearUnder = (method: string, under: string): Effect.Effect<void, StoreError> =>
    listing === undefined
      ? unlisted(method)
      : Effect.mapError(listing.clear(prefix + under), cacheError(method, undefined))

  return Kvs.make({
    get: (key) =>
      Effect.map(
        read("get", key),
        (decoded) => decoded === undefined ? undefined : "string" in decoded ? decoded.string : base64(decoded.bytes)
      ),
    getUint8Array: (key) =>
      Effect.map(
        read("getUint8Array", key),
        (decoded) =>
          decoded === undefined ? undefined : "bytes" in decoded ? decoded.bytes : utf8Encoder.encode(decoded.string)
      ),
    set: (key, value) =>
      Effect.suspend(() => Effect.mapError(cache.set(prefix + key, encode(value), ttl), cacheError("set", key))),
    remove: (key) => Effect.mapError(cache.delete(prefix + key), cacheError("remove", key)),
    has: (key) => Effect.map(read("has", key), (decoded) => decoded !== undefined),
    clear: clearUnder("clear", ""),
    clearPrefix: (under) => clearUnder("clearPrefix", under),
    size: Effect.map(keysOf("size"), (keys) => keys.length),
    isEmpty: Effect.map(keysOf("isEmpty"), (keys) => keys.length === 0),
    keys: keysOf("keys")
  })
}

/**
 * A `KeyValueStore` over the `RemoteCacheBackend` in context (see {@link fromCache}).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<KeyValueStore, never, RemoteCacheBackend> =>
  Effect.map(RemoteCacheBackend, (backend) => fromCache(backend, options))

/**
 * Effect's `KeyValueStore` service over the `RemoteCacheBackend` in context.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { RedisBackend } from "effect-remote-cache"
 * import * as KeyValueStore from "effect-remote-cache/KeyValueStore"
 *
 * // Effect's KeyValueStore, kept in Redis under "app:kv:<key>".
 * const Store = KeyValueStore.layer().pipe(Layer.provide(RedisBackend.layer({ prefix: "app:" })))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<KeyValueStore, never, RemoteCacheBackend> =>
  Layer.effect(KeyValueStore, make(options))

/**
 * A `KeyValueStore` over the `RemoteCache` in context, its policy applying to single-key operations, and the
 * `RemoteCacheBackend` in context (the one under it) for `size`, `keys`, `isEmpty`, `clear` and `clearPrefix`
 * (see {@link fromCache}).
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeRemoteCache = (
  options?: Options
): Effect.Effect<KeyValueStore, never, RemoteCache | RemoteCacheBackend> =>
  Effect.flatMap(
    RemoteCache,
    (cache) => Effect.map(RemoteCacheBackend, (backend) => fromCache(cache, { ...options, backend }))
  )

/**
 * Effect's `KeyValueStore` service over the `RemoteCache` in context (see {@link makeRemoteCache}).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { MemoryBackend, RemoteCache } from "effect-remote-cache"
 * import * as KeyValueStore from "effect-remote-cache/KeyValueStore"
 *
 * // The policy's recovery applies to get / set / remove; the backend lists keys for size / keys / clear.
 * const Store = KeyValueStore.layerRemoteCache().pipe(
 *   Layer.provide(RemoteCache.layerDefault),
 *   Layer.provideMerge(MemoryBackend.layer())
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerRemoteCache = (
  options?: Options
): Layer.Layer<KeyValueStore, never, RemoteCache | RemoteCacheBackend> =>
  Layer.effect(KeyValueStore, makeRemoteCache(options))
