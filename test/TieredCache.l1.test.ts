/**
 * The L1 hit path answers in one Effect step (clock read, lookup and metric update in plain code): these tests pin
 * what it must still do exactly as the Effect forms did — read the fiber's own clock, count with the fiber's
 * metric labels, keep least-recently-used order.
 */
import type * as Clock from "#effect/Clock"
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Metric from "#effect/Metric"
import * as Option from "#effect/Option"
import * as Clocks from "#test-effect/Clocks"
import * as TestMetric from "#test-effect/Metric"
import * as TestClock from "#test-effect/TestClock"
import { describe, expect, it } from "#test-effect/vitest"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as TieredCache from "../src/TieredCache.js"

const tiered = (options: TieredCache.TieredCacheOptions = {}) =>
  Effect.map(
    Layer.build(
      TieredCache.layer(options).pipe(
        Layer.provide(RemoteCache.layerDefault),
        Layer.provide(MemoryBackend.layer()),
        Layer.provide(TieredCache.layerMemoryBus)
      )
    ),
    Context.get(TieredCache.TieredCache)
  )

/** A clock frozen at `millis`, to provide to one effect only. */
const frozenClock = (millis: number): Clock.Clock =>
  Clocks.make({
    wallMillis: () => millis,
    monotonicNanos: () => BigInt(millis) * 1_000_000n,
    sleep: () => Effect.void
  })

describe("TieredCache L1 hit path", () => {
  it.effect("an L1 hit reads the TestClock: alive through its last millisecond, gone one after", () =>
    Effect.gen(function*() {
      const cache = yield* tiered({ l1Ttl: "1 second" })
      yield* cache.getOrCompute("k", Effect.succeed("v"))
      for (let i = 0; i < 3; i++) {
        expect(yield* cache.get("k")).toStrictEqual(Option.some("v"))
        expect(yield* cache.getOrCompute("k", Effect.succeed("other"))).toBe("v")
      }
      yield* TestClock.adjust("1 second")
      expect(yield* cache.l1Size).toBe(1)
      expect(yield* cache.get("k")).toStrictEqual(Option.some("v"))
      yield* TestClock.adjust("1 millis")
      // Past l1Ttl: dropped from L1 (L2 still has it, forever, and back-fills).
      expect(yield* cache.getOrCompute("k", Effect.succeed("other"))).toBe("v")
    }))

  it.effect("each hit reads its own fiber's clock: one provided to one call does not stick to the next", () =>
    Effect.gen(function*() {
      const cache = yield* tiered({ l1Ttl: "1 second" })
      const count = (metric: typeof TieredCache.l1HitsTotal) => Effect.map(Metric.value(metric), (s) => s.count)
      yield* cache.getOrCompute("k", Effect.succeed("v")) // in L1 until 1 s on the TestClock
      const l2Before = yield* count(TieredCache.l2HitsTotal)
      // At 10 s on this call's clock the L1 entry has expired: read from L2.
      expect(yield* Clocks.provide(cache.get("k"), frozenClock(10_000))).toStrictEqual(Option.some("v"))
      expect((yield* count(TieredCache.l2HitsTotal)) - l2Before).toBe(1)
      // Back on the TestClock (0 ms): a fresh entry is an L1 hit, not an expired one read at 10 s.
      yield* cache.getOrCompute("j", Effect.succeed("w"))
      const l1Before = yield* count(TieredCache.l1HitsTotal)
      expect(yield* cache.get("j")).toStrictEqual(Option.some("w"))
      expect((yield* count(TieredCache.l1HitsTotal)) - l1Before).toBe(1)
      expect((yield* count(TieredCache.l2HitsTotal)) - l2Before).toBe(1)
    }))

  it.effect("L1 hits are counted with the fiber's metric labels, as Metric.increment counts them", () =>
    Effect.gen(function*() {
      const cache = yield* tiered()
      yield* cache.getOrCompute("k", Effect.succeed(1))
      const tagged = TieredCache.l1HitsTotal.pipe(Metric.withAttributes({ tier_test: "l1-path" }))
      const before = (yield* Metric.value(tagged)).count
      const untaggedBefore = (yield* Metric.value(TieredCache.l1HitsTotal)).count
      yield* TestMetric.withTags(Effect.all([cache.get("k"), cache.getOrCompute("k", Effect.succeed(2))]), {
        tier_test: "l1-path"
      })
      yield* cache.get("k")
      expect((yield* Metric.value(tagged)).count - before).toBe(2)
      expect((yield* Metric.value(TieredCache.l1HitsTotal)).count - untaggedBefore).toBe(1)
    }))

  it.effect("least recently used goes first, also when the most recent key is hit again and again", () =>
    Effect.gen(function*() {
      const cache = yield* tiered({ capacity: 2 })
      yield* cache.getOrCompute("a", Effect.succeed("a"))
      yield* cache.getOrCompute("b", Effect.succeed("b"))
      // a becomes the most recent, then is hit again while already the most recent.
      yield* cache.get("a")
      yield* cache.get("a")
      yield* cache.get("a")
      yield* cache.getOrCompute("c", Effect.succeed("c")) // evicts b, the least recently used
      const hits = (yield* Metric.value(TieredCache.l1HitsTotal)).count
      const l2Hits = (yield* Metric.value(TieredCache.l2HitsTotal)).count
      expect(yield* cache.get("a")).toStrictEqual(Option.some("a"))
      expect(yield* cache.get("c")).toStrictEqual(Option.some("c"))
      expect((yield* Metric.value(TieredCache.l1HitsTotal)).count - hits).toBe(2)
      expect((yield* Metric.value(TieredCache.l2HitsTotal)).count - l2Hits).toBe(0)
      // b left L1, not L2.
      expect(yield* cache.get("b")).toStrictEqual(Option.some("b"))
      expect((yield* Metric.value(TieredCache.l2HitsTotal)).count - l2Hits).toBe(1)
    }))
})
