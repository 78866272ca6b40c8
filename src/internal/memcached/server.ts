/**
 * One server's connection: opened by the first command that needs it, one attempt at a time (commands that need
 * it meanwhile share the attempt), and after a failed attempt retried in the background on the reconnection
 * backoff while commands routed to that server fail fast. Servers are independent: one down affects only its own
 * commands.
 *
 * @internal
 */
import * as Clock from "#effect/Clock"
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import type * as Scope from "#effect/Scope"
import * as Net from "node:net"
import { SocketInput } from "../../core/client/socketInput.js"
import { MetaConnection, type MetaConnectionErrors } from "../../core/memcached/connection.js"
import { formatDuration, OutageTracker } from "../../core/outage.js"
import {
  MemcachedConnectionError,
  type MemcachedError,
  MemcachedProtocolError,
  MemcachedTimeoutError
} from "../../MemcachedError.js"
import { handled } from "../background.js"
import {
  idleRetryMillis,
  reconnectDelayMillis,
  unreachableRepeatMillis,
  unreachableThreshold
} from "../client/connect.js"
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

const nowMillis = (clock: Clock.Clock): number => Number(Clock.monotonicTimeNanosUnsafe(clock)) / 1_000_000

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
 * What a server's connection says in the log: `memcached: cannot reach host:port: why` at Warning when two attempts
 * in a row failed, again every 5 minutes while it lasts, `memcached: connected to host:port` at Info the first time
 * and `… again after <duration>` when an outage ends. Annotated `memcached.server`.
 */
const makeOutageLog = (server: string, now: () => number, closed: () => boolean) => {
  const outage = new OutageTracker({ threshold: unreachableThreshold, repeatEveryMillis: unreachableRepeatMillis })
  const annotations = { "memcached.server": server }
  let everConnected = false
  const failed = (error: MemcachedError): Effect.Effect<void> => {
    const event = outage.failure(now())
    if (event === undefined || event._tag === "Ended" || closed()) return Effect.void
    const message = event._tag === "Started"
      ? `memcached: cannot reach ${server}: ${error.message}; retrying in the background`
      : `memcached: ${server} still unreachable after ${formatDuration(event.elapsedMillis)} ` +
        `(${event.failures} failed attempts): ${error.message}`
    return Effect.annotateLogs(Effect.logWarning(message), annotations)
  }
  const connected = (): Effect.Effect<void> => {
    const event = outage.success(now())
    const first = !everConnected
    everConnected = true
    if (event !== undefined && event._tag === "Ended") {
      return Effect.annotateLogs(
        Effect.logInfo(
          `memcached: connected to ${server}${first ? "" : " again"} after ` +
            `${formatDuration(event.durationMillis)} (${event.failures} failed attempts)`
        ),
        annotations
      )
    }
    return first ? Effect.annotateLogs(Effect.logInfo(`memcached: connected to ${server}`), annotations) : Effect.void
  }
  return { failed, connected }
}

/**
 * The connection of `address`, in a scope: closing it closes the socket and fails every command still waiting
 * with `MemcachedConnectionError`, as it does every command sent afterwards.
 *
 * @internal
 */
