/**
 * The command connection's life: opening a socket (TCP or TLS), the handshake (AUTH, SELECT, CLIENT SETNAME)
 * within `connectTimeout`, and the reconnection backoff. One definition of the backoff serves both the command
 * connection (which waits it out between attempts made by commands) and the subscriber (which retries on its own).
 *
 * Time is read through Effect's `Clock`, so a `TestClock` drives the backoff. It is the clock's monotonic time, so a
 * wall clock stepped back does not delay a reconnection.
 *
 * @internal
 */
import * as Clock from "#effect/Clock"
import * as Deferred from "#effect/Deferred"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Random from "#effect/Random"
import * as Redacted from "#effect/Redacted"
import * as Schedule from "#effect/Schedule"
import type * as Scope from "#effect/Scope"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { ArgumentLimit } from "../../core/client/argumentLimit.js"
import { outcomeUnknownText } from "../../core/client/connection.js"
import { SocketInput } from "../../core/client/socketInput.js"
import { formatDuration, OutageTracker } from "../../core/outage.js"
import {
  RedisAuthError,
  RedisConnectionError,
  type RedisError,
  RedisReplyError,
  RedisTimeoutError
} from "../../RedisError.js"
import type * as Resp from "../../Resp.js"
import { handled } from "../background.js"
import { makeAdmit } from "./admission.js"
import { Connection } from "./connection.js"
import { revealTls } from "./options.js"
import { awaitPending } from "./reply.js"
import type { Command, ResolvedOptions } from "./types.js"

// --- backoff

/**
 * The delay before the next connection attempt after `failures` consecutive failed ones (0 after the first), for
 * a `random` number in [0, 1): `reconnectBaseDelay` doubled on each failure up to `reconnectMaxDelay`, then a jitter
 * of ±20% so that many clients that lost the same server do not reconnect in lockstep, never past
 * `reconnectMaxDelay`.
 *
 * @internal
 */
export const reconnectDelayMillis = (
  options: Pick<ResolvedOptions, "reconnectBaseDelayMillis" | "reconnectMaxDelayMillis">,
  failures: number,
  random: number
): number => {
  const max = options.reconnectMaxDelayMillis
  // Past 2^1023 the power is Infinity, which the cap brings back to `max` (the base delay is positive).
  const delay = Math.min(options.reconnectBaseDelayMillis * 2 ** failures, max)
  return Math.min(Math.round(delay * (0.8 + random * 0.4)), max)
}

/**
 * `reconnectDelayMillis` as a `Schedule` (its output: the failures so far), with the jitter drawn from Effect's
 * `Random` and the waits taken on Effect's `Clock`. Each `Effect.retry` that uses it starts again from the base
 * delay.
 *
 * @internal
 */
export const reconnectSchedule = (
  options: Pick<ResolvedOptions, "reconnectBaseDelayMillis" | "reconnectMaxDelayMillis">
): Schedule.Schedule<number> =>
  Schedule.addDelay(
    Schedule.forever,
    ({ output: failures }) =>
      Effect.map(Random.next, (random) => Duration.millis(reconnectDelayMillis(options, failures, random)))
  )

/** Effect's clock in milliseconds, read synchronously: its monotonic time. */
const nowMillis = (clock: Clock.Clock): number => Number(Clock.monotonicTimeNanosUnsafe(clock)) / 1_000_000

// --- opening a connection

/**
 * How far a connection attempt got, so that a timeout can say which step the server did not complete: the TCP
 * connection, the TLS handshake, or the Redis handshake (AUTH, SELECT, CLIENT SETNAME).
 */
interface Progress {
  step: "tcp" | "tls" | "handshake"
}

/** A socket just opened, and where its reads go. */
interface Opened {
  readonly socket: Net.Socket
  readonly input: SocketInput
}

