/**
 * A Redis client as an Effect service: a scoped layer that owns the socket (TCP or TLS), performs the handshake
 * (AUTH, SELECT, CLIENT SETNAME) on every (re)connection, pipelines commands from any number of fibers on one
 * connection and fails with typed errors. It knows nothing about caching.
 *
 * Ordering: a command is queued for writing synchronously when it is sent, so commands leave in the order they
 * were sent, and replies are matched first-in first-out; commands issued in the same tick leave in one socket
 * write. Nothing is held across a round trip, so many commands are in flight at once. One connection attempt
 * runs at a time; commands that need a connection meanwhile wait for that attempt.
 *
 * Failure: a reply that does not arrive within `commandTimeout` fails its command with `RedisTimeoutError` and
 * finishes the connection (every other command on it fails with `RedisConnectionError`, the next command opens
 * a fresh one), so a late reply can never be read by the wrong command. While the server is down commands fail
 * fast; reconnection is attempted by later commands with a bounded exponential backoff.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { Connection, type Pending } from "./internal/connection.js"
import {
  RedisAuthError,
  RedisConfigError,
  RedisConnectionError,
  type RedisError,
  RedisReplyError,
  RedisTimeoutError
} from "./RedisError.js"
import * as Resp from "./Resp.js"

/**
 * A command: its name and arguments. Strings are sent as UTF-8; `Uint8Array`s as they are (binary safe).
 *
 * @since 0.1.0
 * @category models
 */
export type Command = ReadonlyArray<string | Uint8Array>

/**
 * Options of the client. Every field is optional; `url` gives a base that the other fields override.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisClientOptions {
  /** `redis://[[user]:password@]host[:port][/db]`, or `rediss://…` for TLS. */
  readonly url?: string | undefined
  /** Default `"localhost"`. */
  readonly host?: string | undefined
  /** Default `6379`. */
  readonly port?: number | undefined
  /** Selected with `SELECT` after connecting when not 0. Default `0`. */
  readonly db?: number | undefined
  /** ACL user name; sent with the password as `AUTH username password`. */
  readonly username?: string | undefined
  /** Sent with `AUTH` on every (re)connection. Kept redacted: it appears in no error, log or `toString`. */
  readonly password?: Redacted.Redacted<string> | undefined
  /** Bound on opening the socket plus the handshake. Default 5 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** Bound on waiting for one command's reply. Default 5 seconds. */
  readonly commandTimeout?: Duration.DurationInput | undefined
  /** Set with `CLIENT SETNAME` after connecting. */
  readonly clientName?: string | undefined
  /** `true` for TLS with Node's defaults (certificates verified), or Node's TLS options (`ca`, `cert`…). */
  readonly tls?: boolean | Tls.ConnectionOptions | undefined
  /**
   * Bound on commands written and waiting for their reply. Past it, commands wait in arrival order
   * (backpressure) until replies make room; the wait is bounded by the oldest command's `commandTimeout`, which
   * finishes the connection when it expires. Default 10,000.
   */
  readonly maxInFlight?: number | undefined
  /** First delay before reconnecting after a failed attempt; it doubles on each failure. Default 100 ms. */
  readonly reconnectBaseDelay?: Duration.DurationInput | undefined
  /** Upper bound of the reconnection delay. Default 2 seconds. */
  readonly reconnectMaxDelay?: Duration.DurationInput | undefined
  /** Largest bulk reply accepted, in bytes (a larger one is a protocol error). Default 512 MiB, Redis' own. */
  readonly maxBulkLength?: number | undefined
}

