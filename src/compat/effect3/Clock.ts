export * from "effect/Clock"

// ---------------------------------------------------------------------------------------------------------------
// Synchronous clock reads, for hot paths that must not spend an Effect step on the time (the two-tier cache's L1).
// Effect 4 keeps the clock in the fiber's context and names its readers `currentTimeMillisUnsafe` /
// `currentTimeNanosUnsafe`; Effect 3 keeps it in the fiber's default services and names them
// `unsafeCurrentTimeMillis` / `unsafeCurrentTimeNanos`. The same four names exist in both compat folders.
// ---------------------------------------------------------------------------------------------------------------

import * as ClockV3 from "effect/Clock"
import * as ContextV3 from "effect/Context"
import * as DefaultServicesV3 from "effect/DefaultServices"
import type * as FiberV3 from "effect/Fiber"

/** Effect's own live clock: the one a fiber reads when no other `Clock` (a `TestClock`) is provided. */
export const live: ClockV3.Clock = ContextV3.get(DefaultServicesV3.liveServices, ClockV3.Clock)

let lastServices: ContextV3.Context<DefaultServicesV3.DefaultServices> | undefined
let lastClock: ClockV3.Clock = live

/**
 * The `Clock` of `fiber`, read without an Effect step (Effect 4: `fiber.getRef(Clock.Clock)`). On Effect 3 it lives
 * in the fiber's default services, which rarely change (a `TestClock` is provided once per test): one identity check
 * replaces the lookup. `fiber` is a running fiber (as `Effect.withFiber` and `Fiber.getCurrent` give).
 */
export const fromFiberUnsafe = (fiber: FiberV3.Fiber<unknown, unknown>): ClockV3.Clock => {
  const services = (fiber as FiberV3.RuntimeFiber<unknown, unknown>).currentDefaultServices
  if (services !== lastServices) {
    lastServices = services
    lastClock = ContextV3.get(services, ClockV3.Clock)
  }
  return lastClock
}

/** Wall milliseconds on `clock`, without an Effect step (Effect 3: `unsafeCurrentTimeMillis`). */
export const currentTimeMillisUnsafe = (clock: ClockV3.Clock): number => clock.unsafeCurrentTimeMillis()

/** Wall nanoseconds on `clock`, without an Effect step (Effect 3: `unsafeCurrentTimeNanos`). */
export const currentTimeNanosUnsafe = (clock: ClockV3.Clock): bigint => clock.unsafeCurrentTimeNanos()

// ---------------------------------------------------------------------------------------------------------------
// Neutral helper for the faces that measure time on Effect's clock (the client's reconnection backoff).
// ---------------------------------------------------------------------------------------------------------------
import type * as Clock3 from "effect/Clock"

/**
 * Neutral helper: the clock's monotonic time in nanoseconds, read synchronously. Effect 3's
 * `clock.unsafeCurrentTimeNanos()` (monotonic on the live clock, the test time on a `TestClock`); Effect 4's
 * `clock.monotonicTimeNanosUnsafe()`.
 */
export const monotonicTimeNanosUnsafe = (clock: Clock3.Clock): bigint => clock.unsafeCurrentTimeNanos()
