/**
 * The typed errors of `MemcachedClient`: one class per cause, so callers can `Effect.catchTag` each. None of them
 * carries a key or a value, only the command's name and the server's `host:port`.
 *
 * @since 0.2.0
 */
import * as Predicate from "#effect/Predicate"
import { TypeIdError } from "./internal/errorBase.js"

/**
 * Marks every error of this module, `MemcachedConfigError` included.
 *
 * @since 0.2.0
 * @category type ids
 */
export const MemcachedErrorTypeId: unique symbol = Symbol.for("effect-remote-cache/MemcachedError")

/**
 * @since 0.2.0
 * @category type ids
 */
export type MemcachedErrorTypeId = typeof MemcachedErrorTypeId

const MemcachedErrorBase = <const Tag extends string>(tag: Tag) => TypeIdError(MemcachedErrorTypeId, tag)

/**
 * The connection to the key's server could not be opened (refused, host not found), was closed or reset while the
 * command waited, was dropped because another command on it timed out or broke the protocol, or the client's
 * scope has closed. While the server stays unreachable, its commands fail fast with this error until the next
 * reconnection attempt is due; commands routed to the other servers are unaffected.
 *
 * `outcomeUnknown` is `true` when the command had been written before the connection was lost: the server may have
 * run it. Absent or `false`, it was never written and sending it again is safe.
 *
 * @since 0.2.0
 * @category errors
 */
export class MemcachedConnectionError extends MemcachedErrorBase("MemcachedConnectionError")<{
  readonly message: string
  /** `host:port` of the server. */
  readonly server: string
  readonly cause?: unknown
  /** `true`: the command was written before the connection was lost, so it may have run. */
  readonly outcomeUnknown?: boolean | undefined
}> {}

/**
 * No connection within `connectTimeout` (`phase: "connect"`), or no reply within `commandTimeout`
 * (`phase: "reply"`). After a reply timeout the connection is destroyed and never reused, so a late reply can never
 * be read by another command; every other command in flight on it fails with `MemcachedConnectionError`.
 *
 * @since 0.2.0
 * @category errors
 */
export class MemcachedTimeoutError extends MemcachedErrorBase("MemcachedTimeoutError")<{
  readonly message: string
  readonly server: string
  readonly phase: "connect" | "reply"
  readonly timeoutMillis: number
  /** `true`: the command was written and may have run. */
  readonly outcomeUnknown?: boolean | undefined
}> {}

/**
 * The server answered the command with an error line: `SERVER_ERROR …` (`object too large for cache`, `out of
 * memory storing object`), `CLIENT_ERROR …` or `ERROR`. `kind` is the line's first word, `message` the rest. The
 * connection stays usable.
 *
 * @since 0.2.0
 * @category errors
 */
export class MemcachedReplyError extends MemcachedErrorBase("MemcachedReplyError")<{
  readonly message: string
  readonly kind: "ERROR" | "CLIENT_ERROR" | "SERVER_ERROR"
  readonly command: string
  readonly server: string
}> {}

/**
 * The bytes received were not meta replies, or a reply did not answer the request it was paired with (its opaque
 * token differs, or no request was waiting). The connection is closed and never reused; every command in flight on
 * it fails with this error.
 *
 * @since 0.2.0
 * @category errors
 */
export class MemcachedProtocolError extends MemcachedErrorBase("MemcachedProtocolError")<{
  readonly message: string
  readonly server: string
}> {}

/**
 * The command cannot be sent as given and nothing was sent: an empty key, a key over 186 bytes (250 in base64, the
 * form the client sends every key in), a TTL or flag out of its integer range, a value over `maxValueLength`.
 *
 * @since 0.2.0
 * @category errors
 */
export class MemcachedInputError extends MemcachedErrorBase("MemcachedInputError")<{
  readonly message: string
  readonly command: string
}> {}

/**
 * The client's options are invalid (no server, a malformed `host:port`, a timeout that is not a positive duration).
 *
 * @since 0.2.0
 * @category errors
 */
export class MemcachedConfigError extends MemcachedErrorBase("MemcachedConfigError")<{
  readonly message: string
}> {}

/**
 * Every way a command can fail.
 *
 * @since 0.2.0
 * @category errors
 */
export type MemcachedError =
  | MemcachedConnectionError
  | MemcachedTimeoutError
  | MemcachedReplyError
  | MemcachedProtocolError
  | MemcachedInputError

/**
 * `true` for every error of this module.
 *
 * @since 0.2.0
 * @category guards
 */
export const isMemcachedError = (u: unknown): u is MemcachedError | MemcachedConfigError =>
  Predicate.hasProperty(u, MemcachedErrorTypeId)
