/**
 * The remote (L2) cache service: `get` / `set` with TTL / `delete` / `clear`, plus `getMany` / `setMany` /
 * `deleteMany` so a caller that handles many keys pays a few round trips, not one per key, and `setIfAbsent`, a
 * write that never replaces a value.
 *
 * Implementations: `RedisBackend` (over the library's own RESP client) and `MemoryBackend` (in-process, same
 * contract, for demos and tests). Applications usually see it through `RemoteCache`, which adds a failure
 * policy.
 *
 * @since 0.1.0
 */
import * as Context from "#effect/Context"
import type * as Duration from "#effect/Duration"
import type * as Effect from "#effect/Effect"
import type * as Option from "#effect/Option"
import * as Predicate from "#effect/Predicate"
import { TypeIdError } from "./internal/errorBase.js"

/**
 * Every operation of a backend, in the order of {@link CacheOps}: the values of {@link Operation}.
 *
 * @since 0.1.0
 * @category models
 */
export const operations = [
  "get",
  "getWithTtl",
  "getMany",
  "set",
  "setMany",
  "setIfAbsent",
  "delete",
  "deleteMany",
  "clear"
] as const

/**
 * The operation a cache error happened in.
 *
 * @since 0.1.0
 * @category models
 */
export type Operation = typeof operations[number]

/**
 * A stored value with the time it has left: `None` when it never expires. What a two-tier cache needs so that an
 * entry copied into the in-process tier never outlives the remote one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly value: unknown
  readonly remainingTtl: Option.Option<Duration.Duration>
}

/**
 * Marks every cache error: the backend's `CacheError`s and `CacheCircuitOpenError`, which a circuit breaker adds.
 *
 * @since 0.2.0
 * @category type ids
 */
export const CacheErrorTypeId: unique symbol = Symbol.for("effect-remote-cache/CacheError")

/**
 * @since 0.2.0
 * @category type ids
 */
export type CacheErrorTypeId = typeof CacheErrorTypeId

/** The base of this module's error classes: a tagged error marked with {@link CacheErrorTypeId}. */
const CacheErrorBase = <const Tag extends string>(tag: Tag) => TypeIdError(CacheErrorTypeId, tag)

/**
 * Fields shared by every cache error: the operation, the key (for `getMany` / `setMany` the key that failed, or
 * the first key when the whole batch fails; for `deleteMany` the first key of the command that failed; none for
 * `clear`), a message that never contains a value or a secret, and the underlying cause.
 *
 * @since 0.1.0
 * @category errors
 */
export interface CacheErrorFields {
  /** The operation that failed. */
  readonly operation: Operation
  /** The key that failed, or the first key of a batch (or of a `deleteMany` command) that failed; none for `clear`. */
  readonly key?: string | undefined
  /** What happened, without a value or a secret. */
  readonly message: string
  /** The underlying error (for `RedisBackend`, the client's `RedisError`). */
  readonly cause?: unknown
  /**
   * For a `getMany` that failed on some of its keys only (a backend over several servers, one of them down): what
   * the batch read, in the keys' order, a `None` for every key that failed. `Policy.recoverToMiss` answers it,
   * so that only the failed keys become misses. Not enumerable (see {@link withPartial}): a log or a JSON of the
   * error never shows the values.
   */
  readonly partial?: ReadonlyArray<Option.Option<unknown>> | undefined
}

/**
 * `error` carrying `partial`, the result of a `getMany` that failed on some of its keys only (see
 * {@link CacheErrorFields.partial}), as a property that is not enumerable, so that the values never appear where
 * the error is logged or serialized.
 *
 * @since 0.2.0
 * @category errors
 */
export const withPartial = <E extends CacheError>(error: E, partial: ReadonlyArray<Option.Option<unknown>>): E =>
  Object.defineProperty(error, "partial", { value: partial, enumerable: false, configurable: true })

/**
 * The server could not be reached, refused the connection, closed it, or the connection was dropped while the
 * command waited (including after another command on it timed out).
 *
 * @since 0.1.0
 * @category errors
 */
export class CacheConnectionError extends CacheErrorBase("CacheConnectionError")<CacheErrorFields> {
  /**
   * Always `true`: the next attempt opens a new connection, which may well get through.
   *
   * @since 0.2.0
   */
  get isRetryable(): boolean {
    return true
  }
}

/**
 * No reply (or no connection) within the configured timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class CacheTimeoutError extends CacheErrorBase("CacheTimeoutError")<CacheErrorFields> {
  /**
   * Always `true`: a slow moment of the server or the network says nothing about the request itself.
   *
   * @since 0.2.0
   */
  get isRetryable(): boolean {
    return true
  }
}

/**
 * Error codes of replies that describe a passing state of the server (loading its data set, busy running a
 * script, a cluster resharding or down, a replica that lost its primary), not the request: the same command may
 * succeed a moment later.
 *
 * @since 0.2.0
 * @category constants
 */
