/**
 * Writes, deletes, expiry and tag invalidations raced against each other, as an adversary would order them: gates
 * on the L2 operations hold a request in flight while another instance changes the key, a clock that never moves
 * puts everything in one millisecond, a wall clock stepped back, evicted tag keys.
 */
import * as Cause from "#effect/Cause"
import * as Clock from "#effect/Clock"
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Option from "#effect/Option"
import * as Schema from "#effect/Schema"
import * as Clocks from "#test-effect/Clocks"
import * as TestClock from "#test-effect/TestClock"
import { describe, expect, it } from "#test-effect/vitest"
import * as Entry from "../src/internal/tiered/entry.js"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as RemoteCache from "../src/RemoteCache.js"
import type { RemoteCacheBackendShape } from "../src/RemoteCacheBackend.js"
import * as Serializer from "../src/Serializer.js"
import * as TieredCache from "../src/TieredCache.js"

type Gated = "set" | "getWithTtl" | "delete" | "setMany" | "setIfAbsent"

/**
 * A backend whose next call of an operation, once `hold` is armed, waits until `release`; `reached` completes
 * when the held call has arrived.
 */
const gate = (backend: RemoteCacheBackendShape) => {
  let armed:
    | { operation: Gated; key?: string; reached: Deferred.Deferred<void>; open: Deferred.Deferred<void> }
    | undefined
  const held = <A, E>(operation: Gated, key: string | undefined, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      const current = armed
      if (
        current === undefined || current.operation !== operation || (current.key !== undefined && current.key !== key)
      ) {
        return effect
      }
      armed = undefined
      return Effect.andThen(
        Effect.andThen(Deferred.succeed(current.reached, undefined), Deferred.await(current.open)),
        effect
      )
    })
  const shape: RemoteCacheBackendShape = {
    ...backend,
    set: (key, value, ttl) => held("set", key, backend.set(key, value, ttl)),
    getWithTtl: (key) => held("getWithTtl", key, backend.getWithTtl(key)),
    delete: (key) => held("delete", key, backend.delete(key)),
    setMany: (entries, ttl) => held("setMany", undefined, backend.setMany(entries, ttl)),
    setIfAbsent: (key, value, ttl) => held("setIfAbsent", key, backend.setIfAbsent(key, value, ttl))
  }
  const hold = (operation: Gated, key?: string) =>
    Effect.gen(function*() {
      const reached = yield* Deferred.make<void>()
      const open = yield* Deferred.make<void>()
      armed = { operation, reached, open, ...(key === undefined ? {} : { key }) }
      return { reached: Deferred.await(reached), release: Deferred.succeed(open, undefined) }
    })
  return { shape, hold }
}

const harness = (
  options: TieredCache.TieredCacheOptions = {},
  storeOptions: { readonly capacity?: number; readonly serializer?: Serializer.SerializerShape } = {}
) =>
  Effect.gen(function*() {
    const store = yield* MemoryBackend.makeStore(
      storeOptions.capacity === undefined ? {} : { capacity: storeOptions.capacity }
    )
    const backend = yield* MemoryBackend.make({
      store,
      prefix: "t:",
      serializer: storeOptions.serializer ?? TieredCache.serializer()
    })
    const gated = gate(backend)
    const remote = yield* RemoteCache.fromBackend(gated.shape, RemoteCache.defaultPolicy)
    const bus = TieredCache.makeMemoryBus()
    const build = (
      prefixed: RemoteCache.RemoteCacheShape = remote,
      withBus: TieredCache.InvalidationBusShape = bus
    ) =>
      TieredCache.make(options).pipe(
        Effect.provideService(RemoteCache.RemoteCache, prefixed),
        Effect.provideService(TieredCache.InvalidationBus, withBus)
      )
    const plain = yield* RemoteCache.fromBackend(
      yield* MemoryBackend.make({
        store,
        prefix: "t:",
        serializer: storeOptions.serializer ?? TieredCache.serializer()
      }),
      RemoteCache.defaultPolicy
    )
    return { a: yield* build(), b: yield* build(), plain, hold: gated.hold, build, store, bus }
  })

/** What `harness` gives. */
type Harness = ReturnType<typeof harness> extends Effect.Effect<infer H, infer _E, infer _R> ? H : never

