/**
 * Fresh / stale / gone, stale-while-revalidate, early refresh, tags, batches and per-entry TTL: every rule runs on
 * two instances sharing one L2 and one bus, over MemoryBackend and over a Redis server of the test's own, with time
 * on the TestClock (over Redis the server's own TTLs are set long enough never to expire during a test: the
 * entries' headers decide freshness).
 */
import * as Cause from "#effect/Cause"
import * as Context from "#effect/Context"
import * as Deferred from "#effect/Deferred"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Layer from "#effect/Layer"
import * as Metric from "#effect/Metric"
import * as Option from "#effect/Option"
import * as Schedule from "#effect/Schedule"
import * as Schema from "#effect/Schema"
import * as Scope from "#effect/Scope"
import * as Exits from "#test-effect/Exits"
import * as TestClock from "#test-effect/TestClock"
import { describe, expect, it } from "#test-effect/vitest"
import * as Entry from "../src/internal/tiered/entry.js"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as Serializer from "../src/Serializer.js"
import * as TieredCache from "../src/TieredCache.js"
import * as RedisServer from "./utils/RedisServer.js"
import { awaitSubscribers } from "./utils/Subscribers.js"

interface Harness {
  /** Two instances over one L2 and one bus. */
  readonly a: TieredCache.TieredCacheShape
  readonly b: TieredCache.TieredCacheShape
  /** A plain `RemoteCache` over the same L2 and prefix (writes with no header, as before this format). */
  readonly plain: RemoteCache.RemoteCacheShape
  /** Waits (in real time) until `b` has received `count` more invalidation messages than when `mark` was taken. */
  readonly mark: Effect.Effect<number>
  readonly delivered: (mark: number, count: number) => Effect.Effect<void>
}

const received = Effect.map(Metric.value(TieredCache.invalidationsReceivedTotal), (state) => state.count)

const waitReceived = (mark: number, count: number) =>
  TestClock.withLive(
    Effect.flatMap(received, (n) => n >= mark + count ? Effect.void : Effect.fail("not yet" as const)).pipe(
      Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 500 }),
      Effect.orDie
    )
  )

const memoryHarness = (options: TieredCache.TieredCacheOptions) =>
  Effect.gen(function*() {
    const store = yield* MemoryBackend.makeStore()
    const backend = MemoryBackend.layer({ store, prefix: "t:", serializer: TieredCache.serializer() })
    const remote = RemoteCache.layerDefault.pipe(Layer.provide(backend))
    const bus = yield* Layer.build(TieredCache.layerMemoryBus)
    const build = () =>
      Effect.map(
        Layer.build(TieredCache.layer(options).pipe(Layer.provide(remote), Layer.provide(Layer.succeedContext(bus)))),
        Context.get(TieredCache.TieredCache)
      )
    const plain = Context.get(
      yield* Layer.build(
        RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer({ store, prefix: "t:" })))
      ),
      RemoteCache.RemoteCache
    )
    return {
      a: yield* build(),
      b: yield* build(),
      plain,
      mark: received,
      delivered: (mark, count) => waitReceived(mark, count)
    } satisfies Harness
  })

const redisHarness = (server: RedisServer.RedisServerShape, options: TieredCache.TieredCacheOptions) =>
  Effect.gen(function*() {
    const client = RedisClient.layer({ host: server.host, port: server.port })
    const build = () =>
      Effect.map(
        Layer.build(
          TieredCache.layer(options).pipe(
            Layer.provide(RemoteCache.layerDefault),
            Layer.provide(
              RedisBackend.layerWithoutClient({ prefix: "t:", serializer: TieredCache.serializer(Serializer.v8) })
            ),
            Layer.provide(TieredCache.layerRedisBus),
            Layer.provide(client),
            Layer.orDie
          )
        ),
        Context.get(TieredCache.TieredCache)
      )
    const a = yield* build()
    const b = yield* build()
    const plain = Context.get(
      yield* Layer.build(
        RemoteCache.layerDefault.pipe(
          Layer.provide(RedisBackend.layerWithoutClient({ prefix: "t:" })),
          Layer.provide(client),
          Layer.orDie
        )
      ),
      RemoteCache.RemoteCache
    )
    yield* awaitSubscribers(server, 2)
    return { a, b, plain, mark: received, delivered: (mark, count) => waitReceived(mark, count) } satisfies Harness
  })

