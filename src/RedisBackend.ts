/**
 * `RemoteCacheBackend` over Redis, through the library's own `RedisClient`.
 *
 * Wire format: a value is stored as a Redis string under the key `prefix + key` (UTF-8), holding exactly the
 * serializer's bytes (no extra header); with the default `v8` serializer those are `v8.serialize` output. A TTL
 * is the key's own expiry (`SET key value PX ms`), so `PTTL` shows it.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import { askAloneAfter, fitsInBatch, TickBatcher } from "./core/client/batch.js"
import { PartFailure } from "./core/cluster/partFailure.js"
import { keySlot } from "./core/cluster/slot.js"
import * as Backend from "./internal/backend/backend.js"
import * as Codec from "./internal/backend/codec.js"
import { resolveTtl } from "./internal/backend/ttl.js"
import { clientSeamOf } from "./internal/seams.js"
import * as RedisClient from "./RedisClient.js"
import * as RedisCluster from "./RedisCluster.js"
import { RedisAuthError, type RedisConfigError, type RedisError, RedisReplyError } from "./RedisError.js"
import {
  CacheConnectionError,
  type CacheError,
  CacheInputError,
  CacheProtocolError,
  CacheReplyError,
  CacheTimeoutError,
  type Entry,
  type Operation,
  RemoteCacheBackend,
  type RemoteCacheBackendShape
} from "./RemoteCacheBackend.js"
import * as Resp from "./Resp.js"
import type * as Serializer from "./Serializer.js"

/**
 * The key prefix used when none is given, the same for every backend.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPrefix: string = Backend.defaultPrefix

/**
 * Options of a backend over an existing `RedisClient` (the name `MemoryBackend` uses for the same role).
 *
 * @since 0.2.0
 * @category models
 */
export interface MakeOptions {
  /** Prepended to every key; `clear` removes exactly the keys under it. Default `"ac:"`. */
  readonly prefix?: string | undefined
  /** Default: the `Serializer` service when one is provided, else `Serializer.v8`. */
  readonly serializer?: Serializer.SerializerShape | undefined
  /** Keys fetched per `SCAN` step of `clear` (a hint to the server). Default 1,000. */
  readonly scanCount?: number | undefined
  /**
   * Batches the reads of this backend issued in the same tick (the fibers of an `Effect.forEach(ids, get,
   * { concurrency })`, say) into one round trip. The first 64 reads of a tick are sent at once, each as its own
   * `GET`, exactly as without batching: a lone read waits for nothing, and a few dozen concurrent ones pay nothing
   * for a batch that would not repay its cost. The `get`s issued after them in the same tick leave together as one
   * `MGET` of their full keys when the tick ends (in the same socket write as the first ones), and the `GET` + `PTTL`
   * pairs of `getWithTtl`s as one pipelined write. Each caller still gets exactly what a lone read would: its own
   * value, decoded on its own (a value that cannot be decoded, or whose serializer throws, fails only its own
   * caller), and on a failure of the whole batch the same typed error, naming its own key. A key whose full key is
   * over `maxArgumentLength` is read alone (and fails alone). A batch refused by an error reply (`NOPERM` for a key
   * outside the ACL user's key pattern, say) is asked again key by key, in its callers' fibers. On a cluster, a
   * node's failure neither fails nor holds up the reads of other nodes' keys: a batch does not wait out a failed
   * node's share, whose readers ask again alone (riding out a failover for up to `failoverWait`, as lone reads
   * do). Interrupting a caller stops its wait at once and affects no other read of its batch. A key holding another
   * type than a string reads as a miss either way. `getMany` is not affected. `false` sends every read as its own
   * command. Default `true`.
   */
  readonly batchReads?: boolean | undefined
  /**
   * Most keys in one batched read (`MGET`, or `getWithTtl` pairs), with `batchReads`, and in one `UNLINK` of
   * `deleteMany`: a larger batch is split, so that no reply grows without bound and no single command keeps the
   * server busy for long. Values below 1 are taken as 1. Default 1,000.
   */
  readonly maxBatchSize?: number | undefined
}

