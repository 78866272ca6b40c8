/**
 * Effect 4's metric vocabulary on Effect 3: attributes (a record) instead of `MetricLabel`s, `withAttributes`,
 * `counter` / `histogram` with an options object, and neutral helpers that update a metric for the running fiber's
 * own attributes without an effect.
 *
 * @internal
 */
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"

export * from "effect/Metric"

// ---------------------------------------------------------------------------------------------------------------
// Counters, and updating a metric from a hot path without an Effect step (the two-tier cache counts its L1 hits
// so). Effect 4 reads a fiber's metric attributes from its context (`metric.updateUnsafe(input, fiber.context)`);
// Effect 3 keeps them in a fiber ref (`metric.unsafeUpdate(input, labels)`).
// ---------------------------------------------------------------------------------------------------------------

import type * as FiberV3 from "effect/Fiber"
import * as FiberRefV3 from "effect/FiberRef"
import type * as MetricV3 from "effect/Metric"
import type * as MetricLabelV3 from "effect/MetricLabel"

const noLabels: ReadonlyArray<MetricLabelV3.MetricLabel> = []

/**
 * Updates `metric` with `input` and the metric attributes of `fiber` (labels added with `Effect.tagMetrics` on
 * Effect 3, `Metric.withAttributes` on Effect 4), as `Metric.update` would, without an Effect step; with none when
 * `fiber` is `undefined` (code run outside any fiber). `fiber` is a running fiber (as `Effect.withFiber` gives).
 */
export const updateWithFiberUnsafe = <In>(
  metric: MetricV3.Metric<any, In, any>,
  input: In,
  fiber: FiberV3.Fiber<unknown, unknown> | undefined
): void =>
  metric.unsafeUpdate(
    input,
    fiber === undefined
      ? noLabels
      : (fiber as FiberV3.RuntimeFiber<unknown, unknown>).getFiberRef(FiberRefV3.currentMetricLabels)
  )
/** Effect 4's `Metric.Counter<Input>`: Effect 3's `Metric.Metric.Counter<In>`. */
export type Counter<In extends number | bigint> = Metric.Metric.Counter<In>

/** Effect 4's `Metric.Histogram<Input>`: Effect 3's `Metric.Metric.Histogram<In>`. */
export type Histogram<In> = Metric.Metric.Histogram<In>

/** Effect 4's `Metric.Metric.Attributes`: a record of attribute values, or its entries (Effect 3's labels). */
export type Attributes = Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]>

const labelsOf = (attributes: Attributes): ReadonlyArray<MetricLabel.MetricLabel> =>
  (Array.isArray(attributes) ? attributes : Object.entries(attributes)).map(([key, value]) =>
    MetricLabel.make(key, value)
  )

/**
 * Effect 4's `Metric.withAttributes`: the metric whose updates and reads carry `attributes` (Effect 3's tags).
 *
 * Unlike Effect 3's `Metric.taggedWithLabels`, which builds a new label array (so a new metric key) on every update,
 * the labels are made once and, for each array of fiber labels (`Effect.tagMetrics`), merged once: an update costs
 * the metric's own lookup by array identity. The fiber's labels come first, then these, as this library has always
 * labelled its metrics.
 */
export const withAttributes: {
  (attributes: Attributes): <Type, In, Out>(self: Metric.Metric<Type, In, Out>) => Metric.Metric<Type, In, Out>
  <Type, In, Out>(self: Metric.Metric<Type, In, Out>, attributes: Attributes): Metric.Metric<Type, In, Out>
} = dual(
  2,
  <Type, In, Out>(self: Metric.Metric<Type, In, Out>, attributes: Attributes): Metric.Metric<Type, In, Out> => {
    const own = labelsOf(attributes)
    const merged = new WeakMap<ReadonlyArray<MetricLabel.MetricLabel>, ReadonlyArray<MetricLabel.MetricLabel>>()
    const labels = (extra: ReadonlyArray<MetricLabel.MetricLabel>): ReadonlyArray<MetricLabel.MetricLabel> => {
      if (extra.length === 0) return own
      let all = merged.get(extra)
      if (all === undefined) {
        all = [...extra, ...own]
        merged.set(extra, all)
      }
      return all
    }
    return Metric.make(
      self.keyType,
      (input, extra) => self.unsafeUpdate(input, labels(extra)),
      (extra) => self.unsafeValue(labels(extra)),
      (input, extra) => self.unsafeModify(input, labels(extra))
    )
  }
)