export const retryableReplyCodes: ReadonlySet<string> = new Set([
  "LOADING",
  "BUSY",
  "TRYAGAIN",
  "CLUSTERDOWN",
  "MASTERDOWN"
])

/**
 * The server answered with an error reply (`-ERR`, `-NOAUTH`, `-WRONGTYPE`, `-OOM`, `-READONLY`, `-LOADING`…);
 * `message` carries the server's text. Authentication failures land here too.
 *
 * @since 0.1.0
 * @category errors
 */
export class CacheReplyError extends CacheErrorBase("CacheReplyError")<CacheErrorFields> {
  /**
   * The error code: the first word of the server's text (`"ERR"`, `"WRONGTYPE"`, `"LOADING"`…).
   *
   * @since 0.2.0
   */
  get code(): string {
    const space = this.message.indexOf(" ")
    return space === -1 ? this.message : this.message.slice(0, space)
  }

  /**
   * `true` when the code is one of {@link retryableReplyCodes} (`LOADING`, `BUSY`, `TRYAGAIN`, `CLUSTERDOWN`,
   * `MASTERDOWN`): the server is in a passing state. Every other reply says something about the request or the
   * setup that another attempt on the same server would meet again: a rejected password or a missing one
   * (`WRONGPASS`, `NOAUTH`), a wrong type or a bad command (`WRONGTYPE`, `ERR`), a full memory (`OOM`), a write to
   * a replica (`READONLY`).
   *
   * @since 0.2.0
   */
  get isRetryable(): boolean {
    return retryableReplyCodes.has(this.code)
  }
}

/**
 * The bytes on the wire were not valid RESP, or not the reply the command expects. The connection that saw it
 * has been closed and is never reused.
 *
 * @since 0.1.0
 * @category errors
 */
