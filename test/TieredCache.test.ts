import * as Context from "#effect/Context"
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Layer from "#effect/Layer"
import * as Metric from "#effect/Metric"
import * as Option from "#effect/Option"
import * as Schema from "#effect/Schema"
import * as Exits from "#test-effect/Exits"
import * as LogCapture from "#test-effect/Logger"
import * as TestClock from "#test-effect/TestClock"
import { describe, expect, it } from "#test-effect/vitest"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as Policy from "../src/Policy.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import { type CacheError, RemoteCacheBackend } from "../src/RemoteCacheBackend.js"
import * as TieredCache from "../src/TieredCache.js"
import * as RedisServer from "./utils/RedisServer.js"
import { awaitSubscribers, eventually } from "./utils/Subscribers.js"

/** Counts the L2 reads, to prove which reads never left the process. */
const countingRemote = (backend: Layer.Layer<RemoteCacheBackend>) => {
  const counts = { reads: 0 }
  const layer = Layer.effect(
    RemoteCache.RemoteCache,
    Effect.gen(function*() {
      const inner = yield* RemoteCache.make(RemoteCache.defaultPolicy)
      return {
        ...inner,
        get: (key: string) => Effect.suspend(() => (counts.reads++, inner.get(key))),
        getWithTtl: (key: string) => Effect.suspend(() => (counts.reads++, inner.getWithTtl(key)))
      }
    })
  ).pipe(Layer.provide(backend))
  return { counts, layer }
}

/** A tiered cache over a given remote layer, built in the current scope. */
const tieredOver = (
  remote: Layer.Layer<RemoteCache.RemoteCache>,
  options: TieredCache.TieredCacheOptions = {},
  bus: Layer.Layer<TieredCache.InvalidationBus> = TieredCache.layerMemoryBus
) =>
  Effect.map(
    Layer.build(TieredCache.layer(options).pipe(Layer.provide(remote), Layer.provide(bus))),
    Context.get(TieredCache.TieredCache)
  )

