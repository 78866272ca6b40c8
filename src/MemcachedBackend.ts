/**
 * `RemoteCacheBackend` over memcached, through the library's own `MemcachedClient` (meta protocol, keys spread over
 * the servers by a ketama ring).
 *
 * Wire format: a value is stored as one item holding exactly the serializer's bytes (no header, client flags 0),
 * under the stored key `fullKey(prefix, generation, key)`: `<prefix><generation>:<key>` in UTF-8, or its digest form
 * when that is over memcached's 186-byte limit for a base64-sent key (see docs/memcached.md). A TTL is the item's own
 * expiry, in whole seconds (one over 30 days sent as a Unix time), so `mg <key> t` shows it.
 *
 * `clear` cannot list keys on memcached: it increments the prefix's generation, a counter stored under
 * `<prefix>!generation`, and the entries written under the old number are never read again (they age out). Each
 * backend caches the generation for `generationTtl` (default 1 second): another process's `clear` is seen within
 * that window.
 *
 * @since 0.2.0
 */
import * as Cause from "#effect/Cause"
import * as Config from "#effect/Config"
import type * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Item from "./core/memcached/item.js"
import * as Backend from "./internal/backend/backend.js"
import * as Codec from "./internal/backend/codec.js"
import * as Lease from "./internal/backend/lease.js"
import { GenerationCache } from "./internal/backend/memcached/generation.js"
import * as Ops from "./internal/backend/memcached/ops.js"
import * as ConfigInput from "./internal/configInput.js"
import { durationMillis } from "./internal/duration.js"
import * as MemcachedClient from "./MemcachedClient.js"
import type { MemcachedConfigError } from "./MemcachedError.js"
import { RemoteCacheBackend, type RemoteCacheBackendShape } from "./RemoteCacheBackend.js"
import type * as Serializer from "./Serializer.js"

/**
 * The key prefix used when none is given, the same for every backend.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultPrefix: string = Backend.defaultPrefix

/**
 * How long a backend uses the generation it read before reading it again, when none is given: 1 second.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultGenerationTtlMillis = 1_000

/**
 * Options of a backend over an existing `MemcachedClient`.
 *
 * @since 0.2.0
 * @category models
 */
export interface MakeOptions {
  /**
   * Prepended to every key; `clear` clears exactly the keys under it. Each prefix has a generation of its own, so
   * unlike on Redis a prefix that extends another (`"a:"` and `"a:b:"`) is not cleared with it. Default `"ac:"`.
   */
  readonly prefix?: string | undefined
  /** Default: the `Serializer` service when one is provided, else `Serializer.v8`. */
  readonly serializer?: Serializer.SerializerShape | undefined
  /**
   * How long the generation read from memcached is used before it is read again (one `mg`, shared by the
   * operations that arrive meanwhile). Another process's `clear` is seen by this backend at most this long after it
   * completed; until then this backend may still read (and write) the entries from before it. `0` reads it before
   * every operation (one more round trip each, but a `clear` seen at once); an infinite one reads it once (for a
   * single process, whose own `clear` it always sees at once). Default 1 second.
   */
  readonly generationTtl?: Duration.Input | undefined
  /**
   * The servers' item size (their `-I`), in bytes. A value that would not fit in an item with its key (memcached
   * counts 59 bytes of its own besides) fails with `CacheInputError` before anything is sent. Set it to the
   * servers' `-I`: a value the server refuses instead fails the same way, but memcached then also drops the item
   * the key held, even for `setIfAbsent`. Default 1 MiB (1,048,576), memcached's default.
   */
  readonly maxItemSize?: number | undefined
}

/**
 * Every `MemcachedClient` option plus the backend's own.
 *
 * @since 0.2.0
 * @category models
 */
export interface MemcachedBackendOptions extends MemcachedClient.MemcachedClientOptions, MakeOptions {}

