/**
 * The startup check of `connect: "eager"`: building the client opens its first connection, sends `PING` and fails
 * with the typed error when either fails, its message saying which server, what happened and what to check (see
 * the core's `connectHint`). Without it (`"lazy"`, the default) the first command opens the connection, so a
 * wrong password or host leaves an application running with its cache failing on every call.
 *
 * @internal
 */
import * as Clock from "#effect/Clock"
import * as Effect from "#effect/Effect"
import * as Redacted from "#effect/Redacted"
import { type ConnectFailure, type ConnectTarget, startupMessage } from "../../core/client/connectHint.js"
import {
  RedisAuthError,
  RedisConfigError,
  RedisConnectionError,
  type RedisError,
  RedisProtocolError,
  RedisReplyError,
  RedisTimeoutError
} from "../../RedisError.js"
import type { CommandConnection } from "./connect.js"
import { open } from "./connect.js"
import { awaitPending } from "./reply.js"
import type { ResolvedOptions } from "./types.js"

/**
 * When a client opens its first connection: at its first command (`"lazy"`), or while it is built (`"eager"`).
 *
 * @internal
 */
export type ConnectMode = "lazy" | "eager"

/**
 * The `connect` option checked: absent is `"lazy"`.
 *
 * @internal
 */
export const connectModeOf = (value: unknown): Effect.Effect<ConnectMode, RedisConfigError> =>
  value === undefined || value === "lazy" || value === "eager"
    ? Effect.succeed(value ?? "lazy")
    : Effect.fail(
      new RedisConfigError({
        message: `connect must be "lazy" or "eager", got ${
          typeof value === "string" ? JSON.stringify(value) : typeof value
        }`
      })
    )

/** The socket error's code (`ECONNREFUSED`, `ENOTFOUND`…) or the reply's first word, looked for through causes. */
const codeOf = (error: unknown, depth = 0): string | undefined => {
  if (typeof error !== "object" || error === null || depth > 3) return undefined
  const code = (error as { readonly code?: unknown }).code
  if (typeof code === "string" && code !== "") return code
  return codeOf((error as { readonly cause?: unknown }).cause, depth + 1)
}

const failureOf = (error: RedisError): ConnectFailure => ({
  tag: error._tag,
  message: error.message,
  code: codeOf(error),
  command: "command" in error && typeof error.command === "string" ? error.command : undefined
})

const targetOf = (options: ResolvedOptions, databases?: number): ConnectTarget => ({
  host: options.host,
  port: options.port,
  db: options.db,
  tls: options.tls !== undefined,
  hasPassword: options.password !== undefined,
  hasUsername: options.username !== undefined,
  connectTimeoutMillis: options.connectTimeoutMillis,
  databases
})

/** `message` with every copy of the password cut out: the hints never quote it, the server's text might. */
const scrub = (options: ResolvedOptions, message: string): string => {
  const password = options.password === undefined ? "" : Redacted.value(options.password)
  return password.length > 0 ? message.split(password).join("***") : message
}

/** The same error, with `message` in place of its own. */
const withMessage = (error: RedisError, message: string): RedisError => {
  switch (error._tag) {
    case "RedisConnectionError":
      return new RedisConnectionError({ message, cause: error.cause })
    case "RedisTimeoutError":
      return new RedisTimeoutError({
        message,
        phase: error.phase,
        timeoutMillis: error.timeoutMillis,
        ...(error.command !== undefined ? { command: error.command } : {})
      })
    case "RedisReplyError":
      return new RedisReplyError({ message, code: error.code, command: error.command })
    case "RedisAuthError":
      return new RedisAuthError({ message })
    case "RedisProtocolError":
      return new RedisProtocolError({ message, cause: error.cause })
    case "RedisInputError":
      return error
  }
}

/**
 * The failure of a startup check, its message rewritten to say which server, what happened and what to check.
 *
 * @internal
 */
export const explain = (options: ResolvedOptions, error: RedisError, databases?: number): RedisError =>
  withMessage(error, scrub(options, startupMessage(failureOf(error), targetOf(options, databases))))

