/**
 * Cross-process single flight and refresh claims against a scripted leased read, on `TestClock`: two tiered caches
 * (two processes' worth of state: caches with buses of their own) over one in-memory store whose backend offers a
 * leased read that answers what each test needs (won, lost, a claim won or lost, a failure), so that every
 * interleaving is forced rather than hoped for.
 */
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Option from "#effect/Option"
import * as Scope from "#effect/Scope"
import * as Metrics from "#test-effect/Metric"
import * as TestClock from "#test-effect/TestClock"
import { describe, expect, it } from "#test-effect/vitest"
import * as Lease from "../src/internal/backend/lease.js"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as RemoteCache from "../src/RemoteCache.js"
import { CacheConnectionError } from "../src/RemoteCacheBackend.js"
import * as TieredCache from "../src/TieredCache.js"

/** What the scripted leased read answers: on a miss, and on a hit read with a claim (`R`). */
interface Script {
  miss: "won" | "lost" | "fail"
  claim: "won" | "lost" | undefined
}

const harness = (options: TieredCache.TieredCacheOptions = { distributedSingleFlight: true }) =>
  Effect.gen(function*() {
    const store = yield* MemoryBackend.makeStore()
    const serializer = TieredCache.serializer()
    const backend = yield* MemoryBackend.make({ store, prefix: "r:", serializer })
    const script: Script = { miss: "won", claim: undefined }
    const reads: Array<{ readonly key: string; readonly recacheSeconds: number | undefined }> = []
    const leaseRead: Lease.LeaseRead = (key, _leaseMillis, recacheSeconds) =>
      Effect.suspend(() => {
        reads.push({ key, recacheSeconds })
        return Effect.flatMap(backend.getWithTtl(key), (found): Effect.Effect<Lease.LeaseOutcome, any> => {
          if (Option.isSome(found)) {
            return Effect.succeed({
              _tag: "Hit",
              entry: found.value,
              claim: recacheSeconds === undefined ? undefined : script.claim
            })
          }
          if (script.miss === "fail") {
            return Effect.fail(new CacheConnectionError({ operation: "getWithTtl", key, message: "down" }))
          }
          return Effect.succeed(script.miss === "won" ? Lease.won : Lease.lost)
        })
      })
    const remote = yield* RemoteCache.fromBackend(Lease.attach({ ...backend }, leaseRead), RemoteCache.defaultPolicy)
    const build = Effect.gen(function*() {
      const scope = yield* Scope.make()
      const cache = yield* TieredCache.make(options).pipe(
        Effect.provideService(RemoteCache.RemoteCache, remote),
        Effect.provideService(TieredCache.InvalidationBus, TieredCache.makeMemoryBus()),
        Effect.provideService(Scope.Scope, scope)
      )
      return { cache, scope }
    })
    return { a: yield* build, b: yield* build, script, reads }
  })

const counter = () => {
  let n = 0
  return { compute: Effect.sync(() => ++n), count: () => n }
}

const swr = { ttl: "1 second", grace: "1 minute" } as const

