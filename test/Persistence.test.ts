// BackingPersistence over a backend, on both majors: the shared suite (test/contract/PersistenceContract.ts) over
// MemoryBackend and a real Redis, then what only one of them shows: the layers, a failing backend, a backend that
// cannot list, the RemoteCache variant, batches and clear as a Redis server sees them.
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as P from "#test-effect/Persistence"
import * as TestClock from "#test-effect/TestClock"
import { describe, expect, it, layer } from "#test-effect/vitest"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as Persistence from "../src/Persistence.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RemoteCache from "../src/RemoteCache.js"
import { CacheTimeoutError, RemoteCacheBackend, type RemoteCacheBackendShape } from "../src/RemoteCacheBackend.js"
import { backendFromLayer } from "./contract/BackendContract.js"
import { freshPrefix } from "./contract/KeyValueStoreContract.js"
import { suite } from "./contract/PersistenceContract.js"
import * as FaultyBackend from "./utils/FaultyBackend.js"
import { RedisServer } from "./utils/RedisServer.js"

describe("BackingPersistence over MemoryBackend", () => {
  suite(it, (prefix) => MemoryBackend.make({ prefix }), {
    expiry: "testClock",
    advance: (millis) => TestClock.adjust(millis)
  })

  it.effect("layerBackingPersistence: Effect's own service, over the backend in context", () =>
    Effect.gen(function*() {
      const backing = yield* P.Tag
      const store = yield* backing.make("s")
      yield* P.set(store, "k", { v: 1 })
      const backend = yield* RemoteCacheBackend
      expect(yield* backend.get("persistence:s:k")).toStrictEqual(Option.some({ v: 1 }))
    }).pipe(
      Effect.scoped,
      Effect.provide(Persistence.layerBackingPersistence().pipe(Layer.provideMerge(MemoryBackend.layer())))
    ))

  it.effect("a failing backend: every operation fails with the interface's error, the CacheError as its cause", () =>
    Effect.gen(function*() {
      const faulty = yield* FaultyBackend.make()
      const store = yield* Persistence.fromCache(faulty.backend).make("s")
      yield* faulty.failAlways("connection")
      const attempts: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
        ["get", P.get(store, "k")],
        ["getMany", P.getMany(store, ["k", "l"])],
        ["set", P.set(store, "k", 1)],
        ["setMany", P.setMany(store, [["k", 1, undefined], ["l", 2, "1 minute"]])],
        ["remove", store.remove("k")]
      ]
      for (const [method, attempt] of attempts) {
        const error = yield* Effect.flip(attempt)
        expect(error, method).toMatchObject({ _tag: P.errorTag })
        expect(P.errorMessage(error), method).toMatch(new RegExp(`^${method}: `))
        expect(P.errorOf(error)?.cause, method).toMatchObject({
          _tag: "CacheConnectionError",
          message: "injected connection fault"
        })
      }
      // The faulty wrapper carries no key listing: clear fails too, saying so.
      expect(yield* Effect.flip(store.clear)).toMatchObject({ _tag: P.errorTag })
    }).pipe(Effect.scoped))

  it.effect("a backend that cannot list: clear fails, everything else works", () =>
    Effect.gen(function*() {
      const memory = yield* MemoryBackend.make()
      const handMade: RemoteCacheBackendShape = { ...memory }
      const store = yield* Persistence.fromCache(handMade).make("s")
      yield* P.set(store, "k", 1)
      expect(yield* P.getMany(store, ["k"])).toStrictEqual([Option.some(1)])
      const error = yield* Effect.flip(store.clear)
      expect(error).toMatchObject({ _tag: P.errorTag })
      expect(P.errorMessage(error)).toMatch(/^clear: this cache cannot list its keys/)
      expect(yield* P.get(store, "k")).toStrictEqual(Option.some(1))
    }).pipe(Effect.scoped))

  it.effect("over a RemoteCache: the policy recovers reads and writes, the backend lists for clear", () =>
    Effect.gen(function*() {
      const memory = yield* MemoryBackend.make()
      let failing = false
      const timeout = (operation: "get" | "set", key: string) =>
        Effect.fail(new CacheTimeoutError({ operation, key, message: "injected timeout" }))
      const flaky: RemoteCacheBackendShape = {
        ...memory,
        get: (key) => failing ? timeout("get", key) : memory.get(key),
        set: (key, value, ttl) => failing ? timeout("set", key) : memory.set(key, value, ttl)
      }
      const cache = yield* RemoteCache.fromBackend(flaky, RemoteCache.defaultPolicy)
      const store = yield* Persistence.fromCache(cache, { backend: memory }).make("s")
      yield* P.set(store, "a", 1)
      failing = true
      expect(yield* P.get(store, "a")).toStrictEqual(Option.none())
      yield* P.set(store, "b", 2)
      failing = false
      expect(yield* P.getMany(store, ["a", "b"])).toStrictEqual([Option.some(1), Option.none()])
      yield* store.clear
      expect(yield* P.get(store, "a")).toStrictEqual(Option.none())
      // Without `backend`, a policy's view cannot list.
      const unlisted = yield* Persistence.fromCache(cache).make("s")
      expect(yield* Effect.flip(unlisted.clear)).toMatchObject({ _tag: P.errorTag })
    }).pipe(Effect.scoped))

  it.effect("layerBackingPersistenceRemoteCache provides Effect's service", () =>
    Effect.gen(function*() {
      const store = yield* (yield* P.Tag).make("s")
      yield* P.set(store, "x", "y")
      expect(yield* P.get(store, "x")).toStrictEqual(Option.some("y"))
      yield* store.clear
    }).pipe(
      Effect.scoped,
      Effect.provide(
        Persistence.layerBackingPersistenceRemoteCache().pipe(
          Layer.provide(RemoteCache.layerDefault),
          Layer.provideMerge(MemoryBackend.layer())
        )
      )
    ))

  it.effect("setMany: one backend setMany per distinct TTL, getMany one backend getMany", () =>
    Effect.gen(function*() {
      const memory = yield* MemoryBackend.make()
      const calls: Array<string> = []
      const counting: RemoteCacheBackendShape = {
        ...memory,
        getMany: (keys) => (calls.push(`getMany ${keys.length}`), memory.getMany(keys)),
        setMany: (entries, ttl) => {
          const list = [...entries]
          calls.push(`setMany ${list.length} ${ttl === undefined ? "none" : "ttl"}`)
          return memory.setMany(list, ttl)
        },
        set: (key, value, ttl) => (calls.push("set"), memory.set(key, value, ttl))
      }
      const store = yield* Persistence.fromCache(counting).make("s")
      yield* P.setMany(store, [["a", 1, "1 minute"], ["b", 2, undefined], ["c", 3, "60 seconds"], ["d", 4, undefined]])
      yield* P.getMany(store, ["a", "b", "c", "d"])
      yield* P.getMany(store, [])
      expect(calls.sort()).toStrictEqual(["getMany 4", "setMany 2 none", "setMany 2 ttl"])
    }).pipe(Effect.scoped))
})

