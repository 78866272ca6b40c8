/**
 * `RemoteCacheBackend` over Redis, through the library's own `RedisClient`.
 *
 * Wire format: a value is stored as a Redis string under the key `prefix + key` (UTF-8), holding exactly the
 * serializer's bytes (no extra header); with the default `v8` serializer those are `v8.serialize` output. A TTL
 * is the key's own expiry (`SET key value PX ms`), so `PTTL` shows it.
 *
 * @since 0.1.0
 */
import * as Config from "#effect/Config"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import type * as Redacted from "#effect/Redacted"
import * as Backend from "./internal/backend/backend.js"
import * as Codec from "./internal/backend/codec.js"
import * as Listing from "./internal/backend/keys.js"
import * as Probe from "./internal/backend/probe.js"
import * as BatchedReads from "./internal/backend/redis/batchedReads.js"
import * as Clear from "./internal/backend/redis/clear.js"
import { RedisContext } from "./internal/backend/redis/context.js"
import * as Reads from "./internal/backend/redis/reads.js"
import * as Writes from "./internal/backend/redis/writes.js"
import * as ConfigInput from "./internal/configInput.js"
import * as RedisClient from "./RedisClient.js"
import * as RedisCluster from "./RedisCluster.js"
import type { RedisConfigError, RedisError } from "./RedisError.js"
import { RemoteCacheBackend, type RemoteCacheBackendShape } from "./RemoteCacheBackend.js"
import type * as Serializer from "./Serializer.js"

/**
 * The key prefix used when none is given, the same for every backend.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPrefix: string = Backend.defaultPrefix

/**
 * Options of a backend over an existing `RedisClient` (the name `MemoryBackend` uses for the same role).
 *
 * @since 0.2.0
 * @category models
 */
export interface MakeOptions {
  /** Prepended to every key; `clear` removes exactly the keys under it. Default `"ac:"`. */
  readonly prefix?: string | undefined
  /** Default: the `Serializer` service when one is provided, else `Serializer.v8`. */
  readonly serializer?: Serializer.SerializerShape | undefined
  /** Keys fetched per `SCAN` step of `clear` (a hint to the server). Default 1,000. */
  readonly scanCount?: number | undefined
  /**
   * Batches the reads of this backend issued in the same tick (the fibers of an `Effect.forEach(ids, get,
   * { concurrency })`, say) into one round trip. The first 64 reads of a tick are sent at once, each as its own
   * `GET`, exactly as without batching: a lone read waits for nothing, and a few dozen concurrent ones pay nothing
   * for a batch that would not repay its cost. The `get`s issued after them in the same tick leave together as one
   * `MGET` of their full keys when the tick ends (in the same socket write as the first ones), and the `GET` + `PTTL`
   * pairs of `getWithTtl`s as one pipelined write. Each caller still gets exactly what a lone read would: its own
   * value, decoded on its own (a value that cannot be decoded, or whose serializer throws, fails only its own
   * caller), and on a failure of the whole batch the same typed error, naming its own key. A key whose full key is
   * over `maxArgumentLength` is read alone (and fails alone). A batch refused by an error reply (`NOPERM` for a key
   * outside the ACL user's key pattern, say) is asked again key by key, in its callers' fibers. On a cluster, a
   * node's failure neither fails nor holds up the reads of other nodes' keys: a batch does not wait out a failed
   * node's share, whose readers ask again alone (riding out a failover for up to `failoverWait`, as lone reads
   * do). Interrupting a caller stops its wait at once and affects no other read of its batch. A key holding another
   * type than a string reads as a miss either way. `getMany` is not affected. `false` sends every read as its own
   * command. Default `true`.
   */
  readonly batchReads?: boolean | undefined
  /**
   * Most keys in one batched read (`MGET`, or `getWithTtl` pairs), with `batchReads`, and in one `UNLINK` of
   * `deleteMany`: a larger batch is split, so that no reply grows without bound and no single command keeps the
   * server busy for long. Values below 1 are taken as 1. Default 1,000.
   */
  readonly maxBatchSize?: number | undefined
}

