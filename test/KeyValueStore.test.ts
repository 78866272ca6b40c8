// KeyValueStore over a backend, on both majors: the shared suite (test/contract/KeyValueStoreContract.ts) over
// MemoryBackend and a real Redis, then what only one of them shows: the layers, TTL, a failing backend, a backend
// that cannot list, the RemoteCache variant, and the wire format.
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as Kv from "#test-effect/KeyValueStore"
import * as TestClock from "#test-effect/TestClock"
import { describe, expect, it, layer } from "#test-effect/vitest"
import * as KeyValueStore from "../src/KeyValueStore.js"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import { CacheTimeoutError, RemoteCacheBackend, type RemoteCacheBackendShape } from "../src/RemoteCacheBackend.js"
import * as Serializer from "../src/Serializer.js"
import { backendFromLayer } from "./contract/BackendContract.js"
import { freshPrefix, suite } from "./contract/KeyValueStoreContract.js"
import * as FaultyBackend from "./utils/FaultyBackend.js"
import { RedisServer } from "./utils/RedisServer.js"

/** The failure of `effect`, which must fail. */
const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<E, A, R> => Effect.flip(effect)

describe("KeyValueStore over MemoryBackend", () => {
  suite(it, (prefix) => MemoryBackend.make({ prefix }))

  it.effect("layer: Effect's own service, over the backend in context, under \"kv:\" by default", () =>
    Effect.gen(function*() {
      const store = yield* Kv.Tag
      yield* store.set("a", "1")
      const backend = yield* RemoteCacheBackend
      expect(yield* backend.get("kv:a")).toStrictEqual(Option.some("s1"))
    }).pipe(Effect.provide(KeyValueStore.layer().pipe(Layer.provideMerge(MemoryBackend.layer())))))

  it.effect("timeToLive: every write expires after it; none by default", () =>
    Effect.gen(function*() {
      const backend = yield* MemoryBackend.make()
      const expiring = KeyValueStore.fromCache(backend, { prefix: "e:", timeToLive: "1 minute" })
      const lasting = KeyValueStore.fromCache(backend, { prefix: "l:" })
      yield* expiring.set("k", "v")
      yield* lasting.set("k", "v")
      yield* TestClock.adjust("1 minute")
      expect(yield* expiring.has("k")).toBe(true)
      yield* TestClock.adjust(1)
      expect([yield* expiring.has("k"), yield* expiring.size]).toStrictEqual([false, 0])
      yield* TestClock.adjust("1000 days")
      expect(yield* Kv.get(lasting, "k")).toBe("v")
    }))

  it.effect("a failing backend: every operation fails with the store's error, the CacheError as its cause", () =>
    Effect.gen(function*() {
      const faulty = yield* FaultyBackend.make()
      const store = KeyValueStore.fromCache(faulty.backend, { prefix: "kv:" })
      yield* faulty.failAlways("connection")
      const attempts: ReadonlyArray<readonly [string, string | undefined, Effect.Effect<unknown, unknown>]> = [
        ["get", "k", Kv.get(store, "k")],
        ["getUint8Array", "k", Kv.getUint8Array(store, "k")],
        ["set", "k", store.set("k", "v")],
        ["remove", "k", store.remove("k")],
        ["has", "k", store.has("k")],
        ["get", "k", Kv.modify(store, "k", (v) => v)]
      ]
      for (const [method, key, attempt] of attempts) {
        const error = yield* failureOf(attempt)
        expect(error, method).toMatchObject({ _tag: Kv.storeErrorTag })
        const fields = Kv.storeErrorOf(error)
        expect(fields).toMatchObject({ method, key })
        expect(fields?.cause).toMatchObject({ _tag: "CacheConnectionError", message: "injected connection fault" })
      }
      // A serializer's refusal is kept as the cause too.
      yield* faulty.failAlways("serialization")
      expect(Kv.storeErrorOf(yield* failureOf(store.set("k", "v")))?.cause).toMatchObject({
        _tag: "CacheSerializationError"
      })
    }))

  it.effect("a backend that cannot list: size, keys, isEmpty, clear, clearPrefix fail; single keys work", () =>
    Effect.gen(function*() {
      const memory = yield* MemoryBackend.make()
      // A hand-made backend (a plain copy of the operations): the contract has no key listing.
      const handMade: RemoteCacheBackendShape = { ...memory }
      const store = KeyValueStore.fromCache(handMade)
      yield* store.set("k", "v")
      expect(yield* Kv.get(store, "k")).toBe("v")
      const listing: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
        ["size", store.size],
        ["keys", Kv.keys(store)],
        ["isEmpty", store.isEmpty],
        ["clear", store.clear],
        ["clearPrefix", Kv.clearPrefix(store, "k")]
      ]
      for (const [method, attempt] of listing) {
        const fields = Kv.storeErrorOf(yield* failureOf(attempt))
        expect(fields?.method).toBe(method)
      }
    }))

  it.effect("over a RemoteCache: the policy recovers single-key failures, the backend lists keys", () =>
    Effect.gen(function*() {
      const memory = yield* MemoryBackend.make()
      let failing = false
      const timeout = (operation: "get" | "set", key: string) =>
        Effect.fail(new CacheTimeoutError({ operation, key, message: "injected timeout" }))
      // A hand-made backend whose reads and writes time out on demand, over `memory`.
      const flaky: RemoteCacheBackendShape = {
        ...memory,
        get: (key) => failing ? timeout("get", key) : memory.get(key),
        set: (key, value, ttl) => failing ? timeout("set", key) : memory.set(key, value, ttl)
      }
      const cache = yield* RemoteCache.fromBackend(flaky, RemoteCache.defaultPolicy)
      const store = KeyValueStore.fromCache(cache, { prefix: "p:", backend: memory })
      yield* store.set("a", "1")
      yield* store.set("b", new Uint8Array([1]))
      expect([yield* Kv.get(store, "a"), yield* store.size]).toStrictEqual(["1", 2])
      failing = true
      // The default policy recovers to a miss: a failed read is a miss, a failed write is not reported.
      expect(yield* Kv.get(store, "a")).toBeUndefined()
      yield* store.set("c", "3")
      failing = false
      expect([yield* Kv.get(store, "a"), yield* store.has("c"), yield* store.size]).toStrictEqual(["1", false, 2])
      yield* store.clear
      expect(yield* store.isEmpty).toBe(true)
      // Without `backend`, a policy's view cannot list.
      const unlisted = KeyValueStore.fromCache(cache)
      expect(Kv.storeErrorOf(yield* failureOf(unlisted.size))?.method).toBe("size")
    }))

  it.effect("layerRemoteCache provides Effect's service", () =>
    Effect.gen(function*() {
      const store = yield* Kv.Tag
      yield* store.set("x", "y")
      expect(yield* Kv.get(store, "x")).toBe("y")
    }).pipe(
      Effect.provide(
        KeyValueStore.layerRemoteCache().pipe(
          Layer.provide(RemoteCache.layerDefault),
          Layer.provideMerge(MemoryBackend.layer())
        )
      )
    ))

  it.effect("with the JSON serializer the wire format is the same tagged string", () =>
    Effect.gen(function*() {
      const backend = yield* MemoryBackend.make({ serializer: Serializer.json })
      const store = KeyValueStore.fromCache(backend, { prefix: "" })
      yield* store.set("s", "\uD800x")
      yield* store.set("b", new Uint8Array([0, 255]))
      expect(yield* Kv.get(store, "s")).toBe("\uD800x")
      expect(yield* Kv.getUint8Array(store, "b")).toStrictEqual(new Uint8Array([0, 255]))
      expect(yield* backend.get("b")).toStrictEqual(Option.some("bAP8="))
    }))
})

