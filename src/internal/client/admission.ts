/**
 * The slow path of commands over the argument limit as known so far (see `ArgumentLimit`): they may be refused for
 * good, or may need the server's own limit read first on the connection they are to be sent on.
 *
 * @internal
 */
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import { performance } from "node:perf_hooks"
import type { ArgumentLimit } from "../../core/client/argumentLimit.js"
import type { RedisError, RedisInputError } from "../../RedisError.js"
import type * as Resp from "../../Resp.js"
import { checkCommand, type Connection, type Pending } from "./connection.js"
import type { Command } from "./types.js"

/** `CONFIG GET proto-max-bulk-len`'s value, or `undefined` for anything else (an older server answers `[]`). */
const configValue = (reply: Resp.RespValue): number | undefined => {
  const value = Array.isArray(reply) ? reply[1] : undefined
  if (!(value instanceof Uint8Array)) return undefined
  const n = Number(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("latin1"))
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

/**
 * The command connection's `admit` (see `CommandConnection`), for its `limit`, its `ensure` and its connection of
 * the moment (`current`).
 *
 * @internal
 */
export const makeAdmit = (
  limit: ArgumentLimit,
  ensure: Effect.Effect<Connection, RedisError>,
  current: () => Connection | undefined
): (commands: ReadonlyArray<Command>) => Effect.Effect<Connection, RedisError> => {
  /** The `CONFIG GET` in flight, shared by every command that waits for its answer. */
  let asking: { readonly conn: Connection; readonly done: Deferred.Deferred<void> } | undefined

  /**
   * Asks the server for its `proto-max-bulk-len` on `conn`, once: the answer is taken by the pending's callback
   * (not by a fiber that could be interrupted), and every command waiting for it awaits the same `Deferred`. Any
   * error reply (`NOPERM` for a user without `+config`, an unknown command where `CONFIG` is renamed away) leaves
   * the limit unreadable on this connection, silently. A connection lost with it unanswered may be a proxy that
   * does not know `CONFIG` and hangs up on it (twemproxy does): the client stops asking.
   */
  const readServerLimit = (conn: Connection): Effect.Effect<void> => {
    if (asking !== undefined && asking.conn === conn) return Deferred.await(asking.done)
    const done = Deferred.makeUnsafe<void>()
    asking = { conn, done }
    const pending = conn.submit(["CONFIG", "GET", "proto-max-bulk-len"])
    const onAnswer = (answered: Pending) => {
      if (current() === conn) {
        if (answered.error === undefined) limit.learnServer(configValue(answered.value))
        else if (answered.error._tag === "RedisConnectionError") limit.stopAsking()
        else limit.learnServer(undefined)
      }
      // A failure settles it while its connection is being finished: the waiters, which Effect 4 would run at once,
      // resume once that is done (as `reply.ts` resumes a failed command's awaiter).
      if (answered.error === undefined) Deferred.doneUnsafe(done, Exit.void)
      else queueMicrotask(() => Deferred.doneUnsafe(done, Exit.void))
    }
    if (pending.done) onAnswer(pending)
    else pending.callback = onAnswer
    return Deferred.await(done)
  }

  const checkAll = (commands: ReadonlyArray<Command>, max: number): RedisInputError | undefined => {
    for (let i = 0; i < commands.length; i++) {
      const invalid = checkCommand(commands[i]!, max, limit.describe)
      if (invalid !== undefined) return invalid
    }
    return undefined
  }

  return (commands) =>
    Effect.suspend((): Effect.Effect<Connection, RedisError> => {
      limit.refresh(performance.now())
      // Over maxArgumentLength or a refusal: final. The server's own limit is checked on the connection it is
      // sent on, which may be a new one.
      const certain = checkAll(commands, limit.withoutServer)
      if (certain !== undefined) return Effect.fail(certain)
      return Effect.flatMap(ensure, (conn) => {
        const recheck = () => {
          const again = checkAll(commands, limit.current)
          return again === undefined ? Effect.succeed(conn) : Effect.fail(again)
        }
        return limit.mayAsk ? Effect.flatMap(readServerLimit(conn), recheck) : recheck()
      })
    })
}
