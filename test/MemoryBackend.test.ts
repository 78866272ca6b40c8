import * as Cause from "#effect/Cause"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as Result from "#effect/Result"
import * as TestClock from "#test-effect/TestClock"
import { describe, expect, it } from "#test-effect/vitest"
import * as MemoryBackend from "../src/MemoryBackend.js"
import { RemoteCacheBackend } from "../src/RemoteCacheBackend.js"
import * as Serializer from "../src/Serializer.js"
import { contractSuite } from "./contract/BackendContract.js"

contractSuite({
  name: "MemoryBackend",
  layer: Layer.empty,
  realClock: false,
  session: Effect.map(MemoryBackend.makeStore(), (store) => ({
    backend: (prefix: string) => MemoryBackend.make({ prefix, store }),
    writeRaw: (fullKey, bytes, ttlMillis) => MemoryBackend.unsafeSetRaw(store, fullKey, bytes, ttlMillis),
    advance: (millis: number) => TestClock.adjust(millis)
  }))
})

const expectDefect = <A, E>(exit: Exit.Exit<A, E>, pattern: RegExp) => {
  expect(Exit.isFailure(exit), "expected a defect, got a success").toBe(true)
  if (Exit.isFailure(exit)) {
    const defect = Result.getOrThrow(Cause.findDefect(exit.cause))
    expect(Cause.isIllegalArgumentError(defect)).toBe(true)
    expect(String((defect as Error).message)).toMatch(pattern)
  }
}