/**
 * Declares `rule` once per backend: over MemoryBackend in a TestClock test, over Redis in a live test whose body
 * runs on a TestClock once the server and the subscriptions are up.
 */
const both = (
  name: string,
  options: TieredCache.TieredCacheOptions,
  rule: (h: Harness) => Effect.Effect<void, unknown>,
  timeout = 30_000
) => {
  it.effect(`MemoryBackend: ${name}`, () => Effect.flatMap(memoryHarness(options), rule), timeout)
  it.live(`Redis: ${name}`, () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const h = yield* redisHarness(server, options)
      yield* Effect.provide(rule(h), TestClock.layer())
    }), timeout)
}

/** A computation that counts its runs and answers `value`, or fails while `failing.now` is set. */
const counted = <A>(value: () => A) => {
  const state = { runs: 0, failing: false }
  const compute = Effect.suspend(() => {
    state.runs++
    return state.failing ? Effect.fail("down" as const) : Effect.succeed(value())
  })
  return { state, compute }
}

/** Polls `check` (run on the test's clock) with real-time pauses until it holds: for writes on their way to L2. */
const settle = (check: Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      if (yield* check) return
      yield* TestClock.withLive(Effect.sleep("10 millis"))
    }
    return yield* Effect.die("never settled")
  })

const staleServed = Effect.map(Metric.value(TieredCache.staleServedTotal), (state) => state.count)
const missesCount = Effect.map(Metric.value(TieredCache.missesTotal), (state) => state.count)

describe("TieredCache grace: fresh, stale, gone", () => {
  both("within grace a failing computation answers the stale value, then backs off", {
    grace: "10 minutes",
    graceBackoff: "30 seconds"
  }, (h) =>
    Effect.gen(function*() {
      let version = 1
      const { compute, state } = counted(() => `v${version}`)
      expect(yield* h.a.getOrCompute("k", compute, { ttl: "1 minute" })).toBe("v1")
      yield* TestClock.adjust("61 seconds") // stale, within grace
      expect(yield* h.a.get("k")).toStrictEqual(Option.none()) // get answers fresh values only
      state.failing = true
      const before = yield* staleServed
      expect(yield* h.a.getOrCompute("k", compute, { ttl: "1 minute" })).toBe("v1")
      expect(state.runs).toBe(2)
      // Backing off: no new attempt for 30 s.
      expect(yield* h.a.getOrCompute("k", compute, { ttl: "1 minute" })).toBe("v1")
      yield* TestClock.adjust("29 seconds")
      expect(yield* h.a.getOrCompute("k", compute, { ttl: "1 minute" })).toBe("v1")
      expect(state.runs).toBe(2)
      expect((yield* staleServed) - before).toBe(3)
      // Backoff over: one more attempt, which succeeds and writes through.
      yield* TestClock.adjust("2 seconds")
      state.failing = false
      version = 2
      expect(yield* h.a.getOrCompute("k", compute, { ttl: "1 minute" })).toBe("v2")
      expect(state.runs).toBe(3)
      expect(yield* h.b.get("k")).toStrictEqual(Option.some("v2"))
    }))

  both("the other instance, reading the stale entry from L2, also answers it when its computation fails", {
    grace: "10 minutes"
  }, (h) =>
    Effect.gen(function*() {
      yield* h.a.set("k", "old", "1 minute")
      yield* TestClock.adjust("5 minutes")
      expect(yield* h.b.getOrCompute("k", Effect.fail("down"))).toBe("old")
      // Past the grace period (alive through its last millisecond) the entry is gone: the failure is the caller's.
      yield* TestClock.adjust("6 minutes")
      expect(yield* h.a.getOrCompute("k", Effect.fail("down"))).toBe("old")
      yield* TestClock.adjust("1 millis")
      expect(Exits.plain(yield* Effect.exit(h.a.getOrCompute("k", Effect.fail("down"))))).toStrictEqual(
        Exit.fail("down")
      )
    }))

  both("a refresh that runs past the hard timeout is cut short: the stale value is answered", {
    grace: "10 minutes"
  }, (h) =>
    Effect.gen(function*() {
      yield* h.a.set("k", "old", "1 minute")
      yield* TestClock.adjust("2 minutes")
      const slow = Effect.as(Effect.sleep("1 hour"), "new")
      const fiber = yield* Effect.forkChild(h.a.getOrCompute("k", slow, { hardTimeout: "2 seconds" }))
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(fiber)).toBe("old")
      // Counted as a failure: backing off, so the slow computation is not started again at once.
      let started = 0
      const counting = Effect.suspend(() => (started++, slow))
      expect(yield* h.a.getOrCompute("k", counting, { hardTimeout: "2 seconds" })).toBe("old")
      expect(started).toBe(0)
    }))

  both(
    "without a stale value a failure is still the caller's, and nothing is cached",
    { grace: "1 minute" },
    (h) =>
      Effect.gen(function*() {
        expect(Exits.plain(yield* Effect.exit(h.a.getOrCompute("k", Effect.fail("boom"))))).toStrictEqual(
          Exit.fail("boom")
        )
        expect(yield* h.a.getOrCompute("k", Effect.succeed(1))).toBe(1)
      })
  )

  both("expire makes an entry stale now and keeps it for its grace; without grace it is removed", {
    grace: "1 minute"
  }, (h) =>
    Effect.gen(function*() {
      yield* h.a.set("k", "v", "1 hour")
      expect(yield* h.b.get("k")).toStrictEqual(Option.some("v"))
      const mark = yield* h.mark
      yield* h.a.expire("k")
      yield* h.delivered(mark, 1)
      expect(yield* h.a.get("k")).toStrictEqual(Option.none())
      expect(yield* h.b.get("k")).toStrictEqual(Option.none())
      expect(yield* h.b.getOrCompute("k", Effect.fail("down"))).toBe("v")
      yield* TestClock.adjust("61 seconds")
      expect(Exits.plain(yield* Effect.exit(h.b.getOrCompute("k", Effect.fail("down"))))).toStrictEqual(
        Exit.fail("down")
      )

      yield* h.a.set("n", "v", { ttl: "1 hour", grace: 0 })
      yield* h.a.expire("n")
      expect(yield* h.plain.get("n")).toStrictEqual(Option.none())
    }))
})

