/**
 * Refreshes and batches under the bounds they promise, attacked at the moment each bound matters: a stale value
 * whose grace ends while its refresh runs, a refresh that cannot be interrupted, a batch whose computation never
 * ends, a typed caller with nothing it can decode, options that are wrong, a scope closed before a batch, a TTL
 * function that answers NaN, and the backoff on the live clock.
 */
import * as Cause from "#effect/Cause"
import * as Deferred from "#effect/Deferred"
import type * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Option from "#effect/Option"
import * as Schema from "#effect/Schema"
import * as Scope from "#effect/Scope"
import * as Exits from "#test-effect/Exits"
import * as TestClock from "#test-effect/TestClock"
import { describe, expect, it } from "#test-effect/vitest"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as TieredCache from "../src/TieredCache.js"

/** Two instances over one store and bus, and a plain view of the store to see what L2 holds. */
const harness = (options: TieredCache.TieredCacheOptions = {}) =>
  Effect.gen(function*() {
    const store = yield* MemoryBackend.makeStore()
    const serializer = TieredCache.serializer()
    const remote = yield* RemoteCache.fromBackend(
      yield* MemoryBackend.make({ store, prefix: "r:", serializer }),
      RemoteCache.defaultPolicy
    )
    const bus = TieredCache.makeMemoryBus()
    const build = Effect.suspend(() =>
      TieredCache.make(options).pipe(
        Effect.provideService(RemoteCache.RemoteCache, remote),
        Effect.provideService(TieredCache.InvalidationBus, bus)
      )
    )
    return { a: yield* build, b: yield* build, remote, build, bus }
  })

/** What L2 holds under `key`, unwrapped from the two-tier header. */
const inL2 = (remote: RemoteCache.RemoteCacheShape, key: string) =>
  Effect.map(remote.get(key), Option.map((stored) => (stored as { value?: unknown }).value ?? stored))

describe("TieredCache: a stale value is answered only within its grace, checked when answered", () => {
  it.effect("from L2: a refresh started within grace that fails after grace ended fails the caller", () =>
    Effect.gen(function*() {
      const h = yield* harness({ l1Ttl: "1 millis" })
      yield* h.a.set("k", "old", { ttl: "1 second", grace: "2 seconds" })
      yield* TestClock.adjust("2500 millis")
      const caller = yield* Effect.forkChild(
        h.b.getOrCompute("k", Effect.andThen(Effect.sleep("10 seconds"), Effect.fail("down")), { ttl: "1 second" })
      )
      yield* TestClock.adjust("10 seconds")
      const exit = yield* Fiber.await(caller)
      expect(Exits.plain(exit)).toStrictEqual(Exit.fail("down"))
    }))

  it.effect("from L1: the same, and a failure within grace still answers the stale value", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      yield* h.a.set("k", "old", { ttl: "1 second", grace: "2 seconds" })
      yield* TestClock.adjust("1500 millis")
      // Within grace when it fails: the stale value.
      expect(yield* h.a.getOrCompute("k", Effect.fail("down"), { graceBackoff: "1 millis" })).toBe("old")
      yield* TestClock.adjust("1 millis")
      const late = yield* Effect.forkChild(
        h.a.getOrCompute("k", Effect.andThen(Effect.sleep("5 seconds"), Effect.fail("late")))
      )
      yield* TestClock.adjust("5 seconds")
      expect(Exits.plain(yield* Fiber.await(late))).toStrictEqual(Exit.fail("late"))
    }))

  it.effect("a soft timeout reached after grace ended waits for the refresh instead of answering stale", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      yield* h.a.set("k", "old", { ttl: "1 second", grace: "2 seconds" })
      yield* TestClock.adjust("2900 millis")
      const caller = yield* Effect.forkChild(
        h.a.getOrCompute("k", Effect.as(Effect.sleep("1 second"), "new"), { ttl: "1 minute", timeout: "500 millis" })
      )
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(caller)).toBe("new")
    }))

  it.effect("a hard invalidation while the caller waits ends its grace at once", () =>
    Effect.gen(function*() {
      const h = yield* harness({ grace: "1 hour" })
      // Computed here: kept in this instance's L1, whose copy the invalidation lowers.
      yield* h.a.getOrCompute("k", Effect.succeed("old"), { ttl: "1 second", tags: ["t"] })
      yield* TestClock.adjust("2 seconds")
      const caller = yield* Effect.forkChild(
        h.a.getOrCompute("k", Effect.andThen(Effect.sleep("1 second"), Effect.fail("down")))
      )
      yield* TestClock.adjust("10 millis")
      yield* h.b.invalidateTags(["t"], { hard: true })
      yield* TestClock.adjust("1 second")
      expect(Exits.plain(yield* Fiber.await(caller))).toStrictEqual(Exit.fail("down"))
    }))
})