describe("TieredCache over MemoryBackend", () => {
  it.effect("read-through: L1 hits cost no L2 read; a write goes to L2 and the next read back-fills L1", () =>
    Effect.gen(function*() {
      const { counts, layer } = countingRemote(MemoryBackend.layer())
      const cache = yield* tieredOver(layer)
      expect(yield* cache.get("k")).toStrictEqual(Option.none())
      expect(counts.reads).toBe(1)
      yield* cache.set("k", { v: 1 })
      expect(yield* cache.l1Size).toBe(0)
      for (let i = 0; i < 10; i++) expect(yield* cache.get("k")).toStrictEqual(Option.some({ v: 1 }))
      expect(counts.reads).toBe(2)
      yield* cache.delete("k")
      expect(yield* cache.get("k")).toStrictEqual(Option.none())
      expect(counts.reads).toBe(3)
    }))

  it.effect("metrics count L1 hits, L2 hits, misses and computations", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore()
      const remote = RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer({ store })))
      const writer = yield* tieredOver(remote)
      const cache = yield* tieredOver(remote)
      const count = (metric: typeof TieredCache.l1HitsTotal) => Effect.map(Metric.value(metric), (state) => state.count)
      const before = yield* Effect.all([
        count(TieredCache.l1HitsTotal),
        count(TieredCache.l2HitsTotal),
        count(TieredCache.missesTotal),
        count(TieredCache.computesTotal)
      ])
      yield* writer.set("k", 1)
      yield* cache.get("k") // L2 hit, back-filled
      yield* cache.get("k") // L1 hit
      yield* cache.get("none") // miss
      yield* cache.getOrCompute("c", Effect.succeed(2)) // miss, then a computation
      const after = yield* Effect.all([
        count(TieredCache.l1HitsTotal),
        count(TieredCache.l2HitsTotal),
        count(TieredCache.missesTotal),
        count(TieredCache.computesTotal)
      ])
      expect(after.map((n, i) => n - before[i]!)).toEqual([1, 1, 2, 1])
    }))

  it.effect("an L2 hit back-fills L1, never beyond the L2 entry's remaining TTL nor l1Ttl", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore()
      const shared = MemoryBackend.layer({ store })
      const writer = yield* tieredOver(RemoteCache.layerDefault.pipe(Layer.provide(shared)))
      const { counts, layer } = countingRemote(shared)
      const reader = yield* tieredOver(layer, { l1Ttl: "1 minute" })

      yield* writer.set("short", "s", "10 seconds")
      yield* TestClock.adjust("4 seconds")
      expect(yield* reader.get("short")).toStrictEqual(Option.some("s")) // L2 hit, 6 s left
      expect(counts.reads).toBe(1)
      yield* TestClock.adjust("5 seconds")
      expect(yield* reader.get("short")).toStrictEqual(Option.some("s")) // L1 hit
      expect(counts.reads).toBe(1)
      yield* TestClock.adjust("2 seconds")
      // Expired in L2 (10 s) and so in L1 too, although l1Ttl is a minute.
      expect(yield* reader.get("short")).toStrictEqual(Option.none())
      expect(counts.reads).toBe(2)

      yield* writer.set("long", "l")
      const shortL1 = yield* tieredOver(countingRemote(shared).layer, { l1Ttl: "1 second" })
      expect(yield* shortL1.get("long")).toStrictEqual(Option.some("l"))
      expect(yield* shortL1.l1Size).toBe(1)
      yield* TestClock.adjust("1 second")
      // l1Ttl passed: the next read goes back to L2, which still has it.
      expect(yield* shortL1.get("long")).toStrictEqual(Option.some("l"))
    }))

  it.effect("set with a TTL expires in both tiers; a TTL <= 0 removes from both", () =>
    Effect.gen(function*() {
      const cache = yield* tieredOver(RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer())))
      yield* cache.set("k", 1, "100 millis")
      yield* TestClock.adjust("100 millis")
      expect(yield* cache.get("k")).toStrictEqual(Option.some(1))
      yield* TestClock.adjust("1 millis")
      expect(yield* cache.get("k")).toStrictEqual(Option.none())
      yield* cache.set("k", 2)
      yield* cache.set("k", 3, 0)
      expect(yield* cache.get("k")).toStrictEqual(Option.none())
    }))

  it.effect("1,000 concurrent getOrCompute callers for one missing key run the computation once", () =>
    Effect.gen(function*() {
      const cache = yield* tieredOver(RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer())))
      const gate = yield* Deferred.make<void>()
      let computed = 0
      const compute = Effect.andThen(Deferred.await(gate), Effect.sync(() => ++computed))
      const fibers = yield* Effect.forEach(
        Array.from({ length: 1_000 }),
        () => Effect.forkChild(cache.getOrCompute("hot", compute))
      )
      yield* Effect.yieldNow
      yield* Deferred.succeed(gate, undefined)
      const results = yield* Effect.forEach(fibers, Fiber.join)
      expect(computed).toBe(1)
      expect(new Set(results)).toStrictEqual(new Set([1]))
      // The value was written through: later callers hit L1 without computing.
      expect(yield* cache.getOrCompute("hot", compute)).toBe(1)
      expect(computed).toBe(1)
    }))

  it.effect("a failing computation fails every waiter and caches nothing", () =>
    Effect.gen(function*() {
      const cache = yield* tieredOver(RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer())))
      const gate = yield* Deferred.make<void>()
      let attempts = 0
      const failing = Effect.andThen(Deferred.await(gate), Effect.suspend(() => (attempts++, Effect.fail("boom"))))
      const fibers = yield* Effect.forEach(Array.from({ length: 10 }), () =>
        Effect.forkChild(cache.getOrCompute("k", failing)))
      yield* Effect.yieldNow
      yield* Deferred.succeed(gate, undefined)
      for (const fiber of fibers) {
        expect(Exits.plain(yield* Fiber.await(fiber))).toStrictEqual(Exit.fail("boom"))
      }
      expect(attempts).toBe(1)
      expect(yield* cache.get("k")).toStrictEqual(Option.none())
      expect(yield* cache.getOrCompute("k", Effect.succeed("second try"))).toBe("second try")
    }))

  it.effect("interrupting one waiter, even the first, does not cancel the computation for the others", () =>
    Effect.gen(function*() {
      const cache = yield* tieredOver(RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer())))
      const gate = yield* Deferred.make<void>()
      let computed = 0
      const compute = Effect.andThen(Deferred.await(gate), Effect.sync(() => ++computed))
      const first = yield* Effect.forkChild(cache.getOrCompute("k", compute))
      yield* Effect.yieldNow
      const second = yield* Effect.forkChild(cache.getOrCompute("k", compute))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(first)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.join(second)).toBe(1)
      expect(computed).toBe(1)
      expect(yield* cache.get("k")).toStrictEqual(Option.some(1))
    }))

  it.effect("two instances over one store and one bus invalidate each other's L1 (set, delete, clear)", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore()
      const remote = RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer({ store })))
      const bus = Layer.succeedContext(yield* Layer.build(TieredCache.layerMemoryBus))
      const a = yield* tieredOver(remote, {}, bus)
      const b = yield* tieredOver(remote, {}, bus)
      yield* a.set("k", "v1")
      expect(yield* b.get("k")).toStrictEqual(Option.some("v1")) // now in b's L1
      yield* a.set("k", "v2")
      expect(yield* b.get("k")).toStrictEqual(Option.some("v2"))
      yield* a.delete("k")
      expect(yield* b.get("k")).toStrictEqual(Option.none())
      yield* a.set("x", 1)
      expect(yield* b.get("x")).toStrictEqual(Option.some(1))
      yield* a.clear
      expect(yield* b.get("x")).toStrictEqual(Option.none())
      expect(yield* b.l1Size).toBe(0)
    }))

  it.effect("the typed view decodes on read; a value of another shape is a miss and is recomputed", () =>
    Effect.gen(function*() {
      const cache = yield* tieredOver(RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer())))
      const User = Schema.Struct({ name: Schema.String, joined: Schema.Date })
      const users = yield* TieredCache.forSchema(User).pipe(Effect.provideService(TieredCache.TieredCache, cache))
      yield* users.set("u", { name: "Ada", joined: new Date(0) })
      expect(yield* users.get("u")).toStrictEqual(Option.some({ name: "Ada", joined: new Date(0) }))
      yield* cache.set("old", { nom: "legacy shape" })
      expect(yield* users.get("old")).toStrictEqual(Option.none())
      const fresh = yield* users.getOrCompute("old", Effect.succeed({ name: "Bo", joined: new Date(1) }))
      expect(fresh).toStrictEqual({ name: "Bo", joined: new Date(1) })
      expect(yield* users.get("old")).toStrictEqual(Option.some({ name: "Bo", joined: new Date(1) }))
    }))

  it.effect("the typed view counts a value of another shape as a schema error and logs its key, as RemoteCache's does", () =>
    Effect.gen(function*() {
      const cache = yield* tieredOver(RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer())))
      const User = Schema.Struct({ name: Schema.String })
      const users = yield* TieredCache.forSchema(User).pipe(Effect.provideService(TieredCache.TieredCache, cache))
      // The error tag the count carries: the schema error's own (`ParseError` on Effect 3, `SchemaError` on Effect 4).
      const schemaErrorTag = (yield* Effect.flip(Schema.decodeUnknownEffect(User)(null)))._tag
      const parseErrors = (operation: string) =>
        Effect.map(
          Metric.value(
            RemoteCache.errorsTotal.pipe(Metric.withAttributes({ operation, error: schemaErrorTag }))
          ),
          (state) => state.count
        )
      const capture = yield* LogCapture.capture
      const before = yield* Effect.all([parseErrors("get"), parseErrors("getOrCompute")])
      yield* cache.set("old", { nom: "private-legacy-value" })
      yield* Effect.gen(function*() {
        expect(yield* users.get("old")).toStrictEqual(Option.none())
        expect(yield* users.getOrCompute("old", Effect.succeed({ name: "Bo" }))).toStrictEqual({ name: "Bo" })
      }).pipe(Effect.provide(capture.layer))
      const lines = capture.lines.map((line) => [line.message, line.annotations] as const)
      const after = yield* Effect.all([parseErrors("get"), parseErrors("getOrCompute")])
      // `get` back-filled L1 with the stored form: getOrCompute rejects it there, then in L2, then computes.
      expect(after.map((n, i) => n - before[i]!)).toEqual([1, 2])
      const getOrComputeMiss = [
        "cache getOrCompute miss: the stored value does not match the schema",
        { "cache.operation": "getOrCompute", "cache.key": "old" }
      ]
      expect(lines).toStrictEqual([
        ["cache get miss: the stored value does not match the schema", {
          "cache.operation": "get",
          "cache.key": "old"
        }],
        getOrComputeMiss,
        getOrComputeMiss
      ])
      expect(JSON.stringify(lines)).not.toContain("private-legacy-value")
    }))

  it.effect("bad options are defects", () =>
    Effect.gen(function*() {
      const remote = RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer()))
      const exit = yield* Effect.exit(Effect.scoped(tieredOver(remote, { capacity: 0 })))
      expect(Exit.isFailure(exit)).toBe(true)
      const exit2 = yield* Effect.exit(Effect.scoped(tieredOver(remote, { l1Ttl: Number.NaN })))
      expect(Exit.isFailure(exit2)).toBe(true)
    }))
})