/**
 * Makes a backend over the `MemcachedClient` in context. Several backends with different prefixes may share one
 * client (one connection per server).
 *
 * Semantics (the shared contract, with memcached's limits): any key works (Unicode, `\r\n`, NUL, empty, long; a
 * stored key over 186 bytes is replaced by a digest); a TTL is rounded up to whole seconds, and memcached's clock
 * ticks once a second, so an entry may expire up to a second before its TTL (never after); a TTL over 30 days is
 * sent as a Unix time, and one reaching past 2038-01-19T03:14:07Z expires then (memcached keeps no later date); no
 * TTL, an infinite one or one past `Number.MAX_SAFE_INTEGER` ms means no expiry; a TTL that truncates to 0 ms or
 * less removes the key instead of writing; `NaN` fails with `CacheInputError`, and so does a value that does not fit in
 * `maxItemSize`, before anything is sent. `getWithTtl` returns the TTL left as a lower bound, in whole seconds.
 * `setIfAbsent` is one `ms` in add mode. `getMany` and `setMany` are pipelined per server, the servers in parallel;
 * when a server fails, `getMany` fails whole, `setMany` stores the other servers' entries and fails with the first
 * failed key. `deleteMany` sends one `md` per key, pipelined. `clear` increments the prefix's generation (see
 * {@link MakeOptions.generationTtl} for when other processes see it). An empty item flagged with a win token (the
 * placeholder of a `TieredCache` computing the key with `distributedSingleFlight`, or any `mg … N` of another
 * client) reads as a miss. An invalid `generationTtl` or `maxItemSize` is a defect
 * (`IllegalArgumentError`; `IllegalArgumentException` on Effect 3).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  options: MakeOptions = {}
): Effect.Effect<RemoteCacheBackendShape, never, MemcachedClient.MemcachedClient> =>
  Effect.gen(function*() {
    const client = yield* MemcachedClient.MemcachedClient
    const checked = options.generationTtl === undefined
      ? { _tag: "Valid" as const, millis: defaultGenerationTtlMillis }
      : durationMillis(options.generationTtl, "generationTtl", { allowZero: true })
    if (checked._tag === "Invalid") return yield* Effect.die(new Cause.IllegalArgumentError(checked.message))
    const maxItemSize = options.maxItemSize
    if (maxItemSize !== undefined && !(Number.isSafeInteger(maxItemSize) && maxItemSize > Item.itemOverhead)) {
      return yield* Effect.die(
        new Cause.IllegalArgumentError(`maxItemSize must be an integer over ${Item.itemOverhead}, not ${maxItemSize}`)
      )
    }
    const prefix = options.prefix ?? defaultPrefix
    // The generation's reads run as fibers of their own, with this context, so that interrupting an operation that
    // waits for one never stops it for the others.
    const run = Effect.runForkWith(yield* Effect.context<never>())
    const c: Ops.MemcachedContext = {
      client,
      prefix,
      codec: Codec.make(yield* Backend.resolveSerializer(options.serializer)),
      generation: new GenerationCache(client, prefix, checked.millis, run),
      maxItemSize: maxItemSize ?? Item.defaultItemSize
    }
    const backend = RemoteCacheBackend.of({
      prefix,
      get: (key) => Ops.get(c, key),
      getWithTtl: (key) => Ops.getWithTtl(c, key),
      getMany: (keys) => Ops.getMany(c, keys),
      set: (key, value, ttl) => Ops.set(c, key, value, ttl),
      setMany: (entries, ttl) => Ops.setMany(c, entries, ttl),
      setIfAbsent: (key, value, ttl) => Ops.setIfAbsent(c, key, value, ttl),
      delete: (key) => Ops.remove(c, "delete", key),
      deleteMany: (keys) => Ops.removeAll(c, "deleteMany", keys),
      clear: Ops.clear(c),
      diagnosis: () => client.diagnosis()
    })
    // The leased read for `TieredCache`'s cross-process single flight (see `internal/backend/lease.ts`).
    return Lease.attach(
      backend,
      (key, leaseMillis, recacheSeconds) => Ops.leaseRead(c, key, leaseMillis, recacheSeconds)
    )
  })

/**
 * A backend without a client of its own: over the `MemcachedClient` provided separately, so several backends
 * share one client.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerWithoutClient = (
  options: MakeOptions = {}
): Layer.Layer<RemoteCacheBackend, never, MemcachedClient.MemcachedClient> =>
  Layer.effect(RemoteCacheBackend, make(options))

/**
 * A backend with its own client (scoped: closing the layer closes every server's connection). The client never
 * connects before the first operation.
 *
 * @example
 * ```ts
 * import { MemcachedBackend } from "effect-remote-cache"
 *
 * const Cache = MemcachedBackend.layer({ servers: ["cache-1:11211", "cache-2:11211"], prefix: "app:" })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: MemcachedBackendOptions = {}): Layer.Layer<RemoteCacheBackend, MemcachedConfigError> =>
  Layer.provide(layerWithoutClient(options), MemcachedClient.layer(options))

/**
 * What {@link layerConfig} reads for a field it is not given: `servers` from `MEMCACHED_SERVERS` (comma-separated
 * `host:port`s; missing or empty: `localhost:11211`) and `prefix` from `CACHE_PREFIX` (falling back to `"ac:"`).
 *
 * @since 0.2.0
 * @category layers
 */
export const defaultConfig: {
  readonly servers: Config.Config<ReadonlyArray<string>>
  readonly prefix: Config.Config<string>
} = {
  servers: MemcachedClient.serversConfig(),
  prefix: Config.String("CACHE_PREFIX").pipe(Config.withDefault(defaultPrefix))
}

// A field given as `undefined` (or read as `undefined`) leaves the default in place, as a missing one does.
const withDefaults = (
  options: MemcachedBackendOptions,
  defaults: MemcachedBackendOptions
): MemcachedBackendOptions => {
  const merged: Record<string, unknown> = { ...defaults }
  for (const [field, value] of Object.entries(options)) if (value !== undefined) merged[field] = value
  return merged as MemcachedBackendOptions
}

/**
 * A backend with its own client, its options read through `effect/Config`. The fields given override
 * {@link defaultConfig} one by one: the others keep reading `MEMCACHED_SERVERS` and `CACHE_PREFIX`. A whole
 * `Config<MemcachedBackendOptions>` works the same way.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { MemcachedBackend } from "effect-remote-cache"
 *
 * // MEMCACHED_SERVERS and CACHE_PREFIX as by default, the generation re-read every 500 ms.
 * const FromEnv = MemcachedBackend.layerConfig({ generationTtl: Config.succeed("500 millis") })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  config: ConfigInput.ConfigInput<MemcachedBackendOptions> = {}
): Layer.Layer<RemoteCacheBackend, MemcachedConfigError | Config.ConfigError> => {
  const given = ConfigInput.toConfig(config)
  const options = Config.map(
    Config.all([Config.all(defaultConfig), given]),
    ([defaults, values]) => withDefaults(values, defaults)
  )
  return Layer.unwrap(Effect.map(options, (values: MemcachedBackendOptions) => layer(values)))
}