/**
 * Every `RedisClient` option plus the backend's own.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisBackendOptions extends RedisClient.RedisClientOptions, MakeOptions {}

/**
 * Makes a backend over the `RedisClient` in context. Several backends with different prefixes may share one
 * client (one connection).
 *
 * Semantics (the shared contract): an empty key is allowed (its full key is the prefix); no TTL, an infinite
 * one or one longer than `Number.MAX_SAFE_INTEGER` ms (Redis cannot store every such expiry) means no expiry; a
 * TTL that truncates to 0 ms or less deletes the key instead of writing; `NaN` fails with `CacheInputError`;
 * `delete` uses `UNLINK` (falling back to `DEL` on servers without it), and so does `deleteMany`, in commands of at
 * most `maxBatchSize` keys, at most 8 in flight at once (on a cluster each slot's keys in one command where they fit);
 * `setIfAbsent` is one `SET key value NX [PX ms]`; `clear` walks the prefix with
 * `SCAN … MATCH <escaped prefix>*` and `UNLINK`s each batch, never `KEYS` or `FLUSHDB`. A key that holds another
 * type than a string (a list, a hash… written by another program) reads as a miss in `get`, `getWithTtl` and
 * `getMany`, batched or not, and the next `set` replaces it. Concurrent reads are batched unless `batchReads` is
 * `false` (see {@link MakeOptions}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: MakeOptions = {}
): Effect.Effect<RemoteCacheBackendShape, never, RedisClient.RedisClient> =>
  Effect.gen(function*() {
    const client = yield* RedisClient.RedisClient
    const c = new RedisContext(client, {
      prefix: options.prefix ?? defaultPrefix,
      codec: Codec.make(yield* Backend.resolveSerializer(options.serializer)),
      batchReads: options.batchReads ?? true,
      maxBatchSize: Backend.batchSizeOf(options.maxBatchSize),
      scanCount: String(options.scanCount ?? 1_000)
    })
    const { get, getWithTtl, probedGet } = BatchedReads.make(c, Effect.runForkWith(yield* Effect.context<never>()))
    const backend = RemoteCacheBackend.of({
      prefix: c.prefix,
      get,
      getWithTtl,
      getMany: (keys) => Reads.getMany(c, keys),
      set: (key, value, ttl) => Writes.set(c, key, value, ttl),
      setMany: (entries, ttl) => Writes.setMany(c, entries, ttl),
      setIfAbsent: (key, value, ttl) => Writes.setIfAbsent(c, key, value, ttl),
      delete: (key) => c.remove("delete", key, [c.prefix + key]),
      deleteMany: (keys) => Writes.deleteMany(c, keys),
      clear: Clear.clear(c),
      diagnosis: () => client.diagnosis?.()
    })
    // The probed read for `RemoteCache`'s telemetry (internal, see internal/backend/probe.ts).
    if (probedGet !== undefined) Probe.attach(backend, probedGet)
    // Key listing for `KeyValueStore` (internal, see internal/backend/keys.ts).
    return Listing.attach(backend, {
      keys: (under) => Clear.keysUnder(c, under),
      clear: (under) => Clear.clearUnder(c, under)
    })
  })

/**
 * A backend without a client of its own: over the `RedisClient` (or cluster client) provided separately, so
 * several backends share one client. Named as Effect names such layers (`NodeHttpClient.layerWithoutAgent`).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerWithoutClient = (
  options: MakeOptions = {}
): Layer.Layer<RemoteCacheBackend, never, RedisClient.RedisClient> => Layer.effect(RemoteCacheBackend, make(options))

/**
 * The former name of {@link layerWithoutClient}.
 *
 * @deprecated Use {@link layerWithoutClient}: the layer needs a client, it does not bring one.
 * @since 0.1.0
 * @category layers
 */