/**
 * Every `RedisClient` option plus the backend's own.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisBackendOptions extends RedisClient.RedisClientOptions, MakeOptions {}

// Escapes Redis glob characters (`* ? [ ] \`), so a prefix matches only itself in `SCAN … MATCH`.
const escapeGlob = (literal: string): string => literal.replace(/[*?[\]\\]/g, "\\$&")

const toCacheError = (operation: Operation, key: string | undefined) => (error: RedisError): CacheError => {
  const fields = { operation, key, message: error.message, cause: error }
  switch (error._tag) {
    case "RedisConnectionError":
      return new CacheConnectionError(fields)
    case "RedisTimeoutError":
      return new CacheTimeoutError(fields)
    case "RedisReplyError":
    case "RedisAuthError":
      return new CacheReplyError(fields)
    case "RedisProtocolError":
      return new CacheProtocolError(fields)
    case "RedisInputError":
      // Nothing was sent (a value over maxArgumentLength): retrying cannot help, and the connection is untouched.
      return new CacheInputError(fields)
  }
}

/**
 * A read of a key that holds another type than a string (a list, a hash… written by another program) is a miss,
 * whether the read was a lone `GET` (which Redis answers with `WRONGTYPE`) or part of an `MGET` (which answers nil
 * for it): a cache reads "no value of mine here", and the next `set` replaces the key whatever it held.
 */
const isWrongType = (cause: Cause.Cause<RedisError>): boolean => {
  const failure = Cause.failureOption(cause)
  return failure._tag === "Some" && failure.value._tag === "RedisReplyError" && failure.value.code === "WRONGTYPE"
}

/** A failure of a command that was written before its connection was lost or its reply timed out: it may have run. */
const isOutcomeUnknown = (error: CacheError): boolean => {
  const cause = (error as { readonly cause?: unknown }).cause
  return typeof cause === "object" && cause !== null && (cause as { outcomeUnknown?: unknown }).outcomeUnknown === true
}

/** `effect` when it is a finished `Exit` (as `Effect.succeed` and `Effect.fail` are), else `undefined`. */
const exitOf = <A, E>(effect: Effect.Effect<A, E>): Exit.Exit<A, E> | undefined =>
  Exit.isExit(effect) ? effect as Exit.Exit<A, E> : undefined

/** A read waiting in a batch: its key, and how to resume its caller. */
interface ReadSlot<A> {
  readonly key: string
  readonly resume: (effect: Effect.Effect<A, CacheError>) => void
}

const unexpected = (operation: Operation, key: string | undefined, reply: Resp.RespValue) =>
  new CacheProtocolError({
    operation,
    key,
    message: `unexpected reply of type ${reply === null ? "null" : typeof reply} to ${operation}`
  })

/**
 * An error reply inside a pipeline, as `send` would have reported it: the cause carries the reply's code, and a
 * `NOAUTH` (a password is required and none was configured) is a `RedisAuthError`, as for a single command.
 */
const replyErrorOf = (operation: Operation, key: string | undefined, reply: Resp.RespValue, command: string) =>
  reply instanceof Resp.ErrorReply
    ? new CacheReplyError({
      operation,
      key,
      message: reply.message,
      cause: reply.code === "NOAUTH"
        ? new RedisAuthError({ message: reply.message })
        : new RedisReplyError({ message: reply.message, code: reply.code, command })
    })
    : undefined

