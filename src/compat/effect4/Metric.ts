/**
 * Effect 4's `Metric`, plus the neutral helpers the face shares with Effect 3 (see `compat/effect3/Metric.ts`).
 *
 * @internal
 */
import type * as Context from "effect/Context"
import type * as Fiber from "effect/Fiber"
import type * as Metric from "effect/Metric"

export * from "effect/Metric"

// ---------------------------------------------------------------------------------------------------------------
// Updating a metric from a hot path without an Effect step (the two-tier cache counts its L1 hits so). Effect 4
// reads a fiber's metric attributes from its context (`metric.updateUnsafe(input, fiber.context)`); Effect 3 keeps
// them in a fiber ref (`metric.unsafeUpdate(input, labels)`). Same name in both compat folders.
// ---------------------------------------------------------------------------------------------------------------

import * as ContextV4 from "effect/Context"
import type * as FiberV4 from "effect/Fiber"
import type * as MetricV4 from "effect/Metric"

const noContext: ContextV4.Context<never> = ContextV4.empty()

/**
 * Updates `metric` with `input` and the metric attributes of `fiber` (its `Metric.CurrentMetricAttributes`, and the
 * registry of its context), as `Metric.update` would, without an Effect step; with no attributes and the default
 * registry when `fiber` is `undefined` (code run outside any fiber).
 */
export const updateWithFiberUnsafe = <In>(
  metric: MetricV4.Metric<In, any>,
  input: In,
  fiber: FiberV4.Fiber<unknown, unknown> | undefined
): void => metric.updateUnsafe(input, fiber === undefined ? noContext : fiber.context)
/**
 * What a metric update reads from the running fiber, besides the metric: its context, which carries
 * `Metric.CurrentMetricAttributes` and the `MetricRegistry` (on Effect 3, the fiber's metric labels).
 */
export type UpdateContext = Context.Context<never>

/**
 * The metric context of `fiber`, the fiber `Effect.withFiber` hands its callback: read once, it serves every update
 * an operation makes (`fiber.context`).
 */
export const contextUnsafe = (fiber: Fiber.Fiber<unknown, unknown>): UpdateContext => fiber.context

/**
 * Updates `self` with `input` in `context` (see {@link contextUnsafe}), synchronously: what `Metric.update` does,
 * without an effect of its own (`self.updateUnsafe(input, context)`).
 */
export const updateUnsafe = <Input, State>(
  self: Metric.Metric<Input, State>,
  input: Input,
  context: UpdateContext
): void => self.updateUnsafe(input, context)