describe("TieredCache: hardTimeout answers at once and lets the refresh finish", () => {
  it.effect("an uninterruptible refresh: the stale value at hardTimeout, the new value written when it ends", () =>
    Effect.gen(function*() {
      const h = yield* harness({ grace: "1 hour" })
      yield* h.a.set("k", "old", "1 minute")
      yield* TestClock.adjust("2 minutes")
      const slow = Effect.uninterruptible(Effect.as(Effect.sleep("10 seconds"), "new"))
      const caller = yield* Effect.forkChild(h.a.getOrCompute("k", slow, { ttl: "1 minute", hardTimeout: "1 second" }))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(caller)).toBe("old")
      expect(yield* inL2(h.remote, "k")).toStrictEqual(Option.some("old"))
      yield* TestClock.adjust("9 seconds")
      // Not thrown away: written through, seen by the other instance.
      expect(yield* h.b.get("k")).toStrictEqual(Option.some("new"))
      expect(yield* h.a.get("k")).toStrictEqual(Option.some("new"))
    }))

  it.effect("an interruptible refresh is interrupted at hardTimeout and the key backs off", () =>
    Effect.gen(function*() {
      const h = yield* harness({ grace: "1 hour", graceBackoff: "30 seconds" })
      yield* h.a.set("k", "old", "1 minute")
      yield* TestClock.adjust("2 minutes")
      let runs = 0
      let interrupted = 0
      const slow = Effect.suspend(() => {
        runs++
        return Effect.onInterrupt(Effect.as(Effect.sleep("10 seconds"), "new"), () => Effect.sync(() => interrupted++))
      })
      const caller = yield* Effect.forkChild(h.a.getOrCompute("k", slow, { hardTimeout: "1 second" }))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(caller)).toBe("old")
      expect(interrupted).toBe(1)
      // Backing off: the stale value again, no new refresh.
      expect(yield* h.a.getOrCompute("k", slow, { hardTimeout: "1 second" })).toBe("old")
      expect(runs).toBe(1)
    }))

  it.effect("a typed caller that cannot decode the stale value computes on its own after the cut, no foreign error", () =>
    Effect.gen(function*() {
      const h = yield* harness({ grace: "1 hour", hardTimeout: "1 second" })
      yield* h.a.set("k", "a string", "1 minute")
      yield* TestClock.adjust("2 minutes")
      const view = yield* Effect.provideService(TieredCache.forSchema(Schema.Number), TieredCache.TieredCache, h.a)
      const caller = yield* Effect.forkChild(view.getOrCompute("k", Effect.as(Effect.sleep("3 seconds"), 42)))
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("3 seconds")
      expect(Exits.plain(yield* Fiber.await(caller))).toStrictEqual(Exit.succeed(42))
    }))
})