describe("TieredCache: a write issued after invalidateTags returned is never covered by it", () => {
  it.effect("in the same millisecond (the clock never moves), on this instance and on another", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      yield* h.a.set("p", "old", { ttl: "1 hour", tags: ["product"] })
      yield* h.a.invalidateTags(["product"])
      yield* h.a.set("p", "new", { ttl: "1 hour", tags: ["product"] })
      expect(yield* h.a.get("p")).toStrictEqual(Option.some("new"))
      expect(yield* h.b.get("p")).toStrictEqual(Option.some("new"))
      // And the other way round: b replaces what a invalidated, in the same millisecond.
      yield* h.a.invalidateTags(["product"])
      yield* h.b.set("p", "newer", { ttl: "1 hour", tags: ["product"] })
      expect(yield* h.a.get("p")).toStrictEqual(Option.some("newer"))
      expect(yield* h.b.get("p")).toStrictEqual(Option.some("newer"))
      // A computation started after the invalidation returned is not covered either.
      yield* h.a.invalidateTags(["product"])
      expect(yield* h.b.getOrCompute("q", Effect.succeed("computed"), { ttl: "1 hour", tags: ["product"] }))
        .toBe("computed")
      expect(yield* h.a.get("q")).toStrictEqual(Option.some("computed"))
    }))

  it.effect("an entry created before the invalidation in the same millisecond is covered", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const gateSet = yield* h.hold("set", "p")
      // The computation starts (and reads its data) before the invalidation; its write lands after it.
      const computing = yield* Effect.forkChild(
        h.a.getOrCompute("p", Effect.succeed("before"), { ttl: "1 hour", tags: ["t"] })
      )
      yield* gateSet.reached
      yield* h.b.invalidateTags(["t"])
      yield* gateSet.release
      yield* Fiber.join(computing)
      expect(yield* h.b.get("p")).toStrictEqual(Option.none())
      expect(yield* h.a.get("p")).toStrictEqual(Option.none())
    }))
})

describe("TieredCache: an evicted tag key never resurrects an entry", () => {
  it.effect("MemoryBackend with a capacity: the tag key evicted after the invalidation, the entry kept hot", () =>
    Effect.gen(function*() {
      const h = yield* harness({ l1Ttl: "1 millis" }, { capacity: 4 })
      yield* h.a.set("p", "old", { ttl: "1 hour", tags: ["t"] })
      yield* h.a.invalidateTags(["t"])
      expect(yield* h.b.get("p")).toStrictEqual(Option.none())
      // Fill the store while keeping "p" recently used: the tag key is the least recently used and goes.
      for (let i = 0; i < 4; i++) {
        yield* h.plain.get("p")
        yield* h.plain.set(`filler${i}`, i)
      }
      expect(Option.isSome(yield* h.plain.get("p"))).toBe(true)
      expect(yield* h.plain.get(`${TieredCache.defaultTagKeyPrefix}t`)).toStrictEqual(Option.none())
      yield* TestClock.adjust("10 millis")
      expect(yield* h.b.get("p")).toStrictEqual(Option.none())
      const fresh = yield* h.build()
      expect(yield* fresh.get("p")).toStrictEqual(Option.none())
      // The new entry is readable, the old one stays covered.
      // The readers that found the tag key missing recreate it in the background: once it is back, a write (here by
      // an instance that never saw it missing) is readable.
      while (Option.isNone(yield* h.plain.get(`${TieredCache.defaultTagKeyPrefix}t`))) yield* Effect.yieldNow
      yield* h.a.set("p2", "new", { ttl: "1 hour", tags: ["t"] })
      expect(yield* fresh.get("p2")).toStrictEqual(Option.some("new"))
      expect(yield* fresh.get("p")).toStrictEqual(Option.none())
    }))

  it.effect("after clear (which removes tag keys too), the next tagged write is readable", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      yield* h.a.set("p", "v1", { ttl: "1 hour", tags: ["t"] })
      yield* h.b.clear
      yield* h.a.set("p", "v2", { ttl: "1 hour", tags: ["t"] })
      yield* h.b.set("q", "w", { ttl: "1 hour", tags: ["t"] })
      const fresh = yield* h.build()
      expect(yield* fresh.get("p")).toStrictEqual(Option.some("v2"))
      expect(yield* fresh.get("q")).toStrictEqual(Option.some("w"))
    }))

  it.effect("an invalidation whose tag-key write lands before a clear and returns after it does not hide the key's loss", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore()
      const backend = yield* MemoryBackend.make({ store, prefix: "t:", serializer: TieredCache.serializer() })
      // The next setMany lands at once, then its answer is held.
      let hold: Deferred.Deferred<void> | undefined
      const landed = yield* Deferred.make<void>()
      const remote = yield* RemoteCache.fromBackend({
        ...backend,
        setMany: (entries, ttl) =>
          Effect.tap(
            backend.setMany(entries, ttl),
            () =>
              Effect.suspend(() => {
                const gate = hold
                hold = undefined
                return gate === undefined
                  ? Effect.void
                  : Effect.andThen(Deferred.succeed(landed, undefined), Deferred.await(gate))
              })
          )
      }, RemoteCache.defaultPolicy)
      const bus = TieredCache.makeMemoryBus()
      const build = TieredCache.make().pipe(
        Effect.provideService(RemoteCache.RemoteCache, remote),
        Effect.provideService(TieredCache.InvalidationBus, bus)
      )
      const a = yield* build
      const b = yield* build
      const open = yield* Deferred.make<void>()
      hold = open
      const invalidating = yield* Effect.forkChild(a.invalidateTags(["t"]))
      yield* Deferred.await(landed)
      yield* b.clear
      yield* Deferred.succeed(open, undefined)
      yield* Fiber.join(invalidating)
      // The tag key went with the clear: a's next tagged write must create it again, or it reads as gone.
      yield* a.set("p", "after", { ttl: "1 hour", tags: ["t"] })
      const fresh = yield* build
      expect(yield* fresh.get("p")).toStrictEqual(Option.some("after"))
    }))
})

