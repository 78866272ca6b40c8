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
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import * as Tls from "node:tls"
import { checkCommand, Connection, type Pending } from "./internal/connection.js"
import {
  RedisAuthError,
  RedisConfigError,
  RedisConnectionError,
  type RedisError,
  type RedisInputError,
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
  /**
   * `redis://[[user]:password@]host[:port][/db]`, or `rediss://…` for TLS; the db may also be given as `?db=N`.
   * A user name without a password, or any other query parameter, is rejected rather than ignored.
   */
  readonly url?: string | undefined
  /** Default `"localhost"`. */
  readonly host?: string | undefined
  /** Default `6379`. */
  readonly port?: number | undefined
  /** Selected with `SELECT` after connecting when not 0: an integer in 0..2^31-1. Default `0`. */
  readonly db?: number | undefined
  /** ACL user name; sent with the password as `AUTH username password`. */
  readonly username?: string | undefined
  /** Sent with `AUTH` on every (re)connection. Kept redacted: it appears in no error, log or `toString`. */
  readonly password?: Redacted.Redacted<string> | undefined
  /** Bound on opening the socket plus the handshake. Default 5 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * Bound on one command, from the moment it is sent to the end of its reply: the time spent waiting for room
   * under `maxInFlight` counts, and so does the time to receive the complete reply (a large reply over a slow link
   * must arrive whole within it). Default 5 seconds.
   */
  readonly commandTimeout?: Duration.DurationInput | undefined
  /** Set with `CLIENT SETNAME` after connecting: printable ASCII without spaces (`!` to `~`), as Redis requires. */
  readonly clientName?: string | undefined
  /** `true` for TLS with Node's defaults (certificates verified), or Node's TLS options (`ca`, `cert`…). */
  readonly tls?: boolean | Tls.ConnectionOptions | undefined
  /**
   * Bound on commands written and waiting for their reply. Past it, commands wait in arrival order
   * (backpressure) until replies make room; the wait counts against each command's own `commandTimeout`, and a
   * command whose timeout expires while it waits fails with `RedisTimeoutError` without ever being sent (the
   * connection stays). A `pipeline` is admitted whole: it may take the bound past `maxInFlight` when nothing else
   * is in flight. Default 10,000.
   */
  readonly maxInFlight?: number | undefined
  /** First delay before reconnecting after a failed attempt; it doubles on each failure. Default 100 ms. */
  readonly reconnectBaseDelay?: Duration.DurationInput | undefined
  /** Upper bound of the reconnection delay, jitter included; at least `reconnectBaseDelay`. Default 2 seconds. */
  readonly reconnectMaxDelay?: Duration.DurationInput | undefined
  /**
   * Largest bulk reply accepted, in bytes (a larger one is a protocol error), and largest simple string or error
   * reply. Default 512 MiB, Redis' own `proto-max-bulk-len`.
   */
  readonly maxBulkLength?: number | undefined
  /**
   * Largest argument sent, in bytes. A command with a longer one fails with `RedisInputError` and nothing is sent:
   * Redis would answer it by closing the connection, failing every other command in flight on it. Set it to the
   * server's `proto-max-bulk-len` when that is not the default. Default 512 MiB.
   */
  readonly maxArgumentLength?: number | undefined
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
  readonly maxBulkLength: number
  readonly maxArgumentLength: number
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
   * Sends one command and returns its reply. An error reply fails with `RedisReplyError` (`NOAUTH`: with
   * `RedisAuthError`); bulk strings come back as bytes (`Uint8Array`). A command that cannot be sent as given (see
   * `RedisInputError`: empty, an argument of the wrong type or over `maxArgumentLength`, or a command that does not
   * get exactly one reply, such as `SUBSCRIBE` or `CLIENT REPLY`) fails with `RedisInputError` and sends nothing.
   */
  readonly send: (command: Command) => Effect.Effect<Resp.RespValue, RedisError>
  /**
   * Sends several commands in one write and returns their replies in order. Error replies stay values
   * (`Resp.ErrorReply`) so the caller sees which command failed; the effect fails only when the connection does
   * (or with `RedisAuthError` on `NOAUTH`). The batch is written whole or not at all: interrupted before it is
   * written (waiting for room under `maxInFlight`), none of it is sent; after, all of it is. Every command is
   * checked as by `send` before any is sent.
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
  reconnectMaxDelayMillis: 2_000,
  maxBulkLength: 512 * 1024 * 1024
}

/** The largest db index and other 32-bit signed values Redis parses. */
const maxInt32 = 2 ** 31 - 1

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
  if (parts.username !== undefined && parts.password === undefined) {
    // AUTH needs a password; a user alone would silently connect as the default user.
    throw new RedisConfigError({ message: `url names the user ${parts.username} but no password` })
  }
  const path = parsed.pathname.replace(/^\//, "")
  if (path !== "") {
    if (!/^\d+$/.test(path)) throw new RedisConfigError({ message: `url database must be a number, got ${path}` })
    parts.db = Number(path)
  }
  for (const [name, value] of parsed.searchParams) {
    if (name !== "db") throw new RedisConfigError({ message: `url parameter ${name} is not supported` })
    if (!/^\d+$/.test(value)) throw new RedisConfigError({ message: `url parameter db must be a number, got ${value}` })
    if (parts.db !== undefined && parts.db !== Number(value)) {
      throw new RedisConfigError({ message: `url gives two databases: /${parts.db} and ?db=${value}` })
    }
    parts.db = Number(value)
  }
  return parts
}

/** A non-negative integer limit in bytes, at most `max`. */
const byteLimit = (value: unknown, fallback: number, name: string): number => {
  if (value === undefined) return fallback
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RedisConfigError({ message: `${name} must be a positive integer, got ${String(value)}` })
  }
  return value
}

