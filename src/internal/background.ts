/**
 * What every fiber this library forks runs as its whole work: a fiber that nobody waits for must end its own
 * failures, or Effect reports them for it (Effect 3 logs "Fiber terminated with an unhandled error" at Debug with
 * the whole cause, a stack of 10 to 20 lines, for every failed fiber, a joined one included). A background fiber's
 * failure is said in one line at Debug, annotated with the fiber's name, and nothing else; an interruption (a scope
 * closing) is not a failure and is said nowhere.
 *
 * A fiber whose result someone awaits forks `Effect.exit(effect)` instead, and the awaiter reads the `Exit`: the
 * fiber itself then always succeeds.
 *
 * @internal
 */
import * as Cause from "#effect/Cause"
import * as Effect from "#effect/Effect"
import type * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"

/**
 * The first line of what went wrong: an error's tag and message, never its stack, cause or fields (which may hold
 * values).
 *
 * @internal
 */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (typeof error === "object" && error !== null) {
    const tag = "_tag" in error && typeof error._tag === "string" ? error._tag : undefined
    const name = tag ?? ("name" in error && typeof error.name === "string" ? error.name : "Error")
    const message = "message" in error && typeof error.message === "string" ? error.message : ""
    const text = message === "" ? name : `${name}: ${message}`
    const newline = text.indexOf("\n")
    return newline === -1 ? text : text.slice(0, newline)
  }
  const text = String(error)
  const newline = text.indexOf("\n")
  return newline === -1 ? text : text.slice(0, newline)
}

/**
 * `effect` as a background fiber's work: it never fails. A failure or defect is logged once, at Debug
 * (`<name> failed: <tag>: <message>`, annotated `effect_remote_cache.fiber`); an interruption ends it quietly.
 *
 * @internal
 */
export const handled = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>): Effect.Effect<void, never, R> =>
  Effect.catchCause(
    Effect.asVoid(effect),
    (cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.interrupt
        : Effect.annotateLogs(Effect.logDebug(`${name} failed: ${describeCause(cause)}`), {
          "effect_remote_cache.fiber": name
        })
  )

/**
 * Forks `effect` as a child whose result is read by joining it with {@link joinExit}: the fiber itself ends with
 * the `Exit`, so its failure is the joiner's to handle and never an unhandled one.
 *
 * @internal
 */
export const forkChildExit = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<Fiber.Fiber<Exit.Exit<A, E>>, never, R> => Effect.forkChild(Effect.exit(effect))

/**
 * The result of a fiber forked with {@link forkChildExit} (or any fiber that ends with an `Exit`): what the
 * effect did, success or failure, as if it had been joined itself; interrupted, an interruption.
 *
 * @internal
 */
export const joinExit = <A, E>(fiber: Fiber.Fiber<Exit.Exit<A, E>>): Effect.Effect<A, E> =>
  Effect.flatMap(Fiber.join(fiber), (exit) => exit)
