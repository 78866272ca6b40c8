/**
 * The client's options: defaults, URL parsing, validation, and the TLS options kept so that printing the resolved
 * options never shows a private key.
 *
 * @internal
 */
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Redacted from "#effect/Redacted"
import type * as Tls from "node:tls"
import { parseRedisUrl, redactUrl } from "../../core/options/redisUrl.js"
import { RedisConfigError } from "../../RedisError.js"
import { durationMillis } from "../duration.js"
import type { RedisClientOptions, ResolvedOptions } from "./types.js"

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

/**
 * A positive duration option waited for with a timer (an infinite one is the longest a timer can wait), or
 * `fallback` when absent; throws `RedisConfigError` otherwise.
 *
 * @internal
 */
export const toMillis = (input: Duration.Input | undefined, fallback: number, name: string): number => {
  if (input === undefined) return fallback
  const checked = durationMillis(input, name, { timer: true })
  if (checked._tag === "Invalid") throw new RedisConfigError({ message: checked.message })
  return checked.millis
}

/** @internal */
export interface UrlParts {
  host?: string
  port?: number
  db?: number
  username?: string
  password?: Redacted.Redacted<string>
  tls?: boolean
}

/**
 * What is wrong with `url` (a sentence that quotes nothing of its user information), or `undefined` when it is a
 * usable `redis://` or `rediss://` URL. `urlConfig` and `nodesConfig` use it, so that a `ConfigError` quotes nothing
 * of a variable's value beyond the host, port and path.
 *
 * @internal
 */
export const urlProblem = (url: string): string | undefined => {
  const result = parseRedisUrl(url)
  return result._tag === "Invalid" ? result.problem : undefined
}

/**
 * Reads a `redis://` or `rediss://` URL; throws `RedisConfigError` on anything it cannot use, its message saying
 * which part is wrong and showing the URL with its password as `***`.
 *
 * @internal
 */
export const parseUrl = (url: string): UrlParts => {
  const result = parseRedisUrl(url)
  if (result._tag === "Invalid") {
    throw new RedisConfigError({ message: `url ${redactUrl(url)} is not a valid Redis URL: ${result.problem}` })
  }
  const { password, ...parts } = result.parts
  return password === undefined ? parts : { ...parts, password: Redacted.make(password) }
}

/** A limit in bytes: a positive integer. */
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

/**
 * The TLS options as Node needs them: the secrets hidden by `hideTlsSecrets` put back.
 *
 * @internal
 */
export const revealTls = (tls: Tls.ConnectionOptions): Tls.ConnectionOptions => {
  const copy: Record<string, unknown> = { ...tls }
  for (const field of tlsSecretFields) {
    if (tls[field] !== undefined) copy[field] = tls[field]
  }
  return copy as Tls.ConnectionOptions
}

/**
 * Applies defaults and the URL; fails with `RedisConfigError` on invalid input.
 *
 * @internal
 */
export const resolveOptions = (options: RedisClientOptions = {}): Effect.Effect<ResolvedOptions, RedisConfigError> =>
  Effect.try({
    try: (): ResolvedOptions => {
      const urlOption = optionalString(
        Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url,
        "url"
      )
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
