/**
 * The typed errors of `RedisClient`: one class per cause, so callers can `Effect.catchTag` each. None of them
 * carries a command's arguments (they may hold values or secrets), only the command's name.
 *
 * @since 0.1.0
 */
import * as Predicate from "#effect/Predicate"
import { TypeIdError } from "./internal/errorBase.js"

/**
 * Marks every error of this module, `RedisConfigError` included.
 *
 * @since 0.2.0
 * @category type ids
 */
export const RedisErrorTypeId: unique symbol = Symbol.for("effect-remote-cache/RedisError")

/**
 * @since 0.2.0
 * @category type ids
 */
export type RedisErrorTypeId = typeof RedisErrorTypeId

/** The base of this module's error classes: a tagged error marked with {@link RedisErrorTypeId}. */
const RedisErrorBase = <const Tag extends string>(tag: Tag) => TypeIdError(RedisErrorTypeId, tag)

/**
 * The connection could not be opened (refused, host not found, TLS handshake failed), was closed or reset while
 * the command waited, was dropped because another command on it timed out or saw a malformed reply, or the
 * client's scope has closed. While the server stays unreachable, commands fail fast with this error until the
 * next reconnection attempt is due.
 *
 * `outcomeUnknown` is `true` when the command had been written to the connection before it was lost: the server may
 * have run it, and its reply is lost. Then the message says so ("the command may have run; its outcome is
 * unknown") and the caller decides whether running it again is right (a second `SET … NX` would answer "not set",
 * a second `DEL` 0). Absent or `false`, the command was never written (refused, not open, waiting for room) and
 * sending it again is always safe. The cluster client re-sends a failed command itself only when it is never
 * written or safe to run twice, so what reaches its caller with `outcomeUnknown` was not re-sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisConnectionError extends RedisErrorBase("RedisConnectionError")<{
  readonly message: string
  readonly cause?: unknown
  /** `true`: the command was written before the connection was lost, so it may have run (see the class). */
  readonly outcomeUnknown?: boolean | undefined
}> {}

/**
 * No connection within `connectTimeout` (`phase: "connect"`), or no reply within `commandTimeout`
 * (`phase: "reply"`). After a reply timeout the connection is destroyed and never reused, so a late reply can
 * never be read by another command.
 *
 * `outcomeUnknown` is `true` when the command had been written and its reply did not come: the server may have run
 * it (or may still), so its outcome is unknown, as for `RedisConnectionError`. A command that timed out while
 * waiting for room under `maxInFlight`, or while connecting, was never written: `outcomeUnknown` is absent.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisTimeoutError extends RedisErrorBase("RedisTimeoutError")<{
  readonly message: string
  readonly phase: "connect" | "reply"
  readonly timeoutMillis: number
  readonly command?: string | undefined
  /** `true`: the command was written and may have run; its outcome is unknown (see the class). */
  readonly outcomeUnknown?: boolean | undefined
}> {}

/**
 * The server answered the command with an error reply (`-ERR …`, `-WRONGTYPE …`, `-OOM …`, `-READONLY …`,
 * `-LOADING …`). `message` is the server's text and `code` its first word. The connection stays usable.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisReplyError extends RedisErrorBase("RedisReplyError")<{
  readonly message: string
  readonly code: string
  readonly command: string
}> {}

/**
 * The server rejected the credentials during the connection handshake (`WRONGPASS`, `ERR invalid password`…), or
 * answered a command with `NOAUTH` because it requires a password and none was configured. `message` is the
 * server's text. Other error replies to the handshake (`ERR max number of clients reached`) stay `RedisReplyError`. A rejected password is not retried in a loop: later commands fail fast with
 * this error until the reconnection backoff lets one attempt through.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisAuthError extends RedisErrorBase("RedisAuthError")<{
  readonly message: string
}> {}

/**
 * The bytes received were not valid RESP, or a reply arrived that no command was waiting for. The connection is
 * closed and never reused.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisProtocolError extends RedisErrorBase("RedisProtocolError")<{
  readonly message: string
  /** The parser's `Resp.ProtocolError`, when the bytes were the problem. */
  readonly cause?: unknown
}> {}

/**
 * The command cannot be sent as given, and nothing of it was sent (but for the case below where the server had
 * to refuse it); the connection is untouched and retrying the same command fails the same way. The causes:
 *
 * - the command is empty, or an argument is neither a string nor a `Uint8Array` (possible from JavaScript);
 * - an argument is longer than `maxArgumentLength` (Redis' `proto-max-bulk-len`, 512 MiB by default), or than the
 *   server's own `proto-max-bulk-len` as the client learnt it, which the server would answer by closing the
 *   connection shared by every command in flight. Where the server would not tell its limit (`CONFIG` refused),
 *   the first such command is sent: it fails with this error once the server refuses it ("invalid bulk length",
 *   or the connection reset while it was written), the other commands in flight on that connection fail with
 *   `RedisConnectionError`, and the same length is refused before sending from then on;
 * - the command does not get exactly one reply, so it would shift every later reply to the wrong caller:
 *   `SUBSCRIBE`, `UNSUBSCRIBE`, `PSUBSCRIBE`, `PUNSUBSCRIBE`, `SSUBSCRIBE`, `SUNSUBSCRIBE` (use `subscribe`),
 *   `MONITOR`, `CLIENT REPLY`, `RESET` (it would also undo the handshake), `SYNC` and `PSYNC`.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisInputError extends RedisErrorBase("RedisInputError")<{
  readonly message: string
  readonly command: string
}> {}

/**
 * The client's options are invalid (a malformed URL, a port out of range, a negative db…).
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisConfigError extends RedisErrorBase("RedisConfigError")<{
  readonly message: string
}> {}

/**
 * Every way a command can fail.
 *
 * @since 0.1.0
 * @category errors
 */
export type RedisError =
  | RedisConnectionError
  | RedisTimeoutError
  | RedisReplyError
  | RedisAuthError
  | RedisProtocolError
  | RedisInputError

/**
 * `true` for every error of this module (the ones of {@link RedisError} and `RedisConfigError`), recognised by
 * {@link RedisErrorTypeId} rather than by the shape of its tag.
 *
 * @since 0.2.0
 * @category guards
 */
export const isRedisError = (u: unknown): u is RedisError | RedisConfigError =>
  Predicate.hasProperty(u, RedisErrorTypeId)
