/**
 * The reads of the Redis backend, one at a time: `GET` (a key of another type reads as a miss), `GET` + `PTTL` in
 * one write for `getWithTtl`, `MGET` for `getMany`, and the decoding of what comes back.
 *
 * @internal
 */
import * as Cause from "#effect/Cause"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Option from "#effect/Option"
import * as Result from "#effect/Result"
import { askAloneAfter } from "../../../core/client/batch.js"
import { PartFailure } from "../../../core/cluster/partFailure.js"
import type { RedisError } from "../../../RedisError.js"
import { type CacheError, type Entry, type Operation, withPartial } from "../../../RemoteCacheBackend.js"
import * as Resp from "../../../Resp.js"
import type { RedisContext } from "./context.js"
import { exitOf, failWith, isWrongType, replyErrorOf, unexpected } from "./errors.js"

/**
 * A value read back: a miss, the stored bytes decoded (for a synchronous serializer a finished Effect, no step
 * of its own), or a reply no read expects.
 */
export const readReply = (
  c: RedisContext,
  operation: Operation,
  key: string,
  reply: Resp.RespValue
): Effect.Effect<Option.Option<unknown>, CacheError> => {
  if (reply === null) return Effect.succeedNone
  if (reply instanceof Uint8Array) return c.codec.decode(operation, key, reply)
  // Its cluster node failed its share of a settled MGET (a connection lost, a timeout), which the cluster does
  // not wait out, so that the other nodes' readers need not wait with it: asked again alone, the read rides out
  // a failover for up to `failoverWait`, as a lone read does.
  if (reply instanceof PartFailure) return getAgain(c, key)
  return Effect.fail(unexpected(operation, key, reply))
}

/**
 * A batched read asked again as a lone read, in its caller's fiber (interrupting it stops only its own).
 */
export const getAgain = (c: RedisContext, key: string): Effect.Effect<Option.Option<unknown>, CacheError> =>
  getAlone(c, c.client.send(["GET", c.prefix + key]), key)

/**
 * The error of a batch that failed whole, when its readers are to be asked again alone (see `askAloneAfter`).
 */
export const askAgain = (c: RedisContext, cause: Cause.Cause<RedisError>): boolean => {
  const failure = Cause.findErrorOption(cause)
  return failure._tag === "Some" && askAloneAfter(failure.value._tag, c.spansNodes)
}

/**
 * A lone read: one GET, its reply or failure handled in one continuation. A key holding another type than a
 * string reads as a miss, as it does in an MGET (see `isWrongType`).
 */
export const getAlone = (
  c: RedisContext,
  sent: Effect.Effect<Resp.RespValue, RedisError>,
  key: string,
  operation: Operation = "get"
): Effect.Effect<Option.Option<unknown>, CacheError> =>
  Effect.matchCauseEffect(sent, {
    onFailure: (cause) => isWrongType(cause) ? Effect.succeedNone : failWith(cause, operation, key),
    onSuccess: (reply) => readReply(c, operation, key, reply)
  })

/**
 * The entry of a GET + PTTL pair, lone or batched.
 */
export const entryOf = (
  c: RedisContext,
  key: string,
  value: Resp.RespValue,
  pttl: Resp.RespValue
): Effect.Effect<Option.Option<Entry>, CacheError> => {
  if (value instanceof Resp.ErrorReply && value.code === "WRONGTYPE") return Effect.succeedNone
  // Its cluster node failed its share of a settled batch: asked again alone, it rides out a failover.
  if (value instanceof PartFailure || pttl instanceof PartFailure) return getWithTtlAlone(c, key)
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
  return c.codec.decodeAs("getWithTtl", key, value, (decoded): Entry => ({ value: decoded, remainingTtl }))
}

/**
 * GET and PTTL in one write: one round trip, and Redis runs them back to back.
 */
