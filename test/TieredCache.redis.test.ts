/**
 * The two-tier cache over a real Redis it starts itself: cross-process invalidation by default, one L2 read per
 * single-flight group (counted by the server), and no stall while the server is stopped or dead.
 */
import * as Context from "#effect/Context"
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Fiber from "#effect/Fiber"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as Schedule from "#effect/Schedule"
import * as Schema from "#effect/Schema"
import { describe, expect, it } from "#test-effect/vitest"
import * as Policy from "../src/Policy.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import type { CacheError } from "../src/RemoteCacheBackend.js"
import * as TieredCache from "../src/TieredCache.js"
import * as RedisServer from "./utils/RedisServer.js"
import { awaitSubscribers, eventually } from "./utils/Subscribers.js"

/** One "process": its own client under the tiered cache built with the Redis layers' defaults. */
const instance = (
  server: RedisServer.RedisServerShape,
  policy: Policy.Policy<CacheError, never> = RemoteCache.defaultPolicy
) =>
  Effect.map(
    Layer.build(
      TieredCache.layerRedis().pipe(
        Layer.provide(RemoteCache.layer(policy)),
        Layer.provide(RedisBackend.layerWithoutClient()),
        Layer.provide(RedisClient.layer({ host: server.host, port: server.port })),
        Layer.orDie
      )
    ),
    Context.get(TieredCache.TieredCache)
  )

/** Calls of one command since the last `CONFIG RESETSTAT`, from `INFO commandstats`. */
const calls = (server: RedisServer.RedisServerShape, command: string) =>
  Effect.map(server.cli("INFO", "commandstats"), (info) => {
    const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, "m").exec(info)
    return match === null ? 0 : Number(match[1])
  })

describe("TieredCache over Redis: defaults", () => {
  it.live("two instances built with the default Redis layers see each other's writes and deletes", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const a = yield* instance(server)
      const b = yield* instance(server)
      yield* awaitSubscribers(server, 2)
      yield* a.set("k", "v1")
      expect(yield* b.get("k")).toStrictEqual(Option.some("v1")) // now in b's L1
      yield* a.set("k", "v2")
      yield* eventually(b.get("k"), (v) => Option.getOrNull(v) === "v2")
      expect(yield* a.get("k")).toStrictEqual(Option.some("v2")) // now in a's L1
      yield* b.delete("k")
      yield* eventually(a.get("k"), Option.isNone)
      yield* b.set("j", 1)
      expect(yield* a.get("j")).toStrictEqual(Option.some(1))
      yield* b.clear
      yield* eventually(a.l1Size, (n) => n === 0)
    }))

  it("the types require an invalidation bus: a cache over Redis cannot silently go without one", () => {
    // @ts-expect-error: `layer` needs an InvalidationBus; `layerRedis` or `layerInProcess` choose one.
    const missing: Layer.Layer<TieredCache.TieredCache, never, RemoteCache.RemoteCache> = TieredCache.layer()
    const chosen: Layer.Layer<TieredCache.TieredCache, never, RemoteCache.RemoteCache> = TieredCache.layerInProcess()
    expect([missing, chosen].every(Layer.isLayer)).toBe(true)
  })
})

const User = Schema.Struct({ id: Schema.Number, name: Schema.String })

describe("TieredCache over Redis: single flight", () => {
  it.live("N concurrent getOrCompute callers on a missing key make one L2 read and one computation, typed or not", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const cache = yield* instance(server)
      const users = yield* Effect.provideService(TieredCache.forSchema(User), TieredCache.TieredCache, cache)
      yield* awaitSubscribers(server, 1)

      const run = (key: string, typed: boolean) =>
        Effect.gen(function*() {
          yield* server.cli("CONFIG", "RESETSTAT")
          const gate = yield* Deferred.make<void>()
          let computed = 0
          const compute = Effect.andThen(Deferred.await(gate), Effect.sync(() => (computed++, { id: 1, name: "Ada" })))
          const fibers = yield* Effect.forEach(
            Array.from({ length: 20 }),
            () => Effect.forkChild(typed ? users.getOrCompute(key, compute) : cache.getOrCompute(key, compute))
          )
          yield* Effect.yieldNow
          yield* Deferred.succeed(gate, undefined)
          const results = yield* Effect.forEach(fibers, Fiber.join)
          expect(results.every((user) => user.name === "Ada")).toBe(true)
          expect(computed).toBe(1)
          expect(yield* calls(server, "get")).toBe(1)
          expect(yield* calls(server, "pttl")).toBe(1)
          expect(yield* calls(server, "set")).toBe(1)
        })
      yield* run("typed", true)
      yield* run("untyped", false)
    }))
})

