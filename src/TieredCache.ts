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
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as DefaultServices from "effect/DefaultServices"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Runtime from "effect/Runtime"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { decodeMessage, encodeMessage, type Message, randomId } from "./core/tiered/message.js"
import { resolveTtl } from "./internal/backend/ttl.js"
import * as TypedView from "./internal/schemaView.js"
import * as Metrics from "./internal/telemetry/metrics.js"
import { currentClock, invalidationStamp, isLive, monoOf, stampsOf } from "./internal/tiered/clock.js"
import * as Entry from "./internal/tiered/entry.js"
import { applyTagStates, L1, type Meta } from "./internal/tiered/l1.js"
import { checkFreshness } from "./internal/tiered/options.js"
import * as Tags from "./internal/tiered/tags.js"
import { WriteOrder } from "./internal/tiered/writeOrder.js"
import * as Bus from "./InvalidationBus.js"
import type { RedisClient } from "./RedisClient.js"
import { RemoteCache } from "./RemoteCache.js"
import type { Entry as BackendEntry } from "./RemoteCacheBackend.js"
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

/**
 * Options of the tiered cache.
 *
 * @since 0.1.0
 * @category models
 */
export interface TieredCacheOptions extends FreshnessOptions {
  /** Most entries kept in L1; least recently used go first. Default 10,000. */
  readonly capacity?: number | undefined
  /** Longest time an entry stays in L1 (never longer than its L2 TTL). Default 1 minute. */
  readonly l1Ttl?: Duration.DurationInput | undefined
  /** TTL of writes that give none (L2 and L1). Default: none (L2 keeps them until evicted). */
  readonly defaultTtl?: Duration.DurationInput | undefined
  /**
   * The invalidation channel, shared by every tiered cache whose L2 keys may overlap (messages carry the prefix,
   * so caches on unrelated prefixes ignore each other's). Default {@link defaultChannel}.
   */
  readonly channel?: string | undefined
  /**
   * The L2 key (under the backend's prefix) of a tag's invalidation time is this followed by the tag. Default
   * {@link defaultTagKeyPrefix}. Keys starting with it are reserved.
   */
  readonly tagKeyPrefix?: string | undefined
}

/**
 * How long an entry may be served after its fresh period, and how a caller holding a stale value waits for its
 * refresh. Given on the cache (defaults for every call) or on one `getOrCompute` / `set`.
 *
 * An entry is **fresh** for its `ttl`, then **stale** for `grace`, then **gone**: its L2 key lives `ttl + grace`.
 * `get` answers fresh values only. `getOrCompute` answers a fresh value at once; for a stale one it starts one
 * refresh (a single flight per key and process, run in the cache's scope, never in a caller's fiber) and waits for
 * it at most `timeout`; when the refresh fails, or runs past `hardTimeout`, callers get the stale value and no
 * refresh of the key starts again for `graceBackoff`. Without a stale value, a computation's failure is the
 * caller's, as before.
 *
 * @since 0.1.0
 * @category models
 */
export interface FreshnessOptions {
  /** How long an entry stays in L2 (and may be served stale) after its `ttl`. Default 0: no stale period. */
  readonly grace?: Duration.DurationInput | undefined
  /**
   * After a failed (or hard-timed-out) refresh, how long callers are served the stale value without a new
   * refresh. Default 10 seconds.
   */
  readonly graceBackoff?: Duration.DurationInput | undefined
  /**
   * Soft timeout: how long a caller holding a stale value waits for the refresh before taking the stale value
   * (stale-while-revalidate); the refresh goes on in the background and writes through. `0`: the stale value at
   * once. Default: wait for the refresh (and get the stale value only if it fails).
   */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * Hard timeout of a refresh (a computation started while a stale value exists): past it the callers holding a
   * stale value get it at once, the key backs off, and the computation is interrupted (one in an uninterruptible
   * region finishes in the background and is written through). A computation with no stale value to fall back on
   * is never cut short: bound it with `Effect.timeout` if you want it to fail. Default: none.
   */
  readonly hardTimeout?: Duration.DurationInput | undefined
  /**
   * Early refresh, as a fraction of the fresh period in (0, 1): a `getOrCompute` hit on an entry older than
   * `earlyRefresh * ttl` is answered at once and starts one background refresh, so a hot key is rewritten before
   * it ever turns stale. Default: none.
   */
  readonly earlyRefresh?: number | undefined
}

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
 * Options of one write: `set`, or what `getOrCompute` writes. A TTL that truncates to 0 ms or less stores
 * nothing and removes any earlier value (grace included): "do not cache this".
 *
 * @since 0.1.0
 * @category models
 */
export interface SetOptions {
  /** Fresh period (L1 and L2). Default: the cache's `defaultTtl`. */
  readonly ttl?: Duration.DurationInput | undefined
  /** Stale period after `ttl`. Default: the cache's `grace`. */
  readonly grace?: Duration.DurationInput | undefined
  /** Tags: {@link TieredCacheShape.invalidateTags} of any of them makes the entry stale (or gone, without grace). */
  readonly tags?: ReadonlyArray<string> | undefined
}

/**
 * Options of one `getOrCompute` call (and of `getOrComputeMany`): the write's options, where the TTL may be chosen
 * from the computed value, and the freshness options of {@link FreshnessOptions} for this call.
 *
 * @since 0.1.0
 * @category models
 */
export interface ComputeOptions<A = unknown> extends Omit<FreshnessOptions, "grace"> {
  /**
   * TTL of the computed value (L2 and L1), or a function of the value that chooses it (a shorter one for an empty
   * result, `0` for "do not cache this result"). Default: the cache's `defaultTtl`.
   */
  readonly ttl?: Duration.DurationInput | ((value: A) => Duration.DurationInput | undefined) | undefined
  /** Stale period after `ttl`. Default: the cache's `grace`. */
  readonly grace?: Duration.DurationInput | undefined
  /** Tags of the computed entry. */
  readonly tags?: ReadonlyArray<string> | undefined
}

/**
 * Options of {@link TieredCacheShape.invalidateTags}.
 *
 * @since 0.1.0
 * @category models
 */
export interface InvalidateTagsOptions {
  /**
   * `true`: the tagged entries are gone at once, on every instance, whatever their grace (the next read computes
   * or misses). Use it after a user's own change that they expect to see (a save, then a page load). Default
   * `false`: they turn stale and `getOrCompute` may still answer them within their grace while it refreshes them
   * (for changes made elsewhere, where availability matters more than the newest value).
   */
  readonly hard?: boolean | undefined
}

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
  readonly set: (key: string, value: unknown, ttlOrOptions?: Duration.DurationInput | SetOptions) => Effect.Effect<void>
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
export class TieredCache extends Context.Tag("effect-remote-cache/TieredCache")<TieredCache, TieredCacheShape>() {}

/**
 * A programming error in the use of a tiered cache, raised as a defect: a computation that calls `getOrCompute`
 * on its own key, `getOrCompute` after the cache's scope has closed, or a typed view's computation returning a
 * value its schema cannot encode (`cause` is then the `ParseError`).
 *
 * @since 0.1.0
 * @category errors
 */
export class TieredCacheDefect extends Data.TaggedError("TieredCacheDefect")<{
  readonly message: string
  readonly cause?: unknown
}> {}

// ---------------------------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------------------------

/**
 * Reads answered by L1.
 *
 * @since 0.1.0
 * @category metrics
 */
export const l1HitsTotal: Metric.Metric.Counter<number> = Metric.counter("tiered_cache_l1_hits_total", {
  description: "Reads answered by the in-process tier",
  incremental: true
})

/**
 * Reads missed by L1 and answered by L2.
 *
 * @since 0.1.0
 * @category metrics
 */
export const l2HitsTotal: Metric.Metric.Counter<number> = Metric.counter("tiered_cache_l2_hits_total", {
  description: "Reads missed by the in-process tier and answered by the remote tier",
  incremental: true
})

/**
 * Reads missed by both tiers.
 *
 * @since 0.1.0
 * @category metrics
 */
export const missesTotal: Metric.Metric.Counter<number> = Metric.counter("tiered_cache_misses_total", {
  description: "Reads missed by both tiers",
  incremental: true
})

/**
 * Computations run by `getOrCompute` (one per single-flight group).
 *
 * @since 0.1.0
 * @category metrics
 */
export const computesTotal: Metric.Metric.Counter<number> = Metric.counter("tiered_cache_computes_total", {
  description: "Computations run by getOrCompute",
  incremental: true
})

/**
 * Invalidation messages received from other instances that touched this cache's keys (its own messages, and those
 * about unrelated prefixes, are not counted).
 *
 * @since 0.1.0
 * @category metrics
 */
export const invalidationsReceivedTotal: Metric.Metric.Counter<number> = Metric.counter(
  "tiered_cache_invalidations_received_total",
  {
    description: "Invalidation messages received from other instances that touched this cache's keys",
    incremental: true
  }
)

/**
 * Stale values answered by `getOrCompute` (in their grace period): the refresh failed, timed out, was backing off,
 * or the soft `timeout` passed first.
 *
 * @since 0.1.0
 * @category metrics
 */
