export * from "effect/Schedule"

// ---------------------------------------------------------------------------------------------------------------
// Entry for the client face (the reconnection backoff): Effect 4's `Schedule.addDelay` on Effect 3.
// ---------------------------------------------------------------------------------------------------------------
import type * as Duration3 from "effect/Duration"
import type * as Effect3 from "effect/Effect"
import * as Schedule3 from "effect/Schedule"

/**
 * Effect 4's `Schedule.addDelay(self, f)`: adds the duration `f` computes to each delay of `self`. Effect 4 hands
 * `f` the step's metadata; Effect 3's `Schedule.addDelayEffect` has only the schedule's output, so that is all the
 * metadata holds here.
 */
export const addDelay = <Out, In, R, R2 = never>(
  self: Schedule3.Schedule<Out, In, R>,
  f: (metadata: { readonly output: Out }) => Effect3.Effect<Duration3.DurationInput, never, R2>
): Schedule3.Schedule<Out, In, R | R2> => Schedule3.addDelayEffect(self, (output) => f({ output }))
// Stepping a schedule by hand, in Effect 4's names (`toStepWithMetadata`, `CurrentMetadata`).
// ---------------------------------------------------------------------------------------------------------------
import * as EffectV3 from "effect/Effect"
import type * as OptionV3 from "effect/Option"
import * as RefV3 from "effect/Ref"
import * as ScheduleV3 from "effect/Schedule"

/**
 * The metadata of the current recurrence, which `Effect.retry` and `Effect.repeat` provide to each attempt (Effect
 * 4's `Schedule.CurrentMetadata`): Effect 3's `Schedule.CurrentIterationMetadata`.
 */
export const CurrentMetadata = ScheduleV3.CurrentIterationMetadata

/**
 * Effect 4's `Schedule.toStepWithMetadata`: a step function that feeds the schedule one input, waits the delay it
 * asks for, then succeeds with the recurrence's metadata (to provide as `CurrentMetadata`), or fails once the
 * schedule is done. On Effect 3, a `Schedule.driver`: `next`, then the driver's iteration metadata; done is a
 * failure with `None` (on Effect 4, with `Cause.Done`).
 */
export const toStepWithMetadata = <Out, In, R>(
  schedule: ScheduleV3.Schedule<Out, In, R>
): EffectV3.Effect<(input: In) => EffectV3.Effect<ScheduleV3.IterationMetadata, OptionV3.Option<never>, R>> =>
  EffectV3.map(
    ScheduleV3.driver(schedule),
    (driver) => (input: In) => EffectV3.zipRight(driver.next(input), RefV3.get(driver.iterationMeta))
  )
