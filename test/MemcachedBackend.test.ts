/**
 * What the contract suite does not cover for `MemcachedBackend`: `clear` by generation across processes and across a
 * restart of the counter's server, memcached's limits (item size, 30-day and 2038 expiries), hostile keys at the
 * stored key's boundaries, several servers with one failing, paused or closed under load, and a model test.
 */
import * as Cause from "#effect/Cause"
import * as ConfigProvider from "#effect/ConfigProvider"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as Result from "#effect/Result"
import * as Scope from "#effect/Scope"
import { describe, expect, it } from "#test-effect/vitest"
import * as fc from "fast-check"
import { fullKey, generationKey } from "../src/core/memcached/key.js"
import * as Generation from "../src/core/memcached/generation.js"
import * as MemcachedBackend from "../src/MemcachedBackend.js"
import * as MemcachedClient from "../src/MemcachedClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import { RemoteCacheBackend, type RemoteCacheBackendShape } from "../src/RemoteCacheBackend.js"
import * as Serializer from "../src/Serializer.js"
import * as MemcachedServer from "./utils/MemcachedServer.js"
import { waitUntil } from "./utils/Wait.js"

type Server = MemcachedServer.MemcachedServerShape

const addresses = (servers: ReadonlyArray<Server>) => servers.map((server) => server.address)

/** A backend with a client of its own (as another process would have), released with the test's scope. */
const backendOn = (
  servers: ReadonlyArray<Server>,
  options: MemcachedBackend.MakeOptions & MemcachedClient.MemcachedClientOptions = {}
) =>
  Effect.flatMap(
    MemcachedClient.make({ servers: addresses(servers), ...options }),
    (client) => Effect.provideService(MemcachedBackend.make(options), MemcachedClient.MemcachedClient, client)
  )

const rawClient = (servers: ReadonlyArray<Server>) => MemcachedClient.make({ servers: addresses(servers) })

/** The generation stored for `prefix`, `undefined` when there is none. */
const storedGeneration = (raw: MemcachedClient.MemcachedClientShape, prefix: string) =>
  Effect.map(
    raw.metaGet(generationKey(prefix), { value: true }),
    (got) => got.kind === "hit" ? Generation.parse(got.value!) : undefined
  )

/** Values that are bytes, stored as they are: to put a value of an exact size in an item. */
const rawBytes = Serializer.make({
  name: "raw",
  encodeSync: (value) => Result.succeed(value as Uint8Array),
  decodeSync: (bytes) => Result.succeed(Uint8Array.from(bytes))
})

const backendService = Effect.gen(function*() {
  return yield* RemoteCacheBackend
})

const servers = (count: number, options?: MemcachedServer.MemcachedServerOptions) =>
  Effect.forEach(Array.from({ length: count }), () => MemcachedServer.make(options))

/** `count` keys, at least `each` of them on every server, found through the client's own routing. */
const keysPerServer = (
  raw: MemcachedClient.MemcachedClientShape,
  prefix: string,
  generation: bigint,
  serverCount: number,
  each: number
) => {
  const byServer: Array<Array<string>> = Array.from({ length: serverCount }, () => [])
  for (let i = 0; byServer.some((keys) => keys.length < each); i++) {
    const key = `key-${i}`
    const keys = byServer[raw.serverFor(fullKey(prefix, generation, key))]!
    if (keys.length < each) keys.push(key)
  }
  return byServer
}

