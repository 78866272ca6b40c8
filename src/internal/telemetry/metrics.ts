/**
 * The cache metrics and the helpers that update them, shared by `RemoteCache` and `TieredCache`: one way to
 * attribute a metric (by operation, with the fiber's own attributes), one way to count an error.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import type * as Fiber from "#effect/Fiber"
import * as Metric from "#effect/Metric"
import * as Predicate from "#effect/Predicate"
import * as References from "#effect/References"
import * as Tracer from "#effect/Tracer"
import { type Operation, operations } from "../../RemoteCacheBackend.js"

const operationsName = "remote_cache_operations_total"
const hitsName = "remote_cache_hits_total"
const missesName = "remote_cache_misses_total"
const errorsName = "remote_cache_errors_total"
const durationName = "remote_cache_operation_duration_ms"

const operationsOptions = { description: "Remote cache operations, by operation", incremental: true } as const
const hitsOptions = { description: "Remote cache keys found, by operation", incremental: true } as const
const missesOptions = {
  description: "Remote cache keys not found (failures recovered to misses included), by operation",
  incremental: true
} as const
const errorsOptions = {
  description: "Remote cache errors where they arise (before recovery), by operation and error tag",
  incremental: true
} as const
const durationOptions = {
  description: "Remote cache operation latency in milliseconds, policy included, by operation",
  boundaries: Metric.exponentialBoundaries({ start: 0.1, factor: 2, count: 20 })
} as const

/** @internal */
export const operationsTotal: Metric.Counter<number> = Metric.counter(operationsName, operationsOptions)

/** @internal */
export const hitsTotal: Metric.Counter<number> = Metric.counter(hitsName, hitsOptions)

/** @internal */
export const missesTotal: Metric.Counter<number> = Metric.counter(missesName, missesOptions)

/** @internal */
export const errorsTotal: Metric.Counter<number> = Metric.counter(errorsName, errorsOptions)

/** @internal */
export const operationDuration: Metric.Histogram<number> = Metric.histogram(durationName, durationOptions)

/**
 * A record with one value per operation, made by `f`.
 *
 * @internal
 */
export const byOperation = <A>(f: (operation: Operation) => A): Readonly<Record<Operation, A>> => {
  const record = {} as Record<Operation, A>
  for (const operation of operations) record[operation] = f(operation)
  return record
}

/**
 * The metrics of one operation: the series of {@link operationsTotal}, {@link operationDuration},
 * {@link hitsTotal} and {@link missesTotal} with the attribute `operation`.
 *
 * @internal
 */
export interface OperationMetrics {
  /** The operation's series of {@link operationsTotal}. */
  readonly operations: Metric.Counter<number>
  /** The operation's series of {@link operationDuration}. */
  readonly duration: Metric.Histogram<number>
  /** The operation's series of {@link hitsTotal}. */
  readonly hits: Metric.Counter<number>
  /** The operation's series of {@link missesTotal}. */
  readonly misses: Metric.Counter<number>
}

/**
 * The metrics of each operation, made once. Each is a metric of its own, made with the same name, description and
 * boundaries as the exported one plus the attribute `operation`, so it updates the exported metric's series for that
 * attribute; and it keeps what its attributes resolve to, so an update costs one lookup. Effect 4's
 * `Metric.withAttributes` on the exported metric would merge the attributes and rebuild the series key whenever
 * the operation changes, Effect 3's `Metric.tagged` on every update.
 *
 * @internal
 */
export const operationMetrics: Readonly<Record<Operation, OperationMetrics>> = byOperation((operation) => ({
  operations: Metric.counter(operationsName, { ...operationsOptions, attributes: { operation } }),
  duration: Metric.histogram(durationName, { ...durationOptions, attributes: { operation } }),
  hits: Metric.counter(hitsName, { ...hitsOptions, attributes: { operation } }),
  misses: Metric.counter(missesName, { ...missesOptions, attributes: { operation } })
}))

const errorCounters = new Map<string, Metric.Counter<number>>()

/**
 * The series of {@link errorsTotal} with the attributes `operation` and `error`, one metric per pair (see
 * {@link operationMetrics}).
 *
 * @internal
 */
export const errorCounter = (operation: string, tag: string): Metric.Counter<number> => {
  const cacheKey = `${operation} ${tag}`
  let counter = errorCounters.get(cacheKey)
  if (counter === undefined) {
    counter = Metric.counter(errorsName, { ...errorsOptions, attributes: { operation, error: tag } })
    errorCounters.set(cacheKey, counter)
  }
  return counter
}

/**
 * Adds 1 to `counter` for the fiber's own attributes: what `Metric.update(counter, 1)` does, in one step.
 *
 * @internal
 */
export const increment = (counter: Metric.Counter<number>): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    Metric.updateUnsafe(counter, 1, Metric.contextUnsafe(fiber))
    return Effect.void
  })

/**
 * The `_tag` of an error, or `"UnknownError"`.
 *
 * @internal
 */
export const tagOf = (error: unknown): string =>
  Predicate.hasProperty(error, "_tag") && Predicate.isString(error._tag) ? error._tag : "UnknownError"

/**
 * `true` when spans made on `fiber` go somewhere: a tracer other than Effect's built-in one is installed and
 * tracing is enabled. Effect's built-in tracer (`Tracer.nativeTracer`) keeps its spans in memory and hands them to
 * nobody, yet making one per operation and installing it as the current span (which copies the fiber's context)
 * costs more than a cache read; so telemetry skips spans, and span attributes, when nothing records them.
 *
 * @internal
 */
export const isTraced = (fiber: Fiber.Current): boolean =>
  References.getUnsafe(fiber, Tracer.Tracer) !== Tracer.nativeTracer &&
  References.getUnsafe(fiber, References.TracerEnabled)

// An error passes through several observed layers (the backend, then a circuit breaker, say) and must be counted
// once: the first layer that sees it marks it. Weak, so errors are not kept alive.
const counted = new WeakSet<object>()

/**
 * Counts `error` in `remote_cache_errors_total` (once, however many layers see it) and names its tag on the
 * current span (`cache.error`) when spans are recorded (see {@link isTraced}).
 *
 * @internal
 */
export const countError = (operation: string, error: unknown): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    if (typeof error === "object" && error !== null) {
      if (counted.has(error)) return Effect.void
      counted.add(error)
    }
    const tag = tagOf(error)
    Metric.updateUnsafe(errorCounter(operation, tag), 1, Metric.contextUnsafe(fiber))
    return isTraced(fiber) ? Effect.annotateCurrentSpan("cache.error", tag) : Effect.void
  })
