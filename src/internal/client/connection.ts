/**
 * The Effect face of the connection: its state machine lives in `core/client` (plain TypeScript, the hot path);
 * this module gives it the `RedisError` classes to fail commands with and the type of what an awaiting fiber
 * keeps, and keeps the names the rest of the client imports.
 *
 * @internal
 */
import type * as Effect from "#effect/Effect"
import type * as Net from "node:net"
import { makeCheckCommand } from "../../core/client/checkCommand.js"
import * as Core from "../../core/client/connection.js"
import type { ConnectionErrors } from "../../core/client/failure.js"
import type * as CorePending from "../../core/client/pending.js"
import type { SocketInput } from "../../core/client/socketInput.js"
import {
  RedisConnectionError,
  type RedisError,
  RedisInputError,
  RedisProtocolError,
  RedisTimeoutError
} from "../../RedisError.js"
import * as Resp from "../../Resp.js"

/**
 * What an awaiting fiber keeps in a `Pending`: its resume (see `reply.ts`).
 *
 * @internal
 */
export type Resume = (result: Effect.Effect<Resp.RespValue, RedisError>) => void

/**
 * A command written on a connection, settled with its reply or a `RedisError` (see the core's `Pending`).
 *
 * @internal
 */
export type Pending = CorePending.Pending<RedisError, Resume>

/**
 * What a connection is made with (see the core's `ConnectionOptions`).
 *
 * @internal
 */
export type ConnectionOptions = Core.ConnectionOptions<RedisError, Resume>

/** The `RedisError` classes, made from the core's fields; called only when something fails. */
const errors: ConnectionErrors<RedisError> = {
  connection: (fields) => new RedisConnectionError(fields),
  timeout: (fields) => new RedisTimeoutError(fields),
  protocol: (fields) => new RedisProtocolError(fields),
  input: (fields) => new RedisInputError(fields)
}

/** The public parser, whose violations are `Resp.ProtocolError`s: the `cause` of a `RedisProtocolError`. */
const newParser = (options: Resp.ParserOptions): Resp.Parser => new Resp.Parser(options)

/**
 * A connection whose commands fail with `RedisError`s.
 *
 * @internal
 */
export class Connection extends Core.Connection<RedisError, Resume> {
  constructor(socket: Net.Socket, input: SocketInput, options: ConnectionOptions) {
    super(socket, input, options, errors, newParser)
  }
}

/**
 * Why `args` cannot be sent, or `undefined` when it can: see `RedisInputError`. Runs on every command sent, before
 * anything of it is queued (see the core's `makeCheckCommand`).
 *
 * @internal
 */
export const checkCommand: (
  args: ReadonlyArray<string | Uint8Array>,
  maxArgumentLength: number,
  describeLimit?: (limit: number) => string
) => RedisInputError | undefined = makeCheckCommand((fields) => new RedisInputError(fields))
