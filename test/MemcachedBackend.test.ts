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
import * as Schedule from "#effect/Schedule"
import * as Scope from "#effect/Scope"
import { describe, expect, it } from "#test-effect/vitest"
import * as fc from "fast-check"
import * as Generation from "../src/core/memcached/generation.js"
import { fullKey, generationKey } from "../src/core/memcached/key.js"
import * as MemcachedBackend from "../src/MemcachedBackend.js"
import * as MemcachedClient from "../src/MemcachedClient.js"
import * as Policy from "../src/Policy.js"
import * as RemoteCache from "../src/RemoteCache.js"
import { RemoteCacheBackend } from "../src/RemoteCacheBackend.js"
import * as Serializer from "../src/Serializer.js"
import * as MemcachedServer from "./utils/MemcachedServer.js"

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
        yield* Effect.eventually(
          Effect.flatMap(
            cached.getMany(keys),
            (got) => got.every(Option.isNone) ? Effect.void : Effect.fail("still old")
          )
        )
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

  describe("keys", () => {
    it.live("hostile keys: lone surrogates, the generation key's text, digests sharing a head, the size boundary", () =>
      Effect.scoped(Effect.gen(function*() {
        const cache = yield* backendOn(yield* servers(3))
        const head = "h".repeat(200)
        const keys = [
          "\uD800",
          "\uDBFF",
          "\uFFFD",
          "!generation",
          "ac:!generation",
          "0:x",
          "1:x",
          ":",
          "\u0000\r\n \t",
          // Around the 186-byte limit of a stored key: "ac:", the generation's digits and ":" come first.
          ...Array.from({ length: 30 }, (_, i) => "b".repeat(150 + i)),
          `${head}a`,
          `${head}b`,
          "é".repeat(120),
          "é".repeat(121),
          "x".repeat(1_000_000)
        ]
        yield* Effect.forEach(keys, (key, i) => cache.set(key, i), { concurrency: 16, discard: true })
        expect(yield* cache.getMany(keys)).toStrictEqual(keys.map((_, i) => Option.some(i)))
        for (const [i, key] of keys.entries()) expect(yield* cache.get(key)).toStrictEqual(Option.some(i))
        yield* cache.deleteMany(keys.filter((_, i) => i % 2 === 0))
        expect(yield* cache.getMany(keys)).toStrictEqual(
          keys.map((_, i) => i % 2 === 0 ? Option.none() : Option.some(i))
        )
        // The counter is not an item: clearing still works after writing keys that spell it.
        yield* cache.clear
        expect((yield* cache.getMany(keys)).every(Option.isNone)).toBe(true)
      })))

    it.live("100 concurrent setIfAbsent of one key from two processes: exactly one stores", () =>
      Effect.scoped(Effect.gen(function*() {
        const pool = yield* servers(3)
        const a = yield* backendOn(pool)
        const b = yield* backendOn(pool)
        for (let round = 0; round < 5; round++) {
          const key = `race-${round}`
          const answers = yield* Effect.forEach(
            Array.from({ length: 100 }, (_, i) => i),
            (i) => (i % 2 === 0 ? a : b).setIfAbsent(key, i),
            { concurrency: "unbounded" }
          )
          expect(answers.filter((stored) => stored).length).toBe(1)
          expect(yield* a.get(key)).toStrictEqual(Option.some(answers.indexOf(true)))
        }
      })))
  })

  describe("failures", () => {
    it.live("a server killed mid-run turns only its keys into misses under the default policy; back after restart", () =>
      Effect.scoped(Effect.gen(function*() {
        const pool = yield* servers(3)
        const raw = yield* rawClient(pool)
        const backend = yield* backendOn(pool, { reconnectBaseDelay: "20 millis", reconnectMaxDelay: "200 millis" })
        const cache = yield* RemoteCache.fromBackend(backend, RemoteCache.defaultPolicy)
        yield* backend.get("warm")
        const generation = (yield* storedGeneration(raw, "ac:"))!
        const holder = raw.serverFor(generationKey("ac:"))
        const victim = (holder + 1) % 3
        const byServer = keysPerServer(raw, "ac:", generation, 3, 10)
        const all = byServer.flat()
        yield* backend.setMany(all.map((key) => [key, key]))
        // Reads in flight while the server dies: each ends, a value or a failure, never a hang or another key's value.
        const readers = yield* Effect.forkChild(Effect.forEach(
          Array.from({ length: 2_000 }, (_, i) => all[i % all.length]!),
          (key) => Effect.map(cache.get(key), (got) => [key, got] as const),
          { concurrency: 50 }
        ))
        yield* pool[victim]!.kill
        const seen = yield* Fiber.join(readers)
        for (const [key, got] of seen) if (Option.isSome(got)) expect(got.value).toBe(key)
        const expected = (serverIndex: number) => serverIndex === victim
        for (const [index, keys] of byServer.entries()) {
          for (const key of keys) {
            expect(yield* cache.get(key)).toStrictEqual(expected(index) ? Option.none() : Option.some(key))
            if (expected(index)) expect((yield* Effect.flip(backend.get(key)))._tag).toBe("CacheConnectionError")
          }
        }
        // getMany fails on the backend, naming a key of the dead server and carrying what the others read, which
        // the policy answers: only the dead server's keys are misses.
        const failed = yield* Effect.flip(backend.getMany(all))
        expect(failed._tag).toBe("CacheConnectionError")
        expect(byServer[victim]).toContain(failed.key)
        const partial = all.map((key) => byServer[victim]!.includes(key) ? Option.none() : Option.some(key))
        expect(failed.partial).toStrictEqual(partial)
        // Not enumerable: a log or a JSON of the error never shows the values.
        expect(Object.keys(failed)).not.toContain("partial")
        expect(JSON.stringify(failed)).not.toContain(byServer[holder]![0]!)
        expect(yield* cache.getMany(all)).toStrictEqual(partial)
        // The same through an explicit chain ending in recoverToMiss (its own, unfused step).
        const chained = yield* RemoteCache.fromBackend(
          backend,
          Policy.timeout("2 seconds").pipe(Policy.retry(Schedule.recurs(1)), Policy.recoverToMiss)
        )
        expect(yield* chained.getMany(all)).toStrictEqual(partial)
        yield* pool[victim]!.start
        // The client reconnects in the background: its keys are writable and readable again (restarted empty).
        yield* Effect.eventually(backend.set(byServer[victim]![0]!, "again"))
        expect(yield* cache.get(byServer[victim]![0]!)).toStrictEqual(Option.some("again"))
        expect(yield* cache.get(byServer[holder]![0]!)).toStrictEqual(Option.some(byServer[holder]![0]!))
      })))

    it.live("the generation's server down: the other servers' keys keep working with the generation in hand", () =>
      Effect.scoped(Effect.gen(function*() {
        const pool = yield* servers(3)
        const raw = yield* rawClient(pool)
        const backend = yield* backendOn(pool, { generationTtl: "50 millis", commandTimeout: "300 millis" })
        yield* backend.get("warm")
        const generation = (yield* storedGeneration(raw, "ac:"))!
        const holder = raw.serverFor(generationKey("ac:"))
        const byServer = keysPerServer(raw, "ac:", generation, 3, 5)
        const others = byServer.filter((_, i) => i !== holder).flat()
        yield* backend.setMany(others.map((key) => [key, key]))
        // Paused (hung): the generation's re-read times out, the value in hand is kept for another period.
        yield* pool[holder]!.pause
        // Time passing is the point here (not a wait for a condition): each round outlives the 50 ms window, so
        // each tries the generation's server again.
        for (let i = 0; i < 5; i++) {
          expect(yield* backend.getMany(others)).toStrictEqual(others.map((key) => Option.some(key)))
          yield* Effect.sleep("60 millis")
        }
        yield* pool[holder]!.resume
        // Killed: refused at once, same outcome.
        yield* pool[holder]!.kill
        for (let i = 0; i < 3; i++) {
          expect(yield* backend.getMany(others)).toStrictEqual(others.map((key) => Option.some(key)))
          yield* Effect.sleep("60 millis")
        }
        // A backend that never read the generation cannot know the keys: its operations fail, typed.
        const fresh = yield* backendOn(pool)
        expect((yield* Effect.flip(fresh.get(others[0]!)))._tag).toBe("CacheConnectionError")
      })))

    it.live("closing the scope mid-operation fails the waiting operations, typed, and hangs nothing", () =>
      Effect.scoped(Effect.gen(function*() {
        const [server] = yield* servers(1)
        const scope = yield* Scope.make()
        const backend = yield* backendOn([server!]).pipe(Scope.provide(scope))
        yield* backend.set("k", 1)
        yield* server!.pause
        const fiber = yield* Effect.forkChild(
          Effect.forEach(
            Array.from({ length: 100 }, (_, i) => i),
            (i) => Effect.result(i % 2 === 0 ? backend.get("k") : backend.set(`k${i}`, i)),
            { concurrency: "unbounded" }
          )
        )
        // Whether an operation is still waiting for room, written or already failed when the scope closes, each must
        // end typed: the close comes at any moment after they start.
        yield* Effect.yieldNow
        yield* Scope.close(scope, Exit.void)
        const outcomes = yield* Fiber.join(fiber)
        for (const outcome of outcomes) {
          expect(Result.isFailure(outcome)).toBe(true)
          if (Result.isFailure(outcome)) expect(Result.failureValue(outcome)._tag).toBe("CacheConnectionError")
        }
        yield* server!.resume
      })))

    it.live("a serializer that throws fails only its own read, as a defect naming the key", () =>
      Effect.scoped(Effect.gen(function*() {
        const pool = yield* servers(1)
        const throwing = Serializer.make({
          name: "throwing",
          encodeSync: Serializer.json.encodeSync!,
          decodeSync: (bytes) => {
            if (Buffer.from(bytes).toString() === "\"bad\"") throw new Error("boom")
            return Serializer.json.decodeSync!(bytes)
          }
        })
        const cache = yield* backendOn(pool, { serializer: throwing })
        yield* cache.setMany([["good", "good"], ["bad", "bad"]])
        const [good, bad] = yield* Effect.all([Effect.exit(cache.get("good")), Effect.exit(cache.get("bad"))], {
          concurrency: "unbounded"
        })
        expect(good).toStrictEqual(Exit.succeed(Option.some("good")))
        expect(Exit.isFailure(bad) && String(Cause.squash(bad.cause))).toMatch(
          /threw while decoding the value of key "bad"/
        )
        expect(yield* cache.get("good")).toStrictEqual(Option.some("good"))
      })))

    it.live("diagnosis names the server that cannot be reached", () =>
      Effect.scoped(Effect.gen(function*() {
        const [server] = yield* servers(1)
        const cache = yield* backendOn([server!])
        expect(cache.diagnosis?.()).toBeUndefined()
        yield* server!.kill
        yield* Effect.flip(cache.get("k"))
        expect(cache.diagnosis?.()).toContain(server!.address)
      })))
  })

  describe("model", () => {
    type Command =
      | { readonly op: "get"; readonly key: string; readonly via: number }
      | { readonly op: "set"; readonly key: string; readonly value: number }
      | { readonly op: "delete"; readonly key: string }
      | { readonly op: "setIfAbsent"; readonly key: string; readonly value: number }
      | { readonly op: "clear"; readonly via: number }

    const keyArb = fc.constantFrom("a", "b", "", "\r\n", "é", "x".repeat(300), "!generation")
    const commandArb: fc.Arbitrary<Command> = fc.oneof(
      fc.record({ op: fc.constant("get" as const), key: keyArb, via: fc.nat(1) }),
      fc.record({ op: fc.constant("set" as const), key: keyArb, value: fc.integer() }),
      fc.record({ op: fc.constant("delete" as const), key: keyArb }),
      fc.record({ op: fc.constant("setIfAbsent" as const), key: keyArb, value: fc.integer() }),
      fc.record({ op: fc.constant("clear" as const), via: fc.nat(1) })
    )

    it.live("histories of get, set, delete, setIfAbsent and clear from two backends agree with a Map", () =>
      Effect.scoped(Effect.gen(function*() {
        const pool = yield* servers(2)
        let run = 0
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.array(commandArb, { maxLength: 25 }), (commands) =>
              Effect.runPromise(Effect.scoped(Effect.gen(function*() {
                // A prefix per run: each starts empty. Two backends (two processes) that read the generation before
                // every operation, so that each sees the other's clear at once, as the model does.
                const prefix = `m${run++}:`
                const backends = [
                  yield* backendOn(pool, { prefix, generationTtl: 0 }),
                  yield* backendOn(pool, { prefix, generationTtl: 0 })
                ]
                const model = new Map<string, number>()
                for (const command of commands) {
                  switch (command.op) {
                    case "get":
                      expect(yield* backends[command.via]!.get(command.key)).toStrictEqual(
                        model.has(command.key) ? Option.some(model.get(command.key)) : Option.none()
                      )
                      break
                    case "set":
                      yield* backends[0]!.set(command.key, command.value)
                      model.set(command.key, command.value)
                      break
                    case "delete":
                      yield* backends[1]!.delete(command.key)
                      model.delete(command.key)
                      break
                    case "setIfAbsent": {
                      const stored = yield* backends[1]!.setIfAbsent(command.key, command.value)
                      expect(stored).toBe(!model.has(command.key))
                      if (stored) {
                        model.set(command.key, command.value)
                      }
                      break
                    }
                    case "clear":
                      yield* backends[command.via]!.clear
                      model.clear()
                  }
                }
                const keys = ["a", "b", "", "\r\n", "é", "x".repeat(300), "!generation"]
                expect(yield* backends[0]!.getMany(keys)).toStrictEqual(
                  keys.map((key) =>
                    model.has(key) ? Option.some(model.get(key)) : Option.none()
                  )
                )
              })))),
            { numRuns: 40 }
          )
        )
      })))
  })
})