describe("TieredCache.getOrComputeMany: timeouts bound a batch that refreshes stale values", () => {
  const stale = (options: TieredCache.TieredCacheOptions) =>
    Effect.gen(function*() {
      const h = yield* harness({ grace: "1 hour", ...options })
      yield* h.a.set("x", "old-x", "1 minute")
      yield* h.a.set("y", "old-y", "1 minute")
      yield* TestClock.adjust("2 minutes")
      return h
    })

  it.effect("timeout 0: the stale values at once; the computation writes through in the background", () =>
    Effect.gen(function*() {
      const h = yield* stale({ timeout: 0 })
      const compute = (keys: ReadonlyArray<string>) =>
        Effect.as(Effect.sleep("5 seconds"), keys.map((key) => [key, `new-${key}`] as const))
      const answer = yield* h.a.getOrComputeMany(["x", "y"], compute, { ttl: "1 minute" })
      expect([...answer]).toStrictEqual([["x", "old-x"], ["y", "old-y"]])
      yield* TestClock.adjust("5 seconds")
      expect(yield* h.b.get("x")).toStrictEqual(Option.some("new-x"))
      expect(yield* h.b.get("y")).toStrictEqual(Option.some("new-y"))
    }))

  it.effect("a computation that never ends: answered at hardTimeout, and at the soft timeout", () =>
    Effect.gen(function*() {
      const h = yield* stale({})
      const hard = yield* Effect.forkChild(
        h.a.getOrComputeMany(["x", "y"], () => Effect.never, { hardTimeout: "1 second" })
      )
      yield* TestClock.adjust("1 second")
      expect([...(yield* Fiber.join(hard))]).toStrictEqual([["x", "old-x"], ["y", "old-y"]])
      const soft = yield* Effect.forkChild(h.a.getOrComputeMany(["x"], () => Effect.never, { timeout: "200 millis" }))
      yield* TestClock.adjust("200 millis")
      expect([...(yield* Fiber.join(soft))]).toStrictEqual([["x", "old-x"]])
    }))

  it.effect("a stale value whose grace ended while the batch waited is left out of the answer", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      yield* h.a.set("x", "old-x", { ttl: "1 second", grace: "1 second" })
      yield* h.a.set("y", "old-y", { ttl: "1 second", grace: "1 hour" })
      yield* TestClock.adjust("1500 millis")
      const batch = yield* Effect.forkChild(
        h.a.getOrComputeMany(["x", "y"], () => Effect.andThen(Effect.sleep("2 seconds"), Effect.fail("down")))
      )
      yield* TestClock.adjust("2 seconds")
      expect([...(yield* Fiber.join(batch))]).toStrictEqual([["y", "old-y"]])
    }))

  it.effect("a key with nothing stale: the batch's computation is never cut short", () =>
    Effect.gen(function*() {
      const h = yield* stale({ hardTimeout: "1 second", timeout: 0 })
      const compute = (keys: ReadonlyArray<string>) =>
        Effect.as(Effect.sleep("3 seconds"), keys.map((key) => [key, `new-${key}`] as const))
      const batch = yield* Effect.forkChild(h.a.getOrComputeMany(["x", "z"], compute, { ttl: "1 minute" }))
      yield* TestClock.adjust("3 seconds")
      expect([...(yield* Fiber.join(batch))]).toStrictEqual([["x", "new-x"], ["z", "new-z"]])
    }))
})

describe("TieredCache.getOrComputeMany: TTLs chosen per value", () => {
  it.effect("a NaN TTL is refused alone: TTL-0 keys are removed, other keys written", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      // Stale, so that the batch recomputes them, and still in L2 (within grace) for the TTL of 0 to remove.
      yield* h.a.set("zero", "before", { ttl: "1 second", grace: "1 hour" })
      yield* h.a.set("nan", "before", { ttl: "1 second", grace: "1 hour" })
      yield* TestClock.adjust("2 seconds")
      const ttl = (value: string) => value === "zero" ? 0 : value === "nan" ? Number.NaN : "1 hour"
      const answer = yield* h.a.getOrComputeMany(
        ["nan", "zero", "kept"],
        (keys) => Effect.succeed(keys.map((key) => [key, key] as const)),
        { ttl }
      )
      expect(answer.size).toBe(3)
      expect(yield* inL2(h.remote, "zero")).toStrictEqual(Option.none())
      expect(yield* inL2(h.remote, "kept")).toStrictEqual(Option.some("kept"))
      expect(yield* h.b.get("zero")).toStrictEqual(Option.none())
    }))

  it.effect("removing a key through a TTL of 0 removes what an earlier write left", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      yield* h.a.set("k", "old", "1 minute")
      yield* TestClock.adjust("2 minutes")
      yield* h.a.set("k", "current", "1 hour")
      yield* h.a.delete("k")
      const answer = yield* h.a.getOrComputeMany(["k"], () => Effect.succeed([["k", "not kept"] as const]), {
        ttl: 0
      })
      expect(answer.get("k")).toBe("not kept")
      expect(yield* h.remote.get("k")).toStrictEqual(Option.none())
    }))
})

