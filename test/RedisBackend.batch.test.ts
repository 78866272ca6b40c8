import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Either, Exit, Fiber, Option } from "effect"
import { defaultLoneReads, TickBatcher } from "../src/core/client/batch.js"
import { ClientSeamId, clientSeamOf, type WithClientSeam } from "../src/internal/seams.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import type { CacheError } from "../src/RemoteCacheBackend.js"
import { RedisServer } from "./utils/RedisServer.js"

/**
 * A client that records the name and arity of every command it is asked to send, then sends it; through `send`
 * only (as a cluster client, which has no `submit`), or also through the client's callback-level `submit`.
 */
const recording = (client: RedisClient.RedisClientShape, via: Via) => {
  const sent: Array<string> = []
  const name = (command: RedisClient.Command) => `${String(command[0])}/${command.length - 1}`
  const spy: RedisClient.RedisClientShape & WithClientSeam = {
    ...client,
    send: (command) => Effect.suspend(() => (sent.push(name(command)), client.send(command))),
    pipeline: (commands) =>
      Effect.suspend(() => (sent.push(`pipeline[${commands.map(name).join(",")}]`), client.pipeline(commands))),
    [ClientSeamId]: via === "send" ? {} : {
      submit: (command, resume) => {
        sent.push(name(command))
        clientSeamOf(client).submit!(command, resume)
      }
    }
  }
  return { spy, sent }
}

type Via = "submit" | "send"

const backendOnVia = (via: Via) => (server: RedisServer["Type"], options: RedisBackend.MakeOptions = {}) =>
  Effect.gen(function*() {
    const client = yield* RedisClient.make({ host: server.host, port: server.port })
    // The single-node client offers its fast path: forgetting it would only slow the backend down.
    expect(clientSeamOf(client).submit).toBeDefined()
    const { sent, spy } = recording(client, via)
    const cache = yield* Effect.provideService(RedisBackend.make(options), RedisClient.RedisClient, spy)
    return { cache, sent }
  })

const errorShape = (error: CacheError) => ({
  _tag: error._tag,
  operation: error.operation,
  key: error.key,
  message: error.message,
  cause: (error.cause as { _tag?: string } | undefined)?._tag
})

const nextTick = () => new Promise<void>((resolve) => process.nextTick(resolve))

describe("TickBatcher", () => {
  it("sends the first reads of a tick alone, the rest together at the end of the tick, in chunks of maxSize", async () => {
    const chunks: Array<ReadonlyArray<number>> = []
    const batcher = new TickBatcher<number>(4, (items) => chunks.push(items), 2)
    const alone: Array<number> = []
    for (let i = 0; i < 12; i++) {
      if (batcher.alone()) alone.push(i)
      else batcher.add(i)
    }
    expect(alone).toStrictEqual([0, 1])
    // A chunk that reaches the bound leaves at once; the rest waits for the end of the tick.
    expect(chunks).toStrictEqual([[2, 3, 4, 5], [6, 7, 8, 9]])
    await nextTick()
    expect(chunks).toStrictEqual([[2, 3, 4, 5], [6, 7, 8, 9], [10, 11]])
    // A new tick: its first reads are alone again, and a tick of lone reads sends nothing more.
    expect([batcher.alone(), batcher.alone()]).toStrictEqual([true, true])
    await nextTick()
    expect(chunks).toHaveLength(3)
  })

  it("by default lets 64 reads of a tick go alone", async () => {
    const chunks: Array<ReadonlyArray<number>> = []
    const batcher = new TickBatcher<number>(1_000, (items) => chunks.push(items))
    const alone = Array.from({ length: 66 }, (_, i) => batcher.alone() ? i : (batcher.add(i), -1))
    expect(defaultLoneReads).toBe(64)
    expect(alone.filter((i) => i >= 0)).toStrictEqual(Array.from({ length: 64 }, (_, i) => i))
    await nextTick()
    expect(chunks).toStrictEqual([[64, 65]])
  })
})

/** `n` times `command`: the lone reads a tick sends before it batches. */
const lone = <A>(item: A, n = defaultLoneReads): Array<A> => Array.from({ length: n }, () => item)