/** The production policy: a 100 ms timeout per attempt, one retry, a breaker, failures as misses. */
const outagePolicy = Policy.timeout("100 millis").pipe(
  Policy.retry(Schedule.recurs(1)),
  Policy.circuitBreaker({ failureThreshold: 5, resetAfter: "10 seconds" }),
  Policy.recoverToMiss
)
const policyTimeoutMillis = 100
const computeMillis = 50
/** Generous for a busy machine, and still far below the client's 5 s command timeout that a stall would show. */
const marginMillis = 1_000
const bound = policyTimeoutMillis + computeMillis + marginMillis

/** 50 consecutive calls, cycling getOrCompute (a missing key each time), set and delete, each timed. */
const fiftyCalls = (cache: TieredCache.TieredCacheShape) =>
  Effect.gen(function*() {
    const slowest: Array<number> = []
    for (let i = 0; i < 50; i++) {
      const started = performance.now()
      switch (i % 3) {
        case 0:
          expect(yield* cache.getOrCompute(`c${i}`, Effect.as(Effect.sleep(computeMillis), i))).toBe(i)
          break
        case 1:
          yield* cache.set(`s${i}`, i)
          break
        default:
          yield* cache.delete(`s${i - 1}`)
      }
      slowest.push(performance.now() - started)
    }
    return Math.max(...slowest)
  })

describe("TieredCache over Redis: no stall while Redis is down", () => {
  it.live(
    "server stopped (SIGSTOP): every call returns within the policy's timeout + compute + margin",
    () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const cache = yield* instance(server, outagePolicy)
        yield* awaitSubscribers(server, 1)
        yield* cache.set("warm", 1)
        yield* server.pause
        expect(yield* fiftyCalls(cache)).toBeLessThan(bound)
        // Building another instance (its subscriber start included) does not wait for the server either.
        const started = performance.now()
        const late = yield* instance(server, outagePolicy)
        expect(yield* late.getOrCompute("late", Effect.succeed(1))).toBe(1)
        expect(performance.now() - started).toBeLessThan(bound)
        yield* server.resume
      }),
    30_000
  )

  it.live(
    "server killed: every call returns within the policy's timeout + compute + margin",
    () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const cache = yield* instance(server, outagePolicy)
        yield* awaitSubscribers(server, 1)
        yield* server.kill
        expect(yield* fiftyCalls(cache)).toBeLessThan(bound)
        const started = performance.now()
        const late = yield* instance(server, outagePolicy)
        expect(yield* late.getOrCompute("late", Effect.succeed(1))).toBe(1)
        expect(performance.now() - started).toBeLessThan(bound)
      }),
    30_000
  )
})

describe("TieredCache over Redis: an evicted tag key never resurrects an entry", () => {
  it.live("allkeys-lfu under maxmemory evicts the tag key of a hot, invalidated entry: it stays a miss", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const raw = yield* RedisClient.make({ host: server.host, port: server.port })
      const a = yield* instance(server)
      const b = yield* instance(server)
      yield* awaitSubscribers(server, 2)
      const prefix = "ac:"
      const tagKey = `${prefix}${TieredCache.defaultTagKeyPrefix}t`
      yield* a.set("p", "old", { ttl: "1 hour", tags: ["t"] })
      yield* a.invalidateTags(["t"])
      yield* eventually(b.get("p"), Option.isNone)
      // A memory limit just above what the server holds now, and values that push past it.
      const info = String(yield* raw.send(["INFO", "memory"]))
      const used = Number(/used_memory:(\d+)/.exec(info)![1])
      yield* raw.send(["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"])
      yield* raw.send(["CONFIG", "SET", "maxmemory", String(used + 512 * 1024)])
      const filler = "x".repeat(8 * 1024)
      let i = 0
      // The entry is kept hot (read after every write, so its LFU counter climbs); the tag key, untouched since the
      // invalidation, is among the least frequently used and goes.
      while ((yield* raw.send(["EXISTS", tagKey])) === 1) {
        yield* raw.send(["SET", `filler:${i++}`, filler])
        yield* raw.send(["GET", `${prefix}p`])
        if (i > 20_000) throw new Error("the tag key was never evicted")
      }
      expect(yield* raw.send(["EXISTS", `${prefix}p`])).toBe(1)
      const fresh = yield* instance(server)
      expect(yield* fresh.get("p")).toStrictEqual(Option.none())
      expect(yield* b.get("p")).toStrictEqual(Option.none())
      expect(yield* fresh.getOrCompute("p", Effect.succeed("recomputed"), { ttl: "1 hour", tags: ["t"] }))
        .toBe("recomputed")
    }))
})