/** One "process": its own RedisClient (commands + subscriber) under a tiered cache over Redis. */
const redisInstance = (
  server: RedisServer.RedisServerShape,
  clientOptions: RedisClient.RedisClientOptions = {},
  policy: Policy.Policy<CacheError, never> = RemoteCache.defaultPolicy
) => {
  const client = RedisClient.layer({ host: server.host, port: server.port, ...clientOptions })
  return Effect.map(
    Layer.build(
      TieredCache.layer().pipe(
        Layer.provide(RemoteCache.layer(policy)),
        Layer.provide(RedisBackend.layerWithoutClient({ prefix: "tiered:" })),
        Layer.provide(TieredCache.layerRedisBus),
        Layer.provide(client),
        Layer.orDie
      )
    ),
    Context.get(TieredCache.TieredCache)
  )
}

describe("TieredCache over Redis", () => {
  it.live("two instances: set, delete and clear in one drop the key from the other's L1", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const a = yield* redisInstance(server)
      const b = yield* redisInstance(server)
      yield* awaitSubscribers(server, 2)
      yield* a.set("k", "v1")
      expect(yield* b.get("k")).toStrictEqual(Option.some("v1"))
      yield* a.set("k", "v2")
      yield* eventually(b.get("k"), (v) => Option.getOrNull(v) === "v2")
      yield* a.delete("k")
      yield* eventually(b.get("k"), Option.isNone)
      yield* a.set("x", 1)
      yield* a.set("y", 2)
      expect(yield* b.get("x")).toStrictEqual(Option.some(1))
      expect(yield* b.get("y")).toStrictEqual(Option.some(2))
      yield* a.clear
      yield* eventually(b.l1Size, (n) => n === 0)
      expect(yield* b.get("x")).toStrictEqual(Option.none())
      expect(yield* server.cli("EXISTS", "tiered:y")).toBe("0")
    }))

  it.live("after its subscriber reconnects, an instance clears its L1 (messages may have been lost)", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const b = yield* redisInstance(server, { reconnectMaxDelay: "200 millis" })
      yield* awaitSubscribers(server, 1)
      yield* b.set("k", "v")
      expect(yield* b.get("k")).toStrictEqual(Option.some("v"))
      expect(yield* b.l1Size).toBe(1)
      // Drop only the pub/sub connections: the data stays, the subscriber must reconnect.
      yield* server.cli("CLIENT", "KILL", "TYPE", "pubsub")
      yield* eventually(b.l1Size, (n) => n === 0)
      expect(yield* b.get("k")).toStrictEqual(Option.some("v")) // from L2 again
    }))

  it.live("L2 stopped mid-test: L1 hits still served, misses computed, nothing throws or hangs", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const cache = yield* redisInstance(server, {
        commandTimeout: "300 millis",
        connectTimeout: "300 millis"
      })
      yield* awaitSubscribers(server, 1)
      yield* cache.set("warm", "in L1")
      expect(yield* cache.get("warm")).toStrictEqual(Option.some("in L1")) // back-filled
      yield* server.kill
      const started = Date.now()
      expect(yield* cache.get("warm")).toStrictEqual(Option.some("in L1"))
      expect(yield* cache.get("cold")).toStrictEqual(Option.none())
      expect(yield* cache.getOrCompute("computed", Effect.succeed(42))).toBe(42)
      expect(yield* cache.get("computed")).toStrictEqual(Option.some(42)) // kept in L1
      yield* cache.set("s", 1)
      yield* cache.delete("s")
      yield* cache.clear
      expect(Date.now() - started).toBeLessThan(5_000)
      yield* server.start
      // Back up: writes reach L2 again once the client has reconnected.
      yield* eventually(
        Effect.andThen(cache.set("after", "ok"), server.cli("GET", "tiered:after")),
        (raw) => raw.length > 0
      )
    }))
})