/**
 * Makes a backend over the `RedisClient` in context. Several backends with different prefixes may share one
 * client (one connection).
 *
 * Semantics (the shared contract): an empty key is allowed (its full key is the prefix); no TTL, an infinite
 * one or one longer than `Number.MAX_SAFE_INTEGER` ms (Redis cannot store every such expiry) means no expiry; a
 * TTL that truncates to 0 ms or less deletes the key instead of writing; `NaN` fails with `CacheInputError`;
 * `delete` uses `UNLINK` (falling back to `DEL` on servers without it), and so does `deleteMany`, in commands of at
 * most `maxBatchSize` keys, at most 8 in flight at once (on a cluster each slot's keys in one command where they fit);
 * `setIfAbsent` is one `SET key value NX [PX ms]`; `clear` walks the prefix with
 * `SCAN … MATCH <escaped prefix>*` and `UNLINK`s each batch, never `KEYS` or `FLUSHDB`. A key that holds another
 * type than a string (a list, a hash… written by another program) reads as a miss in `get`, `getWithTtl` and
 * `getMany`, batched or not, and the next `set` replaces it. Concurrent reads are batched unless `batchReads` is
 * `false` (see {@link MakeOptions}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: MakeOptions = {}
): Effect.Effect<RemoteCacheBackendShape, never, RedisClient.RedisClient> =>
  Effect.gen(function*() {
    const client = yield* RedisClient.RedisClient
    const prefix = options.prefix ?? defaultPrefix
    const codec = Codec.make(yield* Backend.resolveSerializer(options.serializer))
    const batchReads = options.batchReads ?? true
    const maxBatchSize = Backend.batchSizeOf(options.maxBatchSize)
    const scanCount = String(options.scanCount ?? 1_000)
    const match = escapeGlob(prefix) + "*"
    // Servers before 4.0 lack UNLINK; learnt on the first "unknown command" reply.
    let deleteCommand = "UNLINK"
    const seam = clientSeamOf(client)
    // The client's callback-level `send`, absent on a cluster client.
    const submit = seam.submit
    // A batch's MGET on a cluster: each node's share answers its own keys, whatever another node's share does.
    const sendBatch = seam.sendSettled ?? client.send
    // Whether one command may be split over several nodes (a cluster client), each with its own fate.
    const spansNodes = client.primaries !== undefined
    const maxArgumentLength = client.options.maxArgumentLength

    const send = (operation: Operation, key: string | undefined, command: RedisClient.Command) =>
      Effect.mapError(client.send(command), toCacheError(operation, key))

    const pipeline = (operation: Operation, key: string | undefined, commands: ReadonlyArray<RedisClient.Command>) =>
      Effect.flatMap(
        Effect.mapError(client.pipeline(commands), toCacheError(operation, key)),
        (replies) => {
          for (let i = 0; i < replies.length; i++) {
            const error = replyErrorOf(operation, key, replies[i]!, String(commands[i]![0]))
            if (error !== undefined) return Effect.fail(error)
          }
          return Effect.void
        }
      )

    // What `Effect.mapError(…, toCacheError(operation, key))` does with a failure, for the hot paths that handle
    // both outcomes in one continuation (each Effect step costs on every command).
    const failWith = (
      cause: Cause.Cause<RedisError>,
      operation: Operation,
      key: string | undefined
    ): Effect.Effect<never, CacheError> => {
      const failure = Cause.failureOrCause(cause)
      return failure._tag === "Left"
        ? Effect.fail(toCacheError(operation, key)(failure.left))
        : Effect.failCause(failure.right)
    }

    // A value read back: a miss, the stored bytes decoded (for a synchronous serializer a finished Effect, no step
    // of its own), or a reply no read expects.
    const readReply = (
      operation: Operation,
      key: string,
      reply: Resp.RespValue
    ): Effect.Effect<Option.Option<unknown>, CacheError> => {
      if (reply === null) return Effect.succeedNone
      if (reply instanceof Uint8Array) return codec.decode(operation, key, reply)
      // Its cluster node failed its share of a settled MGET (a connection lost, a timeout), which the cluster does
      // not wait out, so that the other nodes' readers need not wait with it: asked again alone, the read rides out
      // a failover for up to `failoverWait`, as a lone read does.
      if (reply instanceof PartFailure) return getAgain(key)
      return Effect.fail(unexpected(operation, key, reply))
    }

    // A batched read asked again as a lone read, in its caller's fiber (interrupting it stops only its own).
    const getAgain = (key: string): Effect.Effect<Option.Option<unknown>, CacheError> =>
      getAlone(client.send(["GET", prefix + key]), key)

    // The error of a batch that failed whole, when its readers are to be asked again alone (see `askAloneAfter`).
    const askAgain = (cause: Cause.Cause<RedisError>): boolean => {
      const failure = Cause.failureOption(cause)
      return failure._tag === "Some" && askAloneAfter(failure.value._tag, spansNodes)
    }

    const remove = (
      operation: Operation,
      key: string | undefined,
      fullKeys: ReadonlyArray<string | Uint8Array>
    ): Effect.Effect<void, CacheError> =>
      fullKeys.length === 0 ? Effect.void : send(operation, key, [deleteCommand, ...fullKeys]).pipe(
        Effect.catchIf(
          (error) =>
            deleteCommand === "UNLINK" && error._tag === "CacheReplyError" && /unknown command/i.test(error.message),
          () => {
            deleteCommand = "DEL"
            return send(operation, key, ["DEL", ...fullKeys])
          }
        ),
        // A cluster does not re-send a written UNLINK whose node failed (a second run answers another count), but
        // for a delete the count does not matter: once more, and the cluster waits for the failover if it must.
        Effect.catchIf(
          (error) => spansNodes && isOutcomeUnknown(error),
          () => send(operation, key, [deleteCommand, ...fullKeys])
        ),
        Effect.asVoid
      )

    // A lone read: one GET, its reply or failure handled in one continuation. A key holding another type than a
    // string reads as a miss, as it does in an MGET (see `isWrongType`).
    const getAlone = (
      sent: Effect.Effect<Resp.RespValue, RedisError>,
      key: string
    ): Effect.Effect<Option.Option<unknown>, CacheError> =>
      Effect.matchCauseEffect(sent, {
        onFailure: (cause) => isWrongType(cause) ? Effect.succeedNone : failWith(cause, "get", key),
        onSuccess: (reply) => readReply("get", key, reply)
      })

    // The entry of a GET + PTTL pair, lone or batched.
    const entryOf = (
      key: string,
      value: Resp.RespValue,
      pttl: Resp.RespValue
    ): Effect.Effect<Option.Option<Entry>, CacheError> => {
      if (value instanceof Resp.ErrorReply && value.code === "WRONGTYPE") return Effect.succeedNone
      // Its cluster node failed its share of a settled batch: asked again alone, it rides out a failover.
      if (value instanceof PartFailure || pttl instanceof PartFailure) return getWithTtlAlone(key)
      const failure = replyErrorOf("getWithTtl", key, value, "GET") ?? replyErrorOf("getWithTtl", key, pttl, "PTTL")
      if (failure !== undefined) return Effect.fail(failure)
      // Beyond 2^53 ms the parser gives a bigint: an expiry set by another client (this library stores a longer
      // TTL as no expiry). As a double it is off by a few milliseconds in 285,000 years.
      const millis = typeof pttl === "bigint" ? Number(pttl) : pttl
      if (typeof millis !== "number") return Effect.fail(unexpected("getWithTtl", key, pttl))
      // -2: the key expired between the two commands.
      if (value === null || millis === -2) return Effect.succeedNone
      if (!(value instanceof Uint8Array)) return Effect.fail(unexpected("getWithTtl", key, value))
      const remainingTtl = millis < 0 ? Option.none() : Option.some(Duration.millis(millis))
      return codec.decodeAs("getWithTtl", key, value, (decoded): Entry => ({ value: decoded, remainingTtl }))
    }

    // GET and PTTL in one write: one round trip, and Redis runs them back to back.
    const getWithTtlAlone = (key: string): Effect.Effect<Option.Option<Entry>, CacheError> =>
      Effect.matchCauseEffect(client.pipeline([["GET", prefix + key], ["PTTL", prefix + key]]), {
        onFailure: (cause) => failWith(cause, "getWithTtl", key),
        onSuccess: (replies) => entryOf(key, replies[0]!, replies[1]!)
      })

    // Batched reads. A batch is sent by none of its callers: through the client's callback (`submit`) when it has
    // one, else by a fiber of its own (forked on the runtime this backend was made in), which is also where what
    // `submit` cannot finish at once (the connection opening, room awaited) runs. Interrupting a caller then stops
    // only its own wait (its result is dropped when the reply comes), never the command the others wait for. Each
    // caller is resumed with its own outcome, built in plain TypeScript.
    const fork = Runtime.runFork(yield* Effect.runtime<never>())

    const deliverGets = (
      slots: ReadonlyArray<ReadSlot<Option.Option<unknown>>>,
      exit: Exit.Exit<Resp.RespValue, RedisError>
    ): void => {
      if (exit._tag === "Failure") {
        if (askAgain(exit.cause)) { for (const slot of slots) slot.resume(getAgain(slot.key)) }
        else for (const slot of slots) slot.resume(failWith(exit.cause, "get", slot.key))
        return
      }
      const reply = exit.value
      if (!Array.isArray(reply) || reply.length !== slots.length) {
        for (const slot of slots) slot.resume(Effect.fail(unexpected("get", slot.key, reply)))
        return
      }
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i]!
        slot.resume(readReply("get", slot.key, reply[i]!))
      }
    }

    // What a batch's fiber ends with: the fiber itself always succeeds (with the command's Exit), as its failure is
    // its callers', not a fiber's unhandled error to report.
    const forkExit = <A, E>(effect: Effect.Effect<A, E>, deliver: (exit: Exit.Exit<A, E>) => void): void => {
      fork(Effect.exit(effect)).addObserver((outcome) =>
        deliver(outcome._tag === "Success" ? outcome.value : outcome as unknown as Exit.Exit<A, E>)
      )
    }

    const sendGets = (slots: ReadonlyArray<ReadSlot<Option.Option<unknown>>>): void => {
      const command = new Array<string>(slots.length + 1)
      command[0] = "MGET"
      for (let i = 0; i < slots.length; i++) command[i + 1] = prefix + slots[i]!.key
      // Through the client's callback when it has one: the reply (a finished Exit) is handed out at once, and a
      // fiber is forked only for what must run in one (the connection opening, room awaited).
      if (submit === undefined) return forkExit(sendBatch(command), (exit) => deliverGets(slots, exit))
      submit(command, (effect) => {
        const exit = exitOf(effect)
        if (exit !== undefined) deliverGets(slots, exit)
        else forkExit(effect, (exit) => deliverGets(slots, exit))
      })
    }

    const sendEntries = (slots: ReadonlyArray<ReadSlot<Option.Option<Entry>>>): void => {
      const commands = new Array<RedisClient.Command>(slots.length * 2)
      for (let i = 0; i < slots.length; i++) {
        const fullKey = prefix + slots[i]!.key
        commands[2 * i] = ["GET", fullKey]
        commands[2 * i + 1] = ["PTTL", fullKey]
      }
      forkExit((seam.pipelineSettled ?? client.pipeline)(commands), (exit) => {
        if (exit._tag === "Failure") {
          if (askAgain(exit.cause)) { for (const slot of slots) slot.resume(getWithTtlAlone(slot.key)) }
          else for (const slot of slots) slot.resume(failWith(exit.cause, "getWithTtl", slot.key))
          return
        }
        const replies = exit.value
        for (let i = 0; i < slots.length; i++) {
          const slot = slots[i]!
          slot.resume(entryOf(slot.key, replies[2 * i]!, replies[2 * i + 1]!))
        }
      })
    }

    const gets = new TickBatcher(maxBatchSize, sendGets)
    const entries = new TickBatcher(maxBatchSize, sendEntries)

    // The outcome of a lone GET as its caller continues: read here when it is a finished Exit (the usual case),
    // else (the connection opening, room awaited) an effect that runs in the caller's fiber.
    const getOutcome = (
      key: string,
      effect: Effect.Effect<Resp.RespValue, RedisError>
    ): Effect.Effect<Option.Option<unknown>, CacheError> => {
      const exit = exitOf(effect)
      if (exit === undefined) return getAlone(effect, key)
      if (exit._tag === "Success") return readReply("get", key, exit.value)
      return isWrongType(exit.cause) ? Effect.succeedNone : failWith(exit.cause, "get", key)
    }

    // With the client's callback (`submit`), a read is one Effect.async: a lone read hands its GET to the client,
    // a batched one joins the batch, and the reply resumes the caller with its decoded value. The first reads of a
    // tick go out at once as lone reads (see `TickBatcher`); the others wait for the batch.
    const get = submit !== undefined
      ? (key: string): Effect.Effect<Option.Option<unknown>, CacheError> =>
        Effect.async<Option.Option<unknown>, CacheError>((resume) => {
          // A key too long for a batch's command is read alone, so that it fails alone.
          if (batchReads && !gets.alone() && fitsInBatch(prefix + key, maxArgumentLength)) {
            return gets.add({ key, resume })
          }
          submit(["GET", prefix + key], (effect) => resume(getOutcome(key, effect)))
        })
      : batchReads
      ? (key: string): Effect.Effect<Option.Option<unknown>, CacheError> =>
        Effect.suspend(() =>
          gets.alone() || !fitsInBatch(prefix + key, maxArgumentLength)
            ? getAlone(client.send(["GET", prefix + key]), key)
            : Effect.async<Option.Option<unknown>, CacheError>((resume) => {
              gets.add({ key, resume })
            })
        )
      : (key: string) => getAlone(client.send(["GET", prefix + key]), key)

    const getWithTtl = batchReads
      ? (key: string): Effect.Effect<Option.Option<Entry>, CacheError> =>
        Effect.suspend(() =>
          entries.alone() || !fitsInBatch(prefix + key, maxArgumentLength)
            ? getWithTtlAlone(key)
            : Effect.async<Option.Option<Entry>, CacheError>((resume) => {
              entries.add({ key, resume })
            })
        )
      : getWithTtlAlone

    const getMany = (keys: ReadonlyArray<string>) => {
      if (keys.length === 0) return Effect.succeed([])
      const command: Array<string> = ["MGET"]
      for (const key of keys) command.push(prefix + key)
      return Effect.matchCauseEffect(client.send(command), {
        onFailure: (cause) => failWith(cause, "getMany", keys[0]),
        onSuccess: (reply): Effect.Effect<ReadonlyArray<Option.Option<unknown>>, CacheError> => {
          if (!Array.isArray(reply) || reply.length !== keys.length) {
            return Effect.fail(unexpected("getMany", keys[0], reply))
          }
          for (let i = 0; i < reply.length; i++) {
            const item: Resp.RespValue = reply[i]
            if (item !== null && !(item instanceof Uint8Array)) return Effect.fail(unexpected("getMany", keys[i], item))
          }
          return codec.decodeAll("getMany", keys, reply as ReadonlyArray<Uint8Array | null>)
        }
      })
    }

    const set = (key: string, value: unknown, ttl?: Duration.DurationInput) => {
      const resolved = resolveTtl(ttl)
      switch (resolved._tag) {
        case "Invalid":
          return Codec.invalidTtl("set", key, resolved.reason)
        case "Expired":
          // A write that stores nothing removes any earlier value, which would otherwise be served stale.
          return remove("set", key, [prefix + key])
        case "Forever":
          return write(key, value, undefined)
        case "Millis":
          return write(key, value, String(resolved.millis))
      }
    }

    // The value is serialized when the effect runs (each run anew); the reply and the failure are handled in one
    // continuation.
    const write = (key: string, value: unknown, px: string | undefined): Effect.Effect<void, CacheError> =>
      Effect.suspend(() =>
        codec.encode("set", key, value, (bytes) =>
          Effect.matchCauseEffect(
            client.send(px === undefined ? ["SET", prefix + key, bytes] : ["SET", prefix + key, bytes, "PX", px]),
            {
              onFailure: (cause) => failWith(cause, "set", key),
              onSuccess: () => Effect.void
            }
          ))
      )

    const setMany = (entries: Iterable<readonly [key: string, value: unknown]>, ttl?: Duration.DurationInput) => {
      const list = Backend.entriesOf(entries)
      const first = list[0]?.[0]
      const resolved = resolveTtl(ttl)
      if (resolved._tag === "Invalid") {
        return Codec.invalidTtl("setMany", first, resolved.reason)
      }
      if (list.length === 0) {
        return Effect.void
      }
      if (resolved._tag === "Expired") {
        return remove(
          "setMany",
          first,
          list.map(([key]) => prefix + key)
        )
      }
      // Every value is serialized before anything is sent, so a failure leaves the server untouched.
      const encodeAll = Effect.suspend(() => codec.encodeAll("setMany", list))
      return Effect.flatMap(
        encodeAll,
        (encoded) => {
          if (resolved._tag === "Forever") {
            const command: Array<string | Uint8Array> = ["MSET"]
            for (let i = 0; i < list.length; i++) command.push(prefix + list[i]![0], encoded[i]!)
            return Effect.asVoid(send("setMany", first, command))
          }
          const px = String(resolved.millis)
          return pipeline("setMany", first, list.map(([key], i) => ["SET", prefix + key, encoded[i]!, "PX", px]))
        }
      )
    }

    // Read at call time, as `getMany` reads its keys: a caller changing the array afterwards changes no run. The
    // commands are at most a batch each and a few at a time (see `Backend.deleteManyConcurrency`): one DEL per key,
    // all at once, went past `maxInFlight` and waited out the command timeout behind its own commands.
    const deleteMany = (keys: ReadonlyArray<string>): Effect.Effect<void, CacheError> => {
      if (keys.length === 0) return Effect.void
      const fullKeys = keys.map((key) => prefix + key)
      const fits = (fullKey: string) => fitsInBatch(fullKey, maxArgumentLength)
      const chunks = spansNodes
        ? Backend.deleteChunksBySlot(fullKeys, maxBatchSize, fits, keySlot)
        : Backend.deleteChunks(fullKeys, maxBatchSize, fits)
      const first = chunks[0]!
      // The usual case, a list within one batch: one command, no fibers to run it.
      if (chunks.length === 1) return remove("deleteMany", first[0]!.slice(prefix.length), first)
      // Every command runs whatever another's outcome, so one failed node or one refused key leaves no other key
      // in place; the first failure is reported once all have ended. Each is handled as `delete` is (see `remove`).
      return Effect.flatMap(
        Effect.forEach(
          chunks,
          (chunk) => Effect.either(remove("deleteMany", chunk[0]!.slice(prefix.length), chunk)),
          { concurrency: Backend.deleteManyConcurrency }
        ),
        (outcomes) => {
          for (const outcome of outcomes) if (Either.isLeft(outcome)) return Effect.fail(outcome.left)
          return Effect.void
        }
      )
    }

    // One `SET … NX`: the server checks and writes in one step. Not re-sent by a cluster when its outcome is unknown
    // (a second run would answer "not set" for the first run's write): the caller gets the node's error.
    const setIfAbsent = (
      key: string,
      value: unknown,
      ttl?: Duration.DurationInput
    ): Effect.Effect<boolean, CacheError> => {
      const resolved = resolveTtl(ttl)
      switch (resolved._tag) {
        case "Invalid":
          return Codec.invalidTtl("setIfAbsent", key, resolved.reason)
        case "Expired":
          // Stores nothing and, unlike `set`, removes nothing: whatever the key holds is not this call's to drop.
          return Effect.succeed(false)
        default: {
          const fullKey = prefix + key
          const px = resolved._tag === "Millis" ? String(resolved.millis) : undefined
          return Effect.suspend(() =>
            codec.encode("setIfAbsent", key, value, (bytes) =>
              Effect.matchCauseEffect(
                client.send(
                  px === undefined ? ["SET", fullKey, bytes, "NX"] : ["SET", fullKey, bytes, "NX", "PX", px]
                ),
                {
                  onFailure: (cause) => failWith(cause, "setIfAbsent", key),
                  // OK: stored; nil: the key held something, left as it was.
                  onSuccess: (reply): Effect.Effect<boolean, CacheError> =>
                    reply === "OK"
                      ? Effect.succeed(true)
                      : reply === null
                      ? Effect.succeed(false)
                      : Effect.fail(unexpected("setIfAbsent", key, reply))
                }
              ))
          )
        }
      }
    }

    // On a cluster every primary is scanned (at once), each key removed where it lives.
    const clear: Effect.Effect<void, CacheError> = Effect.suspend(() =>
      client.primaries === undefined ? clearOn(client) : Effect.flatMap(
        Effect.mapError(client.primaries, toCacheError("clear", undefined)),
        (primaries) => Effect.forEach(primaries, clearOn, { concurrency: "unbounded", discard: true })
      )
    )

    const scan = (node: RedisClient.RedisClientShape, cursor: string) =>
      Effect.mapError(node.send(["SCAN", cursor, "MATCH", match, "COUNT", scanCount]), toCacheError("clear", undefined))

    const clearOn = (node: RedisClient.RedisClientShape): Effect.Effect<void, CacheError> => {
      const step = (cursor: string): Effect.Effect<void, CacheError> =>
        Effect.flatMap(scan(node, cursor), (reply) => {
          if (
            !Array.isArray(reply) || reply.length !== 2 || !(reply[0] instanceof Uint8Array) || !Array.isArray(reply[1])
          ) {
            return Effect.fail(unexpected("clear", undefined, reply))
          }
          const next = Buffer.from(reply[0]).toString("latin1")
          // Keys go back to the server as the exact bytes it sent: no decoding, so binary keys survive.
          const keys = reply[1] as ReadonlyArray<Uint8Array>
          const removed = remove("clear", undefined, keys)
          return next === "0" ? removed : Effect.zipRight(removed, step(next))
        })
      return step("0")
    }

    return RemoteCacheBackend.of({
      prefix,
      get,
      getWithTtl,
      getMany,
      set,
      setMany,
      setIfAbsent,
      delete: (key) => remove("delete", key, [prefix + key]),
      deleteMany,
      clear
    })
  })

/**
 * A backend without a client of its own: over the `RedisClient` (or cluster client) provided separately, so
 * several backends share one client. Named as Effect names such layers (`NodeHttpClient.layerWithoutAgent`).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerWithoutClient = (
  options: MakeOptions = {}
): Layer.Layer<RemoteCacheBackend, never, RedisClient.RedisClient> => Layer.effect(RemoteCacheBackend, make(options))

/**
 * The former name of {@link layerWithoutClient}.
 *
 * @deprecated Use {@link layerWithoutClient}: the layer needs a client, it does not bring one.
 * @since 0.1.0
 * @category layers
 */