export const layerWithClient: typeof layerWithoutClient = layerWithoutClient

/**
 * The former name of {@link MakeOptions}.
 *
 * @deprecated Use {@link MakeOptions}, the name both backends use.
 * @since 0.1.0
 * @category models
 */
export type BackendOptions = MakeOptions

/**
 * A backend with its own client (scoped: closing the layer closes the socket). With `connect: "eager"` building the
 * layer opens the client's first connection and fails with the typed error when that fails (see
 * `RedisClientOptions.connect`).
 *
 * @since 0.1.0
 * @category layers
 */
export function layer(options?: LazyBackendOptions): Layer.Layer<RemoteCacheBackend, RedisConfigError>
export function layer(options: RedisBackendOptions): Layer.Layer<RemoteCacheBackend, RedisConfigError | RedisError>
export function layer(
  options: RedisBackendOptions = {}
): Layer.Layer<RemoteCacheBackend, RedisConfigError | RedisError> {
  return Layer.provide(layerWithoutClient(options), RedisClient.layer(options))
}

/**
 * The options of a backend whose client connects at its first command (`connect` absent or `"lazy"`): building it
 * fails only with `RedisConfigError`.
 *
 * @since 0.2.0
 * @category models
 */
export interface LazyBackendOptions extends RedisBackendOptions {
  /** See `RedisClientOptions.connect`. */
  readonly connect?: "lazy" | undefined
}

/**
 * Every `RedisCluster` option plus the backend's own.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisClusterBackendOptions extends RedisCluster.RedisClusterOptions, MakeOptions {}

/**
 * A backend on a Redis Cluster with its own cluster client (scoped: closing the layer closes every node's
 * connections). Keys are routed by slot, multi-key reads, writes and deletes are split by slot, and `clear` scans
 * every primary. With `connect: "eager"` building the layer reads the slot map and fails with the typed error when
 * no seed tells it (see `RedisCluster.make`).
 *
 * @example
 * ```ts
 * import { RedisBackend } from "effect-remote-cache"
 *
 * const Cache = RedisBackend.layerCluster({ nodes: ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"], prefix: "app:" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export function layerCluster(options: LazyClusterBackendOptions): Layer.Layer<RemoteCacheBackend, RedisConfigError>
export function layerCluster(
  options: RedisClusterBackendOptions
): Layer.Layer<RemoteCacheBackend, RedisConfigError | RedisError>
export function layerCluster(
  options: RedisClusterBackendOptions
): Layer.Layer<RemoteCacheBackend, RedisConfigError | RedisError> {
  return Layer.provide(layerWithoutClient(options), RedisCluster.layer(options))
}

/**
 * The options of a cluster backend whose client reads the slot map at its first command (`connect` absent or
 * `"lazy"`): building it fails only with `RedisConfigError`.
 *
 * @since 0.2.0
 * @category models
 */
export interface LazyClusterBackendOptions extends RedisClusterBackendOptions {
  /** See `RedisClientOptions.connect`. */
  readonly connect?: "lazy" | undefined
}