/**
 * The options after defaults and URL parsing, as the client uses them.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedOptions {
  readonly host: string
  readonly port: number
  readonly db: number
  readonly username: string | undefined
  readonly password: Redacted.Redacted<string> | undefined
  readonly connectTimeoutMillis: number
  readonly commandTimeoutMillis: number
  readonly clientName: string | undefined
  readonly tls: Tls.ConnectionOptions | undefined
  readonly maxInFlight: number
  readonly reconnectBaseDelayMillis: number
  readonly reconnectMaxDelayMillis: number
  readonly maxBulkLength: number | undefined
}

/**
 * The service shape.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisClientShape {
  /** The options in use (the password stays redacted). */
  readonly options: ResolvedOptions
  /**
   * Sends one command and returns its reply. An error reply fails with `RedisReplyError`; bulk strings come back
   * as bytes (`Uint8Array`).
   */
  readonly send: (command: Command) => Effect.Effect<Resp.RespValue, RedisError>
  /**
   * Sends several commands in one write and returns their replies in order. Error replies stay values
   * (`Resp.ErrorReply`) so the caller sees which command failed; the effect fails only when the connection does.
   */
  readonly pipeline: (commands: ReadonlyArray<Command>) => Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError>
  /** Commands written and still waiting for their reply on the current connection. */
  readonly inFlight: Effect.Effect<number>
  /**
   * Listens to a pub/sub channel for as long as the current scope is open, on the client's own subscriber
   * connection (one per client, opened with the first subscription). For as long as that connection lives it is
   * sent a `PING` every `min(commandTimeout, 2 s)`, each bounded by `commandTimeout`, so a hung server or a
   * connection lost without a FIN is noticed; it then reconnects with the same backoff as commands and
   * re-subscribes. `onSubscribed` runs after each (re)subscription, because messages published while it was
   * disconnected are lost. The effect completes once the server has confirmed the channel's subscription (also
   * when another listener's `SUBSCRIBE` of the same channel is still in flight), or after `connectTimeout` while
   * the server is unreachable (it keeps trying in the background); it never fails.
   */
  readonly subscribe: (channel: string, handlers: SubscriptionHandlers) => Effect.Effect<void, never, Scope.Scope>
  /** `PUBLISH channel message`: the number of subscribers that received it. */
  readonly publish: (channel: string, message: string | Uint8Array) => Effect.Effect<number, RedisError>
}

/**
 * What a subscription does with its channel's traffic.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscriptionHandlers {
  /**
   * Each message published on the channel, as bytes. Runs synchronously on the socket's data event: keep it short.
   * If it throws, the error is logged (level Error, annotated `redis.channel`) and nothing else is affected: the
   * other listeners get the message and the connection stays.
   */
  readonly onMessage: (message: Uint8Array) => void
  /**
   * After the subscription is confirmed, the first time and after every reconnection. If it throws, the error is
   * logged as for `onMessage`, and the subscription stays.
   */
  readonly onSubscribed?: (() => void) | undefined
}

/**
 * The Redis client service.
 *
 * @since 0.1.0
 * @category tags
 */
export class RedisClient extends Context.Tag("effect-remote-cache/RedisClient")<RedisClient, RedisClientShape>() {}

const defaults = {
  host: "localhost",
  port: 6379,
  timeoutMillis: 5_000,
  maxInFlight: 10_000,
  reconnectBaseDelayMillis: 100,
  reconnectMaxDelayMillis: 2_000
}

const toMillis = (input: Duration.DurationInput | undefined, fallback: number, name: string): number => {
  if (input === undefined) return fallback
  if (typeof input === "number" && Number.isNaN(input)) throw new RedisConfigError({ message: `${name} is NaN` })
  const millis = Duration.toMillis(Duration.decode(input))
  if (!(millis > 0)) throw new RedisConfigError({ message: `${name} must be positive` })
  // setTimeout treats anything over 2^31-1 ms as 1 ms; an infinite timeout is the largest one it can take.
  return Math.min(millis, 2 ** 31 - 1)
}

interface UrlParts {
  host?: string
  port?: number
  db?: number
  username?: string
  password?: Redacted.Redacted<string>
  tls?: boolean
}