export const staleServedTotal: Metric.Metric.Counter<number> = Metric.counter("tiered_cache_stale_served_total", {
  description: "Stale values answered by getOrCompute during their grace period",
  incremental: true
})

/**
 * Refreshes started in the background (a stale value, or an early refresh), one per single flight.
 *
 * @since 0.1.0
 * @category metrics
 */
export const refreshesTotal: Metric.Metric.Counter<number> = Metric.counter("tiered_cache_refreshes_total", {
  description: "Background refreshes started by getOrCompute",
  incremental: true
})

// ---------------------------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------------------------

/**
 * One read or computation in flight for a key. An invalidation of the key marks it stale: what it found may be
 * the value just invalidated, so it must store nothing.
 */
interface Ticket {
  stale: boolean
  /**
   * Set by a (re)subscription of the bus: messages may have been lost, so what this read or computation found must
   * not enter L1. Unlike `stale`, it does not stop a computed value's L2 write: nothing is known to have changed.
   */
  notInL1: boolean
  /**
   * Set with `stale` when the change came from another instance: its L2 write is not ordered with this instance's
   * writes, so one in flight here may land after it and must be undone (see `undoIfOvertaken`).
   */
  remote: boolean
}

/**
 * How a typed view sees stored values: `decode` accepts a stored value (or not: a miss, counted and logged with
 * the operation and the key), `encode` turns a computed value into its stored form and dies on failure.
 */
interface View<A, R> {
  readonly decode: TypedView.DecodeOrMiss<A, R>
  readonly encode: (value: A) => Effect.Effect<unknown, never, R>
}

/**
 * What a single-flight group yields: the stored form, and the value as the leader's view sees it; `stale` when L2
 * held only a stale value (in its grace period), which the callers then refresh.
 */
interface Outcome {
  readonly stored: unknown
  readonly value: unknown
  // `any`: a group is shared by callers of different views; each checks `view` against its own before using `value`.
  readonly view: View<any, any> | undefined
  readonly stale: boolean
  /** For a stale outcome: the end of the value's grace (wall milliseconds), checked again when it is answered. */
  readonly graceUntil?: number | undefined
  /**
   * For a value read from L2: the end of its fresh period (wall milliseconds). A caller that joined the read after
   * it ended was never in the value's fresh period: for it the value is stale.
   */
  readonly freshUntil?: number | undefined
}

type Group = Deferred.Deferred<Outcome, unknown>

/** A stale value found by a batch, answered only within its grace (wall milliseconds). */
interface StaleValue<A> {
  readonly value: A
  readonly graceUntil: number
}

/**
 * A refresh in flight: `group` completes with the computation's outcome; `cut` when the refresh has run past its
 * `hardTimeout`, which releases the callers holding a stale value (the computation is interrupted, and one that
 * cannot be interrupted finishes and writes through in the background).
 */
interface Refresh {
  readonly group: Group
  readonly cut: Deferred.Deferred<void>
}

/** The groups whose computation runs in the current fiber (inherited by the fibers it forks). */
const computingGroups: FiberRef.FiberRef<ReadonlySet<Group>> = FiberRef.unsafeMake<ReadonlySet<Group>>(new Set())

/** The view-aware `getOrCompute` behind the typed views; not part of the public shape. */
const viewCompute = Symbol.for("effect-remote-cache/TieredCache/viewCompute")

type ViewCompute = <A, E, R, RV>(
  key: string,
  compute: Effect.Effect<A, E, R>,
  options: ComputeOptions<A> | undefined,
  view: View<A, RV>
) => Effect.Effect<A, E, R | RV>

/**
 * Monotonic milliseconds on the fiber's `Clock` (a `TestClock` in tests), without the Effect steps around a clock
 * read: the L1 hit path runs in one step. L1 keeps its entries on this clock (see `internal/tiered/l1.ts`).
 */
const nowOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): number => {
  const services = fiber.currentDefaultServices
  // The services rarely change (a `TestClock` is provided once per test): one identity check replaces the lookup.
  if (services !== lastServices) {
    lastServices = services
    lastClock = Context.get(services, Clock.Clock)
  }
  return monoOf(lastClock!)
}
let lastServices: Context.Context<DefaultServices.DefaultServices> | undefined
let lastClock: Clock.Clock | undefined

/** Counts an L1 hit with the fiber's metric labels, as `Metric.increment` would, without an Effect step. */
const countL1Hit = (fiber: Fiber.RuntimeFiber<unknown, unknown>): void =>
  l1HitsTotal.unsafeUpdate(1, fiber.getFiberRef(FiberRef.currentMetricLabels))

const recursionDefect = () =>
  new TieredCacheDefect({
    message: "TieredCache.getOrCompute: a computation called getOrCompute on the key it is computing, which " +
      "would wait for itself forever; compute the inner value directly or use another key"
  })

const closedDefect = () => new TieredCacheDefect({ message: "TieredCache.getOrCompute: the cache's scope is closed" })

/** `true` for the options form of `set`'s third argument (every `DurationInput` object is a Duration or a pair). */
const isSetOptions = (u: Duration.DurationInput | SetOptions | undefined): u is SetOptions =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !Duration.isDuration(u)

