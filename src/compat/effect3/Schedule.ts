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