describe("TieredCache stale-while-revalidate", () => {
  both("timeout 0: 1,000 concurrent callers get the stale value at once, and one background refresh runs", {
    grace: "10 minutes"
  }, (h) =>
    Effect.gen(function*() {
      yield* h.a.set("k", "old", "1 minute")
      yield* TestClock.adjust("2 minutes")
      const gate = yield* Deferred.make<void>()
      let runs = 0
      const compute = Effect.andThen(Effect.sync(() => runs++), Effect.as(Deferred.await(gate), "new"))
      const refreshes = Effect.map(Metric.value(TieredCache.refreshesTotal), (state) => state.count)
      const refreshesBefore = yield* refreshes
      const answers = yield* Effect.all(
        Array.from({ length: 1_000 }, () => h.a.getOrCompute("k", compute, { ttl: "1 minute", timeout: 0 })),
        { concurrency: "unbounded" }
      )
      expect(new Set(answers)).toStrictEqual(new Set(["old"]))
      // The refresh runs in a fiber of the cache's, which may start only after the callers' fibers have answered.
      yield* settle(Effect.sync(() => runs > 0))
      expect(runs).toBe(1)
      expect((yield* refreshes) - refreshesBefore).toBe(1)
      // The refresh belongs to the cache, not to any caller: it completes after all of them returned.
      const mark = yield* h.mark
      yield* Deferred.succeed(gate, void 0)
      yield* h.delivered(mark, 1)
      expect(yield* h.b.get("k")).toStrictEqual(Option.some("new"))
      expect(yield* h.a.getOrCompute("k", compute)).toBe("new")
      expect(runs).toBe(1)
    }))

  both("a soft timeout: the caller waits that long for the refresh, then takes the stale value", {
    grace: "10 minutes",
    timeout: "100 millis"
  }, (h) =>
    Effect.gen(function*() {
      yield* h.a.set("k", "old", "1 minute")
      yield* TestClock.adjust("2 minutes")
      const quick = yield* Effect.forkChild(h.a.getOrCompute("k", Effect.as(Effect.sleep("50 millis"), "quick")))
      yield* TestClock.adjust("50 millis")
      expect(yield* Fiber.join(quick)).toBe("quick")

      yield* h.a.set("j", "old", "1 minute")
      yield* TestClock.adjust("2 minutes")
      const slow = yield* Effect.forkChild(h.a.getOrCompute("j", Effect.as(Effect.sleep("1 second"), "slow")))
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(slow)).toBe("old")
      yield* TestClock.adjust("1 second")
      // The refresh went on in the background and wrote through.
      expect(yield* h.a.getOrCompute("j", Effect.succeed("unused"))).toBe("slow")
    }))

  both("interrupting the caller does not cancel the refresh", { grace: "10 minutes" }, (h) =>
    Effect.gen(function*() {
      yield* h.a.set("k", "old", "1 minute")
      yield* TestClock.adjust("2 minutes")
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const compute = Effect.andThen(Deferred.succeed(started, void 0), Effect.as(Deferred.await(gate), "new"))
      const fiber = yield* Effect.forkChild(h.a.getOrCompute("k", compute))
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      yield* Deferred.succeed(gate, void 0)
      yield* settle(Effect.map(h.a.get("k"), (v) => Option.getOrNull(v) === "new"))
    }))
})

