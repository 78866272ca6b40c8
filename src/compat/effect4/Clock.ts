export * from "effect/Clock"

// ---------------------------------------------------------------------------------------------------------------
// Synchronous clock reads, for hot paths that must not spend an Effect step on the time (the two-tier cache's L1).
// Effect 4 keeps the clock in the fiber's context and names its readers `currentTimeMillisUnsafe` /
// `currentTimeNanosUnsafe`; Effect 3 keeps it in the fiber's default services and names them
// `unsafeCurrentTimeMillis` / `unsafeCurrentTimeNanos`. The same four names exist in both compat folders.
// ---------------------------------------------------------------------------------------------------------------

import * as ClockV4 from "effect/Clock"
import * as ContextV4 from "effect/Context"
import type * as FiberV4 from "effect/Fiber"

/** Effect's own live clock: the `Clock` reference's default, which a fiber reads when no other clock is provided. */
export const live: ClockV4.Clock = ContextV4.get(ContextV4.empty(), ClockV4.Clock)

let lastContext: ContextV4.Context<never> | undefined
let lastClock: ClockV4.Clock = live

/**
 * The `Clock` of `fiber`, read without an Effect step: `fiber.getRef(Clock.Clock)`, looked up again only when the
 * fiber's context is another object than at the last call (contexts are immutable; fibers forked from one fiber
 * share its context), so that the usual call is one identity check.
 */
export const fromFiberUnsafe = (fiber: FiberV4.Fiber<unknown, unknown>): ClockV4.Clock => {
  const context = fiber.context
  if (context !== lastContext) {
    lastContext = context
    lastClock = fiber.getRef(ClockV4.Clock)
  }
  return lastClock
}

/** Wall milliseconds on `clock`, without an Effect step (`clock.currentTimeMillisUnsafe()`). */
export const currentTimeMillisUnsafe = (clock: ClockV4.Clock): number => clock.currentTimeMillisUnsafe()

/** Wall nanoseconds on `clock`, without an Effect step (`clock.currentTimeNanosUnsafe()`). */
export const currentTimeNanosUnsafe = (clock: ClockV4.Clock): bigint => clock.currentTimeNanosUnsafe()

// ---------------------------------------------------------------------------------------------------------------
// Neutral helper for the faces that measure time on Effect's clock (the client's reconnection backoff).
// ---------------------------------------------------------------------------------------------------------------
import type * as Clock4 from "effect/Clock"

/**
 * Neutral helper: the clock's monotonic time in nanoseconds, read synchronously (the test time on a `TestClock`):
 * `clock.monotonicTimeNanosUnsafe()`, not `currentTimeNanosUnsafe()`, which is the wall clock on Effect 4 and may
 * step back. Effect 3: `clock.unsafeCurrentTimeNanos()`.
 */
export const monotonicTimeNanosUnsafe = (clock: Clock4.Clock): bigint => clock.monotonicTimeNanosUnsafe()
