/**
 * One server's connection: opened by the first command that needs it, one attempt at a time (commands that need
 * it meanwhile share the attempt), and after a failed attempt retried in the background on the reconnection
 * backoff while commands routed to that server fail fast. Servers are independent: one down affects only its own
 * commands.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import type * as Scope from "#effect/Scope"
import * as Net from "node:net"
import { SocketInput } from "../../core/client/socketInput.js"
import { MetaConnection, type MetaConnectionErrors } from "../../core/memcached/connection.js"
import {
  MemcachedConnectionError,
  type MemcachedError,
  MemcachedProtocolError,
  MemcachedTimeoutError
} from "../../MemcachedError.js"
import { makeConnectionKeeper } from "../connectionKeeper.js"
import type { ResolvedMemcachedOptions, ServerAddress } from "./options.js"

/**
 * What an awaiting fiber keeps in an exchange (see `reply.ts`).
 *
 * @internal
 */
export type Resume = (effect: Effect.Effect<void, MemcachedError>) => void

/**
 * A connection whose requests fail with `MemcachedError`s.
 *
 * @internal
 */
export type Connection = MetaConnection<MemcachedError, Resume>

/**
 * A server's connection, as the client uses it.
 *
 * @internal
 */
export interface ServerConnection {
  readonly address: ServerAddress
  /** The connection, open or not; `undefined` before the first one and after one died. */
  readonly current: () => Connection | undefined
  /** The open connection, or the attempt in progress, or a new one, or the last failure while backing off. */
  readonly ensure: Effect.Effect<Connection, MemcachedError>
  /** Why the server cannot be used right now, while no connection is open; else `undefined`. */
  readonly diagnosis: () => string | undefined
}

const errorsFor = (server: string): MetaConnectionErrors<MemcachedError> => ({
  connection: (fields) => new MemcachedConnectionError({ ...fields, server }),
  timeout: (fields) => new MemcachedTimeoutError({ ...fields, server, phase: "reply" }),
  protocol: (fields) => new MemcachedProtocolError({ message: fields.message, server })
})

/** Opens a socket within `connectTimeout`; interruption destroys it. */
const open = (
  options: ResolvedMemcachedOptions,
  address: ServerAddress,
  onClose: (dead: Connection, error: MemcachedError) => void
): Effect.Effect<Connection, MemcachedError> =>
  Effect.callback<Connection, MemcachedError>((resume) => {
    const input = new SocketInput()
    const socket = Net.connect({ host: address.host, port: address.port, onread: input.onread })
    const onError = (cause: Error) => {
      socket.destroy()
      resume(Effect.fail(
        new MemcachedConnectionError({
          message: `cannot connect to ${address.where}: ${cause.message}`,
          server: address.where,
          cause
        })
      ))
    }
    socket.once("error", onError)
    socket.once("connect", () => {
      socket.off("error", onError)
      resume(Effect.succeed(
        new MetaConnection<MemcachedError, Resume>(socket, input, {
          where: address.where,
          commandTimeoutMillis: options.commandTimeoutMillis,
          maxInFlight: options.maxInFlight,
          parser: { maxValueLength: options.maxValueLength },
          errors: errorsFor(address.where),
          onClose
        })
      ))
    })
    return Effect.sync(() => socket.destroy())
  }).pipe(
    Effect.timeoutOrElse({
      duration: options.connectTimeoutMillis,
      orElse: () =>
        Effect.fail(
          new MemcachedTimeoutError({
            message: `no connection to ${address.where} within ${options.connectTimeoutMillis} ms`,
            server: address.where,
            phase: "connect",
            timeoutMillis: options.connectTimeoutMillis
          })
        )
    })
  )

/**
 * The connection of `address`, in a scope: closing it closes the socket and fails every command still waiting
 * with `MemcachedConnectionError`, as it does every command sent afterwards. Its life (the shared attempt, the
 * backoff, the background retry, the outage log: `memcached: cannot reach host:port: why` at Warning, annotated
 * `memcached.server`) is `connectionKeeper.ts`'s, the Redis client's own.
 *
 * @internal
 */
export const makeServerConnection = (
  options: ResolvedMemcachedOptions,
  address: ServerAddress
): Effect.Effect<ServerConnection, never, Scope.Scope> => {
  const server = address.where
  return Effect.map(
    makeConnectionKeeper<Connection, MemcachedError>({
      server,
      system: "memcached",
      fiberLabel: "MemcachedClient",
      annotations: { "memcached.server": server },
      delays: options,
      open: (onClose) => open(options, address, onClose),
      destroy: (conn) => conn.destroy({ message: "the client's scope is closed" }),
      closedError: () => new MemcachedConnectionError({ message: "the client's scope is closed", server }),
      describe: (error) => error.message,
      unavailable: (lastFailure, wait) =>
        new MemcachedConnectionError({
          message: `${server} is unavailable (${lastFailure.message}); next attempt in ${wait} ms`,
          server,
          cause: lastFailure
        }),
      worked: (dead) => dead.repliesReceived > 0
    }),
    ({ current, diagnosis, ensure }) => ({ address, current, ensure, diagnosis })
  )
}