describe("TieredCache early refresh", () => {
  both("a hot key is rewritten before it expires: no caller ever waits for a computation", {
    earlyRefresh: 0.5
  }, (h) =>
    Effect.gen(function*() {
      let version = 0
      let runs = 0
      const compute = Effect.sync(() => (runs++, `v${++version}`))
      expect(yield* h.a.getOrCompute("hot", compute, { ttl: "10 seconds" })).toBe("v1")
      const misses = yield* missesCount
      // Ten expiries' worth of time, a burst of callers every second: each answered from the cache.
      for (let second = 1; second <= 100; second++) {
        yield* TestClock.adjust("1 second")
        const answers = yield* Effect.all(
          Array.from({ length: 10 }, () => h.a.getOrCompute("hot", compute, { ttl: "10 seconds" })),
          { concurrency: "unbounded" }
        )
        for (const answer of answers) expect(answer).toMatch(/^v\d+$/)
        // A refresh started: let its write land before the clock moves on.
        yield* settle(Effect.map(h.a.get("hot"), (v) => Option.getOrNull(v) === `v${version}`))
      }
      expect((yield* missesCount) - misses).toBe(0)
      // Refreshed about once per half-TTL, never once per caller.
      expect(runs).toBeGreaterThanOrEqual(10)
      expect(runs).toBeLessThanOrEqual(40)
    }), 60_000)
})

describe("TieredCache tags", () => {
  both(
    "invalidateTags makes tagged entries a miss in both instances, L1 and L2, and leaves the others",
    {},
    (h) =>
      Effect.gen(function*() {
        yield* h.a.set("p1", "product 1", { tags: ["products"] })
        expect(yield* h.a.getOrCompute("p2", Effect.succeed("product 2"), { tags: ["products", "p2"] })).toBe(
          "product 2"
        )
        yield* h.a.set("u1", "user 1", { tags: ["users"] })
        // b holds them in L1.
        for (const key of ["p1", "p2", "u1"]) expect(Option.isSome(yield* h.b.get(key))).toBe(true)
        yield* TestClock.adjust("1 millis")
        const mark = yield* h.mark
        yield* h.a.invalidateTags(["products"])
        yield* h.delivered(mark, 1)
        expect(yield* h.a.get("p1")).toStrictEqual(Option.none())
        expect(yield* h.b.get("p1")).toStrictEqual(Option.none()) // its L1 was told
        expect(yield* h.b.get("p2")).toStrictEqual(Option.none())
        expect(yield* h.b.get("u1")).toStrictEqual(Option.some("user 1"))
        // Past l1Ttl, read from L2 again: the tag key says the entry is invalid.
        yield* TestClock.adjust("61 seconds")
        expect(yield* h.b.get("p2")).toStrictEqual(Option.none())
        expect(yield* h.b.get("u1")).toStrictEqual(Option.some("user 1"))
        // Written again after the invalidation: fresh.
        yield* TestClock.adjust("1 millis")
        expect(yield* h.b.getOrCompute("p1", Effect.succeed("product 1 v2"), { tags: ["products"] })).toBe(
          "product 1 v2"
        )
        expect(yield* h.a.get("p1")).toStrictEqual(Option.some("product 1 v2"))
      })
  )

  both(
    "an invalidated tag leaves a graced entry stale: served if its recomputation fails",
    { grace: "1 hour" },
    (h) =>
      Effect.gen(function*() {
        yield* h.a.set("p", "old", { ttl: "1 hour", tags: ["t"] })
        yield* TestClock.adjust("1 millis")
        yield* h.a.invalidateTags(["t"])
        expect(yield* h.b.get("p")).toStrictEqual(Option.none())
        expect(yield* h.b.getOrCompute("p", Effect.fail("down"))).toBe("old")
        expect(yield* h.b.getOrCompute("p", Effect.succeed("new"), { tags: ["t"] })).toBe("old") // backing off
      })
  )
})