/**
 * Makes a tiered cache over the `RemoteCache` in context, subscribed to invalidations on the `InvalidationBus` for
 * as long as the scope is open. Invalid options are a defect (`IllegalArgumentException`): they are programming
 * errors.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: TieredCacheOptions = {}
): Effect.Effect<TieredCacheShape, never, RemoteCache | InvalidationBus | Scope.Scope> =>
  Effect.gen(function*() {
    const capacity = options.capacity ?? 10_000
    if (!(Number.isInteger(capacity) && capacity > 0)) {
      return yield* Effect.die(
        new Cause.IllegalArgumentException(`TieredCache capacity must be a positive integer, got ${capacity}`)
      )
    }
    const l1TtlResolved = resolveTtl(options.l1Ttl ?? "1 minute")
    if (l1TtlResolved._tag === "Invalid" || l1TtlResolved._tag === "Expired") {
      return yield* Effect.die(new Cause.IllegalArgumentException("TieredCache l1Ttl must be a positive duration"))
    }
    const l1TtlMillis = l1TtlResolved._tag === "Millis" ? l1TtlResolved.millis : Infinity
    const defaultTtl = options.defaultTtl
    if (defaultTtl !== undefined && resolveTtl(defaultTtl)._tag === "Invalid") {
      return yield* Effect.die(new Cause.IllegalArgumentException("TieredCache defaultTtl is not a valid duration"))
    }
    // Checked once here, so that a bad value is a defect when the cache is built, not a surprise on a hot path.
    const defaults = checkFreshness(options, "TieredCache")
    if (defaults._tag === "Left") return yield* Effect.die(defaults.left)
    const cacheGrace = defaults.right.grace ?? 0
    const cacheBackoff = defaults.right.graceBackoff ?? 10_000
    const cacheTimeout = defaults.right.timeout
    const cacheHardTimeout = defaults.right.hardTimeout
    const cacheEarly = defaults.right.earlyRefresh
    const remote = yield* RemoteCache
    const bus = yield* InvalidationBus
    const scope = yield* Effect.scope
    /** Runs what a bus message starts (outside any fiber) with this cache's services, its clock among them. */
    const runtime = yield* Effect.runtime<never>()
    const prefix = remote.prefix
    const channel = options.channel ?? defaultChannel
    const tagKeyPrefix = options.tagKeyPrefix ?? defaultTagKeyPrefix
    if (typeof tagKeyPrefix !== "string" || tagKeyPrefix.length === 0) {
      // An empty prefix would make a tag's key a user key: invalidateTags would overwrite it.
      return yield* Effect.die(
        new Cause.IllegalArgumentException("TieredCache tagKeyPrefix must be a non-empty string")
      )
    }
    const self = randomId()
    const l1 = new L1(capacity)
    const tickets = new Map<string, Set<Ticket>>()
    /** The single-flight group each key's callers join. */
    const inflight = new Map<string, Group>()
    /** The tags of what each group computes, once it computes (a group not in it is still reading L2). */
    const computingTags = new WeakMap<Group, ReadonlyArray<string>>()
    /** The refresh in flight for each key (a stale value or an early refresh): one per key. */
    const refreshing = new Map<string, Refresh>()
    /** Until when (monotonic ms) each key's refreshes are not retried after a failure. */
    const backoffUntil = new Map<string, number>()
    /** Every group not yet completed, joinable or not, so closing the scope can end them all. */
    const pending = new Set<Group>()
    /** The order of this instance's L2 writes of each key. */
    const writes = new WriteOrder()
    const chained = <A>(keys: ReadonlyArray<string>, write: Effect.Effect<A>) => writes.chained(keys, write)
    let closed = false
    const tagSystem = Tags.make({
      remote,
      tagKeyPrefix,
      capacity,
      writes,
      fork: (effect) => closed ? Effect.void : Effect.asVoid(Effect.forkIn(Effect.interruptible(effect), scope)),
      forkFromOutside: (effect) => {
        if (!closed) Runtime.runFork(runtime)(Effect.forkIn(Effect.interruptible(effect), scope))
      }
    })
    const { readTags, stampAfterTags } = tagSystem

    /** The freshness settings of one call: its own, else the cache's; a bad one is a defect (a programming error). */
    const settingsOf = (
      call: Omit<FreshnessOptions, "grace"> & { readonly grace?: Duration.DurationInput | undefined } | undefined
    ) => {
      if (call === undefined) {
        return {
          grace: cacheGrace,
          backoff: cacheBackoff,
          timeout: cacheTimeout,
          hardTimeout: cacheHardTimeout,
          early: cacheEarly
        }
      }
      const checked = checkFreshness(call, "TieredCache call")
      if (checked._tag === "Left") throw checked.left
      return {
        grace: checked.right.grace ?? cacheGrace,
        backoff: checked.right.graceBackoff ?? cacheBackoff,
        timeout: call.timeout === undefined ? cacheTimeout : checked.right.timeout,
        hardTimeout: call.hardTimeout === undefined ? cacheHardTimeout : checked.right.hardTimeout,
        early: checked.right.earlyRefresh ?? cacheEarly
      }
    }

    /**
     * Checks a compute call's key and options (a defect when bad: a programming error), before it reads or
     * computes anything. A `ttl` function's result is checked when the value is written.
     */
    const checkCall = (operation: string, key: string, computeOptions: ComputeOptions<any> | undefined) => {
      checkKey(operation, key)
      if (computeOptions !== undefined) {
        settingsOf(computeOptions)
        if (computeOptions.tags !== undefined) checkTags(operation, computeOptions.tags)
      }
    }

    /** Keys under the tag key prefix hold tag times: writing one as a value would corrupt every entry tagged so. */
    const checkKey = (operation: string, key: string) => {
      if (key.startsWith(tagKeyPrefix)) {
        throw new TieredCacheDefect({
          message: `TieredCache.${operation}: keys starting with the tagKeyPrefix ${
            JSON.stringify(tagKeyPrefix)
          } are reserved for tag invalidation times`
        })
      }
    }

    /** Tags are free strings but for U+0000, which separates a tag from its hard-invalidation key's suffix. */
    const checkTags = (operation: string, tags: ReadonlyArray<string>) => {
      for (const tag of tags) {
        if (typeof tag !== "string" || tag.includes("\u0000")) {
          throw new TieredCacheDefect({ message: `TieredCache.${operation}: a tag must be a string without U+0000` })
        }
      }
    }

    const openTicket = (key: string): Ticket => {
      const ticket: Ticket = { stale: false, notInL1: false, remote: false }
      const set = tickets.get(key)
      if (set === undefined) tickets.set(key, new Set([ticket]))
      else set.add(ticket)
      return ticket
    }

    const closeTicket = (key: string, ticket: Ticket) => {
      const set = tickets.get(key)
      if (set === undefined) return
      set.delete(ticket)
      if (set.size === 0) tickets.delete(key)
    }

    const markStale = (key: string, except?: Ticket, fromRemote = false) => {
      const set = tickets.get(key)
      if (set !== undefined) {
        for (const ticket of set) {
          if (ticket !== except) {
            ticket.stale = true
            if (fromRemote) ticket.remote = true
          }
        }
      }
    }

    /**
     * The key changed (here or elsewhere): nothing read or computed before now may be stored or joined. A change
     * made elsewhere also marks the writes in flight here as `remote`: they may land after it.
     */
    const invalidateKey = (key: string, fromRemote = false) => {
      l1.delete(key)
      markStale(key, undefined, fromRemote)
      inflight.delete(key)
      refreshing.delete(key)
      backoffUntil.delete(key)
    }

    const invalidateStartingWith = (start: string, fromRemote = false) => {
      if (start === "") return invalidateAll(fromRemote)
      l1.deleteStartingWith(start)
      if (tagKeyPrefix.startsWith(start) || start.startsWith(tagKeyPrefix)) tagSystem.forgetKeys()
      for (const [key, set] of tickets) {
        if (key.startsWith(start)) {
          for (const ticket of set) {
            ticket.stale = true
            if (fromRemote) ticket.remote = true
          }
        }
      }
      for (const key of inflight.keys()) if (key.startsWith(start)) inflight.delete(key)
      for (const key of refreshing.keys()) if (key.startsWith(start)) refreshing.delete(key)
      for (const key of backoffUntil.keys()) if (key.startsWith(start)) backoffUntil.delete(key)
    }

    const invalidateAll = (fromRemote = false) => {
      l1.clear()
      // A clear removes tag keys too: the next tagged write must create them again.
      tagSystem.forgetKeys()
      for (const set of tickets.values()) {
        for (const ticket of set) {
          ticket.stale = true
          if (fromRemote) ticket.remote = true
        }
      }
      inflight.clear()
      refreshing.clear()
      backoffUntil.clear()
    }

    /**
     * Tags invalidated at `at` by a cache on `home` (an L2 prefix): L1 entries carrying them and written where
     * those tags live turn stale (gone when `hard`), and no read in flight (which may have checked the tag keys
     * before the change) may fill L1.
     */
    const invalidateTagsHere = (tags: ReadonlyArray<string>, at: number, hard: boolean, home: string) => {
      stampsOf(currentClock()).observe(at)
      if (home === prefix) tagSystem.note(tags, at, hard)
      l1.invalidateTags(new Set(tags), at, hard, (key) => homeOf(key) === home)
      for (const set of tickets.values()) for (const ticket of set) ticket.notInL1 = true
      // A group in flight may hold a value the invalidation covers: later callers start their own rather than
      // join it (those that joined before may still get it). A read may return a value with any tags, checked
      // before this change; a computation covers what carries one of these tags. Other computations stay joinable.
      const invalidated = new Set(tags)
      for (const [key, group] of inflight) {
        const computed = computingTags.get(group)
        if (computed === undefined || computed.some((tag) => invalidated.has(tag))) inflight.delete(key)
      }
    }

    /** Applies another instance's change to this cache's keys; `true` when some of them may have changed. */
    const receive = (message: Message): boolean => {
      switch (message.t) {
        case "c":
          // A clear of `p` removes every full key starting with `p`.
          if (prefix.startsWith(message.p)) invalidateAll(true)
          else if (message.p.startsWith(prefix)) invalidateStartingWith(message.p.slice(prefix.length), true)
          else return false
          return true
        case "g":
          // Tag keys live under the prefix of the cache that wrote the entry: only caches that can see entries
          // written there (on that prefix or a shorter one) are concerned.
          if (!message.p.startsWith(prefix)) return false
          invalidateTagsHere(message.g!, message.a!, message.h === 1, message.p)
          if (message.p === prefix) tagSystem.heard(message.g!, message.a!)
          return true
        case "m": {
          let touched = false
          for (const key of message.ks!) {
            const fullKey = message.p + key
            if (fullKey.startsWith(prefix)) {
              invalidateKey(fullKey.slice(prefix.length), true)
              touched = true
            }
          }
          return touched
        }
        default: {
          const fullKey = message.p + message.k!
          if (!fullKey.startsWith(prefix)) return false
          invalidateKey(fullKey.slice(prefix.length), true)
          return true
        }
      }
    }

    yield* bus.subscribe(channel, {
      onMessage: (bytes) => {
        const message = decodeMessage(bytes)
        if (message === undefined || message.o === self) return
        if (receive(message)) invalidationsReceivedTotal.unsafeUpdate(1, [])
      },
      // Messages may have been lost while the subscriber was away: nothing in L1 can be trusted, nor anything a read
      // in flight would put there. A computation in flight still writes L2: no change is known to have happened.
      onSubscribed: () => {
        l1.clear()
        for (const set of tickets.values()) for (const ticket of set) ticket.notInL1 = true
        inflight.clear()
      }
    })

    const send = (message: Omit<Message, "o" | "p">) =>
      bus.publish(channel, encodeMessage({ o: self, p: prefix, ...message }))

    const publish = (t: "s" | "d", key: string) => send({ t, k: key })

    /** L1 expiry for an entry with `ttlMillis` left in L2 when the request was sent at `sentAt`. */
    const l1ExpiresAt = (sentAt: number, ttlMillis: number) => sentAt + Math.min(l1TtlMillis, ttlMillis)

    /**
     * The L2 prefix that the tags of the entry under `key` belong to: this cache's own. Kept as a function so that
     * nested prefixes are decided in one place: an entry is covered by invalidations made on this prefix.
     */
    const homeOf = (_key: string) => prefix

    /**
     * After a write of `key` whose ticket was made stale by another instance while the write was in flight: that
     * change may have landed first, and this write would then undo it (a deleted value back for its whole TTL).
     * Removing the key again costs a miss, never a resurrection.
     */
    const undoIfOvertaken = (key: string, ticket: Ticket) =>
      ticket.remote
        ? Effect.zipRight(
          // Reads made here until the delete is answered may find the overtaken value: none may keep it in L1.
          Effect.ensuring(
            Effect.zipRight(Effect.sync(() => invalidateKey(key)), chained([key], remote.delete(key))),
            Effect.sync(() => invalidateKey(key))
          ),
          publish("d", key)
        )
        : Effect.void

    const withTicket = <A, E, R>(key: string, use: (ticket: Ticket) => Effect.Effect<A, E, R>) =>
      Effect.suspend(() => {
        const ticket = openTicket(key)
        return Effect.ensuring(
          use(ticket),
          Effect.sync(() => closeTicket(key, ticket))
        )
      })

    /**
     * What to store for a write: the value alone when nothing but its TTL matters (the bytes are then exactly the
     * plain value's, readable by `RemoteCache` and by older versions), else a `TieredEntry` with its header. `meta`
     * is `undefined` when the write stores nothing (a TTL of 0 or less) or is refused (an invalid TTL, which the
     * backend reports as before).
     */
    const planWrite = (
      stored: unknown,
      ttl: Duration.DurationInput | undefined,
      grace: number,
      tags: ReadonlyArray<string>,
      early: number | undefined,
      createdAt: number,
      sentAt: number
    ): { readonly stored: unknown; readonly l2Ttl: Duration.DurationInput | undefined; readonly meta?: Meta } => {
      const resolved = resolveTtl(ttl)
      if (resolved._tag === "Invalid" || resolved._tag === "Expired") {
        return { stored, l2Ttl: ttl }
      }
      const ttlMillis = resolved._tag === "Millis" ? resolved.millis : Infinity
      const graceMillis = ttlMillis === Infinity ? 0 : grace
      const freshUntil = sentAt + ttlMillis
      const graceUntil = freshUntil + graceMillis
      const header = graceMillis > 0 || tags.length > 0 || (early !== undefined && ttlMillis !== Infinity)
      return {
        stored: header ? new Entry.TieredEntry(stored, createdAt, freshUntil, graceUntil, tags) : stored,
        l2Ttl: ttlMillis === Infinity ? undefined : ttlMillis + graceMillis,
        meta: { createdAt: header ? createdAt : -Infinity, freshUntil, graceUntil, tags }
      }
    }

    /** An L2 entry as this cache sees it, its tags checked (one `getMany` of their keys, none when untagged). */
    const readMeta = (
      found: BackendEntry,
      sentAt: number
    ): Effect.Effect<{ readonly stored: unknown; readonly meta: Meta; readonly left: number } | undefined> => {
      const left = Option.isSome(found.remainingTtl) ? Duration.toMillis(found.remainingTtl.value) : Infinity
      const entry = Entry.readStored(found.value)
      if (entry === Entry.CorruptEntry) {
        return Effect.succeed(undefined)
      }
      if (entry === undefined) {
        // A plain value: fresh until its key expires.
        const until = sentAt + left
        return Effect.succeed({
          stored: found.value,
          meta: { createdAt: -Infinity, freshUntil: until, graceUntil: until, tags: [] },
          left
        })
      }
      const meta: Meta = {
        createdAt: entry.createdAt,
        freshUntil: entry.freshUntil,
        graceUntil: Math.min(entry.graceUntil, sentAt + left),
        tags: entry.tags
      }
      if (meta.tags.length === 0) {
        return Effect.succeed({ stored: entry.value, meta, left })
      }
      return Effect.map(readTags(meta.tags), (states) => {
        applyTagStates(meta, states, sentAt)
        return { stored: entry.value, meta, left }
      })
    }

    /** Back-fills L1 from an L2 hit, unless the key was invalidated since the request was sent at `sentAt`. */
    const backFill = (key: string, ticket: Ticket, sentAt: number, stored: unknown, meta: Meta, left: number) => {
      if (ticket.stale || ticket.notInL1) {
        return
      }
      if (left > 0 && meta.graceUntil >= sentAt) {
        l1.put(key, stored, l1ExpiresAt(sentAt, left), meta)
      }
    }

    /** Reads L2 under a ticket: the entry with its meta (tags checked), back-filled into L1, or `undefined`. */
    const readL2 = (key: string, ticket: Ticket) =>
      Effect.flatMap(Clock.currentTimeMillis, (sentAt) =>
        Effect.flatMap(remote.getWithTtl(key), (found) => {
          if (Option.isNone(found)) {
            return Effect.succeed(undefined)
          }
          return Effect.map(readMeta(found.value, sentAt), (read) => {
            if (read === undefined) {
              return undefined
            }
            backFill(key, ticket, sentAt, read.stored, read.meta, read.left)
            return { ...read, sentAt }
          })
        }))

    const get = (key: string): Effect.Effect<Option.Option<unknown>> =>
      Effect.withFiberRuntime((fiber) => {
        const now = nowOf(fiber)
        const entry = l1.lookup(key, now)
        if (entry !== undefined) {
          if (now <= entry.meta.freshUntil) {
            countL1Hit(fiber)
            return entry.someExit
          }
          // Stale: kept in L1 for getOrCompute's grace, not an answer for get.
          return Effect.as(Metrics.increment(missesTotal), Option.none())
        }
        return withTicket(key, (ticket) =>
          Effect.flatMap(readL2(key, ticket), (read) => {
            if (read === undefined || read.sentAt > read.meta.freshUntil) {
              return Effect.as(Metrics.increment(missesTotal), Option.none())
            }
            return Effect.as(Metrics.increment(l2HitsTotal), Option.some(read.stored))
          }))
      })

    // Writes invalidate before they start, so that a read or computation in flight (which may have read the old
    // value) stores nothing, and again once L2 has answered, for the reads that started meanwhile.
    const set = (
      key: string,
      value: unknown,
      ttlOrOptions?: Duration.DurationInput | SetOptions
    ): Effect.Effect<void> =>
      Effect.suspend(() => {
        checkKey("set", key)
        const setOptions: SetOptions = isSetOptions(ttlOrOptions) ? ttlOrOptions : { ttl: ttlOrOptions }
        const tags = setOptions.tags ?? []
        checkTags("set", tags)
        const settings = settingsOf(setOptions.grace === undefined ? undefined : { grace: setOptions.grace })
        invalidateKey(key)
        // Stamped once its tags' keys exist, after every invalidation this process made or saw.
        const write = Effect.flatMap(stampAfterTags(tags), (createdAt) => {
          const plan = planWrite(
            value,
            setOptions.ttl ?? defaultTtl,
            settings.grace,
            tags,
            settings.early,
            createdAt,
            currentClock().unsafeCurrentTimeMillis()
          )
          return chained([key], remote.set(key, plan.stored, plan.l2Ttl))
        })
        return Effect.zipRight(
          write,
          Effect.suspend(() => {
            invalidateKey(key)
            return publish("s", key)
          })
        )
      })

    const del = (key: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        invalidateKey(key)
        return Effect.zipRight(
          chained([key], remote.delete(key)),
          Effect.suspend(() => {
            invalidateKey(key)
            return publish("d", key)
          })
        )
      })

    const deleteMany = (keys: Iterable<string>): Effect.Effect<void> =>
      Effect.suspend(() => {
        const all = Array.from(new Set(keys))
        if (all.length === 0) {
          return Effect.void
        }
        for (const key of all) {
          invalidateKey(key)
        }
        return Effect.zipRight(
          chained(all, remote.deleteMany(all)),
          Effect.suspend(() => {
            for (const key of all) {
              invalidateKey(key)
            }
            return send({ t: "m", ks: all })
          })
        )
      })

    /**
     * Rewrites the entry as stale from now on, under a ticket and in the key's write order: a `set` or `delete`
     * made meanwhile (here or elsewhere) wins, and a change from elsewhere that may have landed first is undone
     * by removing the key.
     */
    const expire = (key: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        checkKey("expire", key)
        return Effect.zipRight(
          expireOnce(key, 0),
          // Published whether or not L2 held the key: another instance may still hold it in its L1.
          Effect.suspend(() => {
            invalidateKey(key)
            return publish("s", key)
          })
        )
      })

    /** One attempt of `expire`: read the key, then write it back stale (or remove it), in its write order. */
    const expireOnce = (key: string, attempt: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        // Once: another attempt must not make a concurrent expire's read look overtaken in turn.
        if (attempt === 0) invalidateKey(key)
        const rewrite = (ticket: Ticket) =>
          Effect.flatMap(remote.getWithTtl(key), (found): Effect.Effect<boolean> => {
            if (Option.isNone(found)) return Effect.succeed(false)
            // The key changed while it was read (a set, a delete, another expire): rewriting what was read could
            // restore an older value, and skipping could leave what the other change did not remove (two expires
            // at once each saw the other's change). Expired again, after that change: a fresh read, a few times,
            // then removed (which never restores anything).
            if (ticket.stale) return Effect.succeed(true)
            const clock = currentClock()
            const now = clock.unsafeCurrentTimeMillis()
            const entry = Entry.readStored(found.value.value)
            const left = Option.isSome(found.value.remainingTtl)
              ? Duration.toMillis(found.value.remainingTtl.value)
              : Infinity
            // Stale from now on (fresh through the millisecond before), kept for its grace period counted from now.
            const grace = entry === undefined || entry === Entry.CorruptEntry || entry.freshUntil === Infinity
              ? 0
              : entry.graceUntil - entry.freshUntil
            const graceUntil = Math.min(now + grace, now + left)
            const write = entry === undefined || entry === Entry.CorruptEntry || graceUntil <= now
              ? remote.delete(key)
              : remote.set(
                key,
                new Entry.TieredEntry(entry.value, entry.createdAt, now - 1, graceUntil, entry.tags),
                graceUntil === Infinity ? undefined : graceUntil - now
              )
            return Effect.as(write, false)
          })
        // The undo (a write of the key itself) comes after the rewrite's turn in the key's write order, not in it;
        // so does another attempt.
        const once = withTicket(
          key,
          (ticket) => Effect.zipLeft(chained([key], rewrite(ticket)), undoIfOvertaken(key, ticket))
        )
        return Effect.flatMap(once, (again) =>
          !again
            ? Effect.void
            : attempt < 3
            ? expireOnce(key, attempt + 1)
            : Effect.asVoid(chained([key], remote.delete(key))))
      })

    const invalidateTags = (tags: Iterable<string>, tagOptions?: InvalidateTagsOptions): Effect.Effect<void> =>
      Effect.suspend(() => {
        const all = Array.from(new Set(tags))
        checkTags("invalidateTags", all)
        if (all.length === 0) return Effect.void
        const hard = tagOptions?.hard === true
        const clock = currentClock()
        const now = clock.unsafeCurrentTimeMillis()
        const at = invalidationStamp(stampsOf(clock), now)
        invalidateTagsHere(all, at, hard, prefix)
        return Effect.zipRight(
          tagSystem.writeInvalidation(all, at, hard),
          Effect.suspend(() => {
            invalidateTagsHere(all, at, hard, prefix)
            return Effect.zipRight(send({ t: "g", g: all, a: at, h: hard ? 1 : 0 }), untilAfter(at))
          })
        )
      })

    /**
     * Waits until the live clock has left the millisecond of `at` (usually at once: the L2 write took longer), so
     * that a write issued after `invalidateTags` returned, on any instance whose clock agrees, is created after
     * it. A `TestClock` is not waited on: within one process, stamps already order writes after invalidations.
     */
    const untilAfter = (at: number): Effect.Effect<void> =>
      Effect.suspend(function loop(): Effect.Effect<void> {
        if (!isLive(currentClock()) || Date.now() > Math.floor(at)) return Effect.void
        return Effect.flatMap(Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 1))), loop)
      })

    const clear: Effect.Effect<void> = Effect.suspend(() => {
      invalidateAll()
      return Effect.zipRight(
        Effect.zipRight(writes.afterAll, remote.clear),
        Effect.suspend(() => {
          invalidateAll()
          return send({ t: "c" })
        })
      )
    })

    /**
     * Writes a computed value through: L2, then L1 with an expiry counted from before the write was sent. Skipped
     * when the key was invalidated since the leader started: that change is newer than the computation.
     */
    const writeComputed = <A>(
      key: string,
      ticket: Ticket,
      value: A,
      stored: unknown,
      computeOptions: ComputeOptions<A> | undefined,
      createdAt: number
    ) =>
      Effect.suspend(() => {
        if (ticket.stale) return Effect.void
        checkKey("getOrCompute", key)
        const settings = settingsOf(computeOptions)
        const chosen = computeOptions?.ttl
        const ttl = typeof chosen === "function" ? chosen(value) : chosen
        const write = Effect.suspend(() => {
          // A write of this key made here meanwhile (ordered before this one) is newer than the computation.
          if (ticket.stale) return Effect.succeed(undefined)
          const sentAt = currentClock().unsafeCurrentTimeMillis()
          const plan = planWrite(
            stored,
            ttl ?? defaultTtl,
            settings.grace,
            computeOptions?.tags ?? [],
            settings.early,
            createdAt,
            sentAt
          )
          return Effect.as(remote.set(key, plan.stored, plan.l2Ttl), { plan, sentAt })
        })
        return Effect.flatMap(chained([key], write), (written) => {
          if (written === undefined) return Effect.void
          markStale(key, ticket)
          if (ticket.stale || ticket.notInL1 || written.plan.meta === undefined) {
            l1.delete(key)
          } else {
            l1.put(key, stored, written.sentAt + l1TtlMillis, written.plan.meta)
          }
          return Effect.zipRight(publish("s", key), undoIfOvertaken(key, ticket))
        })
      })

    /** Runs `compute` as the computation of `group` (so that it cannot wait for itself), then writes it through. */
    const computeAndWrite = <A, E, R, RV>(
      key: string,
      ticket: Ticket,
      compute: Effect.Effect<A, E, R>,
      computeOptions: ComputeOptions<A> | undefined,
      view: View<A, RV> | undefined,
      group: Group
    ): Effect.Effect<Outcome, E, R | RV> =>
      Effect.zipRight(
        Metrics.increment(computesTotal),
        Effect.suspend(() => {
          const tags = computeOptions?.tags ?? []
          checkTags("getOrCompute", tags)
          // Known from now on by the tags it will write (see `invalidateTagsHere`).
          computingTags.set(group, tags)
          const computed = Effect.flatMap(
            FiberRef.get(computingGroups),
            (groups) => Effect.locally(compute, computingGroups, new Set(groups).add(group))
          )
          // The computation reads its data after its stamp: after its tags' keys exist, and after every invalidation
          // this process made or saw, so that one made before it started covers it and none after.
          return Effect.flatMap(stampAfterTags(tags), (createdAt) =>
            Effect.flatMap(
              computed,
              (value) =>
                Effect.flatMap(
                  view === undefined ? Effect.succeed<unknown>(value) : view.encode(value),
                  (stored) =>
                    Effect.as(writeComputed(key, ticket, value, stored, computeOptions, createdAt), {
                      stored,
                      value,
                      view,
                      stale: false
                    })
                )
            ))
        })
      )

    /**
     * The leader of a single-flight group: reads L2, else computes and writes through, then completes the group.
     * It runs in the cache's scope, not in a caller's fiber, so interrupting a caller never cancels the work the
     * others wait for; closing the scope interrupts it, and its waiters with it. A stale value found in L2 is
     * handed to the callers, who refresh it.
     */
    const lead = <A, E, R, RV>(
      key: string,
      compute: Effect.Effect<A, E, R>,
      computeOptions: ComputeOptions<A> | undefined,
      view: View<A, RV> | undefined,
      group: Group
    ): Effect.Effect<void, never, R | RV> => {
      const body = withTicket(key, (ticket) =>
        Effect.flatMap(readL2(key, ticket), (read): Effect.Effect<Outcome, E, R | RV> => {
          if (read === undefined || read.sentAt > read.meta.graceUntil) {
            return Effect.zipRight(
              Metrics.increment(missesTotal),
              computeAndWrite(key, ticket, compute, computeOptions, view, group)
            )
          }
          const accepted = view === undefined
            ? Effect.succeedSome(read.stored)
            : view.decode("getOrCompute", key, read.stored)
          return Effect.flatMap(accepted, (decoded) => {
            // A value this view cannot read (an older schema, another view's) is a miss: computed again.
            if (Option.isNone(decoded)) {
              return Effect.zipRight(
                Metrics.increment(missesTotal),
                computeAndWrite(key, ticket, compute, computeOptions, view, group)
              )
            }
            const stale = read.sentAt > read.meta.freshUntil
            return Effect.as(Metrics.increment(stale ? missesTotal : l2HitsTotal), {
              stored: read.stored,
              value: decoded.value,
              view,
              stale,
              graceUntil: read.meta.graceUntil,
              freshUntil: read.meta.freshUntil
            })
          })
        }))
      return Effect.asVoid(Effect.exit(Effect.onExit(body, (exit) =>
        Effect.sync(() => {
          if (inflight.get(key) === group) {
            inflight.delete(key)
          }
          pending.delete(group)
          Deferred.unsafeDone(group, exit)
        }))))
    }

    /** Starts a group led in the cache's scope; `joinable` groups are the ones later callers join. */
    const startGroup = <A, E, R, RV>(
      key: string,
      compute: Effect.Effect<A, E, R>,
      computeOptions: ComputeOptions<A> | undefined,
      view: View<A, RV> | undefined,
      joinable: boolean
    ): Effect.Effect<Outcome, E, R | RV> => {
      // After the scope has closed no group may start: nothing would ever complete it.
      if (closed) {
        return Effect.die(closedDefect())
      }
      const group: Group = Deferred.unsafeMake<Outcome, unknown>(FiberId.none)
      if (joinable) {
        inflight.set(key, group)
      }
      pending.add(group)
      return Effect.zipRight(
        Effect.forkIn(Effect.interruptible(lead(key, compute, computeOptions, view, group)), scope),
        Deferred.await(group) as Effect.Effect<Outcome, E>
      )
    }

    /** Serves stale values of `key` without refreshing it until `graceBackoff` has passed (monotonic clock). */
    const startBackoff = (key: string, backoff: number) => {
      const now = monoOf(currentClock())
      backoffUntil.set(key, now + backoff)
      // Keys whose refresh failed and that nobody asked for again: swept once there are more than L1 holds.
      if (backoffUntil.size > capacity) {
        for (const [stuck, until] of backoffUntil) {
          if (until <= now) {
            backoffUntil.delete(stuck)
          }
        }
      }
    }

    /**
     * Interrupts a computation run past its hard timeout, in the background, if it can be interrupted now; one in
     * an uninterruptible region is left to finish (interrupting it would only throw its result away when the
     * region ends), so that its value is still written through.
     */
    const cutShort = (fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined): Effect.Effect<void> =>
      fiber === undefined ?
        Effect.void :
        Effect.flatMap(Fiber.status(fiber), (status) =>
          status._tag === "Done" || !RuntimeFlags.interruptible(status.runtimeFlags)
            ? Effect.void
            : Effect.asVoid(Fiber.interruptFork(fiber)))

    /**
     * At `hardTimeout` after its start, a refresh still running is cut: its callers holding a stale value are
     * released, the key backs off, and the computation is interrupted. One that cannot be interrupted finishes in
     * the background and writes through (the refresh's group completes then, for callers with nothing stale).
     */
    const cutAt = (
      key: string,
      record: Refresh,
      hardTimeout: number,
      backoff: number,
      computation: () => Fiber.RuntimeFiber<unknown, unknown> | undefined
    ) =>
      Effect.flatMap(
        Effect.raceFirst(
          Effect.as(Effect.sleep(hardTimeout), true),
          Effect.as(Effect.exit(Deferred.await(record.group)), false)
        ),
        (expired) =>
          Effect.suspend(() => {
            if (!expired) {
              return Effect.void
            }
            Deferred.unsafeDone(record.cut, Exit.void)
            startBackoff(key, backoff)
            return cutShort(computation())
          })
      )

    /**
     * Starts the key's refresh (unless one runs): a computation in the cache's scope that writes through under the
     * key's ticket, cut at `hardTimeout` (see `cutAt`); its failure starts the key's backoff.
     */
    const refresh = <A, E, R, RV>(
      key: string,
      compute: Effect.Effect<A, E, R>,
      computeOptions: ComputeOptions<A> | undefined,
      view: View<A, RV> | undefined
    ): Effect.Effect<Refresh, never, R | RV> =>
      Effect.suspend(() => {
        const running = refreshing.get(key)
        if (running !== undefined) {
          return Effect.succeed(running)
        }
        if (closed) {
          return Effect.die(closedDefect())
        }
        const settings = settingsOf(computeOptions)
        const group: Group = Deferred.unsafeMake<Outcome, unknown>(FiberId.none)
        const record: Refresh = { group, cut: Deferred.unsafeMake<void>(FiberId.none) }
        refreshing.set(key, record)
        pending.add(group)
        // The computation runs in a fiber of its own, so that a cut interrupts it and not the write that follows.
        let computation: Fiber.RuntimeFiber<A, E> | undefined
        const cuttable = Effect.flatMap(Effect.fork(compute), (fiber) => {
          computation = fiber
          return Fiber.join(fiber)
        })
        const body = withTicket(key, (ticket) =>
          computeAndWrite(key, ticket, cuttable, computeOptions, view, group))
        const done = Effect.onExit(body, (exit) =>
          Effect.sync(() => {
            if (refreshing.get(key) === record) {
              refreshing.delete(key)
            }
            pending.delete(group)
            if (Exit.isSuccess(exit)) {
              backoffUntil.delete(key)
            } else if (!Cause.isInterruptedOnly(exit.cause)) {
              startBackoff(key, settings.backoff)
            }
            Deferred.unsafeDone(group, exit)
          }))
        const timer = settings.hardTimeout === undefined
          ? Effect.void
          : Effect.forkIn(
            Effect.interruptible(
              cutAt(key, record, settings.hardTimeout, settings.backoff, () =>
                computation)
            ),
            scope
          )
        return Effect.as(
          Effect.zipRight(
            Metrics.increment(refreshesTotal),
            Effect.zipRight(Effect.forkIn(Effect.interruptible(Effect.exit(done)), scope), timer)
          ),
          record
        )
      })

    const valueFor = <A, RV>(
      key: string,
      outcome: Outcome,
      view: View<A, RV> | undefined
    ): Effect.Effect<Option.Option<A>, never, RV> =>
      view === undefined
        ? Effect.succeedSome(outcome.stored as A)
        : outcome.view === view
        ? Effect.succeedSome(outcome.value as A)
        : view.decode("getOrCompute", key, outcome.stored)

    /**
     * A caller holding a stale value: refresh (or join the refresh), wait for it at most the soft timeout or until
     * the refresh is cut at `hardTimeout`, and answer the stale value when the refresh fails, is backing off, or
     * takes longer. Every answer of the stale value checks `withinGrace` at that moment: a value whose grace ended
     * while the caller waited is no fallback any more, nor is one this view cannot read; such a caller waits for
     * the refresh, shares its failure, and computes on its own when the refresh was cut or interrupted.
     */
    const serveStale = <A, E, R, RV>(
      key: string,
      compute: Effect.Effect<A, E, R>,
      computeOptions: ComputeOptions<A> | undefined,
      view: View<A, RV> | undefined,
      stored: unknown,
      withinGrace: () => boolean
    ): Effect.Effect<A, E, R | RV> =>
      Effect.flatMap(
        view === undefined ? Effect.succeedSome(stored as A) : view.decode("getOrCompute", key, stored),
        (fallback) =>
          Effect.withFiberRuntime((fiber) => {
            const settings = settingsOf(computeOptions)
            const usable = () =>
              Option.isSome(fallback) && withinGrace()
            const stale = Effect.sync(() => {
              staleServedTotal.unsafeUpdate(1, fiber.getFiberRef(FiberRef.currentMetricLabels))
              return (fallback as Option.Some<A>).value
            })
            const backoff = backoffUntil.get(key)
            if (backoff !== undefined) {
              const now = monoOf(currentClock())
              if (backoff <= now) {
                backoffUntil.delete(key)
              } else if (usable()) {
                return stale
              }
            }
            const running = refreshing.get(key)
            if (running !== undefined && fiber.getFiberRef(computingGroups).has(running.group)) {
              return Effect.die(recursionDefect())
            }
            return Effect.flatMap(refresh(key, compute, computeOptions, view), (record) => {
              const awaited: Effect.Effect<A, E, R | RV> = Effect.matchCauseEffect(
                Deferred.await(record.group) as Effect.Effect<Outcome, E>,
                {
                  onSuccess: (outcome) =>
                    Effect.flatMap(valueFor(key, outcome, view), (value) =>
                      Option.isSome(value) ? Effect.succeed(value.value) : compute),
                  onFailure: (cause) =>
                    Cause.isInterruptedOnly(cause) && closed
                      // Closing the cache interrupts the refresh: its callers are interrupted too, as for any group.
                      ? Effect.failCause(cause)
                      : usable()
                      ? stale
                      : !Cause.isInterruptedOnly(cause)
                      ? Effect.failCause(cause)
                      // Cut at its hard timeout: computed here, never cut short (nothing stale to fall back on).
                      : through(key, compute, computeOptions, view, 0)
                }
              )
              if (!usable()) {
                return awaited
              }
              if (settings.timeout === 0) {
                return stale
              }
              const deadline = settings.timeout === undefined
                ? Deferred.await(record.cut)
                : Effect.race(Effect.sleep(settings.timeout), Deferred.await(record.cut))
              return Effect.flatten(Effect.raceFirst(
                Effect.as(Effect.exit(Deferred.await(record.group)), awaited),
                Effect.as(
                  deadline,
                  Effect.suspend(() =>
                    usable() ? stale : awaited
                  )
                )
              ))
            })
          })
      )

    /**
     * Joins the key's group, or leads a new one. A group that yields what this view cannot read (another view's
     * computation) is a miss: the caller tries once more (joining or leading a group for its own view), then
     * computes in a group of its own that nobody else joins. A group that found a stale value hands it over to be
     * refreshed.
     */
    const through = <A, E, R, RV>(
      key: string,
      compute: Effect.Effect<A, E, R>,
      computeOptions: ComputeOptions<A> | undefined,
      view: View<A, RV> | undefined,
      attempt: number
    ): Effect.Effect<A, E, R | RV> =>
      Effect.suspend(() => {
        const own = attempt > 1
        const group = own ? undefined : inflight.get(key)
        const joinedAt = group === undefined ? undefined : currentClock().unsafeCurrentTimeMillis()
        const outcome = group === undefined
          ? startGroup(key, compute, computeOptions, view, !own)
          : Effect.flatMap(
            FiberRef.get(computingGroups),
            (groups) =>
              groups.has(group) ? Effect.die(recursionDefect()) : (Deferred.await(group) as Effect.Effect<Outcome, E>)
          )
        return Effect.flatMap(outcome, (outcome) => {
          // Joined a read sent while the value was fresh, after its fresh period ended: stale for this caller.
          const staleHere = outcome.stale ||
            (joinedAt !== undefined && outcome.freshUntil !== undefined && joinedAt > outcome.freshUntil)
          if (staleHere) {
            const graceUntil = outcome.graceUntil ?? Infinity
            return serveStale(
              key,
              compute,
              computeOptions,
              view,
              outcome.stored,
              () =>
                currentClock().unsafeCurrentTimeMillis() <= graceUntil
            )
          }
          // A group of one's own was led with this view: its value is this view's.
          return own
            ? Effect.succeed(outcome.value as A)
            : Effect.flatMap(valueFor(key, outcome, view), (value) =>
              Option.isSome(value)
                ? Effect.succeed(value.value)
                : through(key, compute, computeOptions, view, attempt + 1))
        })
      })

    const getOrComputeWith = <A, E, R, RV>(
      key: string,
      compute: Effect.Effect<A, E, R>,
      computeOptions: ComputeOptions<A> | undefined,
      view: View<A, RV> | undefined
    ): Effect.Effect<A, E, R | RV> =>
      Effect.withFiberRuntime((fiber) => {
        // Every option is checked before any work, whichever path the call then takes.
        checkCall("getOrCompute", key, computeOptions)
        const now = nowOf(fiber)
        const entry = l1.lookup(key, now)
        if (entry === undefined) {
          return through(key, compute, computeOptions, view, 0)
        }
        const meta = entry.meta
        // Kept in L1 past its fresh period: within its grace (its meta lowered by any invalidation meanwhile).
        if (now > meta.freshUntil) {
          return serveStale(
            key,
            compute,
            computeOptions,
            view,
            entry.value,
            () =>
              monoOf(currentClock()) <= meta.graceUntil
          )
        }
        const early = computeOptions?.earlyRefresh ?? cacheEarly
        const hit = view === undefined
          ? (countL1Hit(fiber), entry.valueExit as Exit.Exit<A>)
          : Effect.flatMap(view.decode("getOrCompute", key, entry.value), (decoded) =>
            Option.isSome(decoded)
              ? Effect.as(Metrics.increment(l1HitsTotal), decoded.value)
              : through(key, compute, computeOptions, view, 0))
        if (
          early === undefined || meta.freshUntil === Infinity ||
          now < meta.createdAt + early * (meta.freshUntil - meta.createdAt) ||
          refreshing.has(key) || (backoffUntil.get(key) ?? -Infinity) > now || closed
        ) {
          return hit
        }
        // Past its early-refresh point: answered now, rewritten in the background.
        return Effect.zipRight(refresh(key, compute, computeOptions, view), hit)
      })

    const getOrComputeMany = <A, E, R>(
      keys: Iterable<string>,
      computeMissing: (missing: ReadonlyArray<string>) => Effect.Effect<Iterable<readonly [string, A]>, E, R>,
      computeOptions?: ComputeOptions<A>
    ): Effect.Effect<ReadonlyMap<string, A>, E, R> =>
      Effect.withFiberRuntime((fiber) => {
        const all = Array.from(new Set(keys))
        // Every key and option is checked before any work.
        checkCall("getOrComputeMany", "", computeOptions)
        for (const key of all) checkKey("getOrComputeMany", key)
        const now = nowOf(fiber)
        const found = new Map<string, A>()
        const remaining: Array<string> = []
        for (const key of all) {
          const entry = l1.lookup(key, now)
          if (entry !== undefined && now <= entry.meta.freshUntil) {
            countL1Hit(fiber)
            found.set(key, entry.value as A)
          } else {
            remaining.push(key)
          }
        }
        // In the order asked for, whichever tier answered.
        const inOrder = (answered: ReadonlyMap<string, A>): ReadonlyMap<string, A> => {
          const ordered = new Map<string, A>()
          for (const key of all) if (answered.has(key)) ordered.set(key, answered.get(key)!)
          return ordered
        }
        if (remaining.length === 0) return Effect.succeed(inOrder(found))
        // As for getOrCompute: after the scope has closed, nothing may be read, computed or written.
        if (closed) return Effect.die(closedDefect())
        const ticketsByKey = remaining.map((key) => [key, openTicket(key)] as const)
        // The tickets are held until the batch's writes are done: by the caller, or by a refresh it leaves running.
        const tickets = {
          handedOver: false,
          close: Effect.sync(() => {
            for (const [key, ticket] of ticketsByKey) closeTicket(key, ticket)
          })
        }
        const release = Effect.suspend(() => tickets.handedOver ? Effect.void : tickets.close)
        const body = Effect.flatMap(readMany(remaining, ticketsByKey), ({ missing, stale, hits }) => {
          for (const [key, value] of hits) found.set(key, value as A)
          l2HitsTotal.unsafeUpdate(hits.size, fiber.getFiberRef(FiberRef.currentMetricLabels))
          missesTotal.unsafeUpdate(missing.length, fiber.getFiberRef(FiberRef.currentMetricLabels))
          if (missing.length === 0) return Effect.succeed(found)
          return computeMany(
            missing,
            stale as ReadonlyMap<string, StaleValue<A>>,
            found,
            ticketsByKey,
            tickets,
            computeMissing,
            computeOptions
          )
        })
        return Effect.map(Effect.ensuring(body, release), inOrder)
      })

    /**
     * One `getMany` of `keys` (and one of their tags' keys): the fresh hits (back-filled into L1 unless their
     * ticket went stale), the stale values within their grace, and every key to compute (missing or stale).
     */
    const readMany = (keys: ReadonlyArray<string>, ticketsByKey: ReadonlyArray<readonly [string, Ticket]>) =>
      Effect.flatMap(Clock.currentTimeMillis, (sentAt) =>
        Effect.flatMap(remote.getMany(keys), (values) => {
          const reads = values.map((value, i) => {
            if (Option.isNone(value)) return undefined
            // getMany gives no TTL: a plain value is fresh while L2 has it, and stays out of L1, which must never
            // outlive L2 (an entry with a header knows when its key expires: at the end of its grace).
            const entry = Entry.readStored(value.value)
            if (entry === Entry.CorruptEntry) return undefined
            const meta: Meta = entry === undefined
              ? { createdAt: -Infinity, freshUntil: Infinity, graceUntil: Infinity, tags: [] }
              : {
                createdAt: entry.createdAt,
                freshUntil: entry.freshUntil,
                graceUntil: entry.graceUntil,
                tags: entry.tags
              }
            return {
              key: keys[i]!,
              stored: entry === undefined ? value.value : entry.value,
              meta,
              plain: entry === undefined
            }
          })
          const tags = Array.from(new Set(reads.flatMap((read) => read?.meta.tags ?? [])))
          const checked = tags.length === 0 ? Effect.void : Effect.map(readTags(tags), (states) => {
            const byTag = new Map(tags.map((tag, i) => [tag, states[i]!] as const))
            for (const read of reads) {
              if (read !== undefined && read.meta.tags.length > 0) {
                applyTagStates(read.meta, read.meta.tags.map((tag) => byTag.get(tag)!), sentAt)
              }
            }
          })
          return Effect.map(checked, () => {
            const missing: Array<string> = []
            const stale = new Map<string, StaleValue<unknown>>()
            const hits = new Map<string, unknown>()
            reads.forEach((read, i) => {
              const key = keys[i]!
              const ticket = ticketsByKey[i]![1]
              if (read === undefined || sentAt > read.meta.graceUntil) {
                missing.push(key)
              } else if (sentAt > read.meta.freshUntil) {
                stale.set(key, { value: read.stored, graceUntil: read.meta.graceUntil })
                missing.push(key)
              } else {
                hits.set(key, read.stored)
                if (!ticket.stale && !ticket.notInL1 && !read.plain) {
                  l1.put(key, read.stored, sentAt + l1TtlMillis, read.meta)
                }
              }
            })
            return { missing, stale, hits }
          })
        }))

    /**
     * The batch's computation for its missing keys, written through. When every missing key has a stale value it
     * is a refresh: the soft `timeout` answers the stale values while it goes on in the background, `hardTimeout`
     * interrupts it, and its failure answers them too. A stale value is answered only within its grace at that
     * moment; one whose grace ended meanwhile is left out of the answer. With a key that has nothing stale, the
     * computation is never cut short (as for getOrCompute).
     */
    const computeMany = <A, E, R>(
      missing: ReadonlyArray<string>,
      stale: ReadonlyMap<string, StaleValue<A>>,
      found: Map<string, A>,
      ticketsByKey: ReadonlyArray<readonly [string, Ticket]>,
      tickets: { handedOver: boolean; readonly close: Effect.Effect<void> },
      computeMissing: (missing: ReadonlyArray<string>) => Effect.Effect<Iterable<readonly [string, A]>, E, R>,
      computeOptions: ComputeOptions<A> | undefined
    ): Effect.Effect<ReadonlyMap<string, A>, E, R> =>
      Effect.suspend(() => {
        const settings = settingsOf(computeOptions)
        const answerStale = Effect.sync(() => {
          const now = currentClock().unsafeCurrentTimeMillis()
          let served = 0
          for (const key of missing) {
            const held = stale.get(key)
            if (held !== undefined && now <= held.graceUntil) {
              found.set(key, held.value)
              served++
            }
          }
          return served
        }).pipe(
          Effect.flatMap((served) => Metric.incrementBy(staleServedTotal, served)),
          Effect.as(found as ReadonlyMap<string, A>)
        )
        const merge = (computed: ReadonlyMap<string, A>) => {
          for (const [key, value] of computed) found.set(key, value)
          return found as ReadonlyMap<string, A>
        }
        let computation: Fiber.RuntimeFiber<Iterable<readonly [string, A]>, E> | undefined
        const cuttable = Effect.flatMap(Effect.fork(computeMissing(missing)), (fiber) => {
          computation = fiber
          return Fiber.join(fiber)
        })
        const work = Effect.zipRight(
          Metrics.increment(computesTotal),
          computeAndWriteMany(missing, ticketsByKey, cuttable, computeOptions)
        )
        const refreshing = missing.every((key) => stale.has(key))
        if (!refreshing) return Effect.map(work, merge)
        const fallback = Effect.catchAllCause(
          work,
          (cause) => Cause.isInterruptedOnly(cause) && closed ? Effect.failCause(cause) : answerStale
        )
        if (settings.timeout === undefined && settings.hardTimeout === undefined) {
          return Effect.flatMap(fallback, (computed) => Effect.succeed(merge(computed)))
        }
        if (closed) return Effect.die(closedDefect())
        // In the cache's scope: answered at the soft timeout, the refresh still writes through.
        tickets.handedOver = true
        const background = Effect.interruptible(Effect.ensuring(work, tickets.close))
        return Effect.flatMap(Effect.forkIn(background, scope), (fiber) => {
          const joined = Effect.matchCauseEffect(Fiber.join(fiber), {
            onSuccess: (computed) => Effect.succeed(merge(computed)),
            onFailure: (cause) => Cause.isInterruptedOnly(cause) && closed ? Effect.failCause(cause) : answerStale
          })
          const soft = settings.timeout === undefined ? Effect.never : Effect.sleep(settings.timeout)
          const hard = settings.hardTimeout === undefined
            ? Effect.never
            : Effect.zipRight(
              Effect.sleep(settings.hardTimeout),
              Effect.suspend(() => cutShort(computation))
            )
          return Effect.raceFirst(joined, Effect.zipRight(Effect.raceFirst(soft, hard), answerStale))
        })
      })

    /**
     * Computes the missing keys and writes what was asked for through: one `setMany` per distinct L2 TTL, one
     * `deleteMany` for the keys whose TTL removes them, in each key's write order, tags' keys created first;
     * a key whose ticket went stale meanwhile is answered but not written. Returns the computed values asked for.
     */
    const computeAndWriteMany = <A, E, R>(
      missing: ReadonlyArray<string>,
      ticketsByKey: ReadonlyArray<readonly [string, Ticket]>,
      compute: Effect.Effect<Iterable<readonly [string, A]>, E, R>,
      computeOptions: ComputeOptions<A> | undefined
    ): Effect.Effect<ReadonlyMap<string, A>, E, R> =>
      Effect.suspend(() => {
        const tags = computeOptions?.tags ?? []
        return Effect.flatMap(stampAfterTags(tags), (createdAt) =>
          Effect.flatMap(compute, (entries) => {
            if (closed) return Effect.die(closedDefect())
            const asked = new Set(missing)
            const answer = new Map<string, A>()
            for (const [key, value] of entries) if (asked.has(key)) answer.set(key, value)
            if (answer.size === 0) return Effect.succeed(answer)
            return Effect.as(writeMany(answer, new Map(ticketsByKey), computeOptions, createdAt), answer)
          }))
      })

    /** The L2 writes of a batch's computed values, then L1, the bus and the undoing of overtaken writes. */
    const writeMany = <A>(
      values: ReadonlyMap<string, A>,
      ticketOf: ReadonlyMap<string, Ticket>,
      computeOptions: ComputeOptions<A> | undefined,
      createdAt: number
    ): Effect.Effect<void> => {
      const keys = Array.from(values.keys())
      const write = Effect.suspend(() => {
        const settings = settingsOf(computeOptions)
        const sentAt = currentClock().unsafeCurrentTimeMillis()
        const byTtl = new Map<
          string,
          { ttl: Duration.DurationInput | undefined; entries: Array<readonly [string, unknown]> }
        >()
        const removed: Array<string> = []
        const written: Array<readonly [string, A, Meta | undefined]> = []
        for (const [key, value] of values) {
          // A write of this key made here meanwhile (ordered before this one) is newer than the computation.
          if (ticketOf.get(key)!.stale) continue
          const chosen = computeOptions?.ttl
          const ttl = (typeof chosen === "function" ? chosen(value) : chosen) ?? defaultTtl
          const plan = planWrite(
            value,
            ttl,
            settings.grace,
            computeOptions?.tags ?? [],
            settings.early,
            createdAt,
            sentAt
          )
          written.push([key, value, plan.meta])
          const resolved = resolveTtl(ttl)
          if (resolved._tag === "Expired") {
            removed.push(key)
            continue
          }
          // A TTL the backend refuses (NaN) is sent on its own, so that its refusal touches no other key.
          const group = resolved._tag === "Invalid"
            ? `invalid:${key}`
            : String(plan.l2Ttl === undefined ? "forever" : Duration.toMillis(plan.l2Ttl))
          const batch = byTtl.get(group) ?? { ttl: plan.l2Ttl, entries: [] }
          batch.entries.push([key, plan.stored])
          byTtl.set(group, batch)
        }
        const sets = Effect.forEach(byTtl.values(), (batch) => remote.setMany(batch.entries, batch.ttl), {
          discard: true
        })
        return Effect.as(removed.length === 0 ? sets : Effect.zipRight(sets, remote.deleteMany(removed)), {
          written,
          sentAt
        })
      })
      return Effect.flatMap(chained(keys, write), ({ written, sentAt }) => {
        const overtaken: Array<readonly [string, Ticket]> = []
        for (const [key, value, meta] of written) {
          const ticket = ticketOf.get(key)!
          markStale(key, ticket)
          if (ticket.stale || ticket.notInL1 || meta === undefined) l1.delete(key)
          else l1.put(key, value, sentAt + l1TtlMillis, meta)
          if (ticket.remote) overtaken.push([key, ticket])
        }
        if (written.length === 0) return Effect.void
        return Effect.zipRight(
          send({ t: "m", ks: written.map(([key]) => key) }),
          Effect.forEach(overtaken, ([key, ticket]) => undoIfOvertaken(key, ticket), { discard: true })
        )
      })
    }

    // Added last, so it runs first when the scope closes: no group may start after it, and every waiting caller
    // is released, including those of a leader interrupted before it could run.
    yield* Effect.addFinalizer((exit) =>
      Effect.withFiberRuntime((fiber) => {
        closed = true
        const interrupted = Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
          ? exit
          : Exit.interrupt(fiber.id())
        for (const group of pending) {
          Deferred.unsafeDone(group, interrupted as Exit.Exit<never>)
        }
        pending.clear()
        inflight.clear()
        refreshing.clear()
        return Effect.void
      })
    )

    const getOrCompute: TieredCacheShape["getOrCompute"] = (key, compute, computeOptions) =>
      getOrComputeWith(key, compute, computeOptions, undefined)
    const withView: ViewCompute = getOrComputeWith
    const sizeOfL1 = () => l1.size
    const shape: TieredCacheShape & { readonly [viewCompute]: ViewCompute } = {
      get,
      set,
      delete: del,
      deleteMany,
      expire,
      invalidateTags,
      clear,
      getOrCompute,
      getOrComputeMany,
      l1Size: Effect.sync(sizeOfL1),
      [viewCompute]: withView
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
): Layer.Layer<TieredCache, never, RemoteCache | InvalidationBus> => Layer.scoped(TieredCache, make(options))

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
 * `RemoteCache.errorsTotal` with the tag `ParseError`, as `RemoteCache.forSchema` does.
 *
 * @since 0.1.0
 * @category models
 */
