/**
 * Adversarial interleavings of cross-process single flight and refresh claims, against a scripted leased read on
 * `TestClock` (as in TieredCache.lease.test.ts): hard timeouts and closed scopes mid-poll, interrupted callers,
 * local writes racing a claim, refused writes, typed views.
 */
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Option from "#effect/Option"
import * as Schema from "#effect/Schema"
import * as Scope from "#effect/Scope"
import * as TestClock from "#test-effect/TestClock"
import { describe, expect, it } from "#test-effect/vitest"
import * as Lease from "../src/internal/backend/lease.js"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as TieredCache from "../src/TieredCache.js"

/** What the scripted leased read answers: on a miss, and on a hit read with a claim (`R`). */
interface Script {
  miss: "won" | "lost"
  claim: "won" | "lost" | undefined
  /** The write handed with a claim or lease won; `undefined`: none (written as any other). */
  write: Lease.Write | undefined
}

const harness = (
  options: TieredCache.TieredCacheOptions = { distributedSingleFlight: true },
  sharedBus?: TieredCache.InvalidationBusShape
) =>
  Effect.gen(function*() {
    const store = yield* MemoryBackend.makeStore()
    const serializer = TieredCache.serializer()
    const backend = yield* MemoryBackend.make({ store, prefix: "r:", serializer })
    const script: Script = { miss: "won", claim: undefined, write: undefined }
    const reads: Array<{ readonly key: string; readonly recacheSeconds: number | undefined }> = []
    const releases: Array<string> = []
    const leaseRead: Lease.LeaseRead = (key, _leaseMillis, recacheSeconds) =>
      Effect.suspend(() => {
        reads.push({ key, recacheSeconds })
        return Effect.flatMap(backend.getWithTtl(key), (found): Effect.Effect<Lease.LeaseOutcome, any> => {
          if (Option.isSome(found)) {
            const claim = recacheSeconds === undefined ? undefined : script.claim
            return Effect.succeed({
              _tag: "Hit",
              entry: found.value,
              claim,
              write: claim === "won" ? script.write : undefined
            })
          }
          return Effect.succeed(
            script.miss === "won"
              ? { _tag: "Won", release: Effect.sync(() => releases.push(key)), write: script.write }
              : Lease.lost
          )
        })
      })
    const remote = yield* RemoteCache.fromBackend(Lease.attach({ ...backend }, leaseRead), RemoteCache.defaultPolicy)
    const build = Effect.gen(function*() {
      const scope = yield* Scope.make()
      const cache = yield* TieredCache.make(options).pipe(
        Effect.provideService(RemoteCache.RemoteCache, remote),
        Effect.provideService(TieredCache.InvalidationBus, sharedBus ?? TieredCache.makeMemoryBus()),
        Effect.provideService(Scope.Scope, scope)
      )
      return { cache, scope }
    })
    return { a: yield* build, b: yield* build, script, reads, releases, backend }
  })

const counter = () => {
  let n = 0
  return { compute: Effect.sync(() => ++n), count: () => n }
}

const swr = { ttl: "1 second", grace: "1 minute" } as const