export const getWithTtlAlone = (c: RedisContext, key: string): Effect.Effect<Option.Option<Entry>, CacheError> =>
  Effect.matchCauseEffect(c.client.pipeline([["GET", c.prefix + key], ["PTTL", c.prefix + key]]), {
    onFailure: (cause) => failWith(cause, "getWithTtl", key),
    onSuccess: (replies) => entryOf(c, key, replies[0]!, replies[1]!)
  })

/**
 * The outcome of a lone GET as its caller continues: read here when it is a finished Exit (the usual case),
 * else (the connection opening, room awaited) an effect that runs in the caller's fiber.
 */
export const getOutcome = (
  c: RedisContext,
  key: string,
  effect: Effect.Effect<Resp.RespValue, RedisError>
): Effect.Effect<Option.Option<unknown>, CacheError> => {
  const exit = exitOf(effect)
  if (exit === undefined) return getAlone(c, effect, key)
  if (exit._tag === "Success") return readReply(c, "get", key, exit.value)
  return isWrongType(exit.cause) ? Effect.succeedNone : failWith(exit.cause, "get", key)
}

/**
 * One `MGET` of every key, each value decoded on its own. On a cluster it is split by slot and settled: a node that
 * fails its share leaves a `PartFailure` in its keys' places while the other nodes' values arrive; those keys are
 * asked again alone (see {@link askPartsAgain}).
 */
export const getMany = (c: RedisContext, keys: ReadonlyArray<string>) => {
  if (keys.length === 0) return Effect.succeed([])
  const command: Array<string> = ["MGET"]
  for (const key of keys) command.push(c.prefix + key)
  return Effect.matchCauseEffect(c.sendBatch(command), {
    onFailure: (cause) => failWith(cause, "getMany", keys[0]),
    onSuccess: (reply): Effect.Effect<ReadonlyArray<Option.Option<unknown>>, CacheError> => {
      if (!Array.isArray(reply) || reply.length !== keys.length) {
        return Effect.fail(unexpected("getMany", keys[0], reply))
      }
      let failed: Array<number> | undefined = undefined
      for (let i = 0; i < reply.length; i++) {
        const item: Resp.RespValue = reply[i]
        if (item instanceof PartFailure) (failed ??= []).push(i)
        else if (item !== null && !(item instanceof Uint8Array)) {
          return Effect.fail(unexpected("getMany", keys[i], item))
        }
      }
      if (failed === undefined) return c.codec.decodeAll("getMany", keys, reply as ReadonlyArray<Uint8Array | null>)
      const parts = failed
      const items = reply.map((item) => item instanceof PartFailure ? null : item) as Array<Uint8Array | null>
      return Effect.flatMap(
        c.codec.decodeAll("getMany", keys, items),
        (values) => askPartsAgain(c, keys, values, parts)
      )
    }
  })
}

/**
 * The keys of a `getMany` whose cluster node failed its share, asked again alone (a lone read rides out a failover
 * for up to `failoverWait`, as `get` does). What still fails is reported with what the batch read of the others
 * (`CacheErrorFields.partial`), so that `Policy.recoverToMiss` turns only those keys into misses.
 */
const askPartsAgain = (
  c: RedisContext,
  keys: ReadonlyArray<string>,
  values: ReadonlyArray<Option.Option<unknown>>,
  failed: ReadonlyArray<number>
): Effect.Effect<ReadonlyArray<Option.Option<unknown>>, CacheError> =>
  Effect.flatMap(
    Effect.forEach(
      failed,
      (i) => Effect.result(getAlone(c, c.client.send(["GET", c.prefix + keys[i]!]), keys[i]!, "getMany")),
      { concurrency: "unbounded" }
    ),
    (results) => {
      const answered = Array.from(values)
      let error: CacheError | undefined = undefined
      for (let j = 0; j < results.length; j++) {
        const result = results[j]!
        if (Result.isSuccess(result)) answered[failed[j]!] = Result.successValue(result)
        else error ??= Result.failureValue(result)
      }
      return error === undefined ? Effect.succeed(answered) : Effect.fail(withPartial(error, answered))
    }
  )