describe("TieredCache batches and per-entry decisions", () => {
  both("getOrComputeMany computes only the missing keys, once, and caches them", {}, (h) =>
    Effect.gen(function*() {
      yield* h.a.set("1", "one")
      yield* h.plain.set("2", "two (plain)")
      const asked: Array<ReadonlyArray<string>> = []
      const computeMissing = (missing: ReadonlyArray<string>) =>
        Effect.sync(() => {
          asked.push(missing)
          return missing.filter((key) => key !== "404").map((key) => [key, `computed ${key}`] as const)
        })
      const result = yield* h.b.getOrComputeMany(["1", "2", "3", "4", "404"], computeMissing, { ttl: "1 minute" })
      expect(asked).toStrictEqual([["3", "4", "404"]])
      expect(Array.from(result)).toStrictEqual([
        ["1", "one"],
        ["2", "two (plain)"],
        ["3", "computed 3"],
        ["4", "computed 4"]
      ])
      // Cached for both instances; the key the computation did not return is not.
      expect(yield* h.a.get("3")).toStrictEqual(Option.some("computed 3"))
      // "3" is in a's L1 now, "4" only in L2: the answer keeps the order asked for.
      const again = yield* h.a.getOrComputeMany(["4", "3", "404"], computeMissing)
      expect(asked).toStrictEqual([["3", "4", "404"], ["404"]])
      expect(Array.from(again.keys())).toStrictEqual(["4", "3"])
    }))

  both("deleteMany removes keys from L2 and from both instances' L1", {}, (h) =>
    Effect.gen(function*() {
      for (const key of ["x", "y", "z"]) yield* h.a.set(key, key)
      for (const key of ["x", "y", "z"]) expect(Option.isSome(yield* h.b.get(key))).toBe(true)
      const mark = yield* h.mark
      yield* h.a.deleteMany(["x", "y"])
      yield* h.delivered(mark, 1)
      expect(yield* h.b.get("x")).toStrictEqual(Option.none())
      expect(yield* h.b.get("y")).toStrictEqual(Option.none())
      expect(yield* h.b.get("z")).toStrictEqual(Option.some("z"))
      expect(yield* h.plain.get("x")).toStrictEqual(Option.none())
    }))

  // With a grace period every entry carries a header, so its freshness follows the TestClock on Redis too.
  both(
    "the TTL is chosen from the computed value; 0 means do not cache",
    { grace: "1 minute" },
    (h) =>
      Effect.gen(function*() {
        const ttl = (value: ReadonlyArray<string>) => value.length === 0 ? "1 second" : "1 hour"
        expect(yield* h.a.getOrCompute("empty", Effect.succeed([] as ReadonlyArray<string>), { ttl })).toStrictEqual([])
        expect(yield* h.a.getOrCompute("full", Effect.succeed(["x"] as ReadonlyArray<string>), { ttl })).toStrictEqual([
          "x"
        ])
        yield* TestClock.adjust("2 seconds")
        expect(yield* h.b.get("empty")).toStrictEqual(Option.none())
        expect(yield* h.b.get("full")).toStrictEqual(Option.some(["x"]))

        let runs = 0
        const maybe = Effect.sync(() => (runs++, Option.none<number>()))
        const skipNone = (value: Option.Option<number>) => Option.isNone(value) ? 0 : "1 hour"
        yield* h.a.getOrCompute("none", maybe, { ttl: skipNone })
        yield* h.a.getOrCompute("none", maybe, { ttl: skipNone })
        expect(runs).toBe(2)
        expect(yield* h.plain.get("none")).toStrictEqual(Option.none())
      })
  )
})