const parseUrl = (url: string): UrlParts => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    // The URL may hold a password: never echo it.
    throw new RedisConfigError({ message: "url is not a valid URL" })
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new RedisConfigError({ message: `url scheme must be redis: or rediss:, got ${parsed.protocol}` })
  }
  const parts: UrlParts = { tls: parsed.protocol === "rediss:" }
  if (parsed.hostname !== "") parts.host = parsed.hostname.replace(/^\[(.*)\]$/, "$1")
  if (parsed.port !== "") parts.port = Number(parsed.port)
  if (parsed.username !== "") parts.username = decodeURIComponent(parsed.username)
  if (parsed.password !== "") parts.password = Redacted.make(decodeURIComponent(parsed.password))
  const path = parsed.pathname.replace(/^\//, "")
  if (path !== "") {
    if (!/^\d+$/.test(path)) throw new RedisConfigError({ message: `url database must be a number, got ${path}` })
    parts.db = Number(path)
  }
  return parts
}

/** The TLS options that may hold a private key or its passphrase. */
const tlsSecretFields = ["key", "passphrase", "pfx"] as const

/**
 * A copy of the TLS options whose secrets are not enumerable, so printing or serializing the client's options
 * (`JSON.stringify`, `util.inspect`, a log line) never shows a private key or its passphrase.
 */
const hideTlsSecrets = (tls: Tls.ConnectionOptions): Tls.ConnectionOptions => {
  const copy: Record<string, unknown> = { ...tls }
  for (const field of tlsSecretFields) {
    if (field in copy) Object.defineProperty(copy, field, { value: copy[field], enumerable: false })
  }
  return copy as Tls.ConnectionOptions
}

/** The TLS options as Node needs them: the secrets hidden by `hideTlsSecrets` put back. */
const revealTls = (tls: Tls.ConnectionOptions): Tls.ConnectionOptions => {
  const copy: Record<string, unknown> = { ...tls }
  for (const field of tlsSecretFields) {
    if (tls[field] !== undefined) copy[field] = tls[field]
  }
  return copy as Tls.ConnectionOptions
}

/**
 * Applies defaults and the URL; fails with `RedisConfigError` on invalid input.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolveOptions = (options: RedisClientOptions = {}): Effect.Effect<ResolvedOptions, RedisConfigError> =>
  Effect.try({
    try: (): ResolvedOptions => {
      const url = options.url !== undefined ? parseUrl(options.url) : {}
      const port = options.port ?? url.port ?? defaults.port
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new RedisConfigError({ message: `port must be an integer in 1..65535, got ${port}` })
      }
      const db = options.db ?? url.db ?? 0
      if (!Number.isInteger(db) || db < 0) {
        throw new RedisConfigError({ message: `db must be a non-negative integer, got ${db}` })
      }
      const maxInFlight = options.maxInFlight ?? defaults.maxInFlight
      if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
        throw new RedisConfigError({ message: `maxInFlight must be a positive integer, got ${maxInFlight}` })
      }
      const tlsOption = options.tls ?? url.tls ?? false
      const clientName = options.clientName
      if (clientName !== undefined && /[\s]/.test(clientName)) {
        throw new RedisConfigError({ message: "clientName may not contain spaces or newlines" })
      }
      return {
        host: options.host ?? url.host ?? defaults.host,
        port,
        db,
        username: options.username ?? url.username,
        password: options.password ?? url.password,
        connectTimeoutMillis: toMillis(options.connectTimeout, defaults.timeoutMillis, "connectTimeout"),
        commandTimeoutMillis: toMillis(options.commandTimeout, defaults.timeoutMillis, "commandTimeout"),
        clientName,
        tls: tlsOption === false ? undefined : tlsOption === true ? {} : hideTlsSecrets(tlsOption),
        maxInFlight,
        reconnectBaseDelayMillis: toMillis(
          options.reconnectBaseDelay,
          defaults.reconnectBaseDelayMillis,
          "reconnectBaseDelay"
        ),
        reconnectMaxDelayMillis: toMillis(
          options.reconnectMaxDelay,
          defaults.reconnectMaxDelayMillis,
          "reconnectMaxDelay"
        ),
        maxBulkLength: options.maxBulkLength
      }
    },
    catch: (error) =>
      error instanceof RedisConfigError ? error : new RedisConfigError({ message: `invalid options: ${String(error)}` })
  })

/** Opens the socket (TCP or TLS); interruption destroys it. */
const openSocket = (options: ResolvedOptions): Effect.Effect<Net.Socket, RedisConnectionError> =>
  Effect.async<Net.Socket, RedisConnectionError>((resume) => {
    const where = `${options.host}:${options.port}`
    let socket: Net.Socket
    const onError = (cause: Error) => {
      socket.destroy()
      resume(Effect.fail(new RedisConnectionError({ message: `cannot connect to ${where}: ${cause.message}`, cause })))
    }
    const onConnect = () => {
      socket.off("error", onError)
      resume(Effect.succeed(socket))
    }
    if (options.tls !== undefined) {
      const servername = options.tls.servername ?? (Net.isIP(options.host) === 0 ? options.host : undefined)
      socket = Tls.connect({
        ...revealTls(options.tls),
        host: options.host,
        port: options.port,
        ...(servername !== undefined ? { servername } : {})
      })
      socket.once("secureConnect", onConnect)
    } else {
      socket = Net.connect({ host: options.host, port: options.port })
      socket.once("connect", onConnect)
    }
    socket.once("error", onError)
    return Effect.sync(() => socket.destroy())
  })