/**
 * {@link layerCluster} with its options read through `effect/Config`: by default the seed nodes from
 * `REDIS_CLUSTER_NODES` (comma-separated `host:port` or `redis://` URLs) and the prefix from `CACHE_PREFIX`
 * (falling back to `"ac:"`). Fields given override those; `connect: RedisClient.connectConfig()` lets
 * `REDIS_CONNECT` choose the startup check.
 *
 * @example
 * ```ts
 * // Effect 4 only: on Effect 3, `Config.redacted` in place of `Config.Redacted`.
 * import { Config } from "effect"
 * import { RedisBackend } from "effect-remote-cache"
 *
 * const FromEnv = RedisBackend.layerClusterConfig({
 *   password: Config.Redacted("REDIS_PASSWORD").pipe(Config.withDefault(undefined))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export function layerClusterConfig(
  config?: RedisClient.LayerConfigInput<LazyClusterBackendOptions>
): Layer.Layer<RemoteCacheBackend, RedisConfigError | Config.ConfigError>
export function layerClusterConfig(
  config: RedisClient.LayerConfigInput<RedisClusterBackendOptions>
): Layer.Layer<RemoteCacheBackend, RedisConfigError | Config.ConfigError | RedisError>
export function layerClusterConfig(
  config: ConfigInput.ConfigInput<RedisClusterBackendOptions> = {}
): Layer.Layer<RemoteCacheBackend, RedisConfigError | Config.ConfigError | RedisError> {
  const given = Config.isConfig(config)
    ? config
    : Config.all({
      nodes: RedisCluster.nodesConfig(),
      prefix: defaultConfig.prefix,
      ...ConfigInput.fieldConfigs(config)
    })
  return Layer.unwrap(
    Effect.map(
      given as Config.Config<RedisClusterBackendOptions>,
      (options: RedisClusterBackendOptions) => layerCluster(options)
    )
  )
}

/**
 * What {@link layerConfig} reads for a field it is not given: `url` from `REDIS_URL` (missing or empty:
 * `redis://localhost:6379`; invalid: a `ConfigError` naming `REDIS_URL`) and `prefix` from `CACHE_PREFIX` (falling back to `"ac:"`).
 *
 * @since 0.1.0
 * @category layers
 */
export const defaultConfig: {
  readonly url: Config.Config<Redacted.Redacted<string>>
  readonly prefix: Config.Config<string>
} = {
  url: RedisClient.urlConfig(),
  prefix: Config.String("CACHE_PREFIX").pipe(Config.withDefault(defaultPrefix))
}

// A field given as `undefined` (or read as `undefined`) leaves the default in place, as a missing one does.
const withDefaults = (options: RedisBackendOptions, defaults: RedisBackendOptions): RedisBackendOptions => {
  const merged: Record<string, unknown> = { ...defaults }
  for (const [field, value] of Object.entries(options)) if (value !== undefined) merged[field] = value
  return merged as RedisBackendOptions
}

/**
 * A backend with its own client, its options read through `effect/Config`. The fields given override
 * {@link defaultConfig} one by one: the others keep reading `REDIS_URL` and `CACHE_PREFIX`. A whole
 * `Config<RedisBackendOptions>` works the same way. `connect: RedisClient.connectConfig()` lets `REDIS_CONNECT`
 * choose the startup check (`eager`: building the layer fails when the first connection does).
 *
 * @example
 * ```ts
 * // Effect 4 only: on Effect 3, `Config.redacted` in place of `Config.Redacted`.
 * import { Config } from "effect"
 * import { RedisBackend } from "effect-remote-cache"
 *
 * // REDIS_URL and CACHE_PREFIX as by default, plus a password when REDIS_PASSWORD is set (none otherwise).
 * const FromEnv = RedisBackend.layerConfig({
 *   password: Config.Redacted("REDIS_PASSWORD").pipe(Config.withDefault(undefined))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export function layerConfig(
  config?: RedisClient.LayerConfigInput<LazyBackendOptions>
): Layer.Layer<RemoteCacheBackend, RedisConfigError | Config.ConfigError>
export function layerConfig(
  config: RedisClient.LayerConfigInput<RedisBackendOptions>
): Layer.Layer<RemoteCacheBackend, RedisConfigError | Config.ConfigError | RedisError>
export function layerConfig(
  config: ConfigInput.ConfigInput<RedisBackendOptions> = {}
): Layer.Layer<RemoteCacheBackend, RedisConfigError | Config.ConfigError | RedisError> {
  const given = ConfigInput.toConfig(config)
  const options = Config.map(
    Config.all([Config.all(defaultConfig), given]),
    ([defaults, values]) => withDefaults(values, defaults)
  )
  return Layer.unwrap(Effect.map(options, (values: RedisBackendOptions) => layer(values)))
}
