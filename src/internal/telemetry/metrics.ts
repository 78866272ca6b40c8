/**
 * The cache metrics and the helpers that update them, shared by `RemoteCache` and `TieredCache`: one way to
 * label a metric (by operation, with the fiber's own labels), one way to count an error.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type * as MetricKeyType from "effect/MetricKeyType"
import * as MetricLabel from "effect/MetricLabel"
import type * as MetricState from "effect/MetricState"
import * as Predicate from "effect/Predicate"
import * as Tracer from "effect/Tracer"
import { type Operation, operations } from "../../RemoteCacheBackend.js"

/** @internal */
export const operationsTotal: Metric.Metric.Counter<number> = Metric.counter("remote_cache_operations_total", {
  description: "Remote cache operations, by operation",
  incremental: true
})

/** @internal */
export const hitsTotal: Metric.Metric.Counter<number> = Metric.counter("remote_cache_hits_total", {
  description: "Remote cache keys found, by operation",
  incremental: true
})

/** @internal */
export const missesTotal: Metric.Metric.Counter<number> = Metric.counter("remote_cache_misses_total", {
  description: "Remote cache keys not found (failures recovered to misses included), by operation",
  incremental: true
})

/** @internal */
export const errorsTotal: Metric.Metric.Counter<number> = Metric.counter("remote_cache_errors_total", {
  description: "Remote cache errors where they arise (before recovery), by operation and error tag",
  incremental: true
})

/** @internal */
export const operationDuration: Metric.Metric<
  MetricKeyType.MetricKeyType.Histogram,
  number,
  MetricState.MetricState.Histogram
> = Metric.histogram(
  "remote_cache_operation_duration_ms",
  MetricBoundaries.exponential({ start: 0.1, factor: 2, count: 20 }),
  "Remote cache operation latency in milliseconds, policy included, by operation"
)

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
 * One label array per operation, made once: a metric caches its hook by the identity of the labels array, so a
 * constant array costs one WeakMap lookup per update, where `Metric.tagged` would build and hash a key per call.
 *
 * @internal
 */
export const operationLabels: Readonly<Record<Operation, ReadonlyArray<MetricLabel.MetricLabel>>> = byOperation((
  operation
) => [MetricLabel.make("operation", operation)])

const labelCache = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()

/**
 * The labels `operation` and `error`, one array per pair (see {@link operationLabels}).
 *
 * @internal
 */
export const errorLabels = (operation: string, tag: string): ReadonlyArray<MetricLabel.MetricLabel> => {
  const cacheKey = `${operation} ${tag}`
  let labels = labelCache.get(cacheKey)
  if (labels === undefined) {
    labels = [MetricLabel.make("operation", operation), MetricLabel.make("error", tag)]
    labelCache.set(cacheKey, labels)
  }
  return labels
}

/**
 * `labels` after the fiber's own (added with `Effect.tagMetrics`), paying for a fresh array only when there are
 * some.
 *
 * @internal
 */
export const withFiberLabels = (
  fiberLabels: ReadonlyArray<MetricLabel.MetricLabel>,
  labels: ReadonlyArray<MetricLabel.MetricLabel>
): ReadonlyArray<MetricLabel.MetricLabel> => fiberLabels.length === 0 ? labels : [...fiberLabels, ...labels]

const noLabels: ReadonlyArray<MetricLabel.MetricLabel> = []

/**
 * Adds 1 to `counter`, with the fiber's labels and then `labels`: what `Metric.increment` does, in one step.
 *
 * @internal
 */
export const increment = (
  counter: Metric.Metric.Counter<number>,
  labels: ReadonlyArray<MetricLabel.MetricLabel> = noLabels
): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    counter.unsafeUpdate(1, withFiberLabels(fiber.getFiberRef(FiberRef.currentMetricLabels), labels))
    return Effect.void
  })

/**
 * The `_tag` of an error, or `"UnknownError"`.
 *
 * @internal
 */
export const tagOf = (error: unknown): string =>
  Predicate.hasProperty(error, "_tag") && Predicate.isString(error._tag) ? error._tag : "UnknownError"

// Effect's own tracer: the one every runtime has unless a tracer (OpenTelemetry's, say) is installed.
const builtInTracer: Tracer.Tracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/**
 * `true` when spans made on `fiber` go somewhere: a tracer other than Effect's built-in one is installed and
 * tracing is enabled. Effect's built-in tracer keeps its spans in memory and hands them to nobody, yet making one
 * per operation and installing it as the current span (which copies the fiber's context) costs more than a cache
 * read; so telemetry skips spans, and span attributes, when nothing records them.
 *
 * @internal
 */
export const isTraced = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  fiber.currentTracer !== builtInTracer && fiber.getFiberRef(FiberRef.currentTracerEnabled)

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
  Effect.withFiberRuntime((fiber) => {
    if (typeof error === "object" && error !== null) {
      if (counted.has(error)) return Effect.void
      counted.add(error)
    }
    const tag = tagOf(error)
    errorsTotal.unsafeUpdate(
      1,
      withFiberLabels(fiber.getFiberRef(FiberRef.currentMetricLabels), errorLabels(operation, tag))
    )
    return isTraced(fiber) ? Effect.annotateCurrentSpan("cache.error", tag) : Effect.void
  })
