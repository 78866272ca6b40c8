/**
 * Stale-while-revalidate across processes: tiered caches, each over a `MemcachedBackend` with a client of its own
 * (separate processes' worth of state), on one memcached, with `distributedSingleFlight` on. Every process holds
 * a stale (or early-due) copy of a key; the first to claim its refresh (`mg … R<secs>`, memcached's win token)
 * computes it, the others wait for that value in L2 instead of computing it again.
 *
 * memcached counts time to live in whole seconds of the real clock, so these tests run on it (`it.live`): each
 * waits, by polling, for an entry's fresh period to pass.
 */
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Fiber from "#effect/Fiber"
import * as Option from "#effect/Option"
import { describe, expect, it } from "#test-effect/vitest"
import * as TieredCache from "../src/TieredCache.js"
import { gate, instances } from "./utils/MemcachedInstance.js"
import * as MemcachedServer from "./utils/MemcachedServer.js"

/** 50 concurrent callers of `key` on `cache`. */
const callers = <A>(
  cache: TieredCache.TieredCacheShape,
  key: string,
  compute: Effect.Effect<A>,
  options?: TieredCache.ComputeOptions<A>
) =>
  Effect.forEach(Array.from({ length: 50 }), () => cache.getOrCompute(key, compute, options), {
    concurrency: "unbounded"
  })

/** Polls until `cache.get(key)` no longer answers (the entry's fresh period is over: `get` never serves stale). */
const untilStale = (cache: TieredCache.TieredCacheShape, key: string) =>
  Effect.gen(function*() {
    while (Option.isSome(yield* cache.get(key))) yield* Effect.sleep("20 millis")
  })

/** Polls until `check` holds, for at most `millis` of real time. */
const eventually = (check: Effect.Effect<boolean>, millis: number) =>
  Effect.gen(function*() {
    const until = Date.now() + millis
    while (!(yield* check)) {
      if (Date.now() > until) return yield* Effect.die(new Error(`not within ${millis} ms`))
      yield* Effect.sleep("20 millis")
    }
  })

const swr = { ttl: "2 seconds", grace: "1 minute" } as const

/**
 * Two processes (a lease of one second) holding a stale copy of `k`; `a` has claimed its refresh and hangs in it (a
 * process that died mid-refresh, as memcached sees it). The hung fiber is `hung`; `b` is the other process.
 */
const hungClaimHolder = Effect.gen(function*() {
  const server = yield* MemcachedServer.make()
  const options: TieredCache.TieredCacheOptions = { distributedSingleFlight: { lease: "1 second" } }
  const [a, b] = (yield* instances(server, 2, options)) as [TieredCache.TieredCacheShape, TieredCache.TieredCacheShape]
  yield* a.getOrCompute("k", Effect.succeed(1), swr)
  yield* b.getOrCompute("k", Effect.succeed(1), swr)
  yield* untilStale(a, "k")
  yield* untilStale(b, "k")
  const started = yield* Deferred.make<void>()
  const hung = yield* Effect.forkChild(
    a.getOrCompute("k", Effect.andThen(Deferred.succeed(started, undefined), Effect.never), swr)
  )
  yield* Deferred.await(started)
  return { b, hung }
})

