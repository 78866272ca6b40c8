/**
 * The memcached client's options: defaults, the `host:port` list, validation.
 *
 * @internal
 */
import type * as Duration from "#effect/Duration"
import { MemcachedConfigError } from "../../MemcachedError.js"
import { durationMillis } from "../duration.js"

/**
 * What `MemcachedClient.make` takes.
 *
 * @since 0.2.0
 * @category models
 */
export interface MemcachedClientOptions {
  /**
   * The servers, as `host:port` (an IPv6 host in brackets: `[::1]:11211`; the port defaults to 11211), in an array
   * or one comma-separated string. Keys are spread over them by a ketama-compatible ring, so other ketama clients
   * of the same list agree on where a key lives. Default `["localhost:11211"]`.
   */
  readonly servers?: ReadonlyArray<string> | string | undefined
  /** How long a command waits for its reply before its connection is closed. Default 5 seconds. */
  readonly commandTimeout?: Duration.Input | undefined
  /** How long opening a connection may take. Default: `commandTimeout`. */
  readonly connectTimeout?: Duration.Input | undefined
  /**
   * The most requests written to one server and not yet answered (a `getMany` counts each key and its `mn`); past
   * it, commands wait unwritten, in arrival order, against their own timeout. Default 10,000.
   */
  readonly maxInFlight?: number | undefined
  /** The first reconnection delay after a failed attempt, doubled on each failure. Default 100 ms. */
  readonly reconnectBaseDelay?: Duration.Input | undefined
  /** The longest reconnection delay. Default 2 seconds. */
  readonly reconnectMaxDelay?: Duration.Input | undefined
  /**
   * The largest value the client sends or accepts, in bytes: a larger one fails with `MemcachedInputError` before
   * anything is sent. Default 1 GiB (memcached's largest item size; its own `-I`, 1 MiB by default, is enforced by
   * the server, which answers `SERVER_ERROR object too large for cache`).
   */
  readonly maxValueLength?: number | undefined
}

/**
 * One server of the list.
 *
 * @since 0.2.0
 * @category models
 */
export interface ServerAddress {
  readonly host: string
  readonly port: number
  /** `host:port` as given (the ring hashes this text). */
  readonly where: string
}

/**
 * The options in use.
 *
 * @since 0.2.0
 * @category models
 */
export interface ResolvedMemcachedOptions {
  readonly servers: ReadonlyArray<ServerAddress>
  readonly commandTimeoutMillis: number
  readonly connectTimeoutMillis: number
  readonly maxInFlight: number
  readonly reconnectBaseDelayMillis: number
  readonly reconnectMaxDelayMillis: number
  readonly maxValueLength: number
}

/**
 * One `host:port`, or why it is not one.
 *
 * @internal
 */
export const parseServer = (text: string): ServerAddress | string => {
  const trimmed = text.trim()
  if (trimmed === "") return "a server is empty"
  let host: string
  let portText: string | undefined
  if (trimmed.startsWith("[")) {
    const close = trimmed.indexOf("]")
    if (close === -1) return `${JSON.stringify(trimmed)} has an unclosed "["`
    host = trimmed.slice(1, close)
    const rest = trimmed.slice(close + 1)
    if (rest !== "" && !rest.startsWith(":")) return `${JSON.stringify(trimmed)} is not host:port`
    portText = rest === "" ? undefined : rest.slice(1)
  } else {
    const colon = trimmed.lastIndexOf(":")
    if (colon !== -1 && trimmed.indexOf(":") !== colon) {
      return `${JSON.stringify(trimmed)}: an IPv6 address goes in brackets ([::1]:11211)`
    }
    host = colon === -1 ? trimmed : trimmed.slice(0, colon)
    portText = colon === -1 ? undefined : trimmed.slice(colon + 1)
  }
  if (host === "" || /[\s/@]/.test(host)) return `${JSON.stringify(trimmed)} has no usable host`
  const port = portText === undefined ? 11211 : Number(portText)
  if (!/^[0-9]{1,5}$/.test(portText ?? "11211") || !Number.isInteger(port) || port < 1 || port > 65535) {
    return `${JSON.stringify(trimmed)} has no port between 1 and 65535`
  }
  return { host, port, where: trimmed }
}

/**
 * The server list of `servers`, or why it is not one.
 *
 * @internal
 */
export const parseServers = (servers: ReadonlyArray<string> | string): ReadonlyArray<ServerAddress> | string => {
  const list = typeof servers === "string" ? servers.split(",") : servers
  if (list.length === 0 || (typeof servers === "string" && servers.trim() === "")) return "no server is given"
  const out: Array<ServerAddress> = []
  const seen = new Set<string>()
  for (const item of list) {
    if (typeof item !== "string") return "a server is not a string"
    const parsed = parseServer(item)
    if (typeof parsed === "string") return parsed
    if (seen.has(parsed.where)) return `${JSON.stringify(parsed.where)} is listed twice`
    seen.add(parsed.where)
    out.push(parsed)
  }
  return out
}

const millis = (input: Duration.Input | undefined, fallback: number, name: string): number => {
  if (input === undefined) return fallback
  const checked = durationMillis(input, name, { timer: true })
  if (checked._tag === "Invalid") throw new MemcachedConfigError({ message: checked.message })
  if (checked.millis === 0) throw new MemcachedConfigError({ message: `${name} must be positive` })
  return checked.millis
}

const count = (input: number | undefined, fallback: number, name: string): number => {
  if (input === undefined) return fallback
  if (!Number.isSafeInteger(input) || input < 1) {
    throw new MemcachedConfigError({ message: `${name} must be a positive integer (got ${String(input)})` })
  }
  return input
}

/**
 * The options with their defaults, or throws `MemcachedConfigError`.
 *
 * @internal
 */
export const resolveOptions = (options: MemcachedClientOptions): ResolvedMemcachedOptions => {
  const servers = parseServers(options.servers ?? ["localhost:11211"])
  if (typeof servers === "string") throw new MemcachedConfigError({ message: `servers: ${servers}` })
  const commandTimeoutMillis = millis(options.commandTimeout, 5_000, "commandTimeout")
  const reconnectBaseDelayMillis = millis(options.reconnectBaseDelay, 100, "reconnectBaseDelay")
  const reconnectMaxDelayMillis = millis(options.reconnectMaxDelay, 2_000, "reconnectMaxDelay")
  if (reconnectMaxDelayMillis < reconnectBaseDelayMillis) {
    throw new MemcachedConfigError({ message: "reconnectMaxDelay must not be below reconnectBaseDelay" })
  }
  return {
    servers,
    commandTimeoutMillis,
    connectTimeoutMillis: millis(options.connectTimeout, commandTimeoutMillis, "connectTimeout"),
    maxInFlight: count(options.maxInFlight, 10_000, "maxInFlight"),
    reconnectBaseDelayMillis,
    reconnectMaxDelayMillis,
    maxValueLength: count(options.maxValueLength, 1024 * 1024 * 1024, "maxValueLength")
  }
}
