/**
 * The two-tier cache: a bounded in-process L1 (LRU with per-entry TTL on Effect's `Clock`, values kept in their
 * stored form) over the remote L2 (`RemoteCache`).
 *
 * - Reads: an L1 hit costs no I/O and no deserialization. An L1 miss reads L2 (value and remaining TTL in one
 *   round trip); an L2 hit back-fills L1 for no longer than the L2 entry had left when the request was sent and no
 *   longer than `l1Ttl`.
 * - `set` writes L2, then drops the key from L1 here and in the other processes: the next read of every instance
 *   back-fills from L2, so all of them see what L2 holds, also when the write failed (a value the backend cannot
 *   serialize, a server that is down). `delete` and `clear` remove from both tiers.
 * - `getOrCompute` is read-through with single-flight: concurrent callers for the same missing key in one process
 *   share one L2 read and one computation, typed (`forSchema`) or not; a failing computation fails them all and
 *   caches nothing; interrupting one caller does not cancel the computation for the others. The computed value is
 *   written to L2, then kept in L1.
 * - Races, decided: a `set`, `delete` or `clear` of the key (here, or received from another process) made while a
 *   read or a computation is in flight wins: what that read or computation found is returned to the callers already
 *   waiting for it, but stored neither in L1 nor (for a computation) in L2, and callers arriving afterwards start a
 *   fresh read instead of joining it.
 * - Invalidation: every `set`, `delete` and `clear` (and every computed write) is published with the cache's L2
 *   prefix on one channel shared by all tiered caches; every other instance whose keys the change touches drops
 *   them from its L1, nested prefixes included (a `clear` of `"a:"` empties the L1 of a cache on `"a:b:"`). A cache
 *   ignores its own messages. After the subscriber reconnects, L1 is cleared, because messages may have been lost
 *   meanwhile. The bus is a required service: Redis pub/sub ({@link layerRedis}, {@link layerRedisBus}) or
 *   in-process ({@link layerInProcess}, {@link layerMemoryBus}), so a cache over Redis cannot silently go without
 *   cross-process invalidation.
 *
 * - Freshness ({@link FreshnessOptions}): an entry is fresh for its TTL, then stale for its `grace`, then gone (its
 *   L2 key lives TTL + grace). `get` answers fresh values only; `getOrCompute` refreshes a stale one (one refresh
 *   per key, in the cache's scope) and answers it stale when the refresh fails, runs past `hardTimeout` or (with a
 *   soft `timeout`) takes longer, backing off `graceBackoff` after a failure; `earlyRefresh` rewrites a hot key
 *   before it turns stale. `expire` makes an entry stale now.
 * - Tags: `set` and `getOrCompute` accept tags; `invalidateTags` writes one invalidation time per tag, which every
 *   L2 read compares with the entry's creation time, and tells the other instances' L1s on the bus.
 * - Batches: `getOrComputeMany` (one L2 read, one computation of the missing keys, one write per TTL),
 *   `deleteMany`. A TTL may be chosen from the computed value; one of 0 means "do not cache this".
 * - Entries that need more than their value carry a versioned header ({@link serializer}); values without one
 *   (written by `RemoteCache`, or before) read as fresh.
 *
 * No operation waits on the bus: publishing and subscribing happen off the caller's path, so an unreachable Redis
 * costs each operation only what the `RemoteCache` policy allows.
 *
 * L1 holds the very objects it was given or decoded: treat cached values as immutable.
 *
 * @since 0.1.0
 */