/** Opens the socket (TCP or TLS); interruption destroys it. */
const openSocket = (options: ResolvedOptions, progress: Progress): Effect.Effect<Opened, RedisConnectionError> =>
  Effect.callback<Opened, RedisConnectionError>((resume) => {
    let socket: Net.Socket
    const input = new SocketInput()
    const onError = (cause: Error) => {
      socket.destroy()
      // A plain-text answer to the TLS ClientHello (a Redis without TLS says "-ERR…") fails the handshake at once.
      const hint = progress.step === "tls"
        ? "; the TLS handshake failed: the server may not speak TLS (a rediss:// URL or tls option for a plain port?)"
        : ""
      resume(
        Effect.fail(
          new RedisConnectionError({ message: `cannot connect to ${where(options)}: ${cause.message}${hint}`, cause })
        )
      )
    }
    const onConnect = () => {
      socket.off("error", onError)
      resume(Effect.succeed({ socket, input }))
    }
    if (options.tls !== undefined) {
      const servername = options.tls.servername ?? (Net.isIP(options.host) === 0 ? options.host : undefined)
      socket = Tls.connect({
        ...revealTls(options.tls),
        host: options.host,
        port: options.port,
        ...(servername !== undefined ? { servername } : {})
      })
      socket.once("connect", () => {
        progress.step = "tls"
      })
      socket.once("secureConnect", onConnect)
      socket.on("data", input.receive)
    } else {
      socket = Net.connect({ host: options.host, port: options.port, onread: input.onread })
      socket.once("connect", onConnect)
    }
    socket.once("error", onError)
    return Effect.sync(() => socket.destroy())
  })

/**
 * An error reply in the handshake that is about the credentials: `WRONGPASS`, `NOAUTH`, and `AUTH`'s own
 * `ERR invalid password` / `ERR AUTH … without any password configured` (older servers, or a password the server
 * does not require). Anything else, such as `ERR max number of clients reached`, is not an authentication failure.
 */
const isAuthFailure = (command: string, error: RedisReplyError): boolean =>
  error.code === "WRONGPASS" || error.code === "NOAUTH" ||
  (command.toUpperCase() === "AUTH" && /password|unknown command|wrong number of arguments/i.test(error.message))

/**
 * A server may quote a command's arguments in its error ("unknown command 'AUTH', with args beginning with:
 * '…'" where AUTH is renamed away): the quoted part and any copy of the password are cut out.
 */
const scrubSecrets = (options: ResolvedOptions, message: string): string => {
  let scrubbed = message.replace(/,?\s*with args beginning with:.*$/s, "")
  const password = options.password === undefined ? "" : Redacted.value(options.password)
  if (password.length > 0) scrubbed = scrubbed.split(password).join("<redacted>")
  return scrubbed
}

const handshake = (options: ResolvedOptions, conn: Connection): Effect.Effect<void, RedisError> => {
  const commands: Array<Command> = []
  const password = options.password
  if (password !== undefined) {
    commands.push(
      options.username !== undefined
        ? ["AUTH", options.username, Redacted.value(password)]
        : ["AUTH", Redacted.value(password)]
    )
  }
  if (options.db !== 0) commands.push(["SELECT", String(options.db)])
  if (options.clientName !== undefined) commands.push(["CLIENT", "SETNAME", options.clientName])
  if (commands.length === 0) return Effect.void
  return Effect.forEach(conn.submitMany(commands), (pending) =>
    Effect.catchTag(
      awaitPending(pending),
      "RedisReplyError",
      (error): Effect.Effect<never, RedisError> =>
        isAuthFailure(pending.command, error)
          ? Effect.fail(new RedisAuthError({ message: scrubSecrets(options, error.message) }))
          : Effect.fail(
            new RedisReplyError({
              message: scrubSecrets(options, error.message),
              code: error.code,
              command: error.command
            })
          )
    ), { discard: true })
}

const where = (options: ResolvedOptions): string => `${options.host}:${options.port}`

const connectTimeoutMessage = (options: ResolvedOptions, step: Progress["step"]): string => {
  const millis = options.connectTimeoutMillis
  switch (step) {
    case "tcp":
      return `no connection to ${where(options)} within ${millis} ms`
    case "tls":
      return `the TLS handshake with ${where(options)} did not complete within ${millis} ms: the server may not ` +
        "speak TLS (a rediss:// URL or tls option for a plain port?)"
    case "handshake":
      return `${where(options)} accepted the connection but did not answer the handshake (AUTH, SELECT, ` +
        `CLIENT SETNAME) within ${millis} ms`
  }
}