export const layerWithClient: typeof layerWithoutClient = layerWithoutClient

/**
 * The former name of {@link MakeOptions}.
 *
 * @deprecated Use {@link MakeOptions}, the name both backends use.
 * @since 0.1.0
 * @category models
 */
export type BackendOptions = MakeOptions

/**
 * A backend with its own client (scoped: closing the layer closes the socket).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: RedisBackendOptions = {}): Layer.Layer<RemoteCacheBackend, RedisConfigError> =>
  Layer.provide(layerWithoutClient(options), RedisClient.layer(options))

/**
 * Every `RedisCluster` option plus the backend's own.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisClusterBackendOptions extends RedisCluster.RedisClusterOptions, MakeOptions {}

/**
 * A backend on a Redis Cluster with its own cluster client (scoped: closing the layer closes every node's
 * connections). Keys are routed by slot, multi-key reads, writes and deletes are split by slot, and `clear` scans
 * every primary.
 *
 * @example
 * ```ts
 * import { RedisBackend } from "effect-remote-cache"
 *
 * const Cache = RedisBackend.layerCluster({ nodes: ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"], prefix: "app:" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCluster = (options: RedisClusterBackendOptions): Layer.Layer<RemoteCacheBackend, RedisConfigError> =>
  Layer.provide(layerWithoutClient(options), RedisCluster.layer(options))

/**
 * {@link layerCluster} with its options read through `effect/Config`: by default the seed nodes from
 * `REDIS_CLUSTER_NODES` (comma-separated `host:port` or `redis://` URLs) and the prefix from `CACHE_PREFIX`
 * (falling back to `"ac:"`). Fields given override those.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { RedisBackend } from "effect-remote-cache"
 *
 * const FromEnv = RedisBackend.layerClusterConfig({
 *   password: Config.redacted("REDIS_PASSWORD").pipe(Config.withDefault(undefined))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClusterConfig = (
  config: Partial<Config.Config.Wrap<RedisClusterBackendOptions>> = {}
): Layer.Layer<RemoteCacheBackend, RedisConfigError | ConfigError.ConfigError> => {
  const fields = Object.entries(config).filter(([, field]) => field !== undefined)
  const wrapped = {
    nodes: RedisCluster.nodesConfig(),
    prefix: defaultConfig.prefix,
    ...Object.fromEntries(fields)
  } as Config.Config.Wrap<RedisClusterBackendOptions>
  return Layer.unwrapEffect(Effect.map(Config.unwrap(wrapped), layerCluster))
}

/**
 * What {@link layerConfig} reads for a field it is not given: `url` from `REDIS_URL` (missing or empty:
 * `redis://localhost:6379`; invalid: a `ConfigError` naming `REDIS_URL`) and `prefix` from `CACHE_PREFIX` (falling back to `"ac:"`).
 *
 * @since 0.1.0
 * @category layers
 */