describe("TieredCache: leased reads and refresh claims, interleavings forced", () => {
  it.effect("a lease held elsewhere forever: polled on the caller's clock, computed once after the lease", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      h.script.miss = "lost"
      const { compute, count } = counter()
      const caller = yield* Effect.forkChild(h.a.cache.getOrCompute("k", compute))
      yield* TestClock.adjust("5900 millis")
      expect(count()).toBe(0)
      // The lease (5 s) plus memcached's second: then this process computes.
      yield* TestClock.adjust("200 millis")
      expect(yield* Fiber.join(caller)).toBe(1)
      expect(count()).toBe(1)
      // Polled every 5 ms doubling to 50 ms: about 125 reads in 6 s, never a busy loop.
      expect(h.reads.length).toBeGreaterThan(100)
      expect(h.reads.length).toBeLessThan(140)
    }))

  it.effect("a refresh claimed elsewhere: its value is taken when it appears, nothing computed here", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const { compute, count } = counter()
      expect(yield* h.a.cache.getOrCompute("k", compute, swr)).toBe(1)
      expect(yield* h.b.cache.getOrCompute("k", compute, swr)).toBe(1)
      yield* TestClock.adjust("1500 millis")
      h.script.claim = "lost"
      const before = h.reads.length
      const caller = yield* Effect.forkChild(h.b.cache.getOrCompute("k", compute, swr))
      yield* TestClock.adjust("30 millis")
      // One plain read, then one claiming read (R: the grace in seconds plus the slack), then polls.
      expect(h.reads[before]!.recacheSeconds).toBe(undefined)
      expect(h.reads[before + 1]!.recacheSeconds).toBe(62)
      expect(h.reads.slice(before + 2).every((read) => read.recacheSeconds === undefined)).toBe(true)
      // The claim's holder (process a) writes the refreshed value.
      yield* h.a.cache.set("k", 99, swr)
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(caller)).toBe(99)
      expect(count()).toBe(1)
      // b's L1 holds the refreshed value now.
      expect(yield* h.b.cache.get("k")).toStrictEqual(Option.some(99))
    }))

  it.effect("a refresh claim won, or one that cannot be claimed, computes here, once per process", () =>
    Effect.gen(function*() {
      for (const claim of ["won", undefined] as const) {
        const h = yield* harness()
        const { compute, count } = counter()
        yield* h.a.cache.getOrCompute("k", compute, swr)
        yield* TestClock.adjust("1500 millis")
        h.script.claim = claim
        const callers = yield* Effect.forkChild(
          Effect.forEach(Array.from({ length: 20 }), () => h.a.cache.getOrCompute("k", compute, swr), {
            concurrency: "unbounded"
          })
        )
        yield* TestClock.adjust("10 millis")
        expect(new Set(yield* Fiber.join(callers))).toStrictEqual(new Set([2]))
        expect(count()).toBe(2)
      }
    }))

  it.effect("a value refreshed elsewhere before the claim is taken without claiming it", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const { compute, count } = counter()
      yield* h.a.cache.getOrCompute("k", compute, swr)
      yield* h.b.cache.getOrCompute("k", compute, swr)
      yield* TestClock.adjust("1500 millis")
      // a refreshes first; b's L1 copy is still the stale one (no bus between them).
      expect(yield* h.a.cache.getOrCompute("k", compute, swr)).toBe(2)
      h.script.claim = "won"
      const before = h.reads.length
      expect(yield* h.b.cache.getOrCompute("k", compute, swr)).toBe(2)
      expect(count()).toBe(2)
      // No claiming read: a claim on the fresh value would take the token its own refresh needs later.
      expect(h.reads.slice(before).every((read) => read.recacheSeconds === undefined)).toBe(true)
    }))

  it.effect("an early refresh claims with the time left from its early point", () =>
    Effect.gen(function*() {
      const h = yield* harness({ distributedSingleFlight: true, earlyRefresh: 0.5 })
      const { compute, count } = counter()
      yield* h.a.cache.getOrCompute("k", compute, { ttl: "10 seconds" })
      yield* TestClock.adjust("6 seconds")
      h.script.claim = "lost"
      const before = h.reads.length
      // Answered at once from L1; the refresh polls in the background until the lease passes, then computes.
      expect(yield* h.a.cache.getOrCompute("k", compute, { ttl: "10 seconds" })).toBe(1)
      yield* TestClock.adjust("10 millis")
      // 5 s left from the early point (half of 10 s), plus the slack.
      expect(h.reads[before + 1]!.recacheSeconds).toBe(7)
      yield* TestClock.adjust("7 seconds")
      expect(count()).toBe(2)
      expect(yield* h.a.cache.get("k")).toStrictEqual(Option.some(2))
    }))

  it.effect("the cache closed while its leader polls: the caller ends, interrupted, nothing left running", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      h.script.miss = "lost"
      const { compute, count } = counter()
      const caller = yield* Effect.forkChild(h.a.cache.getOrCompute("k", compute))
      yield* TestClock.adjust("100 millis")
      yield* Scope.close(h.a.scope, Exit.void)
      const exit = yield* Fiber.await(caller)
      expect(Exit.isFailure(exit)).toBe(true)
      const reads = h.reads.length
      yield* TestClock.adjust("10 seconds")
      expect(h.reads.length).toBe(reads)
      expect(count()).toBe(0)
    }))

  it.effect("leased reads are counted as getWithTtl: operations, hits, misses and errors", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const tags = { run: "leased-reads" }
      const count = (name: string, extra: Record<string, string> = {}) =>
        Effect.map(
          Metrics.seriesState(name, { operation: "getWithTtl", ...tags, ...extra }),
          (state) => state === undefined ? 0 : Number((state as { readonly count: number | bigint }).count)
        )
      const { compute } = counter()
      yield* Metrics.withTags(
        Effect.gen(function*() {
          yield* h.a.cache.getOrCompute("k", compute) // leased read: a miss, won
          yield* h.b.cache.getOrCompute("k", compute) // leased read: a hit
          h.script.miss = "fail"
          yield* h.a.cache.getOrCompute("other", compute) // leased read: an error, computed locally
        }),
        tags
      )
      expect(yield* count("remote_cache_operations_total")).toBe(3)
      expect(yield* count("remote_cache_hits_total")).toBe(1)
      // The failed read, recovered by the default policy, is a miss too, as a failed `get` is.
      expect(yield* count("remote_cache_misses_total")).toBe(2)
      expect(yield* count("remote_cache_errors_total", { error: "CacheConnectionError" })).toBe(1)
    }))

  it.effect("a leased read that fails is computed locally, at once", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      h.script.miss = "fail"
      const { compute, count } = counter()
      expect(yield* h.a.cache.getOrCompute("k", compute)).toBe(1)
      expect(count()).toBe(1)
    }))
})