describe("MemcachedBackend", () => {
  describe("clear by generation", () => {
    it.live("another process's clear is seen at once with generationTtl 0, within its window otherwise", () =>
      Effect.scoped(Effect.gen(function*() {
        const pool = yield* servers(3)
        const a = yield* backendOn(pool)
        const atOnce = yield* backendOn(pool, { generationTtl: 0 })
        const windowed = yield* backendOn(pool, { generationTtl: "300 millis" })
        const never = yield* backendOn(pool, { generationTtl: Duration.infinity })
        yield* a.set("k", "before")
        for (const b of [atOnce, windowed, never]) expect(yield* b.get("k")).toStrictEqual(Option.some("before"))
        yield* a.clear
        const cleared = performance.now()
        // Its own clear is seen by the backend that made it, at once.
        expect(yield* a.get("k")).toStrictEqual(Option.none())
        expect(yield* atOnce.get("k")).toStrictEqual(Option.none())
        // A backend that never reads the generation again keeps reading the old entries: the window, made visible.
        expect(yield* never.get("k")).toStrictEqual(Option.some("before"))
        let seenAfter = 0
        yield* Effect.gen(function*() {
          while (Option.isSome(yield* windowed.get("k"))) yield* Effect.sleep("5 millis")
          seenAfter = performance.now() - cleared
        })
        // 300 ms after the clear at most, plus what a busy machine adds to the read itself.
        expect(seenAfter).toBeLessThan(300 + 1_500)
        // Writes after the clear are seen by everyone.
        yield* a.set("k", "after")
        expect(yield* windowed.get("k")).toStrictEqual(Option.some("after"))
      })))

    it.live("concurrent clears from two processes: every increment counts, none is lost", () =>
      Effect.scoped(Effect.gen(function*() {
        const pool = yield* servers(1)
        const raw = yield* rawClient(pool)
        const a = yield* backendOn(pool, { prefix: "p:" })
        const b = yield* backendOn(pool, { prefix: "p:" })
        yield* a.set("k", 1)
        const before = (yield* storedGeneration(raw, "p:"))!
        yield* Effect.all([
          Effect.forEach(Array.from({ length: 50 }), () => a.clear, { concurrency: 10, discard: true }),
          Effect.forEach(Array.from({ length: 50 }), () => b.clear, { concurrency: 10, discard: true })
        ], { concurrency: "unbounded" })
        expect(yield* storedGeneration(raw, "p:")).toBe(before + 100n)
      })))

    it.live("the generation starts at a random value, not 0, and two prefixes never share one by design", () =>
      Effect.scoped(Effect.gen(function*() {
        const pool = yield* servers(1)
        const raw = yield* rawClient(pool)
        const a = yield* backendOn(pool, { prefix: "a:" })
        const b = yield* backendOn(pool, { prefix: "b:" })
        yield* a.get("x")
        yield* b.get("x")
        const ga = (yield* storedGeneration(raw, "a:"))!
        const gb = (yield* storedGeneration(raw, "b:"))!
        expect(ga).toBeGreaterThan(1000n)
        expect(ga).not.toBe(gb)
        expect(ga).toBeLessThan(Generation.freshBound)
      })))

    it.live("a restart of the server holding the generation never brings old entries back", () =>
      Effect.scoped(Effect.gen(function*() {
        const pool = yield* servers(3)
        const raw = yield* rawClient(pool)
        const writer = yield* backendOn(pool, { generationTtl: 0 })
        const cached = yield* backendOn(pool, { generationTtl: "200 millis" })
        yield* writer.get("warm")
        const generation = (yield* storedGeneration(raw, "ac:"))!
        const holder = raw.serverFor(generationKey("ac:"))
        // Keys on every server, the holder's included.
        const keys = keysPerServer(raw, "ac:", generation, 3, 5).flat()
        yield* writer.setMany(keys.map((key) => [key, key]))
        expect(yield* cached.getMany(keys)).toStrictEqual(keys.map((key) => Option.some(key)))

        yield* pool[holder]!.restart
        // The counter is gone with the holder's items; the entries on the two other servers are still there, under
        // the old generation, and must stay unreachable.
        const fresh = yield* Effect.eventually(writer.get("probe").pipe(Effect.andThen(storedGeneration(raw, "ac:"))))
        expect(fresh).toBeDefined()
        expect(fresh).not.toBe(generation)
        expect(yield* writer.getMany(keys)).toStrictEqual(keys.map(() => Option.none()))
        // The backend that cached the old generation reads the new one once its window has passed.
        yield* Effect.eventually(Effect.flatMap(cached.getMany(keys), (got) =>
          got.every(Option.isNone) ? Effect.void : Effect.fail("still old")))
        // And the old entries are still on the other servers, under the old generation: only unreachable.
        const survivors = yield* raw.getMany(keys.map((key) => fullKey("ac:", generation, key)))
        expect(survivors.filter((result) => result.kind === "hit").length).toBe(10)
      })))

    it.live("a counter overwritten with something that is not a number is replaced, and clear still clears", () =>
      Effect.scoped(Effect.gen(function*() {
        const pool = yield* servers(1)
        const raw = yield* rawClient(pool)
        const cache = yield* backendOn(pool, { generationTtl: 0 })
        yield* cache.set("k", 1)
        yield* raw.metaSet(generationKey("ac:"), "not a number")
        expect(yield* cache.get("k")).toStrictEqual(Option.none())
        yield* cache.set("k", 2)
        expect(yield* cache.get("k")).toStrictEqual(Option.some(2))
        yield* raw.metaSet(generationKey("ac:"), "garbage again")
        yield* cache.clear
        expect(yield* cache.get("k")).toStrictEqual(Option.none())
        expect(yield* storedGeneration(raw, "ac:")).toBeDefined()
      })))
  })

  describe("limits", () => {
    it.live("a value over the item size is CacheInputError before anything is sent: nothing is written or dropped", () =>
      Effect.scoped(Effect.gen(function*() {
        const [server] = yield* servers(1, { itemSize: "64k", args: ["-o", "slab_chunk_max=16384"] })
        const cache = yield* backendOn([server!], { serializer: Serializer.json, maxItemSize: 64 * 1024 })
        const big = "x".repeat(100 * 1024)
        yield* cache.set("k", "old")
        const error = yield* Effect.flip(cache.set("k", big))
        expect(error._tag).toBe("CacheInputError")
        expect(error.operation).toBe("set")
        expect(error.key).toBe("k")
        expect(error.isRetryable).toBe(false)
        expect(yield* cache.get("k")).toStrictEqual(Option.some("old"))
        // setIfAbsent leaves the present value alone (memcached itself would drop it on refusing the add).
        yield* cache.set("held", "kept")
        expect((yield* Effect.flip(cache.setIfAbsent("held", big)))._tag).toBe("CacheInputError")
        expect((yield* Effect.flip(cache.setIfAbsent("fresh", big)))._tag).toBe("CacheInputError")
        expect(yield* cache.getMany(["held", "fresh"])).toStrictEqual([Option.some("kept"), Option.none()])
        // setMany: checked whole before sending, the entry named, nothing stored.
        const many = yield* Effect.flip(cache.setMany([["a", 1], ["b", big], ["c", 3]]))
        expect(many._tag).toBe("CacheInputError")
        expect(many.key).toBe("b")
        expect(yield* cache.getMany(["a", "b", "c"])).toStrictEqual([Option.none(), Option.none(), Option.none()])
        // The boundary: the largest value that fits is stored (59 bytes of header, the stored key, the value).
        const raw = yield* rawClient([server!])
        const stored = fullKey("ac:", (yield* storedGeneration(raw, "ac:"))!, "edge")
        const fitting = new Uint8Array(64 * 1024 - 59 - stored.byteLength)
        const bytes = yield* backendOn([server!], { maxItemSize: 64 * 1024, serializer: rawBytes })
        yield* bytes.set("edge", fitting)
        expect(Option.getOrThrow(yield* bytes.get("edge"))).toStrictEqual(fitting)
        expect((yield* Effect.flip(bytes.set("edge", new Uint8Array(fitting.length + 1))))._tag).toBe(
          "CacheInputError"
        )
      })))

    it.live("a server with a smaller item size than maxItemSize refuses the value: CacheInputError all the same", () =>
      Effect.scoped(Effect.gen(function*() {
        const [server] = yield* servers(1, { itemSize: "64k", args: ["-o", "slab_chunk_max=16384"] })
        const cache = yield* backendOn([server!], { serializer: Serializer.json })
        const big = "x".repeat(100 * 1024)
        yield* cache.set("k", "old")
        const error = yield* Effect.flip(cache.set("k", big))
        expect(error._tag).toBe("CacheInputError")
        expect(error.message).toMatch(/too large/)
        // memcached drops the held item of a refused write rather than leave it stale: a miss, never a partial value.
        expect(yield* cache.get("k")).toStrictEqual(Option.none())
        yield* cache.set("after", 1)
        expect(yield* cache.get("after")).toStrictEqual(Option.some(1))
      })))

    it.live("a TTL over 30 days is sent as a Unix time: 60 days are 60 days; past 2038 it is capped", () =>
      Effect.scoped(Effect.gen(function*() {
        const pool = yield* servers(1)
        const raw = yield* rawClient(pool)
        const cache = yield* backendOn(pool)
        yield* cache.set("sixty", "v", Duration.days(60))
        yield* cache.setMany([["many", "w"]], Duration.days(60))
        expect(yield* cache.setIfAbsent("absent", "x", Duration.days(60))).toBe(true)
        const generation = (yield* storedGeneration(raw, "ac:"))!
        const sixtyDays = 60 * 86_400
        for (const key of ["sixty", "many", "absent"]) {
          const got = yield* raw.metaGet(fullKey("ac:", generation, key), { ttl: true })
          expect(got.kind).toBe("hit")
          expect(got.flags.ttl).toBeGreaterThan(sixtyDays - 60)
          // A date is compared with the server's clock, which lags the real one by up to a second, and is rounded up.
          expect(got.flags.ttl).toBeLessThanOrEqual(sixtyDays + 3)
          const entry = Option.getOrThrow(yield* cache.getWithTtl(key))
          expect(Duration.toSeconds(Option.getOrThrow(entry.remainingTtl))).toBeGreaterThan(sixtyDays - 60)
        }
        // Exactly 30 days is still a duration; 30 days and a second is a date.
        yield* cache.set("thirty", "v", Duration.days(30))
        yield* cache.set("thirtyPlus", "v", Duration.sum(Duration.days(30), Duration.seconds(1)))
        for (const key of ["thirty", "thirtyPlus"]) {
          const got = yield* raw.metaGet(fullKey("ac:", generation, key), { ttl: true })
          expect(got.flags.ttl).toBeGreaterThan(30 * 86_400 - 60)
        }
        // The latest expiry memcached keeps: 2038-01-19T03:14:07Z.
        yield* cache.set("max", "v", Number.MAX_SAFE_INTEGER)
        const max = yield* raw.metaGet(fullKey("ac:", generation, "max"), { ttl: true })
        const until2038 = 2 ** 31 - 1 - Math.floor(Date.now() / 1000)
        expect(max.flags.ttl).toBeGreaterThan(until2038 - 60)
        expect(max.flags.ttl).toBeLessThanOrEqual(until2038 + 3)
      })))

    it.live("getWithTtl gives the TTL left as a lower bound in whole seconds", () =>
      Effect.scoped(Effect.gen(function*() {
        const cache = yield* backendOn(yield* servers(1))
        yield* cache.set("k", "v", "10 seconds")
        const left = Duration.toMillis(Option.getOrThrow(Option.getOrThrow(yield* cache.getWithTtl("k")).remainingTtl))
        expect(left % 1000).toBe(0)
        expect(left).toBeLessThanOrEqual(9_000)
        expect(left).toBeGreaterThanOrEqual(7_000)
      })))

    it.live("an invalid generationTtl is a defect; layerConfig reads MEMCACHED_SERVERS and CACHE_PREFIX", () =>
      Effect.scoped(Effect.gen(function*() {
        const [server] = yield* servers(1)
        const client = yield* rawClient([server!])
        const exit = yield* Effect.exit(
          Effect.provideService(MemcachedBackend.make({ generationTtl: -1 }), MemcachedClient.MemcachedClient, client)
        )
        expect(Exit.isFailure(exit) && Result.isSuccess(Cause.findDefect(exit.cause))).toBe(true)
        const fromEnv = Layer.provide(
          MemcachedBackend.layerConfig(),
          ConfigProvider.layer(
            ConfigProvider.fromEnv({ env: { MEMCACHED_SERVERS: server!.address, CACHE_PREFIX: "env:" } })
          )
        )
        const prefix = yield* Effect.provide(
          Effect.flatMap(backendService, (cache) => Effect.as(cache.set("k", 1), cache.prefix)),
          fromEnv
        )
        expect(prefix).toBe("env:")
        const other = yield* backendOn([server!], { prefix: "env:" })
        expect(yield* other.get("k")).toStrictEqual(Option.some(1))
      })))
  })
})
