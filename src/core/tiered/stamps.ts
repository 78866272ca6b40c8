/**
 * The stamps that order a tiered cache's writes and tag invalidations: plain arithmetic on wall milliseconds, fed
 * by whichever clock the face reads.
 *
 * @internal
 */

/**
 * The smallest step between two stamps: a power of two, so that stamps near today's epoch milliseconds (about
 * 2^41) stay exact in a float64 (52 bits of mantissa leave 11 bits below the millisecond).
 *
 * @internal
 */
export const STEP = 1 / 1024

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
