/**
 * The two clocks of the tiered cache, and the stamps that order its writes and tag invalidations.
 *
 * - Wall time (epoch milliseconds) is what entries carry in their headers and what instances compare with each
 *   other: creation times, fresh and grace ends, tag invalidation times.
 * - Monotonic time decides how long an entry stays in this process's L1: a wall clock stepped back must not keep
 *   an L1 entry past the L2 entry it copies. Effect's live clock is read through `performance.now()` (no `bigint`
 *   per read); any other clock (`TestClock`) through its nanoseconds, which it keeps equal to its wall time.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"

const liveClock: Clock.Clock = Context.get(DefaultServices.liveServices, Clock.Clock)

let lastServices: Context.Context<DefaultServices.DefaultServices> | undefined
let lastClock: Clock.Clock = liveClock

/**
 * The `Clock` of the fiber running now (a `TestClock` in tests), read without an Effect step so that the cache's
 * synchronous bookkeeping sees the same time as its caller; the live clock outside any fiber.
 *
 * @internal
 */
export const currentClock = (): Clock.Clock => {
  const fiber = Fiber.getCurrentFiber()
  if (Option.isNone(fiber)) return liveClock
  const services = fiber.value.currentDefaultServices
  // The services rarely change (a `TestClock` is provided once per test): one identity check replaces the lookup.
  if (services !== lastServices) {
    lastServices = services
    lastClock = Context.get(services, Clock.Clock)
  }
  return lastClock
}

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
  clock === liveClock ? performance.now() : Number(clock.unsafeCurrentTimeNanos()) / 1_000_000

/**
 * The smallest step between two stamps: a power of two, so that stamps near today's epoch milliseconds (about
 * 2^41) stay exact in a float64 (52 bits of mantissa leave 11 bits below the millisecond).
 */
const STEP = 1 / 1024

/**
 * Creation and invalidation stamps, strictly increasing within one process and clock: a hybrid of the wall clock
 * and a counter below the millisecond. Two operations in the same millisecond get different stamps in the order
 * they ran, so "created at or before the invalidation" means "before it" for everything in this process, also
 * under a `TestClock` that never moves. A stamp never lags behind a tag time this process has seen (`observe`), so
 * a write made after reading an invalidation is newer than it on any clock.
 *
 * @internal
 */
export class Stamps {
  private last = -Infinity

  /** A stamp at or after `now` (wall milliseconds), after every stamp made or observed before. */
  next(now: number): number {
    const stamp = now > this.last ? now : this.last + STEP
    this.last = stamp
    return stamp
  }

  /** Makes every later stamp newer than `time` (a tag invalidation read from L2 or from the bus). */
  observe(time: number): void {
    if (time > this.last && Number.isFinite(time)) this.last = time
  }
}

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

/**
 * The time a tag invalidation made at wall time `now` records: the last instant of that millisecond (after every
 * stamp made in it so far), so that every entry created in that millisecond, on any instance, counts as covered.
 * The caller then waits for the millisecond to end before answering (on the live clock), so that a write issued
 * after `invalidateTags` returned, on any instance whose clock agrees, is created after it.
 *
 * @internal
 */
export const invalidationStamp = (stamps: Stamps, now: number): number => {
  const endOfMillisecond = Math.floor(now) + 1 - STEP
  return stamps.next(Math.max(endOfMillisecond, now))
}