export const defaultConfig: {
  readonly url: Config.Config<Redacted.Redacted<string>>
  readonly prefix: Config.Config<string>
} = {
  url: RedisClient.urlConfig(),
  prefix: Config.string("CACHE_PREFIX").pipe(Config.withDefault(defaultPrefix))
}

// A field given as `undefined` (or read as `undefined`) leaves the default in place, as a missing one does.
const withDefaults = (options: RedisBackendOptions, defaults: RedisBackendOptions): RedisBackendOptions => {
  const merged: Record<string, unknown> = { ...defaults }
  for (const [field, value] of Object.entries(options)) if (value !== undefined) merged[field] = value
  return merged as RedisBackendOptions
}

/**
 * A backend with its own client, its options read through `effect/Config`. The fields given override
 * {@link defaultConfig} one by one: the others keep reading `REDIS_URL` and `CACHE_PREFIX`. A whole
 * `Config<RedisBackendOptions>` works the same way.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { RedisBackend } from "effect-remote-cache"
 *
 * // REDIS_URL and CACHE_PREFIX as by default, plus a password when REDIS_PASSWORD is set (none otherwise).
 * const FromEnv = RedisBackend.layerConfig({
 *   password: Config.redacted("REDIS_PASSWORD").pipe(Config.withDefault(undefined))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<RedisBackendOptions> = {}
): Layer.Layer<RemoteCacheBackend, RedisConfigError | ConfigError.ConfigError> => {
  // A field left `undefined` in the object form is a field not given.
  const fields = Config.isConfig(config) ? [] : Object.entries(config).filter(([, field]) => field !== undefined)
  const given: Config.Config<RedisBackendOptions> = Config.isConfig(config)
    ? config
    : fields.length === 0
    ? Config.succeed({})
    : Config.unwrap<RedisBackendOptions>(Object.fromEntries(fields) as Config.Config.Wrap<RedisBackendOptions>)
  const options = Config.map(
    Config.all([Config.all(defaultConfig), given]),
    ([defaults, values]) => withDefaults(values, defaults)
  )
  return Layer.unwrapEffect(Effect.map(options, layer))
}