/**
 * Opens a socket and performs the handshake, all within `connectTimeout`. `onClose` is told when the connection
 * dies, whatever the reason; `onPush`, when given, makes it a subscriber connection that hands it every message.
 *
 * @internal
 */
export const open = (
  options: ResolvedOptions,
  onClose: (dead: Connection, error: RedisError) => void,
  onPush?: (value: Resp.RespValue) => void,
  argumentLimit?: ArgumentLimit
): Effect.Effect<Connection, RedisError> =>
  Effect.suspend(() => {
    const progress: Progress = { step: "tcp" }
    return Effect.gen(function*() {
      const { input, socket } = yield* openSocket(options, progress)
      progress.step = "handshake"
      const conn = yield* Effect.try({
        try: () =>
          new Connection(socket, input, {
            where: where(options),
            commandTimeoutMillis: options.commandTimeoutMillis,
            maxInFlight: options.maxInFlight,
            parser: { maxBulkLength: options.maxBulkLength },
            onClose,
            onPush,
            argumentLimit
          }),
        // Options are validated, so this is a defect; the socket must not outlive it.
        catch: (cause) => {
          socket.destroy()
          return cause
        }
      }).pipe(Effect.orDie)
      if (onPush !== undefined) conn.subscriberMode = true
      yield* handshake(options, conn).pipe(
        Effect.onExit((exit) =>
          exit._tag === "Failure"
            ? Effect.sync(() => conn.destroy(new RedisConnectionError({ message: "handshake did not complete" })))
            : Effect.void
        )
      )
      return conn
    }).pipe(
      Effect.timeoutOrElse({
        duration: options.connectTimeoutMillis,
        orElse: () =>
          Effect.fail(
            new RedisTimeoutError({
              message: connectTimeoutMessage(options, progress.step),
              phase: "connect",
              timeoutMillis: options.connectTimeoutMillis
            })
          )
      })
    )
  })

// --- the command connection

/**
 * The connection commands are sent on, opened by the first command that needs one. One attempt runs at a time;
 * commands that need a connection meanwhile wait for it. After a failed attempt, commands fail fast until the
 * backoff's delay has passed, and the next command then makes a new attempt.
 *
 * @internal
 */
export interface CommandConnection {
  /** The connection, open or not; `undefined` before the first one and after one died. Read on every command. */
  readonly current: () => Connection | undefined
  /** The open connection, or a new attempt (or the attempt in progress), or the last failure while backing off. */
  readonly ensure: Effect.Effect<Connection, RedisError>
  /**
   * The longest argument sent, as far as the client knows the server (see `ArgumentLimit`): `limit.current` is
   * what every command is checked against.
   */
  readonly limit: ArgumentLimit
  /**
   * For commands that failed that check, the slow path: unless they are over what is known for sure, reads the
   * server's limit on the open connection (once per connection, only when a command needs it), checks them again,
   * and returns the connection to send them on.
   */
  readonly admit: (commands: ReadonlyArray<Command>) => Effect.Effect<Connection, RedisError>
  /**
   * While no connection is open: why, as the client last saw it (the last failed attempt, or how the last
   * connection was lost); `undefined` while one is open. Never holds the password.
   */
  readonly diagnosis: () => string | undefined
}

/**
 * Failed attempts in a row before the client says the server is unreachable: the first failure alone may be a
 * restart the background retry mends a moment later (see `OutageTracker`).
 *
 * @internal
 */
export const unreachableThreshold = 2

/**
 * How often the client says again that the server is still unreachable.
 *
 * @internal
 */
export const unreachableRepeatMillis = 5 * 60_000

/**
 * How long the background retry goes on once no command has asked for a connection: a client nobody uses any
 * more (a cluster node that left the topology, an address that is gone for good) stops dialing, and the next
 * command starts again.
 *
 * @internal
 */
export const idleRetryMillis = 10 * 60_000

/**
 * What went wrong, for a person: the failure's own words, which already name the server, with a word on what
 * kind of failure it was where the words alone do not say.
 *
 * @internal
 */
export const describeFailure = (options: ResolvedOptions, error: RedisError): string => {
  switch (error._tag) {
    case "RedisAuthError":
      return `authentication to ${where(options)} failed: ${error.message}`
    case "RedisReplyError":
      return `${where(options)} refused the handshake: ${error.message}`
    case "RedisProtocolError":
      return `${where(options)} broke the protocol: ${error.message}`
    default:
      // About the connection, not a command: whether the handshake's command ran does not matter here.
      return error.message.endsWith(outcomeUnknownText)
        ? error.message.slice(0, -outcomeUnknownText.length)
        : error.message
  }
}