import * as Context from "#effect/Context"
import type * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Metric from "#effect/Metric"
import * as Option from "#effect/Option"
import * as Result from "#effect/Result"
import * as Schema from "#effect/Schema"
import * as Scope from "#effect/Scope"
import { decodeMessage } from "./core/tiered/message.js"
import * as TypedView from "./internal/schemaView.js"
import { type ViewCompute, ViewComputeId } from "./internal/seams.js"
import type { ComputeOptions, InvalidateTagsOptions, SetOptions, TieredCacheOptions } from "./internal/tiered/api.js"
import * as Batch from "./internal/tiered/batch.js"
import { TieredCacheDefect } from "./internal/tiered/defects.js"
import * as Entry from "./internal/tiered/entry.js"
import { invalidationsReceivedTotal } from "./internal/tiered/metrics.js"
import * as Reads from "./internal/tiered/reads.js"
import * as Settings from "./internal/tiered/settings.js"
import * as SingleFlight from "./internal/tiered/singleFlight.js"
import { TieredState, type View } from "./internal/tiered/state.js"
import * as Writes from "./internal/tiered/writes.js"
import * as Bus from "./InvalidationBus.js"
import type { RedisClient } from "./RedisClient.js"
import { RemoteCache } from "./RemoteCache.js"
import * as Serializer from "./Serializer.js"

// ---------------------------------------------------------------------------------------------------------------
// Invalidation bus (its own module, beside the client; these names stay for existing code)
// ---------------------------------------------------------------------------------------------------------------

/**
 * Carries invalidation messages between the tiered caches that share an L2. See `InvalidationBus`.
 *
 * @since 0.1.0
 * @category models
 */
export type InvalidationBusShape = Bus.InvalidationBusShape

/**
 * The bus the tiered cache publishes its invalidations on and listens to (the `InvalidationBus` module's service,
 * under its earlier name).
 *
 * @since 0.1.0
 * @category tags
 */
export const InvalidationBus: typeof Bus.InvalidationBus = Bus.InvalidationBus

/**
 * The service type of {@link InvalidationBus}.
 *
 * @since 0.1.0
 * @category tags
 */
export type InvalidationBus = Bus.InvalidationBus

/**
 * An in-process bus (`InvalidationBus.makeMemory`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemoryBus: () => InvalidationBusShape = Bus.makeMemory

/**
 * A fresh in-process bus (`InvalidationBus.layerMemory`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemoryBus: Layer.Layer<InvalidationBus> = Bus.layerMemory

/**
 * Redis pub/sub over the `RedisClient`'s own subscriber connection (`InvalidationBus.layerRedis`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedisBus: Layer.Layer<InvalidationBus, never, RedisClient> = Bus.layerRedis

// ---------------------------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------------------------

// Declared with the modules the cache is made of (which need them), documented there, re-exported unchanged.
export type {
  ComputeOptions,
  FreshnessOptions,
  InvalidateTagsOptions,
  SetOptions,
  TieredCacheOptions
} from "./internal/tiered/api.js"

/**
 * The invalidation channel every tiered cache uses unless told otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultChannel = "effect-remote-cache:invalidate"

/**
 * The default {@link TieredCacheOptions.tagKeyPrefix}: a tag `t` keeps its invalidation time under the L2 key
 * `"~tag:" + t`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTagKeyPrefix = "~tag:"

/**
 * The service shape. No operation fails: L2 failures were already recovered by the `RemoteCache` policy, and
 * `getOrCompute` fails only with its computation's own error (or a defect for a programming error, see
 * {@link TieredCacheDefect}).
 *
 * @since 0.1.0
 * @category models
 */
