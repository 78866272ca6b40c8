/**
 * The command connection's life: opening a socket (TCP or TLS), the handshake (AUTH, SELECT, CLIENT SETNAME)
 * within `connectTimeout`, and the reconnection backoff. One definition of the backoff serves both the command
 * connection (which waits it out between attempts made by commands) and the subscriber (which retries on its own).
 * The command connection's life between attempts is `connectionKeeper.ts`'s, shared with the memcached client.
 *
 * @internal
 */
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Random from "#effect/Random"
import * as Redacted from "#effect/Redacted"
import * as Schedule from "#effect/Schedule"
import type * as Scope from "#effect/Scope"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { ArgumentLimit } from "../../core/client/argumentLimit.js"
import { outcomeUnknownText } from "../../core/client/connection.js"
import { SocketInput } from "../../core/client/socketInput.js"
import {
  RedisAuthError,
  RedisConnectionError,
  type RedisError,
  RedisReplyError,
  RedisTimeoutError
} from "../../RedisError.js"
import type * as Resp from "../../Resp.js"
import { makeConnectionKeeper, reconnectDelayMillis } from "../connectionKeeper.js"
import { makeAdmit } from "./admission.js"
import { Connection } from "./connection.js"
import { revealTls } from "./options.js"
import { awaitPending } from "./reply.js"
import type { Command, ResolvedOptions } from "./types.js"

// --- backoff

/** The backoff between attempts, shared with the memcached client (see `connectionKeeper.ts`). */
export { reconnectDelayMillis }

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
    const limit = new ArgumentLimit(options.maxArgumentLength)
    const closedError = () => new RedisConnectionError({ message: "the client's scope is closed" })
    const { current, diagnosis, ensure } = yield* makeConnectionKeeper<Connection, RedisError>({
      server: where(options),
      system: "redis",
      fiberLabel: "RedisClient",
      annotations: { "redis.server": where(options) },
      delays: options,
      open: (onClose) => open(options, onClose, undefined, limit),
      destroy: (conn) => conn.destroy(closedError()),
      closedError,
      describe: (error) => describeFailure(options, error),
      unavailable: (lastFailure, wait) => unavailable(options, lastFailure, wait),
      // A connection that worked answered something other than an error.
      worked: (dead) => dead.successfulReplies > 0,
      onOpen: () => limit.newConnection(),
      connectedNote: options.tls === undefined ? "" : " (TLS)",
      sayIdle: true
    })
    return { current, ensure, limit, admit: makeAdmit(limit, ensure, current), diagnosis }
  })
