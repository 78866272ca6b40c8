/**
 * The hot path's access to the fiber: its clock and its metric labels read without Effect steps, so that an L1 hit
 * runs in one step.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as DefaultServices from "effect/DefaultServices"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import { monoOf } from "./clock.js"
import { l1HitsTotal } from "./metrics.js"

/**
 * Monotonic milliseconds on the fiber's `Clock` (a `TestClock` in tests), without the Effect steps around a clock
 * read: the L1 hit path runs in one step. L1 keeps its entries on this clock (see `l1.ts`).
 *
 * @internal
 */
export const nowOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): number => {
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

/**
 * Counts an L1 hit with the fiber's metric labels, as `Metric.increment` would, without an Effect step.
 *
 * @internal
 */
export const countL1Hit = (fiber: Fiber.RuntimeFiber<unknown, unknown>): void =>
  l1HitsTotal.unsafeUpdate(1, fiber.getFiberRef(FiberRef.currentMetricLabels))