describe("TieredCache.expire races", () => {
  it.effect("two expires of one key at once, without grace, leave it removed (each saw the other's change)", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      yield* h.a.set("k", "v", "1 hour")
      const read = yield* h.hold("getWithTtl", "k")
      const first = yield* Effect.forkChild(h.a.expire("k"))
      yield* read.reached
      const second = yield* Effect.forkChild(h.a.expire("k"))
      yield* Effect.repeat(Effect.yieldNow, { times: 20 })
      yield* read.release
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      expect(yield* h.plain.get("k")).toStrictEqual(Option.none())
      expect(yield* h.b.get("k")).toStrictEqual(Option.none())
    }))

  it.effect("a set made while expire reads is not overwritten with the old value", () =>
    Effect.gen(function*() {
      const h = yield* harness({ grace: "1 hour" })
      yield* h.a.set("k", "old", "1 hour")
      const read = yield* h.hold("getWithTtl", "k")
      const expiring = yield* Effect.forkChild(h.a.expire("k"))
      yield* read.reached
      const setting = yield* Effect.forkChild(h.b.set("k", "new", "1 hour"))
      yield* read.release
      yield* Fiber.join(expiring)
      yield* Fiber.join(setting)
      // The two overlap, so either order holds ("new" fresh, or expired after the set: stale), never "old".
      const fallback = Effect.succeed("computed")
      for (const cache of [h.a, h.b]) {
        expect(
          yield* cache.getOrCompute("k", Effect.fail("no refresh"), { timeout: 0 }).pipe(Effect.catch(() => fallback))
        )
          .toBe("new")
      }
    }))

  it.effect("a delete made while expire reads is not undone", () =>
    Effect.gen(function*() {
      const h = yield* harness({ grace: "1 hour" })
      yield* h.a.set("k", "old", "1 hour")
      const read = yield* h.hold("getWithTtl", "k")
      const expiring = yield* Effect.forkChild(h.a.expire("k"))
      yield* read.reached
      yield* h.b.delete("k")
      yield* read.release
      yield* Fiber.join(expiring)
      expect(yield* h.plain.get("k")).toStrictEqual(Option.none())
      expect(
        yield* h.a.getOrCompute("k", Effect.fail("no stale value" as const))
          .pipe(Effect.flip)
      ).toBe("no stale value")
    }))

  it.effect("expire of a key L2 no longer holds still drops it from the other instances' L1", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      yield* h.a.set("k", "v", "1 hour")
      expect(yield* h.b.get("k")).toStrictEqual(Option.some("v"))
      yield* h.plain.delete("k")
      yield* h.a.expire("k")
      expect(yield* h.b.get("k")).toStrictEqual(Option.none())
    }))
})

