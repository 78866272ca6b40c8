/**
 * The writes of the Redis backend: `SET` (with `PX`), `MSET` or pipelined `SET … PX` for batches, `SET … NX`, and
 * `UNLINK` in batches for `deleteMany`. A TTL that stores nothing removes the key; an invalid one is refused.
 *
 * @internal
 */
import type * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Result from "#effect/Result"
import { fitsInBatch } from "../../../core/client/batch.js"
import { keySlot } from "../../../core/cluster/slot.js"
import type { CacheError } from "../../../RemoteCacheBackend.js"
import * as Backend from "../backend.js"
import * as Codec from "../codec.js"
import { resolveTtl } from "../ttl.js"
import type { RedisContext } from "./context.js"
import { failWith, unexpected } from "./errors.js"

/** `SET` with `PX` from the TTL; a TTL that stores nothing removes the key, an invalid one is refused. */
export const set = (c: RedisContext, key: string, value: unknown, ttl?: Duration.Input) => {
  const resolved = resolveTtl(ttl)
  switch (resolved._tag) {
    case "Invalid":
      return Codec.invalidTtl("set", key, resolved.reason)
    case "Expired":
      // A write that stores nothing removes any earlier value, which would otherwise be served stale.
      return c.remove("set", key, [c.prefix + key])
    case "Forever":
      return write(c, key, value, undefined)
    case "Millis":
      return write(c, key, value, String(resolved.millis))
  }
}

/**
 * The value is serialized when the effect runs (each run anew); the reply and the failure are handled in one
 * continuation.
 */
export const write = (
  c: RedisContext,
  key: string,
  value: unknown,
  px: string | undefined
): Effect.Effect<void, CacheError> =>
  Effect.suspend(() =>
    c.codec.encode("set", key, value, (bytes) =>
      Effect.matchCauseEffect(
        c.client.send(px === undefined ? ["SET", c.prefix + key, bytes] : ["SET", c.prefix + key, bytes, "PX", px]),
        {
          onFailure: (cause) => failWith(cause, "set", key),
          onSuccess: () => Effect.void
        }
      ))
  )

/**
 * One `MSET` without expiry, else `SET … PX` pipelined in one write, every value encoded before anything is sent.
 */
export const setMany = (
  c: RedisContext,
  entries: Iterable<readonly [key: string, value: unknown]>,
  ttl?: Duration.Input
) => {
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
    return c.remove(
      "setMany",
      first,
      list.map(([key]) => c.prefix + key)
    )
  }
  // Every value is serialized before anything is sent, so a failure leaves the server untouched.
  const encodeAll = Effect.suspend(() => c.codec.encodeAll("setMany", list))
  return Effect.flatMap(
    encodeAll,
    (encoded) => {
      if (resolved._tag === "Forever") {
        const command: Array<string | Uint8Array> = ["MSET"]
        for (let i = 0; i < list.length; i++) command.push(c.prefix + list[i]![0], encoded[i]!)
        return Effect.asVoid(c.send("setMany", first, command))
      }
      const px = String(resolved.millis)
      return c.pipeline("setMany", first, list.map(([key], i) => ["SET", c.prefix + key, encoded[i]!, "PX", px]))
    }
  )
}

/**
 * Read at call time, as `getMany` reads its keys: a caller changing the array afterwards changes no run. The
 * commands are at most a batch each and a few at a time (see `Backend.deleteManyConcurrency`): one DEL per key,
 * all at once, went past `maxInFlight` and waited out the command timeout behind its own commands.
 */
export const deleteMany = (c: RedisContext, keys: ReadonlyArray<string>): Effect.Effect<void, CacheError> => {
  if (keys.length === 0) return Effect.void
  const fullKeys = keys.map((key) => c.prefix + key)
  const fits = (fullKey: string) => fitsInBatch(fullKey, c.maxArgumentLength)
  const chunks = c.spansNodes
    ? Backend.deleteChunksBySlot(fullKeys, c.maxBatchSize, fits, keySlot)
    : Backend.deleteChunks(fullKeys, c.maxBatchSize, fits)
  const first = chunks[0]!
  // The usual case, a list within one batch: one command, no fibers to run it.
  if (chunks.length === 1) return c.remove("deleteMany", first[0]!.slice(c.prefix.length), first)
  // Every command runs whatever another's outcome, so one failed node or one refused key leaves no other key
  // in place; the first failure is reported once all have ended. Each is handled as `delete` is (see `remove`).
  return Effect.flatMap(
    Effect.forEach(
      chunks,
      (chunk) => Effect.result(c.remove("deleteMany", chunk[0]!.slice(c.prefix.length), chunk)),
      { concurrency: Backend.deleteManyConcurrency }
    ),
    (outcomes) => {
      for (const outcome of outcomes) if (Result.isFailure(outcome)) return Effect.fail(Result.failureValue(outcome))
      return Effect.void
    }
  )
}

/**
 * One `SET … NX`: the server checks and writes in one step. Not re-sent by a cluster when its outcome is unknown
 * (a second run would answer "not set" for the first run's write): the caller gets the node's error.
 */
export const setIfAbsent = (
  c: RedisContext,
  key: string,
  value: unknown,
  ttl?: Duration.Input
): Effect.Effect<boolean, CacheError> => {
  const resolved = resolveTtl(ttl)
  switch (resolved._tag) {
    case "Invalid":
      return Codec.invalidTtl("setIfAbsent", key, resolved.reason)
    case "Expired":
      // Stores nothing and, unlike `set`, removes nothing: whatever the key holds is not this call's to drop.
      return Effect.succeed(false)
    default: {
      const fullKey = c.prefix + key
      const px = resolved._tag === "Millis" ? String(resolved.millis) : undefined
      return Effect.suspend(() =>
        c.codec.encode("setIfAbsent", key, value, (bytes) =>
          Effect.matchCauseEffect(
            c.client.send(
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