export interface TieredCacheShape {
  /** L1, then L2 (back-filling L1). Fresh values only: a stale one (in its grace period) is `None`. */
  readonly get: (key: string) => Effect.Effect<Option.Option<unknown>>
  /**
   * Writes L2, then drops the key from L1 here and in the other processes; the next read back-fills from L2. The
   * third argument is a TTL, or {@link SetOptions} (TTL, grace, tags).
   */
  readonly set: (key: string, value: unknown, ttlOrOptions?: Duration.Input | SetOptions) => Effect.Effect<void>
  /** Removes the key from L2 and L1, here and in the other processes. */
  readonly delete: (key: string) => Effect.Effect<void>
  /**
   * Removes the keys from L2 (one `RemoteCache.deleteMany`: batched `UNLINK`s on Redis, split by slot on a cluster)
   * and L1, here and in the other processes (one bus message).
   */
  readonly deleteMany: (keys: Iterable<string>) => Effect.Effect<void>
  /**
   * Makes the entry stale now: `get` stops answering it, `getOrCompute` refreshes it and may serve it stale for
   * what is left of its grace period. An entry without a grace period (or written without a header) is removed.
   */
  readonly expire: (key: string) => Effect.Effect<void>
  /**
   * Every entry carrying one of `tags` and created (its computation started, or its `set` called) before this
   * call becomes stale — gone without grace, or with `{ hard: true }` — here and in every instance (an entry
   * created while the call runs may be covered or not): one L2 write per tag (its invalidation time, no expiry;
   * two with `hard`), compared on each L2 read with the entry's creation time; other instances' L1s learn it from
   * the bus. No scan of the keyspace, no multi-key transaction. A tag's time never moves backwards when two
   * invalidations of it overlap: each instance judges by the latest one it made or heard of, and rewrites an older
   * one it finds in L2.
   *
   * Ordering: the invalidation covers the whole millisecond it is made in, and the call returns only after that
   * millisecond (usually at once: the L2 write takes longer), so a write issued after it returned — here, or on an
   * instance whose clock agrees — is never covered by it. Within one process, writes and invalidations are
   * ordered exactly, whatever the clock.
   */
  readonly invalidateTags: (tags: Iterable<string>, options?: InvalidateTagsOptions) => Effect.Effect<void>
  /** Removes every key of the L2 prefix, and the matching L1 entries here and in the other processes. */
  readonly clear: Effect.Effect<void>
  /**
   * Read-through: the cached value, or the result of `compute`, written to L2 with `options.ttl` and then kept in
   * L1. Concurrent calls for the same missing key share one L2 read and one computation; its failure fails them
   * all and nothing is cached. A computation that calls `getOrCompute` on its own key dies with
   * {@link TieredCacheDefect} (it would wait for itself); so do calls after the cache's scope has closed, and
   * callers waiting when it closes are interrupted. A stale value (in its grace period) is refreshed as
   * {@link FreshnessOptions} says: served when the refresh fails, at once with `timeout: 0`.
   */
  readonly getOrCompute: <A, E, R>(
    key: string,
    compute: Effect.Effect<A, E, R>,
    options?: ComputeOptions<A>
  ) => Effect.Effect<A, E, R>
  /**
   * The values of `keys`: the fresh ones from L1, then from L2 in one `getMany` (plus one `getMany` of the tag
   * keys of the tagged entries found), and every other key (missing, stale or invalidated) from one call of
   * `computeMissing`, written with one `setMany` per distinct TTL. A key `computeMissing` does not return is absent
   * from the result and not cached. When every key `computeMissing` is asked for has a stale value, the batch is
   * a refresh: its failure, the soft `timeout` (the computation then goes on in the background and writes
   * through) and `hardTimeout` (it is then interrupted) answer the stale values, each only while its grace lasts
   * (one whose grace ended meanwhile is absent from the result); otherwise the failure is the caller's and the
   * computation is never cut short. Batches are not single-flight with each other or with `getOrCompute`.
   */
  readonly getOrComputeMany: <A, E, R>(
    keys: Iterable<string>,
    computeMissing: (
      missing: ReadonlyArray<string>
    ) => Effect.Effect<Iterable<readonly [key: string, value: A]>, E, R>,
    options?: ComputeOptions<A>
  ) => Effect.Effect<ReadonlyMap<string, A>, E, R>
  /** Entries in L1 now (expired ones included until touched). */
  readonly l1Size: Effect.Effect<number>
}

/**
 * The tiered cache service.
 *
 * @since 0.1.0
 * @category tags
 */
export class TieredCache extends Context.Service<TieredCache, TieredCacheShape>()("effect-remote-cache/TieredCache") {}

export { TieredCacheDefect } from "./internal/tiered/defects.js"

// ---------------------------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------------------------

export {
  computesTotal,
  invalidationsReceivedTotal,
  l1HitsTotal,
  l2HitsTotal,
  missesTotal,
  refreshesTotal,
  staleServedTotal
} from "./internal/tiered/metrics.js"