export const makeServerConnection = (
  options: ResolvedMemcachedOptions,
  address: ServerAddress
): Effect.Effect<ServerConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const clock = yield* Effect.clockWith(Effect.succeed)
    const server = address.where
    let closed = false
    let connection: Connection | undefined
    let connecting: Deferred.Deferred<Connection, MemcachedError> | undefined
    let nextAttemptAt = 0
    let failures = 0
    let lastFailure: MemcachedError | undefined
    let lastProblem: string | undefined
    let retrying = false
    let lastDemandAt = nowMillis(clock)
    const log = makeOutageLog(server, () => nowMillis(clock), () => closed)
    const closedError = () => new MemcachedConnectionError({ message: "the client's scope is closed", server })

    const recordFailure = (error: MemcachedError) => {
      lastFailure = error
      lastProblem = error.message
      nextAttemptAt = nowMillis(clock) + reconnectDelayMillis(options, failures, Math.random())
      failures++
    }

    const onClose = (dead: Connection, error: MemcachedError) => {
      if (connection !== dead) return
      connection = undefined
      if (!closed) lastProblem = `the connection to ${server} was lost: ${error.message}`
      // A server that accepts and then drops every connection must not be hammered: the backoff resets only when
      // a connection that answered something dies.
      if (dead.repliesReceived === 0) recordFailure(error)
      else failures = 0
    }

    /** Runs in the client's scope, not the caller's fiber: interrupting the caller must not fail the others. */
    const attempt = (deferred: Deferred.Deferred<Connection, MemcachedError>) =>
      open(options, address, onClose).pipe(
        Effect.flatMap((conn) =>
          Effect.suspend(() => {
            if (closed) {
              conn.destroy({ message: "the client's scope is closed" })
              return Effect.fail(closedError())
            }
            connection = conn
            nextAttemptAt = 0
            lastFailure = undefined
            lastProblem = undefined
            return Effect.as(log.connected(), conn)
          })
        ),
        Effect.tapError((error) =>
          Effect.suspend(() => {
            recordFailure(error)
            return Effect.andThen(log.failed(error), startRetry)
          })
        ),
        Effect.exit,
        Effect.flatMap((exit) => {
          if (connecting === deferred) connecting = undefined
          return Deferred.done(deferred, exit)
        }),
        (tell) => handled("MemcachedClient connect", tell),
        Effect.forkIn(scope),
        Effect.tap((fiber) =>
          Effect.sync(() =>
            fiber.addObserver(() => {
              if (connecting === deferred) connecting = undefined
              Deferred.doneUnsafe(deferred, Exit.fail(closedError()))
            })
          )
        )
      )

    const newAttempt = (): Effect.Effect<Connection, MemcachedError> => {
      const deferred = Deferred.makeUnsafe<Connection, MemcachedError>()
      connecting = deferred
      return Effect.andThen(attempt(deferred), Deferred.await(deferred))
    }

    const ensure: Effect.Effect<Connection, MemcachedError> = Effect.suspend(() => {
      if (closed) return Effect.fail(closedError())
      if (connection !== undefined && connection.isOpen) return Effect.succeed(connection)
      lastDemandAt = nowMillis(clock)
      if (connecting !== undefined) return Deferred.await(connecting)
      const wait = Math.ceil(nextAttemptAt - nowMillis(clock))
      if (wait > 0 && lastFailure !== undefined) {
        return Effect.fail(
          new MemcachedConnectionError({
            message: `${server} is unavailable (${lastFailure.message}); next attempt in ${wait} ms`,
            server,
            cause: lastFailure
          })
        )
      }
      return newAttempt()
    })

    /** After a failed attempt, keeps trying on the backoff until a connection opens or nobody needs one. */
    const retry: Effect.Effect<void> = Effect.suspend(() => {
      if (closed || (connection !== undefined && connection.isOpen)) {
        retrying = false
        return Effect.void
      }
      if (nowMillis(clock) - lastDemandAt >= idleRetryMillis) {
        retrying = false
        return Effect.void
      }
      if (connecting !== undefined) return Effect.andThen(Effect.exit(Deferred.await(connecting)), retry)
      const wait = Math.ceil(nextAttemptAt - nowMillis(clock))
      if (wait > 0) return Effect.andThen(Effect.sleep(wait), retry)
      return Effect.andThen(Effect.exit(newAttempt()), retry)
    })

    const startRetry: Effect.Effect<void> = Effect.suspend(() => {
      if (retrying || closed) return Effect.void
      retrying = true
      return Effect.asVoid(
        Effect.forkIn(
          Effect.onExit(
            Effect.interruptible(handled("MemcachedClient reconnect", retry)),
            () => Effect.sync(() => (retrying = false))
          ),
          scope
        )
      )
    })

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        connection?.destroy({ message: "the client's scope is closed" })
        connection = undefined
      })
    )

    return {
      address,
      current: () => connection,
      ensure,
      diagnosis: () => connection !== undefined && connection.isOpen ? undefined : lastProblem
    }
  })