describe("TieredCache: options are checked before any work", () => {
  it.effect("a bad earlyRefresh dies on an L1 hit and on a miss, without computing", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      yield* h.a.set("hit", "v", "1 hour")
      let runs = 0
      const compute = Effect.sync(() => ++runs)
      const onHit = yield* Effect.exit(h.a.getOrCompute("hit", compute, { earlyRefresh: 2 }))
      const onMiss = yield* Effect.exit(h.a.getOrCompute("miss", compute, { earlyRefresh: 2 }))
      const many = yield* Effect.exit(
        h.a.getOrComputeMany(["m"], () => Effect.succeed([["m", 1] as const]), { earlyRefresh: -1 })
      )
      for (const exit of [onHit, onMiss, many] as Array<Exit.Exit<unknown>>) {
        expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      }
      expect(runs).toBe(0)
      expect(yield* h.remote.get("miss")).toStrictEqual(Option.none())
    }))

  it.effect("a reserved key or a tag with U+0000 dies before the computation", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      let runs = 0
      const compute = Effect.sync(() => ++runs)
      const reserved = yield* Effect.exit(h.a.getOrCompute(`${TieredCache.defaultTagKeyPrefix}x`, compute))
      const badTag = yield* Effect.exit(h.a.getOrCompute("k", compute, { tags: ["a\u0000b"] }))
      const manyReserved = yield* Effect.exit(
        h.a.getOrComputeMany([`${TieredCache.defaultTagKeyPrefix}x`], () => Effect.succeed([]))
      )
      for (const exit of [reserved, badTag, manyReserved] as Array<Exit.Exit<unknown>>) {
        expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      }
      expect(runs).toBe(0)
    }))
})

describe("TieredCache: one options object reused across calls", () => {
  it.effect("each call reads the values it holds then: a grace added for a later call applies to that call", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const options: { ttl: Duration.Input; grace?: Duration.Input } = { ttl: "1 second" }
      yield* h.a.getOrCompute("without", Effect.succeed("w"), options)
      options.grace = "1 minute"
      yield* h.a.getOrCompute("with", Effect.succeed("g"), options)
      yield* TestClock.adjust("2 seconds")
      const down = Effect.fail("down" as const)
      // Written with a grace, the second entry is answered stale while its refresh fails; the first had none.
      expect(yield* h.a.getOrCompute("with", down, options)).toBe("g")
      expect(Exits.plain(yield* Effect.exit(h.a.getOrCompute("without", down, options)))).toStrictEqual(
        Exit.fail("down")
      )
      // And an options object made invalid between calls is refused by the next call, before any work.
      let runs = 0
      ;(options as { grace?: unknown }).grace = -1
      const bad = yield* Effect.exit(h.a.getOrCompute("later", Effect.sync(() => ++runs), options))
      expect(Exit.isFailure(bad) && Cause.hasDies(bad.cause)).toBe(true)
      expect(runs).toBe(0)
    }))
})

describe("TieredCache: the tags of a computation are read once", () => {
  it.effect("a computation that changes its options' tags is written with the tags it was stamped with", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const one: { ttl: Duration.Input; tags: ReadonlyArray<string> } = { ttl: "1 hour", tags: ["a"] }
      yield* h.a.getOrCompute("one", Effect.sync(() => (one.tags = ["b"], 1)), one)
      const many: { ttl: Duration.Input; tags: ReadonlyArray<string> } = { ttl: "1 hour", tags: ["a"] }
      yield* h.a.getOrComputeMany(["m"], () => Effect.sync(() => (many.tags = ["b"], [["m", 2] as const])), many)
      // Tagged "a", whose key was made sure of before the stamp: an invalidation of "b" covers neither.
      yield* h.b.invalidateTags(["b"])
      expect(yield* h.b.get("one")).toStrictEqual(Option.some(1))
      expect(yield* h.b.get("m")).toStrictEqual(Option.some(2))
      yield* h.b.invalidateTags(["a"])
      expect(yield* h.b.get("one")).toStrictEqual(Option.none())
      expect(yield* h.b.get("m")).toStrictEqual(Option.none())
    }))
})