describe("KeyValueStore over RedisBackend", () => {
  layer(RedisServer.layer(), { excludeTestServices: true })((it) => {
    const backendOf = (prefix: string) =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        return yield* backendFromLayer(RedisBackend.layer({ host: server.host, port: server.port, prefix }))
      })
    suite(it, backendOf)

    it.effect("wire format: redis-cli sees backend prefix + store prefix + key, the tagged string, no TTL", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        const prefix = freshPrefix()
        const backend = yield* backendFromLayer(
          RedisBackend.layer({ host: server.host, port: server.port, prefix, serializer: Serializer.json })
        )
        const store = KeyValueStore.fromCache(backend)
        yield* store.set("k", "v")
        yield* store.set("bytes", new Uint8Array([1, 2, 3]))
        expect(yield* server.cli("GET", `${prefix}kv:k`)).toBe(`"sv"`)
        expect(yield* server.cli("GET", `${prefix}kv:bytes`)).toBe(`"bAQID"`)
        expect(yield* server.cli("PTTL", `${prefix}kv:k`)).toBe("-1")
      }))

    it.effect("keys other programs wrote under the prefix: another type, bytes that are not UTF-8", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        const prefix = freshPrefix()
        const backend = yield* backendFromLayer(RedisBackend.layer({ host: server.host, port: server.port, prefix }))
        const raw = yield* RedisClient.make({ host: server.host, port: server.port })
        const store = KeyValueStore.fromCache(backend)
        yield* store.set("mine", "v")
        yield* raw.send(["RPUSH", `${prefix}kv:list`, "a"])
        const undecodable = Buffer.concat([Buffer.from(`${prefix}kv:`), Buffer.from([0xff, 0xfe])])
        yield* raw.send(["SET", undecodable, "x"])
        // A list reads as a miss (as the backend reads it), yet it is a key under the prefix: counted.
        expect(yield* Kv.get(store, "list")).toBeUndefined()
        expect([...(yield* Kv.keys(store))].sort()).toStrictEqual(["list", "mine", "\uFFFD\uFFFD"])
        expect(yield* store.size).toBe(3)
        // clear removes them by their exact bytes, the undecodable one included.
        yield* store.clear
        expect(yield* store.isEmpty).toBe(true)
        expect(yield* raw.send(["EXISTS", undecodable, `${prefix}kv:list`])).toBe(0)
      }))

    it.effect("size and clear walk many keys over several SCAN steps", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        const backend = yield* backendFromLayer(
          RedisBackend.layer({ host: server.host, port: server.port, prefix: freshPrefix(), scanCount: 50 })
        )
        const store = KeyValueStore.fromCache(backend)
        const other = KeyValueStore.fromCache(backend, { prefix: "other:" })
        yield* Effect.forEach(Array.from({ length: 1_500 }, (_, i) => i), (i) => store.set(`k${i}`, String(i)), {
          concurrency: 64,
          discard: true
        })
        yield* other.set("keep", "me")
        expect(yield* store.size).toBe(1_500)
        expect(new Set(yield* Kv.keys(store)).size).toBe(1_500)
        yield* store.clear
        expect([yield* store.size, yield* other.size]).toStrictEqual([0, 1])
      }))
  })
})
