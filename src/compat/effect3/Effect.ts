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
// Logging at a level, in Effect 4's shape.
// ---------------------------------------------------------------------------------------------------------------
import * as LogLevelV3 from "effect/LogLevel"
import type { Severity as LogSeverity } from "./LogLevel.js"

/**
 * Effect 4's `logWithLevel(level)(...message)`: the level first, once, then a logger of messages at it (no level:
 * the fiber's current one, as `Effect.log`). Effect 3's is `logWithLevel(level, ...message)`; a level is read as
 * Effect 3 reads it (a `LogLevel` or its literal), and Effect 4's `"Warn"` is Effect 3's `Warning`.
 */
export const logWithLevel = (level?: LogSeverity): (...message: ReadonlyArray<any>) => Effect.Effect<void> => {
  if (level === undefined) return (...message) => Effect.log(...message)
  const logLevel = typeof level !== "string"
    ? level
    : level === "Warn"
    ? LogLevelV3.Warning
    : LogLevelV3.fromLiteral(level)
  return (...message) => Effect.logWithLevel(logLevel, ...message)
}
