export * from "effect/Clock"

// ---------------------------------------------------------------------------------------------------------------
// Reading a clock without an effect, and the live clock (neutral helpers, same names in `compat/effect4/Clock.ts`).
// ---------------------------------------------------------------------------------------------------------------
import * as ClockV3 from "effect/Clock"
import * as ContextV3 from "effect/Context"
import * as DefaultServicesV3 from "effect/DefaultServices"

/**
 * The clock every fiber has unless another one is provided (`TestClock` in tests): on Effect 3, the clock of the
 * default services; on Effect 4, the default of the `Clock` reference. Comparing a fiber's clock with it tells
 * whether time is the platform's.
 */
export const live: ClockV3.Clock = ContextV3.get(DefaultServicesV3.liveServices, ClockV3.Clock)

/** The time in milliseconds, read now (`clock.unsafeCurrentTimeMillis()`; Effect 4's `currentTimeMillisUnsafe`). */
export const currentTimeMillisUnsafe = (clock: ClockV3.Clock): number => clock.unsafeCurrentTimeMillis()

/** The time in nanoseconds, read now (`clock.unsafeCurrentTimeNanos()`; Effect 4's `currentTimeNanosUnsafe`). */
export const currentTimeNanosUnsafe = (clock: ClockV3.Clock): bigint => clock.unsafeCurrentTimeNanos()
