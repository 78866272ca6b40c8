/**
 * How the Redis backend turns the client's errors and unexpected replies into the cache's typed errors.
 *
 * @internal
 */
import * as Cause from "#effect/Cause"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import { RedisAuthError, type RedisError, RedisReplyError } from "../../../RedisError.js"
import {
  CacheConnectionError,
  type CacheError,
  CacheInputError,
  CacheProtocolError,
  CacheReplyError,
  CacheTimeoutError,
  type Operation
} from "../../../RemoteCacheBackend.js"
import * as Resp from "../../../Resp.js"

/**
 * The cache error of a client error, naming the operation and its key.
 *
 * @internal
 */
export const toCacheError = (operation: Operation, key: string | undefined) => (error: RedisError): CacheError => {
  const fields = { operation, key, message: error.message, cause: error }
  switch (error._tag) {
    case "RedisConnectionError":
      return new CacheConnectionError(fields)
    case "RedisTimeoutError":
      return new CacheTimeoutError(fields)
    case "RedisReplyError":
    case "RedisAuthError":
      return new CacheReplyError(fields)
    case "RedisProtocolError":
      return new CacheProtocolError(fields)
    case "RedisInputError":
      // Nothing was sent (a value over maxArgumentLength): retrying cannot help, and the connection is untouched.
      return new CacheInputError(fields)
  }
}

/**
 * A read of a key that holds another type than a string (a list, a hash… written by another program) is a miss,
 * whether the read was a lone `GET` (which Redis answers with `WRONGTYPE`) or part of an `MGET` (which answers nil
 * for it): a cache reads "no value of mine here", and the next `set` replaces the key whatever it held.
 */
export const isWrongType = (cause: Cause.Cause<RedisError>): boolean => {
  const failure = Cause.findErrorOption(cause)
  return failure._tag === "Some" && failure.value._tag === "RedisReplyError" && failure.value.code === "WRONGTYPE"
}

/** A failure of a command that was written before its connection was lost or its reply timed out: it may have run. */
export const isOutcomeUnknown = (error: CacheError): boolean => {
  const cause = (error as { readonly cause?: unknown }).cause
  return typeof cause === "object" && cause !== null && (cause as { outcomeUnknown?: unknown }).outcomeUnknown === true
}

/** `effect` when it is a finished `Exit` (as `Effect.succeed` and `Effect.fail` are), else `undefined`. */
export const exitOf = <A, E>(effect: Effect.Effect<A, E>): Exit.Exit<A, E> | undefined =>
  Exit.isExit(effect) ? effect as Exit.Exit<A, E> : undefined

/** A read waiting in a batch: its key, and how to resume its caller. */
export interface ReadSlot<A> {
  readonly key: string
  readonly resume: (effect: Effect.Effect<A, CacheError>) => void
}

/** A reply no operation expects (a protocol mismatch), as the cache's typed error. */
export const unexpected = (operation: Operation, key: string | undefined, reply: Resp.RespValue) =>
  new CacheProtocolError({
    operation,
    key,
    message: `unexpected reply of type ${reply === null ? "null" : typeof reply} to ${operation}`
  })

/**
 * An error reply inside a pipeline, as `send` would have reported it: the cause carries the reply's code, and a
 * `NOAUTH` (a password is required and none was configured) is a `RedisAuthError`, as for a single command.
 */
export const replyErrorOf = (operation: Operation, key: string | undefined, reply: Resp.RespValue, command: string) =>
  reply instanceof Resp.ErrorReply
    ? new CacheReplyError({
      operation,
      key,
      message: reply.message,
      cause: reply.code === "NOAUTH"
        ? new RedisAuthError({ message: reply.message })
        : new RedisReplyError({ message: reply.message, code: reply.code, command })
    })
    : undefined

/**
 * What `Effect.mapError(…, toCacheError(operation, key))` does with a failure, for the hot paths that handle both
 * outcomes in one continuation (each Effect step costs on every command).
 */
export const failWith = (
  cause: Cause.Cause<RedisError>,
  operation: Operation,
  key: string | undefined
): Effect.Effect<never, CacheError> => {
  const failure = Cause.findErrorOption(cause)
  // Without a typed failure the cause holds only defects and interruptions: passed on as it is.
  return failure._tag === "Some"
    ? Effect.fail(toCacheError(operation, key)(failure.value))
    : Effect.failCause(cause as Cause.Cause<never>)
}