const isDbOutOfRange = (error: RedisError): boolean =>
  error._tag === "RedisReplyError" && error.command.toUpperCase() === "SELECT" && /out of range/i.test(error.message)

/**
 * The server's `databases` setting, read on a connection of its own to database 0 (`CONFIG GET databases`):
 * `undefined` when it cannot be read (CONFIG renamed or refused, no answer within `timeoutMillis`).
 */
const readDatabases = (options: ResolvedOptions, timeoutMillis: number): Effect.Effect<number | undefined> =>
  Effect.acquireUseRelease(
    open({ ...options, db: 0, clientName: undefined }, () => {}),
    (conn) =>
      Effect.map(awaitPending(conn.submit(["CONFIG", "GET", "databases"])), (reply) => {
        const value = Array.isArray(reply) ? reply[1] : undefined
        const text = value instanceof Uint8Array ? new TextDecoder().decode(value) : value
        const count = typeof text === "string" ? Number(text) : NaN
        return Number.isInteger(count) && count > 0 ? count : undefined
      }),
    (conn) => Effect.sync(() => conn.destroy(new RedisConnectionError({ message: "startup probe done" })))
  ).pipe(
    Effect.timeoutOrElse({ duration: Math.max(1, timeoutMillis), orElse: () => Effect.succeed(undefined) }),
    Effect.catch(() => Effect.succeed(undefined))
  )

/**
 * The single-node client's check: its command connection opened (the handshake: AUTH, SELECT, CLIENT SETNAME),
 * then `PING` answered, all within `connectTimeout`. The connection stays open for the commands that follow.
 *
 * @internal
 */
export const checkClient = (
  options: ResolvedOptions,
  commands: CommandConnection
): Effect.Effect<void, RedisError> =>
  Effect.flatMap(Clock.currentTimeMillis, (started) => {
    const left = Effect.map(
      Clock.currentTimeMillis,
      (now) => Math.max(1, options.connectTimeoutMillis - Number(now - started))
    )
    return Effect.gen(function*() {
      const conn = yield* commands.ensure
      yield* awaitPending(conn.submit(["PING"])).pipe(
        Effect.timeoutOrElse({
          duration: yield* left,
          orElse: () =>
            Effect.fail(
              new RedisTimeoutError({
                message: `${options.host}:${options.port} accepted the connection but did not answer PING within ` +
                  `${options.connectTimeoutMillis} ms`,
                phase: "connect",
                timeoutMillis: options.connectTimeoutMillis
              })
            )
        })
      )
    }).pipe(
      Effect.catch((error: RedisError) =>
        isDbOutOfRange(error)
          // What is left of connectTimeout, so that the whole check stays within it.
          ? Effect.flatMap(
            Effect.flatMap(left, (millis) => readDatabases(options, millis)),
            (databases) => Effect.fail(explain(options, error, databases))
          )
          : Effect.fail(explain(options, error))
      )
    )
  })

/**
 * The cluster client's check: the slot map read from a seed (`CLUSTER SHARDS`, which also proves the node is a
 * cluster node that accepts the credentials). When every seed failed the same way (all refused the password, say),
 * it fails with that error; otherwise with the connection error that lists each seed's failure.
 *
 * @internal
 */
export const checkCluster = (
  options: ResolvedOptions,
  ready: Effect.Effect<void, RedisError>
): Effect.Effect<void, RedisError> =>
  Effect.catch(ready, (error: RedisError) => {
    const causes = Array.isArray(error.cause)
      ? (error.cause as ReadonlyArray<RedisError>).filter((cause) => typeof cause?._tag === "string")
      : []
    const first = causes[0]
    if (first !== undefined && causes.every((cause) => cause._tag === first._tag)) {
      // Every seed failed alike: that error, as the first seed's, and the list of seeds as what happened.
      const hinted = explain(options, withMessage(first, error.message))
      return Effect.fail(hinted)
    }
    return Effect.fail(explain(options, error))
  })