export interface TieredSchemaView<A, R> {
  readonly get: (key: string) => Effect.Effect<Option.Option<A>, never, R>
  /** Encoding an invalid `A` fails with the `ParseError` (nothing is written), as `RemoteCache.forSchema` does. */
  readonly set: (
    key: string,
    value: A,
    ttlOrOptions?: Duration.DurationInput | SetOptions
  ) => Effect.Effect<void, ParseResult.ParseError, R>
  readonly delete: (key: string) => Effect.Effect<void>
  /**
   * Read-through, sharing single-flight groups with the untyped `getOrCompute` (one L2 read and one computation
   * for N concurrent callers). A computed value the schema cannot encode is a programming error: a defect
   * ({@link TieredCacheDefect} with the `ParseError` as `cause`).
   */
  readonly getOrCompute: <E, R2>(
    key: string,
    compute: Effect.Effect<A, E, R2>,
    options?: ComputeOptions<A>
  ) => Effect.Effect<A, E, R | R2>
}

/**
 * The typed view of the `TieredCache` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forSchema = <A, I, R>(
  schema: Schema.Schema<A, I, R>
): Effect.Effect<TieredSchemaView<A, R>, never, TieredCache> =>
  Effect.map(TieredCache, (cache): TieredSchemaView<A, R> => {
    const encode = Schema.encode(schema)
    const view: View<A, R> = {
      decode: TypedView.decodeOrMiss(schema),
      encode: (value) =>
        Effect.catchAll(encode(value), (error) =>
          Effect.die(
            new TieredCacheDefect({
              message: "TieredCache.forSchema getOrCompute: the computed value does not match the schema " +
                "(a programming error); the cause holds the ParseError",
              cause: error
            })
          ))
    }
    const decodeOption = (key: string, stored: Option.Option<unknown>) =>
      Option.isNone(stored) ? Effect.succeedNone : view.decode("get", key, stored.value)
    const withView = (cache as Partial<{ readonly [viewCompute]: ViewCompute }>)[viewCompute]
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