describe("TieredCache.getOrComputeMany after the cache's scope closed", () => {
  it.effect("dies, computes nothing, writes nothing, publishes nothing", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore()
      const remote = yield* RemoteCache.fromBackend(
        yield* MemoryBackend.make({ store, prefix: "r:", serializer: TieredCache.serializer() }),
        RemoteCache.defaultPolicy
      )
      const bus = TieredCache.makeMemoryBus()
      const scope = yield* Scope.make()
      const cache = yield* TieredCache.make().pipe(
        Effect.provideService(RemoteCache.RemoteCache, remote),
        Effect.provideService(TieredCache.InvalidationBus, bus),
        Scope.provide(scope)
      )
      const heard: Array<Uint8Array> = []
      yield* bus.subscribe(TieredCache.defaultChannel, {
        onMessage: (message) => heard.push(message),
        onSubscribed: () => {}
      })
      yield* Scope.close(scope, Exit.void)
      let runs = 0
      const exit = yield* Effect.exit(
        cache.getOrComputeMany(["k"], () => Effect.sync(() => (runs++, [["k", 1] as const])))
      )
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      expect(runs).toBe(0)
      expect(yield* remote.get("k")).toStrictEqual(Option.none())
      expect(heard).toStrictEqual([])
    }))

  it.effect("a batch computing when the scope closes writes nothing", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore()
      const remote = yield* RemoteCache.fromBackend(
        yield* MemoryBackend.make({ store, prefix: "r:", serializer: TieredCache.serializer() }),
        RemoteCache.defaultPolicy
      )
      const scope = yield* Scope.make()
      const cache = yield* TieredCache.make().pipe(
        Effect.provideService(RemoteCache.RemoteCache, remote),
        Effect.provideService(TieredCache.InvalidationBus, TieredCache.makeMemoryBus()),
        Scope.provide(scope)
      )
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const batch = yield* Effect.forkChild(
        cache.getOrComputeMany(
          ["k"],
          () =>
            Effect.andThen(Deferred.succeed(started, undefined), Effect.as(Deferred.await(gate), [["k", 1] as const]))
        )
      )
      yield* Deferred.await(started)
      yield* Scope.close(scope, Exit.void)
      yield* Deferred.succeed(gate, undefined)
      const exit = yield* Fiber.await(batch)
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      expect(yield* remote.get("k")).toStrictEqual(Option.none())
    }))
})

describe("TieredCache: the backoff after a failed refresh, on the live clock", () => {
  it.live("serves the stale value without refreshing during graceBackoff, and refreshes after it", () =>
    Effect.scoped(Effect.gen(function*() {
      const h = yield* harness({ grace: "1 hour", graceBackoff: "150 millis" })
      yield* h.a.set("k", "old", "20 millis")
      let runs = 0
      const failing = Effect.suspend(() => (runs++, Effect.fail("down")))
      // Wait until the entry has turned stale and its refresh has failed once.
      while (runs === 0) {
        expect(yield* h.a.getOrCompute("k", failing)).toBe("old")
        if (runs === 0) yield* Effect.sleep("5 millis")
      }
      // Backing off: answered stale, no new refresh.
      expect(yield* h.a.getOrCompute("k", failing)).toBe("old")
      expect(runs).toBe(1)
      // After the backoff, the next caller refreshes again (the refresh of a wall-clock backoff compared with a
      // monotonic clock never came).
      const deadline = Date.now() + 10_000
      while (runs === 1 && Date.now() < deadline) {
        yield* Effect.sleep("20 millis")
        expect(yield* h.a.getOrCompute("k", failing)).toBe("old")
      }
      expect(runs).toBe(2)
    })))
})