// ---------------------------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------------------------

/**
 * Makes a tiered cache over the `RemoteCache` in context, subscribed to invalidations on the `InvalidationBus` for
 * as long as the scope is open. Invalid options are a defect (`Cause.IllegalArgumentError`;
 * `IllegalArgumentException` on Effect 3): they are programming errors.
 *
 * The cache is made of modules with one job each, over one shared state (`internal/tiered/`): the state and the
 * rules of what a change invalidates (`state`), settings resolution (`settings`), reads (`reads`), writes
 * (`writes`), computation and write-through (`compute`), single flight (`singleFlight`), refresh and grace
 * (`refresh`), batches (`batch`), tags (`tags`) and the per-key write order (`writeOrder`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: TieredCacheOptions = {}
): Effect.Effect<TieredCacheShape, never, RemoteCache | InvalidationBus | Scope.Scope> =>
  Effect.gen(function*() {
    // Checked once here, so that a bad value is a defect when the cache is built, not a surprise on a hot path.
    const resolved = Settings.resolve(options, { channel: defaultChannel, tagKeyPrefix: defaultTagKeyPrefix })
    if (Result.isFailure(resolved)) return yield* Effect.die(Result.failureValue(resolved))
    const settings = Result.successValue(resolved)
    const remote = yield* RemoteCache
    const bus = yield* InvalidationBus
    // The cache's own work (single-flight leaders, refreshes and their timers, batches, tag writes) runs in a scope
    // of its own, closed by the cache's finalizer only after the cache is marked closed. Forked straight into the
    // caller's scope, each fiber's finalizer would be added after the cache's and so run before it (both majors
    // run a scope's finalizers last added first, or all at once when it is parallel): a refresh interrupted there
    // completes its group while the cache still looks open, and its callers answer the stale value instead of
    // being interrupted.
    const work = yield* Scope.make()
    const state = new TieredState(settings, remote, bus, work, yield* Effect.context<never>())

    yield* bus.subscribe(settings.channel, {
      onMessage: (bytes) => {
        const message = decodeMessage(bytes)
        if (message === undefined || message.o === state.self) return
        if (state.receive(message)) Metric.updateWithFiberUnsafe(invalidationsReceivedTotal, 1, undefined)
      },
      onSubscribed: state.resubscribed
    })

    // When the scope closes: first the cache is marked closed (no group may start after it) and every waiting
    // caller is released, including those of a leader interrupted before it could run; only then is the cache's
    // work interrupted, so that whatever that interruption completes finds the cache closed. One finalizer, so that
    // this order holds however the scope orders its finalizers.
    yield* Effect.addFinalizer((exit) =>
      // An interruption by the fiber closing the scope, for callers to see when the scope closes otherwise.
      Effect.flatMap(
        Effect.exit(Effect.interrupt),
        (interrupted) => Effect.andThen(Effect.sync(() => state.close(exit, interrupted)), Scope.close(work, exit))
      )
    )

    const getOrCompute: TieredCacheShape["getOrCompute"] = (key, compute, computeOptions) =>
      SingleFlight.getOrComputeWith(state, key, compute, computeOptions, undefined)
    const withView: ViewCompute = (key, compute, computeOptions, view) =>
      SingleFlight.getOrComputeWith(state, key, compute, computeOptions, view)
    const sizeOfL1 = () => state.l1.size
    const shape: TieredCacheShape & { readonly [ViewComputeId]: ViewCompute } = {
      get: (key) => Reads.get(state, key),
      set: (key, value, ttlOrOptions) => Writes.set(state, key, value, ttlOrOptions),
      delete: (key) => Writes.del(state, key),
      deleteMany: (keys) => Writes.deleteMany(state, keys),
      expire: (key) => Writes.expire(state, key),
      invalidateTags: (tags, tagOptions) => Writes.invalidateTags(state, tags, tagOptions),
      clear: Writes.clear(state),
      getOrCompute,
      getOrComputeMany: (keys, computeMissing, computeOptions) =>
        Batch.getOrComputeMany(state, keys, computeMissing, computeOptions),
      l1Size: Effect.sync(sizeOfL1),
      [ViewComputeId]: withView
    }
    return shape
  })

/**
 * The tiered cache as a scoped layer over `RemoteCache` and an `InvalidationBus`, which the types require you to
 * choose: {@link layerRedisBus} when several processes share the L2, {@link layerMemoryBus} otherwise. The layers
 * {@link layerRedis} and {@link layerInProcess} make that choice for you.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: TieredCacheOptions = {}
): Layer.Layer<TieredCache, never, RemoteCache | InvalidationBus> => Layer.effect(TieredCache, make(options))

/**
 * The tiered cache over Redis, invalidating the L1 of every other process through Redis pub/sub on the same
 * `RedisClient` ({@link layerRedisBus}). The choice for an L2 that several processes share.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { RedisBackend, RedisClient, RemoteCache, TieredCache } from "effect-remote-cache"
 *
 * const Live = TieredCache.layerRedis({ capacity: 5_000, l1Ttl: "30 seconds" }).pipe(
 *   Layer.provide(RemoteCache.layerDefault),
 *   Layer.provide(RedisBackend.layerWithoutClient({ prefix: "app:" })),
 *   Layer.provide(RedisClient.layer({ url: "redis://localhost:6379" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedis = (
  options: TieredCacheOptions = {}
): Layer.Layer<TieredCache, never, RemoteCache | RedisClient> => Layer.provide(layer(options), layerRedisBus)

/**
 * The tiered cache with invalidation inside this process only (one bus for the whole process): for a
 * `MemoryBackend` L2, or an L2 no other process writes. Over a shared Redis it lets other processes' L1 serve
 * stale values until `l1Ttl`: use {@link layerRedis} there.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerInProcess = (options: TieredCacheOptions = {}): Layer.Layer<TieredCache, never, RemoteCache> =>
  Layer.provide(layer(options), Bus.layerProcess)

// ---------------------------------------------------------------------------------------------------------------
// Wire format
// ---------------------------------------------------------------------------------------------------------------

/**
 * The serializer to give the backend under a tiered cache, wrapping the one it would use otherwise
 * (default `Serializer.v8`): an entry that needs more than its value (a grace period, tags, an early refresh) is
 * stored as a small versioned header followed by exactly the bytes `inner` writes for the value; every other value
 * is stored as `inner` alone writes it, and bytes without the header (written by `RemoteCache.set`, or before this
 * format existed) are read as plain values, fresh until their key expires.
 *
 * Version 1, numbers big-endian: bytes `E7 54 43` (a v8 payload starts with `FF`, and no UTF-8 text starts with
 * `E7 54`), the version `01`, createdAt, fresh-until and grace-until as float64 epoch milliseconds (`Infinity` for
 * never), the number of tags as uint16, each tag as a uint16 byte length and its UTF-8, then the value's bytes.
 *
 * Why a serializer: the tiered cache stores through `RemoteCache`, whose backend owns the serializer, so the header
 * can only be written where the bytes are made; the value's bytes stay those of `inner`, and no second encoding is
 * paid. Without the wrapper the cache still works: the backend's own serializer then stores the entry as an
 * object `{ "~tiered": 1, c, f, g, t, v }` (`null` for never), which the cache reads too, but a serializer that only
 * takes one shape (`Serializer.schema`) refuses it.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { RedisBackend, RedisClient, RemoteCache, Serializer, TieredCache } from "effect-remote-cache"
 *
 * const Live = TieredCache.layerRedis({ grace: "10 minutes" }).pipe(
 *   Layer.provide(RemoteCache.layerDefault),
 *   Layer.provide(RedisBackend.layerWithoutClient({ prefix: "app:", serializer: TieredCache.serializer(Serializer.v8) })),
 *   Layer.provide(RedisClient.layer({ url: "redis://localhost:6379" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category wire format
 */