const awaitPending = (pending: Pending): Effect.Effect<Resp.RespValue, RedisError> => {
  if (pending.done) return pendingResult(pending)
  // A written command needs no canceller: interruption only stops waiting (the fiber ignores a later resume), and
  // its reply is still read in its place and dropped, so the stream never desynchronises. Without a canceller,
  // Effect.async also skips its onInterrupt wrapper, several runtime-flag changes on every command.
  if (pending.args === undefined) {
    return Effect.async<Resp.RespValue, RedisError>((resume) => awaitWritten(pending, resume))
  }
  return Effect.async<Resp.RespValue, RedisError>((resume) => {
    pending.callback = (settled) => resume(pendingResult(settled))
    // A command still waiting for room under maxInFlight is not written at all once its awaiter has gone.
    return Effect.sync(() => {
      pending.callback = undefined
      if (pending.args !== undefined) pending.cancelled = true
    })
  })
}

const awaitWritten = (
  pending: Pending,
  resume: (effect: Effect.Effect<Resp.RespValue, RedisError>) => void
): void => {
  if (pending.done) resume(pendingResult(pending))
  else pending.callback = (settled) => resume(pendingResult(settled))
}

const pendingResult = (pending: Pending): Effect.Effect<Resp.RespValue, RedisError> => {
  if (pending.error !== undefined) return Effect.fail(pending.error)
  const value = pending.value
  if (value instanceof Resp.ErrorReply) {
    return Effect.fail(
      new RedisReplyError({ message: value.message, code: value.code, command: pending.command.toUpperCase() })
    )
  }
  return Effect.succeed(value)
}

