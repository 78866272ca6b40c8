/**
 * The hot path's access to the fiber: its clock and its metric attributes read without Effect steps, so that an L1
 * hit runs in one step.
 *
 * @internal
 */
import * as Clock from "#effect/Clock"
import type * as Fiber from "#effect/Fiber"
import * as Metric from "#effect/Metric"
import { monoOf } from "./clock.js"
import { l1HitsTotal } from "./metrics.js"

/**
 * Monotonic milliseconds on the fiber's `Clock` (a `TestClock` in tests), without the Effect steps around a clock
 * read: the L1 hit path runs in one step. L1 keeps its entries on this clock (see `l1.ts`). The fiber's clock is
 * found by one identity check in the usual case (see `Clock.fromFiberUnsafe`).
 *
 * @internal
 */
export const nowOf = (fiber: Fiber.Fiber<unknown, unknown>): number => monoOf(Clock.fromFiberUnsafe(fiber))

/**
 * Counts an L1 hit with the fiber's metric attributes, as `Metric.update` would, without an Effect step.
 *
 * @internal
 */
export const countL1Hit = (fiber: Fiber.Fiber<unknown, unknown>): void =>
  Metric.updateWithFiberUnsafe(l1HitsTotal, 1, fiber)
