/**
 * The option types of `TieredCache`, declared here so that the modules the cache is made of need no import of the
 * public module; `TieredCache` re-exports each of them unchanged.
 *
 * @internal
 */
import type * as Duration from "#effect/Duration"

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
  readonly grace?: Duration.Input | undefined
  /**
   * After a failed (or hard-timed-out) refresh, how long callers are served the stale value without a new
   * refresh. Default 10 seconds.
   */
  readonly graceBackoff?: Duration.Input | undefined
  /**
   * Soft timeout: how long a caller holding a stale value waits for the refresh before taking the stale value
   * (stale-while-revalidate); the refresh goes on in the background and writes through. `0`: the stale value at
   * once. Default: wait for the refresh (and get the stale value only if it fails).
   */
  readonly timeout?: Duration.Input | undefined
  /**
   * Hard timeout of a refresh (a computation started while a stale value exists): past it the callers holding a
   * stale value get it at once, the key backs off, and the computation is interrupted (one in an uninterruptible
   * region finishes in the background and is written through). A computation with no stale value to fall back on
   * is never cut short: bound it with `Effect.timeout` if you want it to fail. Default: none.
   */
  readonly hardTimeout?: Duration.Input | undefined
  /**
   * Early refresh, as a fraction of the fresh period in (0, 1): a `getOrCompute` hit on an entry older than
   * `earlyRefresh * ttl` is answered at once and starts one background refresh, so a hot key is rewritten before
   * it ever turns stale. Default: none.
   */
  readonly earlyRefresh?: number | undefined
}

/**
 * Options of one write: `set`, or what `getOrCompute` writes. A TTL that truncates to 0 ms or less stores
 * nothing and removes any earlier value (grace included): "do not cache this".
 *
 * @since 0.1.0
 * @category models
 */
export interface SetOptions {
  /** Fresh period (L1 and L2). Default: the cache's `defaultTtl`. */
  readonly ttl?: Duration.Input | undefined
  /** Stale period after `ttl`. Default: the cache's `grace`. */
  readonly grace?: Duration.Input | undefined
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
  readonly ttl?: Duration.Input | ((value: A) => Duration.Input | undefined) | undefined
  /** Stale period after `ttl`. Default: the cache's `grace`. */
  readonly grace?: Duration.Input | undefined
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
 * Options of the tiered cache.
 *
 * @since 0.1.0
 * @category models
 */
export interface TieredCacheOptions extends FreshnessOptions {
  /** Most entries kept in L1; least recently used go first. Default 10,000. */
  readonly capacity?: number | undefined
  /** Longest time an entry stays in L1 (never longer than its L2 TTL). Default 1 minute. */
  readonly l1Ttl?: Duration.Input | undefined
  /** TTL of writes that give none (L2 and L1). Default: none (L2 keeps them until evicted). */
  readonly defaultTtl?: Duration.Input | undefined
  /**
   * The invalidation channel, shared by every tiered cache whose L2 keys may overlap (messages carry the prefix,
   * so caches on unrelated prefixes ignore each other's). Default `TieredCache.defaultChannel`.
   */
  readonly channel?: string | undefined
  /**
   * The L2 key (under the backend's prefix) of a tag's invalidation time is this followed by the tag. Default
   * `TieredCache.defaultTagKeyPrefix`. Keys starting with it are reserved.
   */
  readonly tagKeyPrefix?: string | undefined
  /**
   * Single flight across processes, when the backend offers it: today `MemcachedBackend` under
   * `RemoteCache.layerDefault` (or any policy made only of `Policy.log`, `RemoteCache.logOutages` and
   * `Policy.recoverToMiss`); with any other backend or policy it changes nothing. A key missing from L2 is then
   * computed by one process of all those sharing the servers: the first to read it takes a lease (memcached's
   * `mg … N`), the others poll L2 (5 ms, doubling up to 50 ms) until its value appears, and compute it themselves
   * only when the lease has passed without one (a winner that dies costs at most the lease; one whose
   * computation fails hands the lease on at once). A refresh (a value within its grace, or past its early-refresh
   * point) is claimed the same way (memcached's `mg … R` win token): one process recomputes it, the others wait for
   * its value, within their `timeout`. `true`: a lease of 5 seconds; `{ lease }`: another, rounded up to whole
   * seconds. Make the lease longer than the computations it covers. Default `false`: each process computes on its
   * own, one computation (and one refresh) per process.
   *
   * @since 0.2.0
   */
  readonly distributedSingleFlight?: boolean | { readonly lease?: Duration.Input | undefined } | undefined
}
