/**
 * A clock of the test's own, provided to one effect: on Effect 3 a `Clock` carries `ClockTypeId` and `unsafe…`
 * readers and is provided with `Effect.withClock`; on Effect 4 its readers are `…Unsafe`, it has a monotonic reader
 * of its own, and it is provided as the `Clock.Clock` service.
 */
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"

/** What the clock answers. */
export interface Readings {
  /** Wall-clock time, in milliseconds. */
  readonly wallMillis: () => number
  /**
   * Monotonic time, in nanoseconds: what intervals are measured with. On Effect 3 it is also the clock's
   * `currentTimeNanos` (as on its live clock, which counts from a monotonic origin).
   */
  readonly monotonicNanos: () => bigint
  /** Sleeps for the duration. */
  readonly sleep: (duration: Duration.Duration) => Effect.Effect<void>
}

/** A clock from its readings. */
export const make = (readings: Readings): Clock.Clock => ({
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: readings.wallMillis,
  currentTimeMillis: Effect.sync(readings.wallMillis),
  unsafeCurrentTimeNanos: readings.monotonicNanos,
  currentTimeNanos: Effect.sync(readings.monotonicNanos),
  sleep: readings.sleep
})

/** Runs the effect on the clock. */
export const provide: {
  (clock: Clock.Clock): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, clock: Clock.Clock): Effect.Effect<A, E, R>
} = dual(2, <A, E, R>(self: Effect.Effect<A, E, R>, clock: Clock.Clock) => Effect.withClock(self, clock))
