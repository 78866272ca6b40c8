export * from "effect/Clock"

// ---------------------------------------------------------------------------------------------------------------
// Reading a clock without an effect, and the live clock (neutral helpers, same names in `compat/effect3/Clock.ts`).
// ---------------------------------------------------------------------------------------------------------------
import * as ClockV4 from "effect/Clock"
import * as ContextV4 from "effect/Context"

/**
 * The clock every fiber has unless another one is provided (`TestClock` in tests): the default of the `Clock`
 * reference (on Effect 3, the clock of the default services). Comparing a fiber's clock with it tells whether time
 * is the platform's.
 */
export const live: ClockV4.Clock = ContextV4.get(ContextV4.empty(), ClockV4.Clock)

/** The time in milliseconds, read now: `clock.currentTimeMillisUnsafe()`. */
export const currentTimeMillisUnsafe = (clock: ClockV4.Clock): number => clock.currentTimeMillisUnsafe()

/** The time in nanoseconds, read now: `clock.currentTimeNanosUnsafe()`. */
export const currentTimeNanosUnsafe = (clock: ClockV4.Clock): bigint => clock.currentTimeNanosUnsafe()
