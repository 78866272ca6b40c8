/**
 * Single flight across processes: two tiered caches, each over a `MemcachedBackend` with a client of its own (two
 * processes' worth of state), on one memcached, with `distributedSingleFlight` on. The first to read a missing key
 * takes memcached's lease (`mg … N`); the other waits for the value instead of computing it.
 */
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Fiber from "#effect/Fiber"
import * as Option from "#effect/Option"
import { describe, expect, it } from "#test-effect/vitest"
import * as TieredCache from "../src/TieredCache.js"
import { gate, instance, pair } from "./utils/MemcachedInstance.js"
import * as MemcachedServer from "./utils/MemcachedServer.js"

/** 100 concurrent callers of `key` on `cache`, each computing with `compute`. */
const callers = <A>(cache: TieredCache.TieredCacheShape, key: string, compute: Effect.Effect<A>) =>
  Effect.forEach(Array.from({ length: 100 }), () => cache.getOrCompute(key, compute), { concurrency: "unbounded" })

describe("TieredCache over memcached: single flight across processes", () => {
  it.live("100 callers in each of two processes, one computation in all", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* MemcachedServer.make()
      const a = yield* instance(server, { distributedSingleFlight: true })
      const b = yield* instance(server, { distributedSingleFlight: true })
      let computed = 0
      const compute = Effect.andThen(Effect.sleep("50 millis"), Effect.sync(() => ++computed))
      const [fromA, fromB] = yield* Effect.all([callers(a, "k", compute), callers(b, "k", compute)], {
        concurrency: "unbounded"
      })
      expect(computed).toBe(1)
      expect(new Set([...fromA, ...fromB])).toStrictEqual(new Set([1]))
    })))

  it.live("a plain read of a key being computed elsewhere is a miss, not an error", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* MemcachedServer.make()
      const a = yield* instance(server, { distributedSingleFlight: true })
      const b = yield* instance(server, {})
      const held = yield* gate
      const computing = yield* Effect.forkChild(
        a.getOrCompute(
          "k",
          held.compute("v")
        )
      )
      yield* held.started
      // The lease's placeholder is in memcached now: every read takes it for a miss.
      expect(yield* b.get("k")).toStrictEqual(Option.none())
      yield* held.release
      expect(yield* Fiber.join(computing)).toBe("v")
      expect(yield* b.get("k")).toStrictEqual(Option.some("v"))
    })))

  it.live("a winner that never finishes costs the others at most the lease: then one of them computes", () =>
    Effect.scoped(Effect.gen(function*() {
      const options: TieredCache.TieredCacheOptions = { distributedSingleFlight: { lease: "1 second" } }
      const { a, b } = yield* pair(options)
      const started = yield* Deferred.make<void>()
      // a wins and hangs (a process that died mid-computation, as memcached sees it); its callers are interrupted.
      const hung = yield* Effect.forkChild(
        a.getOrCompute("k", Effect.andThen(Deferred.succeed(started, undefined), Effect.never))
      )
      yield* Deferred.await(started)
      let computed = 0
      const waitedFrom = Date.now()
      const values = yield* callers(b, "k", Effect.sync(() => ++computed))
      expect(computed).toBe(1)
      expect(new Set(values)).toStrictEqual(new Set([1]))
      // Held off while the lease lasted (up to a second of memcached's clock less), then computed once.
      expect(Date.now() - waitedFrom).toBeLessThan(3_000)
      yield* Fiber.interrupt(hung)
    })))

  it.live("a value another process writes while the winner computes is kept: the winner's write is refused", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* MemcachedServer.make()
      const a = yield* instance(server, { distributedSingleFlight: true })
      const b = yield* instance(server, {})
      const held = yield* gate
      const computing = yield* Effect.forkChild(
        a.getOrCompute(
          "k",
          held.compute("computed")
        )
      )
      yield* held.started
      // Newer than the computation, which read its data before: it must stand.
      yield* b.set("k", "newer")
      yield* held.release
      // The callers that asked before the write get the computed value; the caches, the newer one.
      expect(yield* Fiber.join(computing)).toBe("computed")
      expect(yield* a.get("k")).toStrictEqual(Option.some("newer"))
      const c = yield* instance(server, {})
      expect(yield* c.get("k")).toStrictEqual(Option.some("newer"))
    })))

  it.live("a key deleted while the winner computes stays deleted: the computed value is not written", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* MemcachedServer.make()
      const a = yield* instance(server, { distributedSingleFlight: true })
      const b = yield* instance(server, {})
      const held = yield* gate
      const computing = yield* Effect.forkChild(
        a.getOrCompute(
          "k",
          held.compute("computed")
        )
      )
      yield* held.started
      // The data changed and the key was invalidated: the computation read the old data.
      yield* b.delete("k")
      yield* held.release
      expect(yield* Fiber.join(computing)).toBe("computed")
      const c = yield* instance(server, {})
      expect(yield* c.get("k")).toStrictEqual(Option.none())
      expect(yield* a.get("k")).toStrictEqual(Option.none())
    })))

  it.live(
    "a winner that outlives its lease still writes its value when nobody else did",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const a = yield* instance(server, { distributedSingleFlight: { lease: "1 second" } })
        const gone = Effect.gen(function*() {
          // The placeholder (1 s, up to a second less on memcached's clock) has expired once a plain read misses
          // and memcached's second has turned.
          yield* Effect.sleep("2100 millis")
          return "late"
        })
        expect(yield* a.getOrCompute("k", gone)).toBe("late")
        const c = yield* instance(server, {})
        expect(yield* c.get("k")).toStrictEqual(Option.some("late"))
      })),
    15_000
  )

  it.live(
    "a winner whose write is skipped (its tag invalidated meanwhile) gives the lease up: no one waits it out",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const options: TieredCache.TieredCacheOptions = { distributedSingleFlight: { lease: "30 seconds" } }
        const { a, b } = yield* pair(options)
        const held = yield* gate
        const computing = yield* Effect.forkChild(a.getOrCompute("k", held.compute("old"), { tags: ["t"] }))
        yield* held.started
        // The data behind the tag changed: what the computation read before is stale for every process.
        yield* a.invalidateTags(["t"])
        yield* held.release
        expect(yield* Fiber.join(computing)).toBe("old")
        const from = Date.now()
        expect(yield* b.getOrCompute("k", Effect.succeed("new"), { tags: ["t"] })).toBe("new")
        expect(Date.now() - from).toBeLessThan(2_000)
      })),
    15_000
  )

  it.live("with the option off, each process computes on its own", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* MemcachedServer.make()
      const a = yield* instance(server, {})
      const b = yield* instance(server, {})
      let computed = 0
      const compute = Effect.andThen(Effect.sleep("50 millis"), Effect.sync(() => ++computed))
      yield* Effect.all([callers(a, "k", compute), callers(b, "k", compute)], { concurrency: "unbounded" })
      expect(computed).toBe(2)
    })))

  it.live("a leased read that fails (the server down) is computed locally, as a miss is", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* MemcachedServer.make()
      const a = yield* instance(server, { distributedSingleFlight: true })
      yield* server.kill
      let computed = 0
      const values = yield* callers(a, "k", Effect.sync(() => ++computed))
      expect(computed).toBe(1)
      expect(new Set(values)).toStrictEqual(new Set([1]))
    })))

  it.live(
    "a winner whose computation fails gives the lease up: the other computes without waiting for it",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const options: TieredCache.TieredCacheOptions = { distributedSingleFlight: { lease: "30 seconds" } }
        const { a, b } = yield* pair(options)
        const started = yield* Deferred.make<void>()
        const fail = yield* Deferred.make<void>()
        const failing = yield* Effect.forkChild(
          Effect.flip(a.getOrCompute(
            "k",
            Effect.andThen(
              Deferred.succeed(started, undefined),
              Effect.andThen(Deferred.await(fail), Effect.fail("boom"))
            )
          ))
        )
        yield* Deferred.await(started)
        let computed = 0
        const waiting = yield* Effect.forkChild(callers(b, "k", Effect.sync(() => ++computed)))
        yield* Deferred.succeed(fail, undefined)
        expect(yield* Fiber.join(failing)).toBe("boom")
        // Within the test's timeout, far below the lease: b took the lease over as soon as a gave it up.
        const values = yield* Fiber.join(waiting)
        expect(computed).toBe(1)
        expect(new Set(values)).toStrictEqual(new Set([1]))
      })),
    15_000
  )
})
