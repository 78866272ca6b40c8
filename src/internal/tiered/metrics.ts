/**
 * The metrics of the tiered cache; `TieredCache` re-exports each of them.
 *
 * @internal
 */
import * as Metric from "#effect/Metric"

/**
 * Reads answered by L1.
 *
 * @since 0.1.0
 * @category metrics
 */
export const l1HitsTotal: Metric.Counter<number> = Metric.counter("tiered_cache_l1_hits_total", {
  description: "Reads answered by the in-process tier",
  incremental: true
})

/**
 * Reads missed by L1 and answered by L2.
 *
 * @since 0.1.0
 * @category metrics
 */
export const l2HitsTotal: Metric.Counter<number> = Metric.counter("tiered_cache_l2_hits_total", {
  description: "Reads missed by the in-process tier and answered by the remote tier",
  incremental: true
})

/**
 * Reads missed by both tiers.
 *
 * @since 0.1.0
 * @category metrics
 */
export const missesTotal: Metric.Counter<number> = Metric.counter("tiered_cache_misses_total", {
  description: "Reads missed by both tiers",
  incremental: true
})

/**
 * Computations run by `getOrCompute` (one per single-flight group).
 *
 * @since 0.1.0
 * @category metrics
 */
export const computesTotal: Metric.Counter<number> = Metric.counter("tiered_cache_computes_total", {
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
export const invalidationsReceivedTotal: Metric.Counter<number> = Metric.counter(
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
export const staleServedTotal: Metric.Counter<number> = Metric.counter("tiered_cache_stale_served_total", {
  description: "Stale values answered by getOrCompute during their grace period",
  incremental: true
})

/**
 * Refreshes started in the background (a stale value, or an early refresh), one per single flight.
 *
 * @since 0.1.0
 * @category metrics
 */
export const refreshesTotal: Metric.Counter<number> = Metric.counter("tiered_cache_refreshes_total", {
  description: "Background refreshes started by getOrCompute",
  incremental: true
})