for (const via of ["submit", "send"] as const) {
  describe(`RedisBackend read batching, through ${via}`, () => {
    const backendOn = backendOnVia(via)
    layer(RedisServer.layer(), { excludeTestServices: true })((it) => {
      it.scoped("reads of one tick: the first 64 are GETs, the others one MGET; sequential reads stay GETs", () =>
        Effect.gen(function*() {
          const server = yield* RedisServer
          const { cache, sent } = yield* backendOn(server, { prefix: "b1:" })
          yield* cache.setMany([["a", 1], ["b", 2], ["c", 3]])
          sent.length = 0
          const keys = [...lone("a"), "b", "missing", "c", "a", "b"]
          const values = yield* Effect.forEach(keys, (key) => cache.get(key), { concurrency: 256 })
          expect(values).toStrictEqual([...lone(1), 2, undefined, 3, 1, 2].map(Option.fromNullable))
          expect(sent).toStrictEqual([...lone("GET/1"), "MGET/5"])

          sent.length = 0
          for (const key of keys.slice(60)) yield* cache.get(key)
          expect(sent).toStrictEqual(lone("GET/1", 9))
          // Concurrent reads, no more than go alone, are sent as they would be without batching.
          sent.length = 0
          yield* Effect.forEach(keys.slice(0, 16), (key) => cache.get(key), { concurrency: 16 })
          expect(sent).toStrictEqual(lone("GET/1", 16))
        }))

      it.scoped("getWithTtl of one tick: the first 64 are their own GET + PTTL, the others' pairs one pipelined write", () =>
        Effect.gen(function*() {
          const server = yield* RedisServer
          const { cache, sent } = yield* backendOn(server, { prefix: "b2:" })
          yield* cache.set("a", "x")
          yield* cache.set("b", "y", 60_000)
          sent.length = 0
          const keys = [...lone("a"), "a", "b", "missing", "b"]
          const entries = yield* Effect.forEach(keys, (key) => cache.getWithTtl(key), { concurrency: 256 })
          expect(entries.map(Option.map((entry) => entry.value))).toStrictEqual(
            [...lone("x"), "x", "y", undefined, "y"].map(Option.fromNullable)
          )
          expect(entries.map(Option.map((entry) => Option.isSome(entry.remainingTtl)))).toStrictEqual(
            [...lone(false), false, true, undefined, true].map(Option.fromNullable)
          )
          expect(sent).toStrictEqual([
            ...lone("pipeline[GET/1,PTTL/1]"),
            "pipeline[GET/1,PTTL/1,GET/1,PTTL/1,GET/1,PTTL/1,GET/1,PTTL/1]"
          ])
        }))

      it.scoped("batchReads: false sends every read as its own command", () =>
        Effect.gen(function*() {
          const server = yield* RedisServer
          const { cache, sent } = yield* backendOn(server, { prefix: "b3:", batchReads: false })
          yield* cache.set("a", 1)
          sent.length = 0
          yield* Effect.forEach(lone("a", 100), (key) => cache.get(key), { concurrency: 256 })
          yield* Effect.forEach(lone("b", 100), (key) => cache.getWithTtl(key), { concurrency: 256 })
          expect(sent).toStrictEqual([...lone("GET/1", 100), ...lone("pipeline[GET/1,PTTL/1]", 100)])
        }))

      it.scoped("a batch is split at maxBatchSize keys, and at 1,000 by default", () =>
        Effect.gen(function*() {
          const server = yield* RedisServer
          const small = yield* backendOn(server, { prefix: "b4:", maxBatchSize: 3 })
          yield* small.cache.set("k", "v")
          small.sent.length = 0
          const few = yield* Effect.forEach(lone("k", defaultLoneReads + 7), (key) => small.cache.get(key), {
            concurrency: "unbounded"
          })
          expect(few.every((value) => Option.getOrUndefined(value) === "v")).toBe(true)
          expect(small.sent).toStrictEqual([...lone("GET/1"), "MGET/3", "MGET/3", "MGET/1"])

          const large = yield* backendOn(server, { prefix: "b4:" })
          const many = yield* Effect.forEach(lone("k", 2_108), (key) => large.cache.get(key), {
            concurrency: "unbounded"
          })
          expect(many.every((value) => Option.getOrUndefined(value) === "v")).toBe(true)
          // A forEach this large yields to the scheduler now and then, so its reads may span more than one tick.
          const sizes = large.sent.map((command) => Number(command.split("/")[1]))
          expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(many.length)
          expect(large.sent.filter((command) => command === "MGET/1000").length).toBeGreaterThanOrEqual(2)
          expect(Math.max(...sizes)).toBe(1_000)
        }))

      it.scoped("a key holding a list reads as a miss, lone or batched, in get, getWithTtl and getMany", () =>
        Effect.gen(function*() {
          const server = yield* RedisServer
          yield* server.cli("RPUSH", "b5:list", "x")
          yield* server.cli("HSET", "b5:hash", "f", "v")
          for (const batchReads of [true, false]) {
            const { cache, sent } = yield* backendOn(server, { prefix: "b5:", batchReads })
            yield* cache.set("s", "string")
            sent.length = 0
            // Alone: a GET, which Redis answers with WRONGTYPE.
            expect(yield* cache.get("list")).toStrictEqual(Option.none())
            expect(yield* cache.getWithTtl("hash")).toStrictEqual(Option.none())
            // Together: with batching the reads after the first 64 of the tick are an MGET (nil for a list) and one
            // pipeline of pairs.
            const keys = [...lone("s"), "s", "list", "hash", "s"]
            const expected = [...lone("string"), "string", undefined, undefined, "string"].map(Option.fromNullable)
            const values = yield* Effect.forEach(keys, (key) => cache.get(key), { concurrency: 256 })
            expect(values).toStrictEqual(expected)
            const entries = yield* Effect.forEach(keys, (key) => cache.getWithTtl(key), { concurrency: 256 })
            expect(entries.map(Option.map((entry) => entry.value))).toStrictEqual(expected)
            expect(yield* cache.getMany(keys)).toStrictEqual(values)
            if (batchReads) expect(sent).toContain("MGET/4")
            // And a set replaces it, as it replaces any miss.
            yield* cache.set("list", "now a string")
            expect(yield* cache.get("list")).toStrictEqual(Option.some("now a string"))
            yield* server.cli("DEL", "b5:list")
            yield* server.cli("RPUSH", "b5:list", "x")
          }
        }))

      it.scoped("interrupting callers of a batch in flight leaves the others' reads alone", () =>
        Effect.gen(function*() {
          const server = yield* RedisServer
          const { cache, sent } = yield* backendOn(server, { prefix: "b6:" })
          yield* cache.setMany([["a", 1], ["b", 2], ["c", 3], ["d", 4]])
          sent.length = 0
          // Paused: the commands are written, no reply comes until it resumes.
          yield* server.pause
          const keys = [...lone("a"), "a", "b", "c", "d"]
          const fibers = yield* Effect.forEach(keys, (key) => Effect.fork(cache.get(key)))
          yield* Effect.sleep("100 millis")
          expect(sent).toStrictEqual([...lone("GET/1"), "MGET/4"])
          // Interruption does not wait for the server: a lone read and two reads of the batch stop at once.
          yield* Fiber.interrupt(fibers[0]!)
          const batched = fibers.slice(defaultLoneReads)
          const interrupted = yield* Fiber.interruptAll([batched[0]!, batched[2]!]).pipe(
            Effect.zipRight(Effect.forEach([batched[0]!, batched[2]!], Fiber.await))
          )
          expect(interrupted.every(Exit.isInterrupted)).toBe(true)
          yield* server.resume
          expect(yield* Fiber.join(fibers[1]!)).toStrictEqual(Option.some(1))
          expect(yield* Fiber.join(batched[1]!)).toStrictEqual(Option.some(2))
          expect(yield* Fiber.join(batched[3]!)).toStrictEqual(Option.some(4))
          // Nothing is left over on the connection: the next reads get their own replies.
          expect(yield* Effect.forEach(["c", "a"], (key) => cache.get(key), { concurrency: 2 })).toStrictEqual([
            Option.some(3),
            Option.some(1)
          ])
        }))
    })

    layer(RedisServer.layer({ args: ["--requirepass", "secret"] }), { excludeTestServices: true })((it) => {
      it.scoped("a failed batch fails each caller with the error a lone read gets, naming its own key", () =>
        Effect.gen(function*() {
          const server = yield* RedisServer
          // No password: every command is answered NOAUTH.
          const { cache, sent } = yield* backendOn(server, { prefix: "b7:" })
          const loneGet = yield* Effect.flip(cache.get("x"))
          const loneEntry = yield* Effect.flip(cache.getWithTtl("x"))
          expect(loneGet._tag).toBe("CacheReplyError")
          sent.length = 0
          const keys = [...lone("x"), "x", "y", "z", "y"]
          const errors = yield* Effect.forEach(keys, (key) => Effect.flip(cache.get(key)), { concurrency: 256 })
          const entryErrors = yield* Effect.forEach(keys, (key) => Effect.flip(cache.getWithTtl(key)), {
            concurrency: 256
          })
          expect(sent).toContain("MGET/4")
          expect(sent).toContain("pipeline[GET/1,PTTL/1,GET/1,PTTL/1,GET/1,PTTL/1,GET/1,PTTL/1]")
          for (const [i, key] of keys.entries()) {
            expect(errorShape(errors[i]!)).toStrictEqual({ ...errorShape(loneGet), key })
            expect(errorShape(entryErrors[i]!)).toStrictEqual({ ...errorShape(loneEntry), key })
          }
        }))
    })

    it.scopedLive(
      "a batch whose server is unreachable fails each caller with CacheConnectionError",
      () =>
        Effect.gen(function*() {
          const server = yield* RedisServer
          yield* server.stop
          const { cache, sent } = yield* backendOn(server, { prefix: "b8:" })
          const keys = [...lone("a"), "b", "c"]
          const results = yield* Effect.forEach(keys, (key) => Effect.either(cache.get(key)), { concurrency: 256 })
          expect(sent).toStrictEqual([...lone("GET/1"), "MGET/2"])
          for (const [i, result] of results.entries()) {
            expect(Either.isLeft(result)).toBe(true)
            if (Either.isLeft(result)) {
              expect(result.left._tag).toBe("CacheConnectionError")
              expect(result.left.operation).toBe("get")
              expect(result.left.key).toBe(keys[i])
            }
          }
        }).pipe(Effect.provide(RedisServer.layer())),
      { timeout: 30_000 }
    )
  })
}