const optionalString = (value: unknown, name: string): string | undefined => {
  if (value === undefined || typeof value === "string") return value
  throw new RedisConfigError({ message: `${name} must be a string, got ${typeof value}` })
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
      const urlOption = optionalString(options.url, "url")
      const url = urlOption !== undefined ? parseUrl(urlOption) : {}
      const port = options.port ?? url.port ?? defaults.port
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new RedisConfigError({ message: `port must be an integer in 1..65535, got ${port}` })
      }
      const host = optionalString(options.host, "host") ?? url.host ?? defaults.host
      if (host === "") throw new RedisConfigError({ message: "host is empty" })
      const db = options.db ?? url.db ?? 0
      if (!Number.isInteger(db) || db < 0 || db > maxInt32) {
        throw new RedisConfigError({ message: `db must be an integer in 0..${maxInt32}, got ${db}` })
      }
      const maxInFlight = options.maxInFlight ?? defaults.maxInFlight
      if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
        throw new RedisConfigError({ message: `maxInFlight must be a positive integer, got ${maxInFlight}` })
      }
      const tlsOption = options.tls ?? url.tls ?? false
      if (typeof tlsOption !== "boolean" && (typeof tlsOption !== "object" || tlsOption === null)) {
        throw new RedisConfigError({ message: `tls must be a boolean or TLS options, got ${typeof tlsOption}` })
      }
      const clientName = optionalString(options.clientName, "clientName")
      // Redis refuses names with characters outside "!".."~" (spaces, newlines, anything non-ASCII).
      if (clientName !== undefined && !/^[\x21-\x7e]*$/.test(clientName)) {
        throw new RedisConfigError({
          message: "clientName may hold only printable ASCII without spaces (\"!\" to \"~\")"
        })
      }
      const username = optionalString(options.username, "username") ?? url.username
      const password = options.password ?? url.password
      if (password !== undefined && !Redacted.isRedacted(password)) {
        throw new RedisConfigError({ message: "password must be Redacted (Redacted.make)" })
      }
      if (username !== undefined && password === undefined) {
        throw new RedisConfigError({ message: `username ${username} is given without a password` })
      }
      const reconnectBaseDelayMillis = toMillis(
        options.reconnectBaseDelay,
        defaults.reconnectBaseDelayMillis,
        "reconnectBaseDelay"
      )
      const reconnectMaxDelayMillis = toMillis(
        options.reconnectMaxDelay,
        Math.max(defaults.reconnectMaxDelayMillis, reconnectBaseDelayMillis),
        "reconnectMaxDelay"
      )
      if (reconnectMaxDelayMillis < reconnectBaseDelayMillis) {
        throw new RedisConfigError({
          message: `reconnectMaxDelay (${reconnectMaxDelayMillis} ms) is below reconnectBaseDelay ` +
            `(${reconnectBaseDelayMillis} ms)`
        })
      }
      return {
        host,
        port,
        db,
        username,
        password,
        connectTimeoutMillis: toMillis(options.connectTimeout, defaults.timeoutMillis, "connectTimeout"),
        commandTimeoutMillis: toMillis(options.commandTimeout, defaults.timeoutMillis, "commandTimeout"),
        clientName,
        tls: tlsOption === false ? undefined : tlsOption === true ? {} : hideTlsSecrets(tlsOption),
        maxInFlight,
        reconnectBaseDelayMillis,
        reconnectMaxDelayMillis,
        maxBulkLength: byteLimit(options.maxBulkLength, defaults.maxBulkLength, "maxBulkLength"),
        maxArgumentLength: byteLimit(options.maxArgumentLength, defaults.maxBulkLength, "maxArgumentLength")
      }
    },
    catch: (error) =>
      error instanceof RedisConfigError ? error : new RedisConfigError({ message: `invalid options: ${String(error)}` })
  })