describe("TieredCache wire format", () => {
  both(
    "values written by a plain RemoteCache (no header) read as fresh values",
    { grace: "1 minute" },
    (h) =>
      Effect.gen(function*() {
        yield* h.plain.set("old", { legacy: true })
        expect(yield* h.a.get("old")).toStrictEqual(Option.some({ legacy: true }))
        expect(yield* h.b.getOrCompute("old", Effect.succeed({ legacy: false }))).toStrictEqual({ legacy: true })
      })
  )

  both("an entry with a header is read back by a plain RemoteCache as the tiered entry, not as a bare value", {
    grace: "1 minute"
  }, (h) =>
    Effect.gen(function*() {
      yield* h.a.set("k", "v", "1 hour")
      const raw = yield* h.plain.get("k")
      // The plain backend's serializer does not know the header: the bytes are not a v8 value it can decode.
      expect(raw).toStrictEqual(Option.none())
    }))
})

describe("TieredCache.serializer", () => {
  it.effect("round-trips entries with their header, and plain values byte for byte as the inner serializer", () =>
    Effect.gen(function*() {
      const wrapped = TieredCache.serializer(Serializer.v8)
      const plainBytes = yield* Serializer.v8.encode({ a: 1 })
      expect(yield* wrapped.encode({ a: 1 })).toStrictEqual(plainBytes)
      expect(yield* wrapped.decode(plainBytes)).toStrictEqual({ a: 1 })
      const entry = new Entry.TieredEntry({ a: 1 }, 5, 10, Infinity, ["x", "ü"])
      const bytes = yield* wrapped.encode(entry)
      expect(Array.from(bytes.subarray(0, 4))).toStrictEqual([0xe7, 0x54, 0x43, 1])
      // The value's bytes follow the header unchanged.
      expect(Array.from(bytes.subarray(bytes.length - plainBytes.length))).toStrictEqual(Array.from(plainBytes))
      const back = yield* wrapped.decode(bytes)
      expect(back).toBeInstanceOf(Entry.TieredEntry)
      const decoded = back as Entry.TieredEntry
      expect([decoded.value, decoded.createdAt, decoded.freshUntil, decoded.graceUntil, decoded.tags]).toStrictEqual([
        { a: 1 },
        5,
        10,
        Infinity,
        ["x", "ü"]
      ])
      // A newer version is refused, not misread.
      const newer = Uint8Array.from(bytes)
      newer[3] = 2
      expect((yield* Effect.flip(wrapped.decode(newer))).message).toContain("version 2")
    }))

  it.effect("without the wrapper (JSON serializer) entries are stored as objects and still read", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore()
      const remote = RemoteCache.layerDefault.pipe(
        Layer.provide(MemoryBackend.layer({ store, serializer: Serializer.json }))
      )
      const cache = Context.get(
        yield* Layer.build(
          TieredCache.layer({ grace: "1 minute" }).pipe(
            Layer.provide(remote),
            Layer.provide(TieredCache.layerMemoryBus)
          )
        ),
        TieredCache.TieredCache
      )
      yield* cache.set("k", { v: 1 }, { ttl: "1 minute", tags: ["t"] })
      const other = Context.get(
        yield* Layer.build(TieredCache.layer().pipe(Layer.provide(remote), Layer.provide(TieredCache.layerMemoryBus))),
        TieredCache.TieredCache
      )
      expect(yield* other.get("k")).toStrictEqual(Option.some({ v: 1 }))
      yield* TestClock.adjust(Duration.seconds(61))
      expect(yield* other.get("k")).toStrictEqual(Option.none())
      expect(yield* other.getOrCompute("k", Effect.fail("down"))).toStrictEqual({ v: 1 })
    }))
})