describe("TieredCache: a write overtaken by another instance's change", () => {
  it.effect("a background refresh whose L2 write is in flight when another instance deletes leaves nothing", () =>
    Effect.gen(function*() {
      const h = yield* harness({ grace: "1 hour", timeout: 0 })
      yield* h.a.set("k", "v1", "1 second")
      yield* TestClock.adjust("2 seconds")
      const write = yield* h.hold("set", "k")
      // Stale: answered at once, the refresh runs in the background and its write is held.
      expect(yield* h.a.getOrCompute("k", Effect.succeed("v2"), { ttl: "1 hour" })).toBe("v1")
      yield* write.reached
      yield* h.b.delete("k")
      yield* write.release
      // The refresh ends: its write landed after the delete, and was removed again.
      yield* Effect.repeat(h.plain.get("k"), { until: Option.isNone, times: 100 })
      expect(yield* h.plain.get("k")).toStrictEqual(Option.none())
      expect(yield* h.b.get("k")).toStrictEqual(Option.none())
    }))

  it.effect("a set issued after a background refresh started writing lands after it", () =>
    Effect.gen(function*() {
      const h = yield* harness({ grace: "1 hour", timeout: 0 })
      yield* h.a.set("k", "v1", "1 second")
      yield* TestClock.adjust("2 seconds")
      const write = yield* h.hold("set", "k")
      expect(yield* h.a.getOrCompute("k", Effect.succeed("refreshed"), { ttl: "1 hour" })).toBe("v1")
      yield* write.reached
      const setting = yield* Effect.forkChild(h.a.set("k", "mine", "1 hour"))
      yield* write.release
      yield* Fiber.join(setting)
      const stored = yield* h.plain.get("k")
      expect(Option.map(stored, (entry) => (entry as { readonly v: unknown }).v)).toStrictEqual(Option.some("mine"))
      expect(yield* h.b.get("k")).toStrictEqual(Option.some("mine"))
    }))
})

describe("TieredCache: L1 follows the monotonic clock", () => {
  it.effect("a wall clock stepped back does not keep an entry in L1 past its L2 TTL", () =>
    Effect.gen(function*() {
      let wall = 1_000_000
      let mono = 5_000
      const clock = Clocks.make({
        wallMillis: () => wall,
        monotonicNanos: () => BigInt(Math.round(mono * 1_000_000)),
        sleep: () => Effect.void
      })
      yield* Effect.gen(function*() {
        const h = yield* harness()
        yield* h.a.set("k", "v", "1 second")
        expect(yield* h.b.get("k")).toStrictEqual(Option.some("v"))
        // L2 forgets it (its own TTL runs on real time in a server); the wall clock is stepped back an hour.
        yield* h.plain.delete("k")
        wall -= 3_600_000
        mono += 1_500
        expect(yield* h.b.get("k")).toStrictEqual(Option.none())
      }).pipe(Clocks.provide(clock))
    }))
})