export class CacheProtocolError extends CacheErrorBase("CacheProtocolError")<CacheErrorFields> {
  /**
   * Always `false`: a reply the command does not expect comes back the same way on the next attempt, and a server
   * (or something posing as one) that speaks malformed RESP is not to be hammered. The next operation gets a new
   * connection all the same.
   *
   * @since 0.2.0
   */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A value could not be serialized (`set`: the server was not touched) or stored bytes could not be decoded
 * (`get`: written by another program, or by an older schema).
 *
 * @since 0.1.0
 * @category errors
 */
export class CacheSerializationError extends CacheErrorBase("CacheSerializationError")<CacheErrorFields> {
  /**
   * Always `false`: the same value, or the same stored bytes, fail the same way.
   *
   * @since 0.2.0
   */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The caller's input is invalid (for example a TTL that is `NaN`, or a value longer than the server accepts);
 * nothing was sent to the server, or the server refused it.
 *
 * @since 0.1.0
 * @category errors
 */
export class CacheInputError extends CacheErrorBase("CacheInputError")<CacheErrorFields> {
  /**
   * Always `false`: the same input is refused the same way.
   *
   * @since 0.2.0
   */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The circuit breaker is open: the operation was not attempted. `message` says how many consecutive failures
 * opened it; the breaker lets one probe through once `resetAfter` has passed. Made by `Policy.circuitBreaker`,
 * never by a backend, so it is not part of {@link CacheError}.
 *
 * @since 0.1.0
 * @category errors
 */
export class CacheCircuitOpenError extends CacheErrorBase("CacheCircuitOpenError")<CacheErrorFields> {
  /**
   * Always `false`: retrying at once would only meet the open circuit again, or defeat it.
   *
   * @since 0.2.0
   */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Every way a backend operation can fail; discriminate with `Effect.catchTag`.
 *
 * @since 0.1.0
 * @category errors
 */
export type CacheError =
  | CacheConnectionError
  | CacheTimeoutError
  | CacheReplyError
  | CacheProtocolError
  | CacheSerializationError
  | CacheInputError

/**
 * `true` for every cache error (the backend's and `CacheCircuitOpenError`), recognised by {@link CacheErrorTypeId}
 * rather than by the shape of its tag.
 *
 * @since 0.2.0
 * @category guards
 */
export const isCacheError = (u: unknown): u is CacheError | CacheCircuitOpenError =>
  Predicate.hasProperty(u, CacheErrorTypeId)

/**
 * The service shape.
 *
 * Keys are any string (the empty key included), stored as `prefix + key` in UTF-8; two keys holding lone
 * surrogates that UTF-8 maps to the same replacement character are the same key on Redis.
 *
 * TTL semantics, the same for every backend: no TTL or an infinite one means no expiry; a TTL that truncates to
 * 0 ms or less (negative included) stores nothing and removes any earlier value under the key (the value is then
 * not serialized at all), except in `setIfAbsent`, which then removes nothing and answers `false`; a `NaN` TTL fails
 * with `CacheInputError`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RemoteCacheBackendShape extends CacheOps<CacheError> {}

/**
 * The operations of a cache whose failures are `E`: the backend's shape (where `E` is `CacheError`) generalised,
 * so a policy's type can say what it does to the error channel, and `RemoteCache` can offer the same operations
 * with `E = never`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CacheOps<out E> {
  /** The prefix of every full key of this backend (for diagnostics and telemetry; keys are passed without it). */
  readonly prefix: string
  /** The value stored under `key`, or `None` when there is none (or it expired). */
  readonly get: (key: string) => Effect.Effect<Option.Option<unknown>, E>
  /** The value stored under `key` with the TTL it has left; one round trip. */
  readonly getWithTtl: (key: string) => Effect.Effect<Option.Option<Entry>, E>
  /** The values of `keys`, in order, `None` for each miss; one round trip. */
  readonly getMany: (keys: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Option.Option<unknown>>, E>
  /** Stores `value` under `key`, with an optional TTL (see the TTL semantics above). */
  readonly set: (key: string, value: unknown, ttl?: Duration.Input) => Effect.Effect<void, E>
  /** Stores every entry with the same optional TTL; one pipelined write. Nothing is sent when one fails to serialize. */
  readonly setMany: (
    entries: Iterable<readonly [key: string, value: unknown]>,
    ttl?: Duration.Input
  ) => Effect.Effect<void, E>
  /**
   * Stores `value` under `key` only when the key holds nothing (no value, or an expired one), and answers `true`
   * when it stored, `false` when the key already held something, which is left exactly as it was (its value and its
   * TTL). The check and the write are one atomic step: of several concurrent calls on a missing key exactly one
   * answers `true`, and a value written by anyone in between is never overwritten. On Redis it is one
   * `SET key value NX [PX ms]`; a key holding another type than a string (a list written by another program) holds
   * something, so it is left in place and the answer is `false`.
   *
   * TTL as for `set` (no TTL, an infinite one or one past `Number.MAX_SAFE_INTEGER` ms: no expiry; `NaN`:
   * `CacheInputError`), except that a TTL that truncates to 0 ms or less stores nothing, removes nothing and
   * answers `false` (the value is not serialized). A value that cannot be serialized fails with
   * `CacheSerializationError` and nothing is stored, whether or not the key held something.
   *
   * A failure whose outcome is unknown (the connection lost or the reply timed out after the command was written)
   * may have stored the value: a retried `setIfAbsent` may then answer `false` for a value its first attempt
   * stored.
   */
  readonly setIfAbsent: (key: string, value: unknown, ttl?: Duration.Input) => Effect.Effect<boolean, E>
  /** Removes `key`; removing a missing key succeeds. */
  readonly delete: (key: string) => Effect.Effect<void, E>
  /**
   * Removes every key of `keys`; missing keys and duplicates are fine, and an empty list sends nothing. It pays
   * a few commands, not one per key: on Redis `UNLINK`s of at most the backend's batch size (`maxBatchSize`) each,
   * a few at a time, so that even a very long list neither floods the connection nor waits out its command timeout
   * behind its own commands. On a cluster the keys are grouped by slot, each slot's keys in one `UNLINK` (or a few,
   * when one slot holds more than a batch), the nodes answering in parallel.
   *
   * Every command is attempted, whatever another's outcome: when one fails (a key the server refuses, a key over
   * `maxArgumentLength`, which goes in a command of its own, one cluster node down), the keys of the others are
   * removed all the same and the operation then fails with the first failure, naming the first key of its command.
   * A command whose outcome is unknown is sent once more on a cluster, as `delete`'s is. On one server a lost
   * connection fails the commands in flight, and those sent while the client waits to reconnect fail fast, as any
   * command then does. Removing a key twice is harmless, so a failed `deleteMany` may simply be run again.
   */
  readonly deleteMany: (keys: ReadonlyArray<string>) => Effect.Effect<void, E>
  /**
   * Removes every key of this backend (every full key starting with its prefix) and nothing else. A backend whose
   * prefix extends this one's (`"a:"` and `"a:b:"`) lives inside its namespace and is cleared with it.
   */
  readonly clear: Effect.Effect<void, E>
  /**
   * Why the backend cannot be used right now, as far as it knows (a Redis backend: its client's `diagnosis`, such
   * as `cannot connect to host:port: connect ECONNREFUSED…` or a failed authentication), `undefined` when it knows
   * of nothing wrong. Never a secret. `RemoteCache.logOutages` puts it in its Warning. Optional: policies pass it
   * on, and a backend made by hand may leave it out.
   *
   * @since 0.2.0
   */
  readonly diagnosis?: (() => string | undefined) | undefined
}

/**
 * The remote cache backend service.
 *
 * @since 0.1.0
 * @category tags
 */
export class RemoteCacheBackend extends Context.Service<RemoteCacheBackend, RemoteCacheBackendShape>()(
  "effect-remote-cache/RemoteCacheBackend"
) {}
