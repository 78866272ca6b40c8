/**
 * The client's option and subscription types, in a module of their own so that the client's internal modules
 * (`connect`, `options`, `subscriber`) can use them without importing `RedisClient`, which imports them: the
 * public module re-exports every one under its own name.
 *
 * @internal
 */
import type * as Duration from "#effect/Duration"
import type * as Redacted from "#effect/Redacted"
import type * as Tls from "node:tls"
import type { RedisError } from "../../RedisError.js"

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
   * A user name without a password, or any other query parameter, is rejected rather than ignored. It may hold
   * the password: give it as `Redacted` to keep it out of logs (`urlConfig` does); errors never quote it either way.
   */
  readonly url?: string | Redacted.Redacted<string> | undefined
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
  /**
   * When the client opens its first connection. `"lazy"` (the default): at the first command, so building the client
   * never fails for an unreachable server, a wrong password or a missing database; commands fail instead, and a cache
   * whose policy ends in `recoverToMiss` silently misses. `"eager"`: building the client (its layer, or `make`) opens
   * the connection, runs the handshake and a `PING`, all within `connectTimeout`, and fails with the typed error
   * when any of it fails (`RedisAuthError` for a wrong password, `RedisReplyError` for a db out of range,
   * `RedisConnectionError` for a refused port, an unknown host or a failed TLS handshake, `RedisTimeoutError`,
   * `RedisProtocolError` for a server that is not Redis), its message saying which server, what happened and what to
   * check. Only the first connection is checked: a server lost later is reconnected to as with `"lazy"`.
   * `RedisClient.connectConfig` reads it from the environment.
   *
   * @since 0.2.0
   */
  readonly connect?: "lazy" | "eager" | undefined
  /** Bound on opening the socket plus the handshake. Default 5 seconds. */
  readonly connectTimeout?: Duration.Input | undefined
  /**
   * Bound on one command, from the moment it is sent to the end of its reply: the time spent waiting for room
   * under `maxInFlight` counts, and so does the time to receive the complete reply (a large reply over a slow link
   * must arrive whole within it). Default 5 seconds.
   */
  readonly commandTimeout?: Duration.Input | undefined
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
  readonly reconnectBaseDelay?: Duration.Input | undefined
  /** Upper bound of the reconnection delay, jitter included; at least `reconnectBaseDelay`. Default 2 seconds. */
  readonly reconnectMaxDelay?: Duration.Input | undefined
  /**
   * Largest bulk reply accepted, in bytes (a larger one is a protocol error), and largest simple string or error
   * reply. Default 512 MiB, Redis' own `proto-max-bulk-len`.
   */
  readonly maxBulkLength?: number | undefined
  /**
   * Largest argument sent, in bytes. A command with a longer one fails with `RedisInputError` and nothing is sent:
   * Redis would answer it by closing the connection, failing every other command in flight on it. The server's own
   * `proto-max-bulk-len` lowers it further: read with `CONFIG GET` on each connection the first time a command has
   * an argument over 1 MiB, or, where `CONFIG` is refused, learnt from the server's refusal. Default 512 MiB.
   */
  readonly maxArgumentLength?: number | undefined
}

/**
 * The options of a client that connects at its first command (`connect` absent or `"lazy"`): building it fails only
 * with `RedisConfigError`.
 *
 * @since 0.2.0
 * @category models
 */
export interface LazyClientOptions extends RedisClientOptions {
  /** See {@link RedisClientOptions.connect}. */
  readonly connect?: "lazy" | undefined
}

/**
 * The options after defaults and URL parsing, as the client uses them.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedOptions {
  /** The server's host: the option, else the URL's, else `"localhost"`. */
  readonly host: string
  /** The server's port: the option, else the URL's, else `6379`. */
  readonly port: number
  /** The database selected after connecting (`0`: none selected). */
  readonly db: number
  /** The ACL user sent with the password, if any. */
  readonly username: string | undefined
  /** The password sent with `AUTH`, if any; redacted. */
  readonly password: Redacted.Redacted<string> | undefined
  /** `connectTimeout` in milliseconds (at most 2^31 - 1, the longest a timer waits). */
  readonly connectTimeoutMillis: number
  /** `commandTimeout` in milliseconds (at most 2^31 - 1). */
  readonly commandTimeoutMillis: number
  /** The name set with `CLIENT SETNAME`, if any. */
  readonly clientName: string | undefined
  /** Node's TLS options, `undefined` without TLS; private keys and passphrases are hidden when printed. */
  readonly tls: Tls.ConnectionOptions | undefined
  /** Commands written and awaiting their reply at most. */
  readonly maxInFlight: number
  /** `reconnectBaseDelay` in milliseconds. */
  readonly reconnectBaseDelayMillis: number
  /** `reconnectMaxDelay` in milliseconds (never below the base delay). */
  readonly reconnectMaxDelayMillis: number
  /** Largest bulk, simple string or error reply accepted, in bytes. */
  readonly maxBulkLength: number
  /** Largest argument sent, in bytes (before the server's own limit is learnt). */
  readonly maxArgumentLength: number
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
  /**
   * When the connection the subscription listens on is lost, or an attempt to open one fails: messages published
   * from now until the next `onSubscribed` are not received. It runs on every failed attempt while the server stays
   * unreachable. If it throws, the error is logged as for `onMessage`, and the subscription stays.
   */
  readonly onDisconnected?: ((error: RedisError) => void) | undefined
}