describe("TieredCache: hard invalidation and tag options", () => {
  it.effect("invalidateTags(tags, { hard: true }) makes graced entries gone on every instance", () =>
    Effect.gen(function*() {
      const h = yield* harness({ grace: "1 hour" })
      yield* h.a.set("p", "old", { ttl: "1 hour", tags: ["t"] })
      expect(yield* h.b.get("p")).toStrictEqual(Option.some("old"))
      yield* h.a.invalidateTags(["t"], { hard: true })
      for (const cache of [h.a, h.b, yield* h.build()]) {
        expect(yield* cache.getOrCompute("p", Effect.fail("refresh failed" as const)).pipe(Effect.flip))
          .toBe("refresh failed")
      }
      // A soft invalidation after the hard one does not bring the old entry back as stale.
      yield* h.a.invalidateTags(["t"])
      const fresh = yield* h.build()
      expect(yield* fresh.getOrCompute("p", Effect.fail("refresh failed" as const)).pipe(Effect.flip))
        .toBe("refresh failed")
    }))

  it.effect("a soft invalidation keeps the stale value within grace", () =>
    Effect.gen(function*() {
      const h = yield* harness({ grace: "1 hour" })
      yield* h.a.set("p", "old", { ttl: "1 hour", tags: ["t"] })
      yield* h.a.invalidateTags(["t"])
      expect(yield* h.b.get("p")).toStrictEqual(Option.none())
      expect(yield* h.b.getOrCompute("p", Effect.fail("refresh failed" as const))).toBe("old")
    }))

  it.effect("invalidateTags works when the inner serializer is a schema of the values", () =>
    Effect.gen(function*() {
      const h = yield* harness({}, {
        serializer: TieredCache.serializer(Serializer.schema(Schema.Struct({ name: Schema.String })))
      })
      yield* h.a.set("p", { name: "x" }, { ttl: "1 hour", tags: ["t"] })
      expect(yield* h.b.get("p")).toStrictEqual(Option.some({ name: "x" }))
      yield* h.a.invalidateTags(["t"])
      expect(yield* h.b.get("p")).toStrictEqual(Option.none())
      const fresh = yield* h.build()
      expect(yield* fresh.get("p")).toStrictEqual(Option.none())
    }))

  it.effect("an empty tagKeyPrefix is refused, and keys under the tag key prefix are reserved", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const built = yield* Effect.exit(
        TieredCache.make({ tagKeyPrefix: "" }).pipe(
          Effect.provideService(RemoteCache.RemoteCache, h.plain),
          Effect.provideService(TieredCache.InvalidationBus, h.bus)
        )
      )
      expect(Exit.isFailure(built) && Cause.hasDies(built.cause)).toBe(true)
      const reserved = yield* Effect.exit(h.a.set(`${TieredCache.defaultTagKeyPrefix}t`, 1))
      expect(Exit.isFailure(reserved) && Cause.hasDies(reserved.cause)).toBe(true)
      const nul = yield* Effect.exit(h.a.set("k", 1, { tags: ["a\u0000b"] }))
      expect(Exit.isFailure(nul) && Cause.hasDies(nul.cause)).toBe(true)
    }))

  it.effect("nested prefixes: an entry invalidated by the cache on a:b: is never served fresh by the cache on a:", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore()
      const bus = TieredCache.makeMemoryBus()
      const on = (prefix: string) =>
        Effect.flatMap(
          Effect.flatMap(MemoryBackend.make({ store, prefix, serializer: TieredCache.serializer() }), (backend) =>
            RemoteCache.fromBackend(backend, RemoteCache.defaultPolicy)),
          (remote) =>
            TieredCache.make().pipe(
              Effect.provideService(RemoteCache.RemoteCache, remote),
              Effect.provideService(TieredCache.InvalidationBus, bus)
            )
        )
      const inner = yield* on("a:b:")
      const outer = yield* on("a:")
      yield* inner.set("k", "old", { ttl: "1 hour", tags: ["t"] })
      const before = yield* outer.get("b:k")
      yield* inner.invalidateTags(["t"])
      expect(yield* inner.get("k")).toStrictEqual(Option.none())
      expect(yield* outer.get("b:k")).toStrictEqual(Option.none())
      expect(Option.isNone(before) || before.value === "old").toBe(true)
    }))
})

