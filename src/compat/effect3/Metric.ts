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

/** Effect 4's `Metric.Counter` (Effect 3's `Metric.Metric.Counter`). */
export type Counter<In extends number | bigint> = MetricV3.Metric.Counter<In>

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

// ---------------------------------------------------------------------------------------------------------------
// Entries for the two-tier test suites: Effect 4's names on Effect 3.
// ---------------------------------------------------------------------------------------------------------------
import { dual as dual3 } from "effect/Function"
import * as Metric3 from "effect/Metric"

/**
 * Effect 4's `Metric.withAttributes`: the metric with these attributes (Effect 3's tags), added in the order they
 * are given, as `Metric.tagged` calls one after another.
 */
export const withAttributes: {
  (
    attributes: Readonly<Record<string, string>>
  ): <Type, In, Out>(self: Metric3.Metric<Type, In, Out>) => Metric3.Metric<Type, In, Out>
  <Type, In, Out>(
    self: Metric3.Metric<Type, In, Out>,
    attributes: Readonly<Record<string, string>>
  ): Metric3.Metric<Type, In, Out>
} = dual3(
  2,
  <Type, In, Out>(
    self: Metric3.Metric<Type, In, Out>,
    attributes: Readonly<Record<string, string>>
  ): Metric3.Metric<Type, In, Out> =>
    Object.entries(attributes).reduce((metric, [key, value]) => Metric3.tagged(metric, key, value), self)
)
