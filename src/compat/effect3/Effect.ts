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
// Forking from a captured context, for the faces that run effects from callbacks outside any fiber: Effect 4's
// `Effect.context()` + `Effect.runForkWith(context)` / `Effect.runCallbackWith(context)` on Effect 3.
//
// On Effect 4 every fiber-local value (logger, log level, annotations, clock, tracer) lives in the fiber's context,
// so a captured context is all a fiber forked from it needs. On Effect 3 those live in FiberRefs beside the
// context, which `Effect.runtime()` captures: `context()` keeps that runtime in the context it returns, under a
// key of its own, and `runForkWith` / `runCallbackWith` run with it.
// ---------------------------------------------------------------------------------------------------------------
import * as Context3 from "effect/Context"
import type * as Exit3 from "effect/Exit"
import type * as Fiber3 from "effect/Fiber"
import * as Option3 from "effect/Option"
import * as Runtime3 from "effect/Runtime"
import * as RuntimeFlags3 from "effect/RuntimeFlags"

/** Where `context()` keeps, on Effect 3, what a fiber forked from the context inherits besides its services. */
class CapturedRuntime extends Context3.Tag("effect-remote-cache/compat/CapturedRuntime")<
  CapturedRuntime,
  Runtime3.Runtime<never>
>() {}

/**
 * Effect 4's `Effect.context()`: the current fiber's services. On Effect 3 the context also carries the fiber's
 * FiberRefs (logger, clock, annotations...), read back by {@link runForkWith} and {@link runCallbackWith}.
 */
export const context = <R = never>(): Effect.Effect<Context3.Context<R>, never, R> =>
  Effect.map(
    Effect.runtime<R>(),
    (runtime) => Context3.add(runtime.context, CapturedRuntime, runtime as Runtime3.Runtime<never>)
  )

/**
 * The runtime a captured context stands for: the FiberRefs `context()` kept (Effect 3's defaults for a context made
 * otherwise) with `context` as its services. Interruptible, as a fiber Effect 4 forks from a context starts,
 * whatever region the context was read in.
 */
const runtimeOf = <R>(context: Context3.Context<R>): Runtime3.Runtime<R> => {
  const captured = Context3.getOption(context, CapturedRuntime)
  const base = Option3.isSome(captured) ? captured.value : Runtime3.defaultRuntime
  return Runtime3.make({
    context,
    fiberRefs: base.fiberRefs,
    runtimeFlags: RuntimeFlags3.enable(base.runtimeFlags, RuntimeFlags3.Interruption)
  })
}

/**
 * Effect 4's `Effect.runForkWith(context)`: runs effects as root fibers with the services (and, on Effect 3, the
 * FiberRefs) of `context`. The runtime is made once, when `context` is given, so the function returned is cheap.
 */
export const runForkWith = <R>(
  context: Context3.Context<R>
): <A, E>(effect: Effect.Effect<A, E, R>) => Fiber3.RuntimeFiber<A, E> => {
  const run = Runtime3.runFork(runtimeOf(context))
  return (effect) => run(effect)
}

/**
 * Effect 4's `Effect.runCallbackWith(context)`: runs an effect as a root fiber as {@link runForkWith} does, calls
 * `onExit` with its exit, and returns a function that interrupts it.
 */
export const runCallbackWith = <R>(
  context: Context3.Context<R>
): <A, E>(
  effect: Effect.Effect<A, E, R>,
  options?: { readonly onExit: (exit: Exit3.Exit<A, E>) => void } | undefined
) => (interruptor?: undefined) => void => {
  const run = Runtime3.runCallback(runtimeOf(context))
  return (effect, options) => {
    const cancel = run(effect, options)
    return () => cancel()
  }
}
// Entries for the shared test suites.
// ---------------------------------------------------------------------------------------------------------------

/** Effect 4's `yieldNow`, an effect that lets other fibers run (Effect 3's `yieldNow()`). */
export const yieldNow: Effect.Effect<void> = Effect.yieldNow()
// And `Effect.fromResult`: on Effect 3 a `Result` (an `Either`) is already an effect.
// ---------------------------------------------------------------------------------------------------------------

import type * as EitherV3 from "effect/Either"

/** Effect 4's `Effect.fromResult`: a `Result` as an effect (on Effect 3 an `Either` is one already). */
export const fromResult = <A, E>(result: EitherV3.Either<A, E>): Effect.Effect<A, E> => result
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