/**
 * How far a connection attempt got, so that a timeout can say which step the server did not complete: the TCP
 * connection, the TLS handshake, or the Redis handshake (AUTH, SELECT, CLIENT SETNAME).
 */
interface Progress {
  step: "tcp" | "tls" | "handshake"
}

/** Opens the socket (TCP or TLS); interruption destroys it. */
const openSocket = (options: ResolvedOptions, progress: Progress): Effect.Effect<Net.Socket, RedisConnectionError> =>
  Effect.async<Net.Socket, RedisConnectionError>((resume) => {
    const where = `${options.host}:${options.port}`
    let socket: Net.Socket
    const onError = (cause: Error) => {
      socket.destroy()
      // A plain-text answer to the TLS ClientHello (a Redis without TLS says "-ERR…") fails the handshake at once.
      const hint = progress.step === "tls"
        ? "; the TLS handshake failed: the server may not speak TLS (a rediss:// URL or tls option for a plain port?)"
        : ""
      resume(
        Effect.fail(new RedisConnectionError({ message: `cannot connect to ${where}: ${cause.message}${hint}`, cause }))
      )
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
      socket.once("connect", () => {
        progress.step = "tls"
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
  if (value instanceof Resp.ErrorReply) return Effect.fail(replyError(pending.command, value))
  return Effect.succeed(value)
}

/** A server that requires a password answers `NOAUTH` to every command of a client that gave none. */
const replyError = (command: string, reply: Resp.ErrorReply): RedisReplyError | RedisAuthError => {
  const code = reply.code
  return code === "NOAUTH"
    ? new RedisAuthError({ message: reply.message })
    : new RedisReplyError({ message: reply.message, code, command: command.toUpperCase() })
}

/**
 * Waits for every command of a batch. Interrupted while the batch still waits for room under `maxInFlight`, it
 * cancels the whole batch, which is then never written; once written, the replies are still read and dropped.
 */
const awaitAll = (pendings: ReadonlyArray<Pending>): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> => {
  const result = (): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> => {
    const values = new Array<Resp.RespValue>(pendings.length)
    for (let i = 0; i < pendings.length; i++) {
      const pending = pendings[i]!
      if (pending.error !== undefined) return Effect.fail(pending.error)
      const value = pending.value
      if (value instanceof Resp.ErrorReply && value.code === "NOAUTH") {
        return Effect.fail(replyError(pending.command, value))
      }
      values[i] = value
    }
    return Effect.succeed(values)
  }
  let left = 0
  for (const pending of pendings) if (!pending.done) left++
  if (left === 0) return result()
  return Effect.async<ReadonlyArray<Resp.RespValue>, RedisError>((resume) => {
    const onSettled = () => {
      if (--left === 0) resume(result())
    }
    let waiting = false
    for (const pending of pendings) {
      if (pending.done) continue
      pending.callback = onSettled
      if (pending.args !== undefined) waiting = true
    }
    // Without a canceller, Effect.async skips its onInterrupt wrapper: only a batch still waiting needs one.
    if (!waiting) return
    return Effect.sync(() => {
      for (const pending of pendings) {
        pending.callback = undefined
        if (pending.args !== undefined) pending.cancelled = true
      }
    })
  })
}

/**
 * An error reply in the handshake that is about the credentials: `WRONGPASS`, `NOAUTH`, and `AUTH`'s own
 * `ERR invalid password` / `ERR AUTH … without any password configured` (older servers, or a password the server
 * does not require). Anything else, such as `ERR max number of clients reached`, is not an authentication failure.
 */
const isAuthFailure = (command: string, error: RedisReplyError): boolean =>
  error.code === "WRONGPASS" || error.code === "NOAUTH" ||
  (command.toUpperCase() === "AUTH" && /password|unknown command|wrong number of arguments/i.test(error.message))

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
      // Jitter keeps many clients that lost the same server from reconnecting in lockstep; it never takes the delay
      // past reconnectMaxDelay. A monotonic clock: a wall clock stepped back would block reconnection for as long.
      nextAttemptAt = performance.now() +
        Math.min(Math.round(delayMillis * (0.8 + Math.random() * 0.4)), resolved.reconnectMaxDelayMillis)
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
            isAuthFailure(pending.command, error)
              ? Effect.fail(new RedisAuthError({ message: scrubSecrets(error.message) }))
              : Effect.fail(
                new RedisReplyError({ message: scrubSecrets(error.message), code: error.code, command: error.command })
              )
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
      Effect.suspend(() => {
        const progress: Progress = { step: "tcp" }
        return Effect.gen(function*() {
          const socket = yield* openSocket(resolved, progress)
          progress.step = "handshake"
          const conn = yield* Effect.try({
            try: () =>
              new Connection(socket, {
                where,
                commandTimeoutMillis: resolved.commandTimeoutMillis,
                maxInFlight: resolved.maxInFlight,
                parser: { maxBulkLength: resolved.maxBulkLength },
                onClose,
                onPush
              }),
            // Options are validated, so this is a defect; the socket must not outlive it.
            catch: (cause) => {
              socket.destroy()
              return cause
            }
          }).pipe(Effect.orDie)
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
                message: connectTimeoutMessage(progress.step),
                phase: "connect",
                timeoutMillis: resolved.connectTimeoutMillis
              })
          })
        )
      })

    const connectTimeoutMessage = (step: Progress["step"]): string => {
      const millis = resolved.connectTimeoutMillis
      switch (step) {
        case "tcp":
          return `no connection to ${where} within ${millis} ms`
        case "tls":
          return `the TLS handshake with ${where} did not complete within ${millis} ms: the server may not speak ` +
            "TLS (a rediss:// URL or tls option for a plain port?)"
        case "handshake":
          return `${where} accepted the connection but did not answer the handshake (AUTH, SELECT, CLIENT SETNAME) ` +
            `within ${millis} ms`
      }
    }

    const connect = openConnection((dead, error) => {
      // A connection that dies during its handshake is a failed attempt, recorded by `attempt`.
      if (connection !== dead) return
      connection = undefined
      // A server that accepts and then drops every connection must not be hammered: the backoff resets only when a
      // connection that worked (it answered something other than an error) dies.
      if (dead.successfulReplies === 0) recordFailure(error)
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
        Effect.exit,
        Effect.flatMap((exit) => {
          if (connecting === deferred) connecting = undefined
          return Deferred.done(deferred, exit)
        }),
        Effect.forkIn(scope),
        // A scope that is closing interrupts the fiber forked into it at once, possibly before it runs a single
        // step (so no onInterrupt inside it would run): whatever ends the fiber, the waiting commands are told.
        Effect.tap((fiber) =>
          Effect.sync(() =>
            fiber.addObserver(() => {
              if (connecting === deferred) connecting = undefined
              Deferred.unsafeDone(deferred, Exit.fail(closedError()))
            })
          )
        )
      )

    const ensureConnection: Effect.Effect<Connection, RedisError> = Effect.suspend(() => {
      if (closed) return Effect.fail(closedError())
      if (connection !== undefined && connection.isOpen) return Effect.succeed(connection)
      if (connecting !== undefined) return Deferred.await(connecting)
      const wait = Math.ceil(nextAttemptAt - performance.now())
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
        const invalid = checkCommand(command, resolved.maxArgumentLength)
        if (invalid !== undefined) return resume(Effect.fail(invalid))
        const conn = connection
        if (conn === undefined || !conn.isOpen) {
          return resume(Effect.flatMap(ensureConnection, (fresh) => awaitPending(fresh.submit(command))))
        }
        const pending = conn.submit(command)
        if (pending.args !== undefined) return resume(awaitPending(pending))
        awaitWritten(pending, resume)
      })

    const checkAll = (commands: ReadonlyArray<Command>): RedisInputError | undefined => {
      for (let i = 0; i < commands.length; i++) {
        const invalid = checkCommand(commands[i]!, resolved.maxArgumentLength)
        if (invalid !== undefined) return invalid
      }
      return undefined
    }

    const pipeline = (commands: ReadonlyArray<Command>): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> => {
      // Checked once, when the effect is made: every run sends the same commands.
      if (commands.length === 0) return Effect.succeed([])
      const invalid = checkAll(commands)
      if (invalid !== undefined) return Effect.fail(invalid)
      return Effect.flatMap(ensureConnection, (conn) => awaitAll(conn.submitMany(commands)))
    }

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
          return Effect.sleep(
            Math.min(Math.round(delay * (0.8 + Math.random() * 0.4)), resolved.reconnectMaxDelayMillis)
          )
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
 * A Redis URL read from the variable `name` (default `REDIS_URL`): missing or empty, it is `fallback` (default
 * `redis://localhost:6379`); not a valid `redis://` or `rediss://` URL, it is a `ConfigError` that names the
 * variable (never its value, which may hold a password).
 *
 * @example
 * ```ts
 * import { RedisClient } from "effect-remote-cache"
 *
 * const FromEnv = RedisClient.layerConfig({ url: RedisClient.urlConfig("CACHE_REDIS_URL") })
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const urlConfig = (name = "REDIS_URL", fallback = "redis://localhost:6379"): Config.Config<string> =>
  Config.string(name).pipe(
    Config.withDefault(""),
    Config.mapOrFail((url) => {
      if (url.trim() === "") return Either.right(fallback)
      try {
        parseUrl(url)
        return Either.right(url)
      } catch (error) {
        const reason = error instanceof RedisConfigError ? error.message : "not a valid URL"
        return Either.left(ConfigError.InvalidData([name], `${name} is not a usable Redis URL: ${reason}`))
      }
    })
  )

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
  config: Config.Config.Wrap<RedisClientOptions> = { url: urlConfig() }
): Layer.Layer<RedisClient, RedisConfigError | ConfigError.ConfigError> =>
  Layer.scoped(RedisClient, Effect.flatMap(Config.unwrap(config), make))