/** Effect 4's `Metric.counter`, whose options may carry `attributes` (then the counter is `withAttributes`' one). */
export const counter: {
  (name: string, options?: {
    readonly description?: string | undefined
    readonly bigint?: false | undefined
    readonly incremental?: boolean | undefined
    readonly attributes?: Attributes | undefined
  }): Counter<number>
  (name: string, options: {
    readonly description?: string | undefined
    readonly bigint: true
    readonly incremental?: boolean | undefined
    readonly attributes?: Attributes | undefined
  }): Counter<bigint>
} = (name: string, options?: {
  readonly description?: string | undefined
  readonly bigint?: boolean | undefined
  readonly incremental?: boolean | undefined
  readonly attributes?: Attributes | undefined
}): any => {
  const metric = Metric.counter(name, options as { readonly bigint?: false })
  return options?.attributes === undefined ? metric : withAttributes(metric, options.attributes)
}

// Effect 3 compares the boundaries of two histograms by the identity of their array of values, so that two
// histograms of one name are one series only when they share their `MetricBoundaries`: made once per array.
const boundariesOf = new WeakMap<ReadonlyArray<number>, MetricBoundaries.MetricBoundaries>()

/**
 * Effect 4's `Metric.histogram(name, { boundaries, description, attributes })`: Effect 3's
 * `Metric.histogram(name, MetricBoundaries.fromIterable(boundaries), description)`. Histograms made with the same
 * name, description and array of boundaries update the same series, as on Effect 4.
 */
export const histogram = (name: string, options: {
  readonly description?: string | undefined
  readonly attributes?: Attributes | undefined
  readonly boundaries: ReadonlyArray<number>
}): Histogram<number> => {
  let boundaries = boundariesOf.get(options.boundaries)
  if (boundaries === undefined) {
    boundaries = MetricBoundaries.fromIterable(options.boundaries)
    boundariesOf.set(options.boundaries, boundaries)
  }
  const metric = Metric.histogram(name, boundaries, options.description)
  return options.attributes === undefined ? metric : withAttributes(metric, options.attributes)
}

/**
 * Effect 4's `Metric.exponentialBoundaries`: the values of Effect 3's `MetricBoundaries.exponential` (the same
 * numbers, `+Infinity` last).
 */
export const exponentialBoundaries = (options: {
  readonly start: number
  readonly factor: number
  readonly count: number
}): ReadonlyArray<number> => MetricBoundaries.exponential(options).values

/**
 * What a metric update reads from the running fiber, besides the metric: on Effect 3 the fiber's metric labels
 * (`Effect.tagMetrics`); on Effect 4 its context, which carries `Metric.CurrentMetricAttributes` and the
 * `MetricRegistry`.
 */
export type UpdateContext = ReadonlyArray<MetricLabel.MetricLabel>

/**
 * The metric context of `fiber`, the fiber `Effect.withFiber` hands its callback: read once, it serves every update
 * an operation makes (`fiber.getFiberRef(FiberRef.currentMetricLabels)`; on Effect 4, `fiber.context`).
 */
export const contextUnsafe = (fiber: Fiber.RuntimeFiber<unknown, unknown>): UpdateContext =>
  fiber.getFiberRef(FiberRef.currentMetricLabels)

/**
 * Updates `self` with `input` in `context` (see {@link contextUnsafe}), synchronously: what `Metric.update` does,
 * without an effect of its own (`self.unsafeUpdate(input, context)`; Effect 4's `self.updateUnsafe(input,
 * context)`).
 */
export const updateUnsafe = <Type, In, Out>(
  self: Metric.Metric<Type, In, Out>,
  input: In,
  context: UpdateContext
): void => self.unsafeUpdate(input, context)