describe("MemoryBackend", () => {
  it.effect("evicts the least recently read entry first when over capacity", () =>
    Effect.gen(function*() {
      const cache = yield* MemoryBackend.make({ capacity: 3 })
      yield* cache.setMany([["a", 1], ["b", 2], ["c", 3]])
      // Reading "a" makes "b" the least recently used.
      yield* cache.get("a")
      yield* cache.set("d", 4)
      expect(yield* cache.getMany(["a", "b", "c", "d"])).toStrictEqual([
        Option.some(1),
        Option.none(),
        Option.some(3),
        Option.some(4)
      ])
      // That read went a, c, d, and a write counts as a use too: after rewriting "c", "a" is the oldest.
      yield* cache.set("c", 30)
      yield* cache.set("e", 5)
      expect(yield* cache.getMany(["a", "c", "d", "e"])).toStrictEqual([
        Option.none(),
        Option.some(30),
        Option.some(4),
        Option.some(5)
      ])
    }))

  it.effect("expired entries do not hold capacity: they go before a live entry is evicted", () =>
    Effect.gen(function*() {
      const cache = yield* MemoryBackend.make({ capacity: 3 })
      yield* cache.set("old", "live, least recently used")
      yield* cache.set("t1", 1, 100)
      yield* cache.set("t2", 2, 100)
      yield* TestClock.adjust(200)
      // Without the sweep, these two writes would evict "old" and leave the expired entries in place.
      yield* cache.set("new1", 1)
      yield* cache.set("new2", 2)
      expect(yield* cache.getMany(["old", "new1", "new2"])).toStrictEqual([
        Option.some("live, least recently used"),
        Option.some(1),
        Option.some(2)
      ])
      // Once only live entries are left, plain LRU applies: the read above left "old" the least recently used.
      yield* cache.set("new3", 3)
      expectNone(yield* cache.get("old"))
    }))

  it.effect("a store shared by several backends bounds them together, and clear stays within a prefix", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore({ capacity: 2 })
      expect(store.capacity).toBe(2)
      const a = yield* MemoryBackend.make({ prefix: "a:", store })
      const b = yield* MemoryBackend.make({ prefix: "b:", store })
      yield* a.set("k", "a")
      yield* b.set("k", "b")
      yield* b.set("k2", "b2")
      expectNone(yield* a.get("k"))
      yield* a.set("k", "a")
      yield* a.clear
      expect(yield* b.getMany(["k", "k2"])).toStrictEqual([Option.none(), Option.some("b2")])
    }))

  it.effect("rejects a capacity that is not a positive integer with a defect", () =>
    Effect.gen(function*() {
      for (const capacity of [0, -1, 1.5, NaN, -Infinity, 2 ** 53]) {
        expectDefect(yield* Effect.exit(MemoryBackend.makeStore({ capacity })), /capacity/)
        expectDefect(yield* Effect.exit(MemoryBackend.make({ capacity })), /capacity/)
      }
      const store = yield* MemoryBackend.makeStore({ capacity: Infinity })
      expect(store.capacity).toBe(Infinity)
      expect((yield* MemoryBackend.makeStore()).capacity).toBe(Infinity)
      expect((yield* MemoryBackend.makeStore({ capacity: 1 })).capacity).toBe(1)
      expectDefect(yield* Effect.exit(MemoryBackend.make({ store, capacity: 10 })), /makeStore/)
    }))

  it.effect("uses the prefix \"ac:\" by default", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore()
      const cache = yield* MemoryBackend.make({ store })
      const explicit = yield* MemoryBackend.make({ store, prefix: MemoryBackend.defaultPrefix })
      yield* cache.set("k", 1)
      expect(MemoryBackend.defaultPrefix).toBe("ac:")
      expectSome(yield* explicit.get("k"), 1)
      yield* MemoryBackend.unsafeSetRaw(store, "ac:raw", yield* Serializer.v8.encode("raw"))
      expectSome(yield* cache.get("raw"), "raw")
    }))

  it.effect("entries expire on the Clock: alive through their last millisecond, gone after", () =>
    Effect.gen(function*() {
      const cache = yield* MemoryBackend.make()
      yield* cache.set("k", 1, 100)
      yield* TestClock.adjust(100)
      expectSome(yield* cache.get("k"), 1)
      yield* TestClock.adjust(1)
      expectNone(yield* cache.get("k"))
      yield* cache.set("forever", 1)
      yield* TestClock.adjust("3650 days")
      expectSome(yield* cache.get("forever"), 1)
    }))

  it.effect("takes the serializer from the options, else from the context, else v8", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore()
      const fromOptions = yield* MemoryBackend.make({ store, prefix: "o:", serializer: Serializer.json })
      yield* fromOptions.set("d", new Date(0))
      // JSON turns a Date into its ISO string: proof the json serializer was used.
      expectSome(yield* fromOptions.get("d"), "1970-01-01T00:00:00.000Z")

      const fromContext = yield* MemoryBackend.make({ store, prefix: "c:" }).pipe(
        Effect.provide(Serializer.layerJson)
      )
      yield* fromContext.set("d", new Date(0))
      expectSome(yield* fromContext.get("d"), "1970-01-01T00:00:00.000Z")

      const byDefault = yield* MemoryBackend.make({ store, prefix: "v:" })
      yield* byDefault.set("d", new Date(0))
      expectSome(yield* byDefault.get("d"), new Date(0))

      const error = yield* Effect.flip(fromOptions.set("u", undefined))
      expect(error._tag).toBe("CacheSerializationError")
      expect(error.message).toMatch(/json/)
    }))

  it.effect("layer provides the RemoteCacheBackend service", () =>
    Effect.gen(function*() {
      const cache = yield* RemoteCacheBackend
      yield* cache.set("k", "v")
      expectSome(yield* cache.get("k"), "v")
    }).pipe(Effect.provide(MemoryBackend.layer({ prefix: "l:", capacity: 10 }))))
})

function expectSome(option: Option.Option<unknown>, expected: unknown) {
  expect(Option.isSome(option), "expected a hit, got a miss").toBe(true)
  expect(Option.getOrThrow(option)).toStrictEqual(expected)
}

function expectNone(option: Option.Option<unknown>) {
  expect(Option.isNone(option), "expected a miss, got a hit").toBe(true)
}
