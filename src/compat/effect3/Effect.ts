/**
 * Effect 4's names for the Effect 3 operators the library uses, so that the face is written once, in Effect 4's
 * vocabulary. Everything else is Effect 3's `Effect` unchanged.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"

export * from "effect/Effect"
export {
  async as callback,
  catchAll as catch,
  catchAllCause as catchCause,
  catchAllDefect as catchDefect,
  either as result,
  fork as forkChild,
  forkDaemon as forkDetach,
  withFiberRuntime as withFiber
} from "effect/Effect"

/** Effect 4's `timeoutOrElse`: on timeout the source is interrupted and `orElse` runs in its place. */
export const timeoutOrElse: {
  <A2, E2, R2>(options: {
    readonly duration: import("effect/Duration").DurationInput
    readonly orElse: () => Effect.Effect<A2, E2, R2>
  }): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A | A2, E | E2, R | R2>
  <A, E, R, A2, E2, R2>(self: Effect.Effect<A, E, R>, options: {
    readonly duration: import("effect/Duration").DurationInput
    readonly orElse: () => Effect.Effect<A2, E2, R2>
  }): Effect.Effect<A | A2, E | E2, R | R2>
} = dual(2, <A, E, R, A2, E2, R2>(self: Effect.Effect<A, E, R>, options: {
  readonly duration: import("effect/Duration").DurationInput
  readonly orElse: () => Effect.Effect<A2, E2, R2>
}): Effect.Effect<A | A2, E | E2, R | R2> =>
  Effect.flatten(
    Effect.timeoutTo(self, {
      duration: options.duration,
      onSuccess: (a): Effect.Effect<A | A2, E2, R2> => Effect.succeed(a),
      onTimeout: options.orElse
    })
  ))

// ---------------------------------------------------------------------------------------------------------------
// Entries for the shared test suites.
// ---------------------------------------------------------------------------------------------------------------

/** Effect 4's `yieldNow`, an effect that lets other fibers run (Effect 3's `yieldNow()`). */
export const yieldNow: Effect.Effect<void> = Effect.yieldNow()