/**
 * What a command that needs a connection fails with while the backoff's delay runs (`wait` more milliseconds):
 * the last attempt's failure when it was about the credentials (waiting will not mend them), else that the server
 * is unavailable, with the last failure as the cause.
 */
const unavailable = (options: ResolvedOptions, lastFailure: RedisError, wait: number): RedisError =>
  lastFailure._tag === "RedisAuthError" ? lastFailure : new RedisConnectionError({
    message: `${where(options)} is unavailable (${lastFailure.message}); next attempt in ${wait} ms`,
    cause: lastFailure
  })

/**
 * The command connection, in a scope: closing it closes the socket and fails every command still waiting with
 * `RedisConnectionError`, as it does every command sent afterwards.
 *
 * @internal
 */
export const makeCommandConnection = (
  options: ResolvedOptions
): Effect.Effect<CommandConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const clock = yield* Effect.clockWith(Effect.succeed)
    let closed = false
    let connection: Connection | undefined
    /** The attempt in progress, shared by every command that needs a connection meanwhile. */
    let connecting: Deferred.Deferred<Connection, RedisError> | undefined
    /** When the next attempt may start, in `nowMillis`. */
    let nextAttemptAt = 0
    /** Consecutive failed attempts: the backoff's step. */
    let failures = 0
    let lastFailure: RedisError | undefined
    /** Why no connection is open, while none is: see `diagnosis`. */
    let lastProblem: string | undefined
    /** Whether a connection was ever opened: the first one is said at Info, with the server it reached. */
    let everConnected = false
    /** Whether the background retry (see `retry`) is running. */
    let retrying = false
    /** When a command last asked for a connection while none was open, in `nowMillis`. */
    let lastDemandAt = nowMillis(clock)
    const outage = new OutageTracker({
      threshold: unreachableThreshold,
      repeatEveryMillis: unreachableRepeatMillis
    })
    const annotations = { "redis.server": where(options) }

    const closedError = () => new RedisConnectionError({ message: "the client's scope is closed" })

    const recordFailure = (error: RedisError) => {
      lastFailure = error
      lastProblem = describeFailure(options, error)
      nextAttemptAt = nowMillis(clock) + reconnectDelayMillis(options, failures, Math.random())
      failures++
    }

    /** What a failed attempt means for the log: the server unreachable (said at once, then every few minutes). */
    const failedAttempt = (error: RedisError): Effect.Effect<void> => {
      const event = outage.failure(nowMillis(clock))
      if (event === undefined || event._tag === "Ended" || closed) return Effect.void
      const diagnosis = describeFailure(options, error)
      const message = event._tag === "Started"
        ? `redis: cannot reach ${where(options)}: ${diagnosis}; retrying in the background`
        : `redis: ${where(options)} still unreachable after ${formatDuration(event.elapsedMillis)} ` +
          `(${event.failures} failed attempts): ${diagnosis}`
      return Effect.annotateLogs(Effect.logWarning(message), annotations)
    }

    /** What a successful attempt means for the log: the first connection, or the end of an outage. */
    const connected = (): Effect.Effect<void> => {
      const event = outage.success(nowMillis(clock))
      const first = !everConnected
      everConnected = true
      if (event !== undefined && event._tag === "Ended") {
        return Effect.annotateLogs(
          Effect.logInfo(
            `redis: connected to ${where(options)}${first ? "" : " again"} after ` +
              `${formatDuration(event.durationMillis)} (${event.failures} failed attempts)`
          ),
          annotations
        )
      }
      if (first) {
        return Effect.annotateLogs(
          Effect.logInfo(`redis: connected to ${where(options)}${options.tls === undefined ? "" : " (TLS)"}`),
          annotations
        )
      }
      return Effect.void
    }

    const limit = new ArgumentLimit(options.maxArgumentLength)

    const connect = open(
      options,
      (dead, error) => {
        // A connection that dies during its handshake is a failed attempt, recorded by `attempt`.
        if (connection !== dead) return
        connection = undefined
        if (!closed) lastProblem = `the connection to ${where(options)} was lost: ${error.message}`
        // A server that accepts and then drops every connection must not be hammered: the backoff resets only when a
        // connection that worked (it answered something other than an error) dies.
        if (dead.successfulReplies === 0) recordFailure(error)
        else failures = 0
      },
      undefined,
      limit
    )

    /**
     * One attempt at a time, run in the client's scope rather than in the caller's fiber: interrupting the
     * command that started it must not fail the others waiting for it, and closing the scope must stop it.
     */
    const attempt = (deferred: Deferred.Deferred<Connection, RedisError>) =>
      connect.pipe(
        Effect.flatMap((conn) =>
          Effect.suspend(() => {
            if (closed) {
              conn.destroy(closedError())
              return Effect.fail(closedError())
            }
            connection = conn
            limit.newConnection()
            nextAttemptAt = 0
            lastFailure = undefined
            lastProblem = undefined
            return Effect.as(connected(), conn)
          })
        ),
        Effect.tapError((error) =>
          Effect.suspend(() => {
            recordFailure(error)
            return Effect.andThen(failedAttempt(error), startRetry)
          })
        ),
        Effect.exit,
        Effect.flatMap((exit) => {
          if (connecting === deferred) connecting = undefined
          return Deferred.done(deferred, exit)
        }),
        (tell) => handled("RedisClient connect", tell),
        Effect.forkIn(scope),
        // A scope that is closing interrupts the fiber forked into it at once, possibly before it runs a single
        // step (so no onInterrupt inside it would run): whatever ends the fiber, the waiting commands are told.
        Effect.tap((fiber) =>
          Effect.sync(() =>
            fiber.addObserver(() => {
              if (connecting === deferred) connecting = undefined
              Deferred.doneUnsafe(deferred, Exit.fail(closedError()))
            })
          )
        )
      )

    /** A new attempt, shared with whoever needs a connection while it runs. */
    const newAttempt = (): Effect.Effect<Connection, RedisError> => {
      const deferred = Deferred.makeUnsafe<Connection, RedisError>()
      connecting = deferred
      return Effect.andThen(attempt(deferred), Deferred.await(deferred))
    }

    const ensure: Effect.Effect<Connection, RedisError> = Effect.suspend(() => {
      if (closed) return Effect.fail(closedError())
      if (connection !== undefined && connection.isOpen) return Effect.succeed(connection)
      lastDemandAt = nowMillis(clock)
      if (connecting !== undefined) return Deferred.await(connecting)
      const wait = Math.ceil(nextAttemptAt - nowMillis(clock))
      if (wait > 0 && lastFailure !== undefined) return Effect.fail(unavailable(options, lastFailure, wait))
      return newAttempt()
    })

    /**
     * After a failed attempt, the client keeps trying in the background, on the same backoff as commands would,
     * until a connection opens: an outage ends (and is said to end) even when no command comes to notice it.
     * Commands meanwhile fail fast between attempts and share an attempt in progress, as before; one that comes
     * once the delay has passed starts the attempt itself, and the retry then waits for that one. Once no command
     * has asked for a connection for `idleRetryMillis`, it stops (a client nobody uses does not dial forever); the
     * next command starts again.
     */
    const retry: Effect.Effect<void> = Effect.suspend(() => {
      if (closed || (connection !== undefined && connection.isOpen)) {
        retrying = false
        return Effect.void
      }
      if (nowMillis(clock) - lastDemandAt >= idleRetryMillis) {
        retrying = false
        return Effect.annotateLogs(
          Effect.logDebug(
            `redis: no command needed ${where(options)} for ${formatDuration(idleRetryMillis)}; reconnecting ` +
              "again at the next command"
          ),
          annotations
        )
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
            Effect.interruptible(handled("RedisClient reconnect", retry)),
            () => Effect.sync(() => (retrying = false))
          ),
          scope
        )
      )
    })

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        connection?.destroy(closedError())
        connection = undefined
      })
    )

    const current = () => connection
    const diagnosis = () => connection !== undefined && connection.isOpen ? undefined : lastProblem
    return { current, ensure, limit, admit: makeAdmit(limit, ensure, current), diagnosis }
  })