describe("TieredCache freshness: races, views, options", () => {
  const single = (options: TieredCache.TieredCacheOptions) =>
    Effect.map(
      Layer.build(
        TieredCache.layer(options).pipe(
          Layer.provide(RemoteCache.layerDefault),
          Layer.provide(MemoryBackend.layer({ serializer: TieredCache.serializer() })),
          Layer.provide(TieredCache.layerMemoryBus)
        )
      ),
      Context.get(TieredCache.TieredCache)
    )

  it.effect("a set made while a refresh runs wins: the refresh's value is answered to its callers, not stored", () =>
    Effect.gen(function*() {
      const cache = yield* single({ grace: "10 minutes" })
      yield* cache.set("k", "old", "1 minute")
      yield* TestClock.adjust("2 minutes")
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const refresh = Effect.andThen(Deferred.succeed(started, void 0), Effect.as(Deferred.await(gate), "refreshed"))
      const caller = yield* Effect.forkChild(cache.getOrCompute("k", refresh, { ttl: "1 minute" }))
      yield* Deferred.await(started)
      yield* cache.set("k", "newer", "1 minute")
      yield* Deferred.succeed(gate, void 0)
      expect(yield* Fiber.join(caller)).toBe("refreshed")
      expect(yield* cache.get("k")).toStrictEqual(Option.some("newer"))
    }))

  it.effect("a typed view serves its stale value on failure, decoded by its schema", () =>
    Effect.gen(function*() {
      const cache = yield* single({ grace: "10 minutes" })
      const view = yield* Effect.provideService(
        TieredCache.forSchema(Schema.Struct({ at: Schema.DateFromString })),
        TieredCache.TieredCache,
        cache
      )
      const at = new Date(0)
      expect(yield* view.getOrCompute("k", Effect.succeed({ at }), { ttl: "1 minute" })).toStrictEqual({ at })
      yield* TestClock.adjust("2 minutes")
      expect(yield* view.getOrCompute("k", Effect.fail("down"))).toStrictEqual({ at })
      expect(yield* view.get("k")).toStrictEqual(Option.none()) // stale: not an answer for get
    }))

  it.effect("closing the cache interrupts a caller waiting for a refresh", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const cache = yield* Scope.provide(single({ grace: "10 minutes" }), scope)
      yield* cache.set("k", "old", "1 minute")
      yield* TestClock.adjust("2 minutes")
      const started = yield* Deferred.make<void>()
      const caller = yield* Effect.forkChild(
        cache.getOrCompute("k", Effect.andThen(Deferred.succeed(started, void 0), Effect.never))
      )
      yield* Deferred.await(started)
      yield* Scope.close(scope, Exit.void)
      expect(Exit.hasInterrupts(yield* Fiber.await(caller))).toBe(true)
    }))

  it.effect("after the cache's scope closes an L1 hit past its early-refresh point is still answered", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const cache = yield* Scope.provide(single({ earlyRefresh: 0.5 }), scope)
      expect(yield* cache.getOrCompute("k", Effect.succeed(1), { ttl: "10 seconds" })).toBe(1)
      yield* TestClock.adjust("6 seconds")
      yield* Scope.close(scope, Exit.void)
      expect(yield* cache.getOrCompute("k", Effect.succeed(2), { ttl: "10 seconds" })).toBe(1)
    }))

  it.effect("a header-less value read by getOrComputeMany is not kept in L1 past its L2 TTL", () =>
    Effect.flatMap(memoryHarness({}), (h) =>
      Effect.gen(function*() {
        yield* h.plain.set("s", "short-lived", "1 second")
        const read = yield* h.a.getOrComputeMany(["s"], () => Effect.succeed([]))
        expect(Array.from(read)).toStrictEqual([["s", "short-lived"]])
        yield* TestClock.adjust("2 seconds")
        expect(yield* h.a.get("s")).toStrictEqual(Option.none())
      })))

  it.effect("invalid freshness options are defects: on the cache when it is built, on a call when it is used", () =>
    Effect.gen(function*() {
      for (const options of [{ grace: Number.NaN }, { earlyRefresh: 1 }, { earlyRefresh: 0 }, { hardTimeout: 0 }]) {
        const exit = yield* Effect.exit(Effect.scoped(single(options)))
        expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      }
      const exit = yield* Effect.exit(Effect.scoped(Effect.flatMap(
        single({}),
        (cache) => cache.set("k", 1, { grace: "nonsense" as Duration.Input })
      )))
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
    }))
})