describe("TieredCache over memcached: stale-while-revalidate across processes", () => {
  it.live(
    "three processes with a stale copy each: one refresh in all, every caller gets its value",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const caches = yield* instances(server, 3, { distributedSingleFlight: true })
        let computed = 0
        const compute = Effect.andThen(Effect.sleep("100 millis"), Effect.sync(() => ++computed))
        // Every process reads the first value into its L1, then it goes stale everywhere.
        for (const cache of caches) {
          expect(new Set(yield* callers(cache, "k", compute, swr))).toStrictEqual(new Set([1]))
        }
        expect(computed).toBe(1)
        yield* Effect.forEach(caches, (cache) => untilStale(cache, "k"))
        const values = yield* Effect.forEach(caches, (cache) => callers(cache, "k", compute, swr), {
          concurrency: "unbounded"
        })
        expect(computed).toBe(2)
        // No soft timeout: the callers waited for the refresh, their own process's or the one another made.
        expect(new Set(values.flat())).toStrictEqual(new Set([2]))
        for (const cache of caches) expect(yield* cache.get("k")).toStrictEqual(Option.some(2))
      })),
    30_000
  )

  it.live("with the option off, each process refreshes its own stale copy", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* MemcachedServer.make()
      const caches = yield* instances(server, 3, {})
      let computed = 0
      const compute = Effect.andThen(Effect.sleep("100 millis"), Effect.sync(() => ++computed))
      for (const cache of caches) yield* callers(cache, "k", compute, swr)
      yield* Effect.forEach(caches, (cache) => untilStale(cache, "k"))
      yield* Effect.forEach(caches, (cache) => callers(cache, "k", compute, swr), { concurrency: "unbounded" })
      expect(computed).toBe(4)
    })), 30_000)

  it.live(
    "with a soft timeout, the processes that lost the claim answer the stale value at once",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const caches = yield* instances(server, 2, { distributedSingleFlight: true })
        const [a, b] = caches as [TieredCache.TieredCacheShape, TieredCache.TieredCacheShape]
        const options = { ...swr, timeout: 0 } as const
        yield* a.getOrCompute("k", Effect.succeed("v1"), options)
        yield* b.getOrCompute("k", Effect.succeed("v1"), options)
        yield* untilStale(a, "k")
        yield* untilStale(b, "k")
        const held = yield* gate
        const slow = held.compute("v2")
        // a claims the refresh and computes slowly; b, which lost the claim, answers stale and computes nothing.
        expect(yield* a.getOrCompute("k", slow, options)).toBe("v1")
        yield* held.started
        let computedB = 0
        expect(yield* b.getOrCompute("k", Effect.sync(() => `b${++computedB}`), options)).toBe("v1")
        yield* held.release
        // b's refresh takes a's value once it is written.
        yield* eventually(Effect.map(b.get("k"), (v) => Option.getOrUndefined(v) === "v2"), 10_000)
        expect(computedB).toBe(0)
      })),
    30_000
  )

  it.live(
    "a value another process writes while the claim's holder refreshes is kept: the refresh is refused",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const [a, b] = (yield* instances(server, 2, { distributedSingleFlight: true })) as [
          TieredCache.TieredCacheShape,
          TieredCache.TieredCacheShape
        ]
        yield* a.getOrCompute("k", Effect.succeed("v1"), swr)
        yield* untilStale(a, "k")
        const held = yield* gate
        const refreshing = yield* Effect.forkChild(a.getOrCompute(
          "k",
          held.compute("refreshed"),
          swr
        ))
        yield* held.started
        yield* b.set("k", "newer", swr)
        yield* held.release
        expect(yield* Fiber.join(refreshing)).toBe("refreshed")
        expect(yield* a.get("k")).toStrictEqual(Option.some("newer"))
        const [c] = yield* instances(server, 1, {})
        expect(yield* c!.get("k")).toStrictEqual(Option.some("newer"))
      })),
    30_000
  )

  it.live(
    "early refresh: one background refresh across processes, the others take its value",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const caches = yield* instances(server, 3, { distributedSingleFlight: true })
        let computed = 0
        const compute = Effect.andThen(Effect.sleep("50 millis"), Effect.sync(() => ++computed))
        const options = { ttl: "4 seconds", earlyRefresh: 0.25 } as const
        for (const cache of caches) yield* cache.getOrCompute("k", compute, options)
        expect(computed).toBe(1)
        const written = Date.now()
        // Past the early-refresh point (a second into four), every process answers its copy and refreshes it.
        yield* Effect.sleep("1200 millis")
        expect(Date.now() - written).toBeLessThan(3_000)
        const answers = yield* Effect.forEach(caches, (cache) => callers(cache, "k", compute, options), {
          concurrency: "unbounded"
        })
        expect(new Set(answers.flat())).toStrictEqual(new Set([1]))
        yield* Effect.forEach(
          caches,
          (cache) => eventually(Effect.map(cache.getOrCompute("k", compute, options), (v) => v === 2), 5_000)
        )
        expect(computed).toBe(2)
      })),
    30_000
  )

  it.live(
    "a claim holder that never writes costs the others at most the lease: then they compute",
    () =>
      Effect.scoped(Effect.gen(function*() {
        // a claims the refresh and hangs (a process that died mid-refresh, as memcached sees it).
        const { b, hung } = yield* hungClaimHolder
        let computed = 0
        const from = Date.now()
        const values = yield* callers(b, "k", Effect.sync(() => ++computed + 1), swr)
        expect(computed).toBe(1)
        expect(new Set(values)).toStrictEqual(new Set([2]))
        expect(Date.now() - from).toBeLessThan(5_000)
        yield* Fiber.interrupt(hung)
      })),
    30_000
  )

  it.live(
    "a refresh cut at its hard timeout while another process holds the claim computes nothing after",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { b, hung } = yield* hungClaimHolder
        let computed = 0
        const from = Date.now()
        // Released with the stale value at the hard timeout, long before the lease would have let b compute.
        const values = yield* callers(b, "k", Effect.sync(() => ++computed + 1), { ...swr, hardTimeout: "300 millis" })
        expect(new Set(values)).toStrictEqual(new Set([1]))
        expect(Date.now() - from).toBeLessThan(1_500)
        // Past the lease (and memcached's second) the refresh would have computed, had the cut not ended it.
        yield* Effect.sleep("2500 millis")
        expect(computed).toBe(0)
        yield* Fiber.interrupt(hung)
      })),
    30_000
  )

  it.live(
    "an entry that cannot be claimed (no TTL, stale by a tag) is refreshed by each process, never hangs",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const caches = yield* instances(server, 2, { distributedSingleFlight: true, grace: "1 minute" })
        const [a, b] = caches as [TieredCache.TieredCacheShape, TieredCache.TieredCacheShape]
        let computed = 0
        const compute = Effect.sync(() => ++computed)
        const options = { tags: ["t"] } as const
        yield* a.getOrCompute("k", compute, options)
        yield* b.getOrCompute("k", compute, options)
        yield* a.invalidateTags(["t"])
        yield* b.invalidateTags(["t"])
        const values = yield* Effect.all([callers(a, "k", compute, options), callers(b, "k", compute, options)], {
          concurrency: "unbounded"
        })
        for (const value of values.flat()) expect(value).toBeGreaterThan(1)
        expect(computed).toBeLessThanOrEqual(3)
      })),
    30_000
  )

  it.live(
    "the server gone when a stale copy is refreshed: computed locally, no hang",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const [a] = yield* instances(server, 1, { distributedSingleFlight: true })
        yield* a!.getOrCompute("k", Effect.succeed(1), swr)
        yield* untilStale(a!, "k")
        yield* server.kill
        let computed = 0
        const values = yield* callers(a!, "k", Effect.sync(() => ++computed + 1), swr)
        expect(computed).toBe(1)
        expect(new Set(values)).toStrictEqual(new Set([2]))
      })),
    30_000
  )
})