describe("BackingPersistence over RedisBackend", () => {
  layer(RedisServer.layer(), { excludeTestServices: true })((it) => {
    const backendOf = (prefix: string) =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        return yield* backendFromLayer(RedisBackend.layer({ host: server.host, port: server.port, prefix }))
      })
    suite(it, backendOf, { expiry: "real", advance: (millis) => Effect.sleep(millis) })

    it.effect("as redis-server sees it: the TTL on the key, clear by SCAN (never KEYS), batches without MULTI", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        const prefix = freshPrefix()
        const backend = yield* backendFromLayer(
          RedisBackend.layer({ host: server.host, port: server.port, prefix, scanCount: 20 })
        )
        const store = yield* Persistence.fromCache(backend).make("s")
        yield* server.cli("CONFIG", "RESETSTAT")
        yield* P.set(store, "ttl", 1, "1 hour")
        yield* P.setMany(
          store,
          Array.from({ length: 200 }, (_, i) => [`k${i}`, { i }, i % 2 === 0 ? "1 hour" : undefined] as const)
        )
        const pttl = Number(yield* server.cli("PTTL", `${prefix}persistence:s:ttl`))
        expect(pttl).toBeGreaterThan(3_590_000)
        expect(Number(yield* server.cli("PTTL", `${prefix}persistence:s:k0`))).toBeGreaterThan(3_590_000)
        expect(yield* server.cli("PTTL", `${prefix}persistence:s:k1`)).toBe("-1")
        expect((yield* P.getMany(store, ["k0", "k199"])).map(Option.getOrUndefined)).toStrictEqual([{ i: 0 }, {
          i: 199
        }])
        yield* store.clear
        const stats = yield* server.cli("INFO", "commandstats")
        expect(stats).toContain("cmdstat_scan")
        expect(stats).not.toMatch(/cmdstat_keys:|cmdstat_multi:|cmdstat_exec:/)
        // (Only now, as this check's KEYS counts in the stats.)
        expect(yield* server.cli("EVAL", `return #redis.call('KEYS', ARGV[1])`, "0", `${prefix}persistence:s:*`))
          .toBe("0")
      }).pipe(Effect.scoped))
  })
})