describe("TieredCache: leased reads and refresh claims, adversarial interleavings", () => {
  it.effect("callers interrupted mid-poll: the group goes on, a later caller gets the other process's value", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      h.script.miss = "lost"
      const { compute, count } = counter()
      const first = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: 10 }), () => h.a.cache.getOrCompute("k", compute), {
          concurrency: "unbounded"
        })
      )
      yield* TestClock.adjust("100 millis")
      yield* Fiber.interrupt(first)
      const later = yield* Effect.forkChild(h.a.cache.getOrCompute("k", compute))
      yield* TestClock.adjust("100 millis")
      yield* h.b.cache.set("k", 42)
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(later)).toBe(42)
      expect(count()).toBe(0)
    }))

  // Found by this test, since fixed: the cut only interrupted a computation fiber, which does not exist while the
  // refresh waits for another process's claim, so it kept polling until the lease (plus a second) had passed.
  it.effect("a refresh cut at its hard timeout while it polls a claim held elsewhere stops reading", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const { compute, count } = counter()
      const options = { ...swr, hardTimeout: "200 millis" } as const
      expect(yield* h.a.cache.getOrCompute("k", compute, options)).toBe(1)
      yield* TestClock.adjust("1500 millis")
      h.script.claim = "lost"
      const caller = yield* Effect.forkChild(h.a.cache.getOrCompute("k", compute, options))
      yield* TestClock.adjust("250 millis")
      // Cut: the caller is answered its stale value.
      expect(yield* Fiber.join(caller)).toBe(1)
      const after = h.reads.length
      yield* TestClock.adjust("10 seconds")
      expect(count()).toBe(1)
      // The refresh has ended: it reads no more.
      expect(h.reads.length - after).toBe(0)
    }))

  // Found by this test, since fixed (the same cause): a caller with no usable stale value waited for the claim's
  // lease instead of being answered at hardTimeout, as it is without distributedSingleFlight.
  it.effect("a caller with nothing usable stale is answered at the hard timeout, not after the claim's lease", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const numbers = yield* TieredCache.forSchema(Schema.Number).pipe(
        Effect.provideService(TieredCache.TieredCache, h.a.cache)
      )
      const options = { ...swr, hardTimeout: "200 millis" } as const
      // a's L1 holds a value the typed view cannot read: no stale fallback for its callers.
      expect(yield* h.a.cache.getOrCompute("k", Effect.succeed<unknown>("text"), options)).toBe("text")
      yield* TestClock.adjust("1500 millis")
      h.script.claim = "lost"
      let answered = false
      const caller = yield* Effect.forkChild(
        Effect.tap(numbers.getOrCompute("k", Effect.succeed(2), options), () =>
          Effect.sync(() => {
            answered = true
          }))
      )
      yield* TestClock.adjust("300 millis")
      // Cut at 200 ms: the caller computes on its own, as it would without the option.
      expect(answered).toBe(true)
      expect(yield* Fiber.join(caller)).toBe(2)
    }))

  it.effect("the cache closed while a refresh polls a claim held elsewhere: nothing left reading", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const { compute } = counter()
      expect(yield* h.a.cache.getOrCompute("k", compute, { ...swr, timeout: 0 })).toBe(1)
      yield* TestClock.adjust("1500 millis")
      h.script.claim = "lost"
      expect(yield* h.a.cache.getOrCompute("k", compute, { ...swr, timeout: 0 })).toBe(1)
      yield* TestClock.adjust("100 millis")
      yield* Scope.close(h.a.scope, Exit.void)
      const reads = h.reads.length
      yield* TestClock.adjust("10 seconds")
      expect(h.reads.length).toBe(reads)
    }))

  it.effect("a claim won whose write is refused: the callers get the computed value, L1 keeps the newer one", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const { compute } = counter()
      expect(yield* h.a.cache.getOrCompute("k", compute, swr)).toBe(1)
      yield* TestClock.adjust("1500 millis")
      h.script.claim = "won"
      // Another process wrote first: the claim's write is refused.
      h.script.write = () => Effect.succeed(false)
      expect(yield* h.a.cache.getOrCompute("k", compute, swr)).toBe(2)
      // Not kept in L1: the next read goes to L2 (the stale value, not the refused one).
      expect(yield* h.a.cache.get("k")).toStrictEqual(Option.none())
    }))

  // Found by this test, since fixed: a leased write refused because another process wrote first was still
  // "undone" by deleting the key, which removed that newer value; a refused write stored nothing to undo.
  it.effect("a leased write refused while the other process's bus message arrives: the newer value stands", () =>
    Effect.gen(function*() {
      const bus = TieredCache.makeMemoryBus()
      const h = yield* harness({ distributedSingleFlight: true }, bus)
      // The CAS write in flight: meanwhile b sets the key (its bus message reaches a), so the CAS is refused.
      h.script.write = () =>
        Effect.gen(function*() {
          yield* h.b.cache.set("k", "newer")
          for (let i = 0; i < 20; i++) yield* Effect.yieldNow
          return false
        })
      expect(yield* h.a.cache.getOrCompute("k", Effect.succeed("computed"))).toBe("computed")
      yield* TestClock.adjust("10 millis")
      // Whatever form the set stored it in, the key holds it.
      expect(Option.isSome(yield* h.backend.get("k"))).toBe(true)
    }))

  it.effect("a leased write kept while nothing else happened: no undo, the value stays", () =>
    Effect.gen(function*() {
      const bus = TieredCache.makeMemoryBus()
      const h = yield* harness({ distributedSingleFlight: true }, bus)
      expect(yield* h.a.cache.getOrCompute("k", Effect.succeed("computed"))).toBe("computed")
      yield* TestClock.adjust("10 millis")
      expect(yield* h.b.cache.get("k")).toStrictEqual(Option.some("computed"))
    }))

  it.effect("a local set while a refresh polls a claim held elsewhere: the set value answers, nothing computed", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const { compute, count } = counter()
      expect(yield* h.a.cache.getOrCompute("k", compute, swr)).toBe(1)
      yield* TestClock.adjust("1500 millis")
      h.script.claim = "lost"
      const caller = yield* Effect.forkChild(h.a.cache.getOrCompute("k", compute, swr))
      yield* TestClock.adjust("100 millis")
      yield* h.a.cache.set("k", 7, swr)
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(caller)).toBe(7)
      expect(count()).toBe(1)
      expect(yield* h.a.cache.get("k")).toStrictEqual(Option.some(7))
    }))

  it.effect("a local delete while a refresh polls: a value computed after it is answered, the delete stands", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const { compute, count } = counter()
      expect(yield* h.a.cache.getOrCompute("k", compute, swr)).toBe(1)
      yield* TestClock.adjust("1500 millis")
      h.script.claim = "lost"
      const caller = yield* Effect.forkChild(h.a.cache.getOrCompute("k", compute, swr))
      yield* TestClock.adjust("100 millis")
      yield* h.a.cache.delete("k")
      yield* TestClock.adjust("100 millis")
      const value = yield* Fiber.join(caller)
      expect([1, 2]).toContain(value)
      expect(count()).toBeLessThanOrEqual(2)
      // A value computed under the poll's ticket after the delete is not written (the delete is newer).
      const stored = yield* h.backend.get("k")
      expect(Option.isNone(stored) || count() === 2).toBe(true)
    }))

  it.effect("a winner whose computation fails releases its lease; one that succeeds never does", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const exit = yield* Effect.exit(h.a.cache.getOrCompute("k", Effect.fail("boom")))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(h.releases).toStrictEqual(["k"])
      expect(yield* h.a.cache.getOrCompute("k", Effect.succeed(1))).toBe(1)
      expect(h.releases).toStrictEqual(["k"])
    }))

  it.effect("typed views under claims: a refreshed value of another view is a miss, computed by this one", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const numbers = yield* TieredCache.forSchema(Schema.Number).pipe(
        Effect.provideService(TieredCache.TieredCache, h.a.cache)
      )
      const texts = yield* TieredCache.forSchema(Schema.String).pipe(
        Effect.provideService(TieredCache.TieredCache, h.b.cache)
      )
      expect(yield* numbers.getOrCompute("k", Effect.succeed(1), swr)).toBe(1)
      yield* TestClock.adjust("1500 millis")
      h.script.claim = "lost"
      const caller = yield* Effect.forkChild(numbers.getOrCompute("k", Effect.succeed(2), swr))
      yield* TestClock.adjust("100 millis")
      // The claim's holder is a process with another schema for the key.
      expect(yield* texts.getOrCompute("k", Effect.succeed("text"), swr)).toBe("text")
      yield* TestClock.adjust("7 seconds")
      const value = yield* Fiber.join(caller)
      expect([1, 2]).toContain(value)
    }))

  it.effect("a computation that waits on its own key through another cache instance ends after the lease", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const done = yield* Deferred.make<number>()
      // a wins the lease; its computation asks b for the same key, which polls a's placeholder.
      h.script.miss = "won"
      const outer = yield* Effect.forkChild(
        h.a.cache.getOrCompute(
          "k",
          Effect.suspend(() => {
            h.script.miss = "lost"
            return Effect.tap(h.b.cache.getOrCompute("k", Effect.succeed(5)), (v) => Deferred.succeed(done, v))
          })
        )
      )
      yield* TestClock.adjust("7 seconds")
      expect(yield* Fiber.join(outer)).toBe(5)
    }))
})
