/**
 * The two clocks of the tiered cache, and the stamps that order its writes and tag invalidations.
 *
 * - Wall time (epoch milliseconds) is what entries carry in their headers and what instances compare with each
 *   other: creation times, fresh and grace ends, tag invalidation times.
 * - Monotonic time decides how long an entry stays in this process's L1: a wall clock stepped back must not keep
 *   an L1 entry past the L2 entry it copies. Effect's live clock is read through `performance.now()` (no `bigint`
 *   per read); any other clock (`TestClock`) through its nanoseconds, which it keeps equal to its wall time.
 *
 * The clock is read without an Effect step: `Clock.fromFiberUnsafe` (an identity check of what the fiber's clock
 * is kept in, on either major) and the synchronous readers of the compat `Clock`.
 *
 * The stamps themselves are plain arithmetic, in `core/tiered/stamps`; this module picks the clock.
 *
 * @internal
 */
import * as Clock from "#effect/Clock"
import * as Fiber from "#effect/Fiber"
import { Stamps } from "../../core/tiered/stamps.js"

export { invalidationStamp, Stamps } from "../../core/tiered/stamps.js"

const liveClock: Clock.Clock = Clock.live

/**
 * The `Clock` of the fiber running now (a `TestClock` in tests), read without an Effect step so that the cache's
 * synchronous bookkeeping sees the same time as its caller; the live clock outside any fiber.
 *
 * @internal
 */
export const currentClock = (): Clock.Clock => {
  const fiber = Fiber.getCurrent()
  return fiber === undefined ? liveClock : Clock.fromFiberUnsafe(fiber)
}

/**
 * Wall milliseconds on the clock of the fiber running now (see {@link currentClock}).
 *
 * @internal
 */
export const currentMillis = (): number => Clock.currentTimeMillisUnsafe(currentClock())

/**
 * Wall milliseconds on `clock`.
 *
 * @internal
 */
export const wallMillisOf = (clock: Clock.Clock): number => Clock.currentTimeMillisUnsafe(clock)

/**
 * `true` when `clock` is Effect's own live clock (not a `TestClock`).
 *
 * @internal
 */
export const isLive = (clock: Clock.Clock): boolean => clock === liveClock

/**
 * Monotonic milliseconds on `clock`, comparable only with other readings of the same clock.
 *
 * @internal
 */
export const monoOf = (clock: Clock.Clock): number =>
  clock === liveClock ? performance.now() : Number(Clock.monotonicTimeNanosUnsafe(clock)) / 1_000_000

const stampsByClock = new WeakMap<Clock.Clock, Stamps>()

/**
 * The stamps of `clock`: one sequence per clock, shared by every tiered cache in the process (so that two caches
 * in one process order their writes and invalidations), and a fresh one for each `TestClock`.
 *
 * @internal
 */
export const stampsOf = (clock: Clock.Clock): Stamps => {
  let stamps = stampsByClock.get(clock)
  if (stamps === undefined) {
    stamps = new Stamps()
    stampsByClock.set(clock, stamps)
  }
  return stamps
}
