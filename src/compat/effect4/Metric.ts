/**
 * Effect 4's `Metric`, plus the neutral helpers the face shares with Effect 3 (see `compat/effect3/Metric.ts`).
 *
 * @internal
 */
import type * as Context from "effect/Context"
import type * as Fiber from "effect/Fiber"
import type * as Metric from "effect/Metric"

export * from "effect/Metric"

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
