/**
 * `clear` of the Redis backend: `SCAN … MATCH <escaped prefix>*` and an `UNLINK` of each batch found, on every
 * primary of a cluster at once; never `KEYS` or `FLUSHDB`.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import type * as RedisClient from "../../../RedisClient.js"
import type { CacheError } from "../../../RemoteCacheBackend.js"
import type { RedisContext } from "./context.js"
import { toCacheError, unexpected } from "./errors.js"

/** Escapes Redis glob characters (`* ? [ ] \\`), so a prefix matches only itself in `SCAN … MATCH`. */
const escapeGlob = (literal: string): string => literal.replace(/[*?[\]\\]/g, "\\$&")

/** The `MATCH` pattern of every key under `prefix`. */
const matchOf = (prefix: string): string => escapeGlob(prefix) + "*"

/**
 * On a cluster every primary is scanned (at once), each key removed where it lives.
 */
export const clear = (c: RedisContext): Effect.Effect<void, CacheError> =>
  Effect.suspend(() =>
    c.client.primaries === undefined ? clearOn(c, c.client) : Effect.flatMap(
      Effect.mapError(c.client.primaries, toCacheError("clear", undefined)),
      (primaries) => Effect.forEach(primaries, (node) => clearOn(c, node), { concurrency: "unbounded", discard: true })
    )
  )

/** One `SCAN` step on `node` from `cursor`. */
const scan = (c: RedisContext, node: RedisClient.RedisClientShape, cursor: string) =>
  Effect.mapError(
    node.send(["SCAN", cursor, "MATCH", matchOf(c.prefix), "COUNT", c.scanCount]),
    toCacheError("clear", undefined)
  )

/** Removes every key under the prefix on one node, a `SCAN` batch at a time. */
const clearOn = (c: RedisContext, node: RedisClient.RedisClientShape): Effect.Effect<void, CacheError> => {
  const step = (cursor: string): Effect.Effect<void, CacheError> =>
    Effect.flatMap(scan(c, node, cursor), (reply) => {
      if (
        !Array.isArray(reply) || reply.length !== 2 || !(reply[0] instanceof Uint8Array) || !Array.isArray(reply[1])
      ) {
        return Effect.fail(unexpected("clear", undefined, reply))
      }
      const next = Buffer.from(reply[0]).toString("latin1")
      // Keys go back to the server as the exact bytes it sent: no decoding, so binary keys survive.
      const keys = reply[1] as ReadonlyArray<Uint8Array>
      const removed = c.remove("clear", undefined, keys)
      return next === "0" ? removed : Effect.andThen(removed, step(next))
    })
  return step("0")
}