describe("TieredCache: concurrent writers never make each other's entries look invalidated", () => {
  it.effect("two writers create a new tag's key at once, the later one's creation landing first", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const tagKey = `${TieredCache.defaultTagKeyPrefix}t`
      const gateA = yield* h.hold("setIfAbsent", tagKey)
      const writeA = yield* Effect.forkChild(h.a.set("k1", "from a", { ttl: "1 hour", tags: ["t"] }))
      yield* gateA.reached
      // B creates the tag key (stamped after A's attempt) while A's creation is still in flight.
      yield* h.b.set("k2", "from b", { ttl: "1 hour", tags: ["t"] })
      yield* gateA.release
      yield* Fiber.join(writeA)
      const fresh = yield* h.build()
      expect(yield* fresh.get("k1")).toStrictEqual(Option.some("from a"))
      expect(yield* fresh.get("k2")).toStrictEqual(Option.some("from b"))
    }))

  it.effect("expire whose rewrite is overtaken by another instance's set returns, and never restores the old value", () =>
    Effect.gen(function*() {
      const h = yield* harness({ grace: "1 hour" })
      yield* h.a.set("k", "old", "1 minute")
      const gateSet = yield* h.hold("set", "k")
      const expiring = yield* Effect.forkChild(h.a.expire("k"))
      yield* gateSet.reached
      yield* h.b.set("k", "new", "1 minute")
      yield* gateSet.release
      yield* Fiber.join(expiring)
      // The rewrite landed after b's write and was undone: a miss, never "old".
      expect(yield* h.b.get("k")).toStrictEqual(Option.none())
      yield* h.a.set("k", "later", "1 minute")
      expect(yield* h.b.get("k")).toStrictEqual(Option.some("later"))
    }))
})

describe("TieredCache: a tag key holds only its latest invalidation", () => {
  it.effect("two invalidations in one millisecond (the second stamped past its end) leave the entry stale at once", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      yield* h.a.set("k", "s0", { ttl: "1 hour", tags: ["t"] })
      yield* h.a.invalidateTags(["t"])
      yield* h.a.invalidateTags(["t"])
      expect(yield* h.a.get("k")).toStrictEqual(Option.none())
      expect(yield* h.b.get("k")).toStrictEqual(Option.none())
      const fresh = yield* h.build()
      expect(yield* fresh.get("k")).toStrictEqual(Option.none())
    }))

  it.effect("an invalidation time ahead of the reader's clock (another instance's clock) is stale from the read on", () =>
    Effect.gen(function*() {
      const h = yield* harness({ l1Ttl: "1 millis" })
      yield* h.a.set("k", "v", { ttl: "1 hour", tags: ["t"] })
      yield* TestClock.adjust("10 millis")
      const now = yield* Clock.currentTimeMillis
      // Written by an instance whose clock runs an hour ahead.
      yield* h.plain.set(`${TieredCache.defaultTagKeyPrefix}t`, new Entry.TagTime(now + 3_600_000, false))
      expect(yield* h.b.get("k")).toStrictEqual(Option.none())
      yield* TestClock.adjust("1 minute")
      expect(yield* h.b.get("k")).toStrictEqual(Option.none())
    }))
})

