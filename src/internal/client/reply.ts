/**
 * The Effect side of a `Pending`: waiting for its reply, turning an error reply into a typed error. A command
 * still waiting for room under `maxInFlight` is cancelled when its awaiter goes away; one already written is not
 * (its reply is still read in its place and dropped).
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import { RedisAuthError, type RedisError, RedisReplyError } from "../../RedisError.js"
import * as Resp from "../../Resp.js"
import type { Pending } from "./connection.js"

/**
 * Waits for one command's reply; an error reply fails typed.
 *
 * @internal
 */
export const awaitPending = (pending: Pending): Effect.Effect<Resp.RespValue, RedisError> => {
  if (pending.done) return pendingResult(pending)
  // A written command needs no canceller: interruption only stops waiting (the fiber ignores a later resume), and
  // its reply is still read in its place and dropped, so the stream never desynchronises. Without a canceller,
  // Effect.callback also skips its interruption wrapper, a cost on every command. The registrations here take
  // `resume` alone: one that declares a second parameter is handed an AbortSignal, made per run on Effect 4.
  if (pending.args === undefined) {
    return Effect.callback<Resp.RespValue, RedisError>((resume) => awaitWritten(pending, resume))
  }
  return Effect.callback<Resp.RespValue, RedisError>((resume) => {
    pending.resume = resume
    pending.callback = resumeAwaiter
    // A command still waiting for room under maxInFlight is not written at all once its awaiter has gone.
    return Effect.sync(() => {
      pending.callback = undefined
      pending.resume = undefined
      if (pending.args !== undefined) pending.cancelled = true
    })
  })
}

/**
 * Resumes with the reply of a command already written, at once when it has settled. The common case of `send`:
 * no effect is built besides the `Effect.callback` it runs in.
 *
 * @internal
 */
export const awaitWritten = (
  pending: Pending,
  resume: (effect: Effect.Effect<Resp.RespValue, RedisError>) => void
): void => {
  if (pending.done) {
    resume(pendingResult(pending))
  } else {
    pending.resume = resume
    pending.callback = resumeAwaiter
  }
}

/** The one callback of every awaited command: no closure is made per command. */
const resumeAwaiter = (pending: Pending): void => {
  const resume = pending.resume!
  pending.resume = undefined
  resumeSettled(resume, pending, pendingResult, pending)
}

/**
 * Hands `resume` the outcome of `settled`, the command whose settling completes the wait: a reply at once, a
 * failure (a timeout, a lost connection) once the current task is over. A command fails while its connection is
 * being finished (the timed-out one before the connection is closed, the others before it is forgotten and the
 * backoff recorded), and Effect 4 runs a resumed fiber at once, inside that: what the caller sent next would land on
 * the connection being closed, or open a new one before the backoff applies. Effect 3 runs it later anyway.
 */
const resumeSettled = <A, S>(
  resume: (effect: Effect.Effect<A, RedisError>) => void,
  settled: Pending,
  result: (source: S) => Effect.Effect<A, RedisError>,
  source: S
): void => {
  if (settled.error === undefined) resume(result(source))
  else queueMicrotask(() => resume(result(source)))
}

const pendingResult = (pending: Pending): Effect.Effect<Resp.RespValue, RedisError> => {
  if (pending.error !== undefined) return Effect.fail(pending.error)
  const value = pending.value
  if (value instanceof Resp.ErrorReply) return Effect.fail(replyError(pending.command, value))
  return Effect.succeed(value)
}

/** A server that requires a password answers `NOAUTH` to every command of a client that gave none. */
const replyError = (command: string, reply: Resp.ErrorReply): RedisReplyError | RedisAuthError => {
  const code = reply.code
  return code === "NOAUTH"
    ? new RedisAuthError({ message: reply.message })
    : new RedisReplyError({ message: reply.message, code, command: command.toUpperCase() })
}

/** The replies of a settled batch: error replies stay values, except `NOAUTH`, which fails it typed. */
const allResult = (pendings: ReadonlyArray<Pending>): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> => {
  const values = new Array<Resp.RespValue>(pendings.length)
  for (let i = 0; i < pendings.length; i++) {
    const pending = pendings[i]!
    if (pending.error !== undefined) return Effect.fail(pending.error)
    const value = pending.value
    if (value instanceof Resp.ErrorReply && value.code === "NOAUTH") {
      return Effect.fail(replyError(pending.command, value))
    }
    values[i] = value
  }
  return Effect.succeed(values)
}

/**
 * Resumes with the replies of a batch already written (or failed), at once when every command has settled. The
 * common case of `pipeline`: no effect is built besides the `Effect.callback` it runs in.
 *
 * @internal
 */
export const awaitAllWritten = (
  pendings: ReadonlyArray<Pending>,
  resume: (effect: Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError>) => void
): void => {
  let left = 0
  for (const pending of pendings) if (!pending.done) left++
  if (left === 0) return resume(allResult(pendings))
  const onSettled = (settled: Pending) => {
    if (--left === 0) resumeSettled(resume, settled, allResult, pendings)
  }
  for (const pending of pendings) if (!pending.done) pending.callback = onSettled
}

/**
 * Waits for every command of a batch. Interrupted while the batch still waits for room under `maxInFlight`, it
 * cancels the whole batch, which is then never written; once written, the replies are still read and dropped.
 *
 * @internal
 */
export const awaitAll = (
  pendings: ReadonlyArray<Pending>
): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> => {
  let left = 0
  for (const pending of pendings) if (!pending.done) left++
  if (left === 0) return allResult(pendings)
  return Effect.callback<ReadonlyArray<Resp.RespValue>, RedisError>((resume) => {
    const onSettled = (settled: Pending) => {
      if (--left === 0) resumeSettled(resume, settled, allResult, pendings)
    }
    let waiting = false
    for (const pending of pendings) {
      if (pending.done) continue
      pending.callback = onSettled
      if (pending.args !== undefined) waiting = true
    }
    // Without a canceller, Effect.callback skips its interruption wrapper: only a batch still waiting needs one.
    if (!waiting) return
    return Effect.sync(() => {
      for (const pending of pendings) {
        pending.callback = undefined
        if (pending.args !== undefined) pending.cancelled = true
      }
    })
  })
}