export const serializer = (inner: Serializer.SerializerShape = Serializer.v8): Serializer.SerializerShape =>
  Entry.wrap(inner)

// ---------------------------------------------------------------------------------------------------------------
// Typed view
// ---------------------------------------------------------------------------------------------------------------

/**
 * A typed view of the tiered cache: values are stored in the schema's encoded form and decoded on every read (an
 * L1 hit costs a decode, no I/O); a stored value that does not match the schema (written by an older schema, or
 * by another view of the same key) is a miss, for `getOrCompute` too, which then computes. Each such miss is logged
 * at debug level with the operation (`get` or `getOrCompute`) and the key, never the value, and counted in
 * `RemoteCache.errorsTotal` with the tag of the schema's error (`SchemaError`; `ParseError` on Effect 3), as
 * `RemoteCache.forSchema` does. `R`: the services the schema needs to decode and encode.
 *
 * @since 0.1.0
 * @category models
 */
export interface TieredSchemaView<A, R> {
  readonly get: (key: string) => Effect.Effect<Option.Option<A>, never, R>
  /**
   * Encoding an invalid `A` fails with the schema's error (`SchemaError`; `ParseError` on Effect 3) and writes
   * nothing, as `RemoteCache.forSchema` does.
   */
  readonly set: (
    key: string,
    value: A,
    ttlOrOptions?: Duration.Input | SetOptions
  ) => Effect.Effect<void, Schema.SchemaError, R>
  readonly delete: (key: string) => Effect.Effect<void>
  /**
   * Read-through, sharing single-flight groups with the untyped `getOrCompute` (one L2 read and one computation
   * for N concurrent callers). A computed value the schema cannot encode is a programming error: a defect
   * ({@link TieredCacheDefect} with the schema's error as `cause`).
   */
  readonly getOrCompute: <E, R2>(
    key: string,
    compute: Effect.Effect<A, E, R2>,
    options?: ComputeOptions<A>
  ) => Effect.Effect<A, E, R | R2>
}

