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
export const clear = (c: RedisContext): Effect.Effect<void, CacheError> => clearUnder(c, "")

/** {@link clear} of the keys of this backend that start with `under` (`KeyValueStore`'s `clear` and `clearPrefix`). */
export const clearUnder = (c: RedisContext, under: string): Effect.Effect<void, CacheError> =>
  Effect.asVoid(onEveryPrimary(c, (node) => clearOn(c, node, c.prefix + under)))

/**
 * The keys of this backend (without its prefix) that start with `under`, each once: the same `SCAN` as
 * {@link clear}, on every primary of a cluster, keeping what it finds instead of removing it. A key's bytes after
 * the prefix are decoded as UTF-8.
 */
export const keysUnder = (c: RedisContext, under: string): Effect.Effect<ReadonlyArray<string>, CacheError> =>
  Effect.suspend(() => {
    const found = new Set<string>()
    const skip = Buffer.byteLength(c.prefix)
    return Effect.map(
      onEveryPrimary(c, (node) =>
        walk(c, node, c.prefix + under, (keys) =>
          Effect.sync(() => {
            for (const key of keys) found.add(Buffer.from(key.subarray(skip)).toString("utf8"))
          }))),
      () => Array.from(found)
    )
  })

const onEveryPrimary = (
  c: RedisContext,
  f: (node: RedisClient.RedisClientShape) => Effect.Effect<void, CacheError>
): Effect.Effect<void, CacheError> =>
  Effect.suspend(() =>
    c.client.primaries === undefined ? f(c.client) : Effect.flatMap(
      Effect.mapError(c.client.primaries, toCacheError("clear", undefined)),
      (primaries) => Effect.forEach(primaries, f, { concurrency: "unbounded", discard: true })
    )
  )

/** One `SCAN` step on `node` from `cursor`. */
const scan = (c: RedisContext, node: RedisClient.RedisClientShape, prefix: string, cursor: string) =>
  Effect.mapError(
    node.send(["SCAN", cursor, "MATCH", matchOf(prefix), "COUNT", c.scanCount]),
    toCacheError("clear", undefined)
  )

/** Hands every `SCAN` batch of the keys under `prefix` on one node to `each`, one batch at a time. */
const walk = (
  c: RedisContext,
  node: RedisClient.RedisClientShape,
  prefix: string,
  each: (keys: ReadonlyArray<Uint8Array>) => Effect.Effect<void, CacheError>
): Effect.Effect<void, CacheError> => {
  const step = (cursor: string): Effect.Effect<void, CacheError> =>
    Effect.flatMap(scan(c, node, prefix, cursor), (reply) => {
      if (
        !Array.isArray(reply) || reply.length !== 2 || !(reply[0] instanceof Uint8Array) || !Array.isArray(reply[1])
      ) {
        return Effect.fail(unexpected("clear", undefined, reply))
      }
      const next = Buffer.from(reply[0]).toString("latin1")
      const handled = each(reply[1] as ReadonlyArray<Uint8Array>)
      return next === "0" ? handled : Effect.andThen(handled, step(next))
    })
  return step("0")
}

/** Removes every key under `prefix` on one node, a `SCAN` batch at a time. */
const clearOn = (
  c: RedisContext,
  node: RedisClient.RedisClientShape,
  prefix: string
): Effect.Effect<void, CacheError> =>
  // Keys go back to the server as the exact bytes it sent: no decoding, so binary keys survive.
  walk(c, node, prefix, (keys) => c.remove("clear", undefined, keys))
