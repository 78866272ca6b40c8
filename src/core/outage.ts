/**
 * When a dependency's failures make an outage worth a log line: a state machine fed with each failure and each
 * success and the time they were seen at, which says when an outage starts, when it is still going on (every
 * `repeatEvery`), and when it ends (with its duration and the failures it cost). Plain TypeScript, so that the
 * cache's policy (`RemoteCache.logOutages`) and the Redis client's own connection log decide it the same way.
 *
 * An outage is `threshold` consecutive failures: with the default of 2, one failed operation between successes (a
 * blip) is not one. Once declared, it lasts until the next success, however long, and the next run of
 * `threshold` failures after that success is a new outage, said again at once: nothing is held back between
 * outages.
 *
 * @internal
 */

/**
 * Options of an {@link OutageTracker}.
 *
 * @internal
 */
export interface OutageOptions {
  /** Consecutive failures that make an outage: at least 1. */
  readonly threshold: number
  /** Least time, in milliseconds, between two reports of the same outage (its start, then each repeat). */
  readonly repeatEveryMillis: number
}

/**
 * What a failure or a success means for the log: an outage that starts, one still going on (said again once
 * `repeatEvery` has passed since it was last said), or one that ends.
 *
 * @internal
 */
export type OutageEvent =
  | {
    readonly _tag: "Started"
    /** Failures of this outage so far (the `threshold` that declared it). */
    readonly failures: number
    /** Since its first failure, in milliseconds. */
    readonly elapsedMillis: number
  }
  | {
    readonly _tag: "Continuing"
    readonly failures: number
    readonly elapsedMillis: number
  }
  | {
    readonly _tag: "Ended"
    /** Every failure of the outage, from its first. */
    readonly failures: number
    /** From its first failure to the success that ended it, in milliseconds. */
    readonly durationMillis: number
  }

/**
 * Whether the failures seen make an outage, and what to say about it. Times are any monotonic clock's, in
 * milliseconds; a time earlier than the last one seen counts as the last one (nothing goes negative).
 *
 * @internal
 */
export class OutageTracker {
  /** Consecutive failures, from the first after a success. */
  private streak = 0
  /** When the first of them was seen. */
  private firstFailureAt = 0
  /** When the outage was last said (started or repeated); meaningful while `declared`. */
  private lastReportAt = 0
  private declared = false
  private lastSeen = Number.NEGATIVE_INFINITY

  constructor(readonly options: OutageOptions) {}

  /** Whether an outage has been declared and not yet ended by a success. */
  get inOutage(): boolean {
    return this.declared
  }

  /** Consecutive failures seen since the last success. */
  get failures(): number {
    return this.streak
  }

  private at(now: number): number {
    if (now < this.lastSeen) return this.lastSeen
    this.lastSeen = now
    return now
  }

  /** A failure seen at `now`: `Started` when it completes the threshold, `Continuing` when a repeat is due. */
  failure(now: number): OutageEvent | undefined {
    const time = this.at(now)
    if (this.streak === 0) this.firstFailureAt = time
    this.streak++
    const elapsedMillis = time - this.firstFailureAt
    if (!this.declared) {
      if (this.streak < this.options.threshold) return undefined
      this.declared = true
      this.lastReportAt = time
      return { _tag: "Started", failures: this.streak, elapsedMillis }
    }
    if (time - this.lastReportAt < this.options.repeatEveryMillis) return undefined
    this.lastReportAt = time
    return { _tag: "Continuing", failures: this.streak, elapsedMillis }
  }

  /**
   * Time passing at `now` without a new failure or success: `Continuing` when the outage is declared and a repeat
   * is due (for a caller that checks in the background rather than on each failure).
   */
  tick(now: number): OutageEvent | undefined {
    const time = this.at(now)
    if (!this.declared || time - this.lastReportAt < this.options.repeatEveryMillis) return undefined
    this.lastReportAt = time
    return { _tag: "Continuing", failures: this.streak, elapsedMillis: time - this.firstFailureAt }
  }

  /** A success seen at `now`: `Ended` when it ends a declared outage; it forgets every failure before it. */
  success(now: number): OutageEvent | undefined {
    const time = this.at(now)
    const ended: OutageEvent | undefined = this.declared
      ? { _tag: "Ended", failures: this.streak, durationMillis: time - this.firstFailureAt }
      : undefined
    this.streak = 0
    this.declared = false
    return ended
  }
}

/**
 * A duration for a log line: `850 ms`, `4.2 s`, `3 min 12 s`, `2 h 5 min`.
 *
 * @internal
 */
export const formatDuration = (millis: number): string => {
  const ms = Math.max(0, Math.round(millis))
  if (ms < 1000) return `${ms} ms`
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toString()} s`
  const seconds = Math.floor(ms / 1000)
  if (seconds < 3600) {
    const s = seconds % 60
    return s === 0 ? `${Math.floor(seconds / 60)} min` : `${Math.floor(seconds / 60)} min ${s} s`
  }
  const minutes = Math.floor(seconds / 60)
  const m = minutes % 60
  return m === 0 ? `${Math.floor(minutes / 60)} h` : `${Math.floor(minutes / 60)} h ${m} min`
}