/**
 * The typed view of the `TieredCache` in context, for a codec whose decoding needs `RD` and encoding `RE` (one
 * `Schema<A, I, R>` on Effect 3).
 *
 * @since 0.1.0
 * @category constructors
 */
export const forSchema = <A, I, RD, RE>(
  schema: Schema.Codec<A, I, RD, RE>
): Effect.Effect<TieredSchemaView<A, RD | RE>, never, TieredCache> =>
  Effect.map(TieredCache, (cache): TieredSchemaView<A, RD | RE> => {
    const encode = Schema.encodeEffect(schema)
    const view: View<A, RD | RE> = {
      decode: TypedView.decodeOrMiss(schema),
      encode: (value) =>
        Effect.catch(encode(value), (error) =>
          Effect.die(
            new TieredCacheDefect({
              message: "TieredCache.forSchema getOrCompute: the computed value does not match the schema " +
                "(a programming error); the cause holds the schema's error",
              cause: error
            })
          ))
    }
    const decodeOption = (key: string, stored: Option.Option<unknown>) =>
      Option.isNone(stored) ? Effect.succeedNone : view.decode("get", key, stored.value)
    const withView = (cache as Partial<{ readonly [ViewComputeId]: ViewCompute }>)[ViewComputeId]
    return {
      get: (key) => Effect.flatMap(cache.get(key), (stored) => decodeOption(key, stored)),
      set: (key, value, ttlOrOptions) =>
        Effect.flatMap(encode(value), (encoded) => cache.set(key, encoded, ttlOrOptions)),
      delete: cache.delete,
      getOrCompute: (key, compute, options) =>
        withView !== undefined
          ? withView(key, compute, options, view)
          // A hand-made TieredCacheShape (a test double): decode what it returns, compute on a mismatch.
          : Effect.flatMap(
            // A TTL chosen from the value sees the stored form here: the double knows no other.
            cache.getOrCompute(key, Effect.flatMap(compute, view.encode), options as ComputeOptions<unknown>),
            (stored) =>
              Effect.flatMap(
                view.decode("getOrCompute", key, stored),
                (decoded) => Option.isSome(decoded) ? Effect.succeed(decoded.value) : compute
              )
          )
    }
  })