describe("TieredCache: overlapping invalidations of one tag never move its time backwards", () => {
  const tagKey = `${TieredCache.defaultTagKeyPrefix}t`
  /** Lets every fiber that can run do so (the memory backend answers at once). */
  const settle = Effect.repeat(Effect.yieldNow, { times: 50 })
  const tagTime = (h: { readonly plain: RemoteCache.RemoteCacheShape }) =>
    Effect.map(h.plain.get(tagKey), (found) => Option.isSome(found) ? Entry.tagTimeOf(found.value)?.at : undefined)
  /**
   * An entry of tag "t", then a's invalidation of "t" held before its write lands, then "between" written by b:
   * created after that invalidation was stamped. Returns the held invalidation and its gate.
   */
  const olderInvalidationInFlight = (h: Harness) =>
    Effect.gen(function*() {
      yield* h.a.set("p", "v0", { ttl: "1 hour", tags: ["t"] })
      const first = yield* h.hold("setMany")
      const older = yield* Effect.forkChild(h.a.invalidateTags(["t"]))
      yield* first.reached
      yield* h.b.set("p", "between", { ttl: "1 hour", tags: ["t"] })
      return { older, release: first.release }
    })

  it.effect("on one instance: a later invalidation's write lands after an earlier slow one's", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      // "between" is created before the second invalidation is made: the second covers it.
      const { older, release } = yield* olderInvalidationInFlight(h)
      const newer = yield* Effect.forkChild(h.a.invalidateTags(["t"]))
      yield* settle
      yield* release
      yield* Fiber.join(older)
      yield* Fiber.join(newer)
      const fresh = yield* h.build()
      expect(yield* fresh.get("p")).toStrictEqual(Option.none())
      expect(yield* h.b.get("p")).toStrictEqual(Option.none())
    }))

  it.effect("across instances: the older write, landing last, is written again with the newer time it heard of", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const { older, release } = yield* olderInvalidationInFlight(h)
      yield* h.b.invalidateTags(["t"])
      const newest = yield* tagTime(h)
      yield* release
      yield* Fiber.join(older)
      expect(yield* tagTime(h)).toBe(newest)
      const fresh = yield* h.build()
      expect(yield* fresh.get("p")).toStrictEqual(Option.none())
    }))

  it.effect("across instances, heard of only after its own older write landed: the key is checked and repaired", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      // An instance whose messages are held: its invalidation lands in L2 but is heard of only later.
      const open = yield* Deferred.make<void>()
      const late = yield* h.build(undefined, {
        ...h.bus,
        publish: (channel, message) => Effect.andThen(Deferred.await(open), h.bus.publish(channel, message))
      })
      const { older, release } = yield* olderInvalidationInFlight(h)
      const newer = yield* Effect.forkChild(late.invalidateTags(["t"]))
      yield* settle
      const newest = yield* tagTime(h)
      // a's older write lands last, and a has not heard of the newer one yet.
      yield* release
      yield* Fiber.join(older)
      expect(yield* tagTime(h)).toBeLessThan(newest!)
      yield* Deferred.succeed(open, undefined)
      yield* Fiber.join(newer)
      yield* settle
      expect(yield* tagTime(h)).toBe(newest)
      const fresh = yield* h.build()
      expect(yield* fresh.get("p")).toStrictEqual(Option.none())
    }))

  it.effect("a reader that knows a newer invalidation than L2 holds judges by it, and rewrites the key", () =>
    Effect.gen(function*() {
      const h = yield* harness({ l1Ttl: "1 millis" })
      yield* h.a.set("p", "v0", { ttl: "1 hour", tags: ["t"] })
      const before = yield* tagTime(h)
      yield* h.b.set("p", "between", { ttl: "1 hour", tags: ["t"] })
      yield* h.a.invalidateTags(["t"])
      const newest = yield* tagTime(h)
      // Another process's older invalidation lands last (it was made before "between" was created).
      yield* h.plain.set(tagKey, new Entry.TagTime(before! + 0.5, false))
      expect(yield* h.b.get("p")).toStrictEqual(Option.none())
      yield* settle
      expect(yield* tagTime(h)).toBe(newest)
      const fresh = yield* h.build()
      expect(yield* fresh.get("p")).toStrictEqual(Option.none())
    }))
})

describe("TieredCache: joining a computation in flight across a tag invalidation", () => {
  const slowCompute = (runs: { count: number }) =>
    Effect.flatMap(Effect.sync(() => ++runs.count), (n) => Effect.as(Effect.sleep("10 millis"), `v${n}`))

  it.effect("an invalidation of another tag keeps the computation joinable: one computation", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const runs = { count: 0 }
      const first = yield* Effect.forkChild(h.a.getOrCompute("k", slowCompute(runs), { ttl: "1 hour", tags: ["a"] }))
      yield* TestClock.adjust("1 millis")
      yield* h.b.invalidateTags(["b"])
      const second = yield* Effect.forkChild(h.a.getOrCompute("k", slowCompute(runs), { ttl: "1 hour", tags: ["a"] }))
      yield* TestClock.adjust("20 millis")
      expect([yield* Fiber.join(first), yield* Fiber.join(second)]).toStrictEqual(["v1", "v1"])
      expect(runs.count).toBe(1)
    }))

  it.effect("an invalidation of its tag: a later caller computes its own value, never the covered one", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const runs = { count: 0 }
      const first = yield* Effect.forkChild(h.a.getOrCompute("k", slowCompute(runs), { ttl: "1 hour", tags: ["a"] }))
      yield* TestClock.adjust("1 millis")
      yield* h.b.invalidateTags(["a"])
      const second = yield* Effect.forkChild(h.a.getOrCompute("k", slowCompute(runs), { ttl: "1 hour", tags: ["a"] }))
      yield* TestClock.adjust("20 millis")
      expect(yield* Fiber.join(first)).toBe("v1")
      expect(yield* Fiber.join(second)).toBe("v2")
      expect(runs.count).toBe(2)
    }))
})