/**
 * Builds the client in a scope: nothing is opened until the first command; closing the scope closes the socket
 * and fails every command still waiting with `RedisConnectionError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: RedisClientOptions = {}
): Effect.Effect<RedisClientShape, RedisConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const resolved = yield* resolveOptions(options)
    const scope = yield* Effect.scope
    let closed = false
    let connection: Connection | undefined
    /** The attempt in progress, shared by every command that needs a connection meanwhile. */
    let connecting: Deferred.Deferred<Connection, RedisError> | undefined
    let nextAttemptAt = 0
    let delayMillis = resolved.reconnectBaseDelayMillis
    let lastFailure: RedisError | undefined

    const where = `${resolved.host}:${resolved.port}`

    const recordFailure = (error: RedisError) => {
      lastFailure = error
      // Jitter keeps many clients that lost the same server from reconnecting in lockstep.
      nextAttemptAt = Date.now() + Math.round(delayMillis * (0.8 + Math.random() * 0.4))
      delayMillis = Math.min(delayMillis * 2, resolved.reconnectMaxDelayMillis)
    }

    const handshake = (conn: Connection): Effect.Effect<void, RedisError> => {
      const commands: Array<Command> = []
      const password = resolved.password
      if (password !== undefined) {
        commands.push(
          resolved.username !== undefined
            ? ["AUTH", resolved.username, Redacted.value(password)]
            : ["AUTH", Redacted.value(password)]
        )
      }
      if (resolved.db !== 0) commands.push(["SELECT", String(resolved.db)])
      if (resolved.clientName !== undefined) commands.push(["CLIENT", "SETNAME", resolved.clientName])
      if (commands.length === 0) return Effect.void
      return Effect.forEach(conn.submitMany(commands), (pending) =>
        Effect.catchTag(
          awaitPending(pending),
          "RedisReplyError",
          (error): Effect.Effect<never, RedisError> =>
            pending.command === "AUTH" || error.code === "NOAUTH" || error.code === "WRONGPASS"
              ? Effect.fail(new RedisAuthError({ message: scrubSecrets(error.message) }))
              : Effect.fail(error)
        ), { discard: true })
    }

    /**
     * A server may quote a command's arguments in its error ("unknown command 'AUTH', with args beginning with:
     * '…'" where AUTH is renamed away): the quoted part and any copy of the password are cut out.
     */
    const scrubSecrets = (message: string): string => {
      let scrubbed = message.replace(/,?\s*with args beginning with:.*$/s, "")
      const password = resolved.password === undefined ? "" : Redacted.value(resolved.password)
      if (password.length > 0) scrubbed = scrubbed.split(password).join("<redacted>")
      return scrubbed
    }

    /** Opens a socket and performs the handshake, all within `connectTimeout`. */
    const openConnection = (
      onClose: (dead: Connection, error: RedisError) => void,
      onPush?: (value: Resp.RespValue) => void
    ): Effect.Effect<Connection, RedisError> =>
      Effect.gen(function*() {
        const socket = yield* openSocket(resolved)
        const conn = new Connection(socket, {
          commandTimeoutMillis: resolved.commandTimeoutMillis,
          maxInFlight: resolved.maxInFlight,
          parser: resolved.maxBulkLength !== undefined ? { maxBulkLength: resolved.maxBulkLength } : {},
          onClose,
          onPush
        })
        if (onPush !== undefined) conn.subscriberMode = true
        yield* handshake(conn).pipe(
          Effect.onExit((exit) =>
            exit._tag === "Failure"
              ? Effect.sync(() => conn.destroy(new RedisConnectionError({ message: "handshake did not complete" })))
              : Effect.void
          )
        )
        return conn
      }).pipe(
        Effect.timeoutFail({
          duration: resolved.connectTimeoutMillis,
          onTimeout: () =>
            new RedisTimeoutError({
              message: `no connection to ${where} within ${resolved.connectTimeoutMillis} ms`,
              phase: "connect",
              timeoutMillis: resolved.connectTimeoutMillis
            })
        })
      )

    const connect = openConnection((dead, error) => {
      // A connection that dies during its handshake is a failed attempt, recorded by `attempt`.
      if (connection !== dead) return
      connection = undefined
      // A server that accepts and then drops every connection must not be hammered: the backoff resets
      // only when a connection that worked (it answered something) dies.
      if (dead.repliesReceived === 0) recordFailure(error)
      else delayMillis = resolved.reconnectBaseDelayMillis
    })

    const closedError = () => new RedisConnectionError({ message: "the client's scope is closed" })

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
            nextAttemptAt = 0
            lastFailure = undefined
            return Effect.succeed(conn)
          })
        ),
        Effect.tapError((error) => Effect.sync(() => recordFailure(error))),
        Effect.onInterrupt(() => Deferred.fail(deferred, closedError())),
        Effect.exit,
        Effect.flatMap((exit) => {
          connecting = undefined
          return Deferred.done(deferred, exit)
        }),
        Effect.forkIn(scope)
      )

    const ensureConnection: Effect.Effect<Connection, RedisError> = Effect.suspend(() => {
      if (closed) return Effect.fail(closedError())
      if (connection !== undefined && connection.isOpen) return Effect.succeed(connection)
      if (connecting !== undefined) return Deferred.await(connecting)
      const wait = nextAttemptAt - Date.now()
      if (wait > 0 && lastFailure !== undefined) {
        if (lastFailure._tag === "RedisAuthError") return Effect.fail(lastFailure)
        return Effect.fail(
          new RedisConnectionError({
            message: `${where} is unavailable (${lastFailure.message}); next attempt in ${wait} ms`,
            cause: lastFailure
          })
        )
      }
      const deferred = Deferred.unsafeMake<Connection, RedisError>(FiberId.none)
      connecting = deferred
      return Effect.zipRight(attempt(deferred), Deferred.await(deferred))
    })

    const send = (command: Command): Effect.Effect<Resp.RespValue, RedisError> =>
      // The common case is this one Effect.async and nothing else: the connection is open, the command is queued
      // synchronously when the effect runs (so every run sends it anew) and its reply resumes the fiber. Every
      // other case hands the fiber an ordinary effect to continue with.
      Effect.async<Resp.RespValue, RedisError>((resume) => {
        const conn = connection
        if (conn === undefined || !conn.isOpen) {
          return resume(Effect.flatMap(ensureConnection, (fresh) => awaitPending(fresh.submit(command))))
        }
        const pending = conn.submit(command)
        if (pending.args !== undefined) return resume(awaitPending(pending))
        awaitWritten(pending, resume)
      })

    const collect = (pendings: ReadonlyArray<Pending>) =>
      Effect.forEach(pendings, (pending) =>
        pending.done && pending.error === undefined
          ? Effect.succeed(pending.value)
          : Effect.catchTag(awaitPending(pending), "RedisReplyError", () => Effect.succeed(pending.value)))

    const pipeline = (commands: ReadonlyArray<Command>): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> =>
      commands.length === 0
        ? Effect.succeed([])
        : Effect.flatMap(ensureConnection, (conn) => collect(conn.submitMany(commands)))

    // --- pub/sub: one subscriber connection per client, kept alive by a fiber while any channel is listened to.

    /** One `subscribe` call: its handlers, and the signal that its channel's subscription has been confirmed. */
    interface Listener {
      readonly handlers: SubscriptionHandlers
      readonly confirmed: Deferred.Deferred<void>
    }

    /** A channel listened to, and where its `SUBSCRIBE` stands on the subscriber connection. */
    interface Channel {
      readonly listeners: Set<Listener>
      /** The connection its `SUBSCRIBE` was written on: any other (a newer one) still has to be told. */
      sentOn: Connection | undefined
      /** The connection that confirmed it: a listener added meanwhile is subscribed at once. */
      confirmedOn: Connection | undefined
    }

    const channels = new Map<string, Channel>()
    let subscriber: Connection | undefined
    let subscriberFiber: Fiber.RuntimeFiber<void> | undefined
    const healthCheckMillis = Math.min(resolved.commandTimeoutMillis, 2_000)
    // Listeners run on the socket's data event, outside any fiber: their failures are logged through the runtime
    // (logger included) the client was built with.
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())

    /** Runs a listener's callback; one that throws is logged and affects neither the others nor the connection. */
    const callListener = (callback: "onMessage" | "onSubscribed", channel: string, run: () => void): void => {
      try {
        run()
      } catch (defect) {
        runFork(
          Effect.annotateLogs(
            Effect.logError(
              `pub/sub listener's ${callback} threw; the other listeners are unaffected`,
              Cause.die(defect)
            ),
            { "redis.channel": channel }
          )
        )
      }
    }

    const notifySubscribed = (channel: string, listener: Listener): void => {
      Deferred.unsafeDone(listener.confirmed, Exit.void)
      const onSubscribed = listener.handlers.onSubscribed
      if (onSubscribed !== undefined) callListener("onSubscribed", channel, onSubscribed)
    }

    const deliver = (value: Resp.RespValue) => {
      // ["message", channel, payload], as checked by the connection.
      const [, channelBytes, payload] = value as ReadonlyArray<Uint8Array>
      const channel = Buffer.from(channelBytes!).toString("utf8")
      const state = channels.get(channel)
      if (state === undefined) return
      for (const listener of state.listeners) {
        callListener("onMessage", channel, () => listener.handlers.onMessage(payload!))
      }
    }

    /**
     * Writes `SUBSCRIBE channel` on `conn` at once (unless it already was) and returns the wait for its
     * confirmation, which tells every listener present by then.
     */
    const subscribeOn = (conn: Connection, channel: string, state: Channel): Effect.Effect<void> => {
      if (state.sentOn === conn) return Effect.void
      state.sentOn = conn
      const pending = conn.submit(["SUBSCRIBE", channel])
      return Effect.flatMap(Effect.either(awaitPending(pending)), (result) => {
        // Every listener left meanwhile (a later subscription is another `Channel`), or the connection died and
        // the next session subscribes again.
        if (channels.get(channel) !== state || !conn.isOpen) return Effect.void
        if (result._tag === "Left") {
          // Refused by the server (an ACL without the channel, say): retrying on this connection would be refused
          // again, and the caller of `subscribe` stops waiting after `connectTimeout`.
          return Effect.annotateLogs(
            Effect.logWarning(`pub/sub SUBSCRIBE refused: ${result.left.message}`),
            { "redis.channel": channel }
          )
        }
        return Effect.sync(() => {
          state.confirmedOn = conn
          for (const listener of state.listeners) notifySubscribed(channel, listener)
        })
      })
    }

    /**
     * For the life of `conn`, on Effect's clock: every `healthCheckMillis` a `PING`, each with its own
     * `commandTimeout`. One that fails or goes unanswered destroys the connection, so a hung server or a
     * connection lost without a FIN ends the session, and the loop reconnects and re-subscribes.
     */
    const healthCheck = (conn: Connection): Effect.Effect<never> =>
      Effect.forever(
        Effect.zipRight(
          Effect.sleep(healthCheckMillis),
          Effect.suspend(() =>
            awaitPending(conn.submit(["PING"])).pipe(
              Effect.timeoutFail({
                duration: resolved.commandTimeoutMillis,
                onTimeout: () =>
                  new RedisTimeoutError({
                    message: `no reply to the subscriber's PING within ${resolved.commandTimeoutMillis} ms`,
                    phase: "reply",
                    timeoutMillis: resolved.commandTimeoutMillis,
                    command: "PING"
                  })
              }),
              Effect.catchAll((error) =>
                Effect.sync(() =>
                  conn.destroy(
                    new RedisConnectionError({ message: `subscriber health check failed: ${error.message}` })
                  )
                )
              )
            )
          )
        )
      )

    /** One subscriber connection's life: connect, subscribe to every channel, check its health until it dies. */
    const subscriberSession = Effect.suspend(() => {
      const died = Deferred.unsafeMake<void>(FiberId.none)
      return openConnection(() => Deferred.unsafeDone(died, Exit.void), deliver).pipe(
        Effect.flatMap((conn) => {
          subscriber = conn
          // Written in one batch. A channel added while these are in flight is written by `subscribe` itself.
          const confirmations = Array.from(channels, ([channel, state]) => subscribeOn(conn, channel, state))
          return Effect.race(
            Deferred.await(died),
            Effect.zipRight(Effect.all(confirmations, { discard: true }), healthCheck(conn))
          )
        }),
        Effect.ensuring(Effect.sync(() => {
          subscriber?.destroy(new RedisConnectionError({ message: "subscriber connection closed" }))
          subscriber = undefined
        })),
        Effect.either
      )
    })

    const subscriberLoop = Effect.suspend(() => {
      let delay = resolved.reconnectBaseDelayMillis
      return Effect.forever(
        Effect.flatMap(subscriberSession, (result) => {
          // A session that got connected resets the backoff; one that could not connect doubles it.
          delay = result._tag === "Right"
            ? resolved.reconnectBaseDelayMillis
            : Math.min(delay * 2, resolved.reconnectMaxDelayMillis)
          return Effect.sleep(Math.round(delay * (0.8 + Math.random() * 0.4)))
        })
      )
    })

    const subscribe = (channel: string, handlers: SubscriptionHandlers): Effect.Effect<void, never, Scope.Scope> =>
      Effect.gen(function*() {
        const listener: Listener = { handlers, confirmed: Deferred.unsafeMake<void>(FiberId.none) }
        yield* Effect.acquireRelease(
          Effect.suspend(() => {
            const existing = channels.get(channel)
            if (existing !== undefined) {
              existing.listeners.add(listener)
              // Confirmed on the live connection: subscribed as of now. Still in flight, or not yet written: the
              // confirmation, when it comes, tells this listener too.
              if (subscriber !== undefined && existing.confirmedOn === subscriber) notifySubscribed(channel, listener)
              return Effect.void
            }
            const state: Channel = { listeners: new Set([listener]), sentOn: undefined, confirmedOn: undefined }
            channels.set(channel, state)
            if (subscriberFiber === undefined) {
              // acquireRelease acquires uninterruptibly, and a fiber forked there would inherit that: the loop
              // could then never be stopped.
              return Effect.map(Effect.forkIn(Effect.interruptible(subscriberLoop), scope), (fiber) => {
                subscriberFiber = fiber
              })
            }
            // While connecting, the session subscribes to every channel once connected.
            return subscriber === undefined
              ? Effect.void
              : Effect.asVoid(Effect.forkIn(Effect.interruptible(subscribeOn(subscriber, channel, state)), scope))
          }),
          () =>
            Effect.suspend(() => {
              const state = channels.get(channel)
              state?.listeners.delete(listener)
              if (state === undefined || state.listeners.size > 0) return Effect.void
              channels.delete(channel)
              if (channels.size === 0 && subscriberFiber !== undefined) {
                const fiber = subscriberFiber
                subscriberFiber = undefined
                return Fiber.interrupt(fiber)
              }
              if (subscriber !== undefined && state.sentOn === subscriber) subscriber.submit(["UNSUBSCRIBE", channel])
              return Effect.void
            })
        )
        yield* Effect.timeout(Deferred.await(listener.confirmed), resolved.connectTimeoutMillis).pipe(Effect.ignore)
      })

    const publish = (channel: string, message: string | Uint8Array) =>
      Effect.flatMap(
        send(["PUBLISH", channel, message]),
        (reply) => Effect.succeed(typeof reply === "number" ? reply : 0)
      )

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        connection?.destroy(closedError())
        connection = undefined
        subscriber?.destroy(closedError())
      })
    )

    return {
      options: resolved,
      send,
      pipeline,
      inFlight: Effect.sync(() => connection?.inFlight ?? 0),
      subscribe,
      publish
    }
  })

/**
 * The client as a scoped layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: RedisClientOptions = {}): Layer.Layer<RedisClient, RedisConfigError> =>
  Layer.scoped(RedisClient, make(options))

/**
 * The client as a scoped layer whose options come from `effect/Config`. By default it reads `REDIS_URL`
 * (falling back to `redis://localhost:6379`).
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { RedisClient } from "effect-remote-cache"
 *
 * const FromEnv = RedisClient.layerConfig({
 *   url: Config.string("CACHE_REDIS_URL"),
 *   commandTimeout: Config.succeed("200 millis")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<RedisClientOptions> = {
    url: Config.string("REDIS_URL").pipe(Config.withDefault("redis://localhost:6379"))
  }
): Layer.Layer<RedisClient, RedisConfigError | ConfigError.ConfigError> =>
  Layer.scoped(RedisClient, Effect.flatMap(Config.unwrap(config), make))
