/**
 * The two-tier cache over `MemcachedBackend` on a real memcached: the in-process bus carries invalidations between
 * the caches of one process; a cache on another bus (another process: memcached has no pub/sub) is not told.
 */
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import { describe, expect, it } from "#test-effect/vitest"
import { InvalidationBus } from "../src/InvalidationBus.js"
import * as MemcachedBackend from "../src/MemcachedBackend.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as TieredCache from "../src/TieredCache.js"
import * as MemcachedServer from "./utils/MemcachedServer.js"

/** One tiered cache with a client of its own, on `bus`. */
const instance = (
  servers: ReadonlyArray<MemcachedServer.MemcachedServerShape>,
  bus: Layer.Layer<InvalidationBus>
) =>
  Effect.map(
    Layer.build(
      TieredCache.layer().pipe(
        Layer.provide(bus),
        Layer.provide(RemoteCache.layerDefault),
        Layer.provide(MemcachedBackend.layer({ servers: servers.map((server) => server.address) })),
        Layer.orDie
      )
    ),
    Context.get(TieredCache.TieredCache)
  )

describe("TieredCache over memcached", () => {
  it.live("caches of one process on the in-process bus see each other's writes, deletes and tag invalidations", () =>
    Effect.scoped(Effect.gen(function*() {
      const servers = yield* Effect.forEach([1, 2], () => MemcachedServer.make())
      // One bus for both: built once, shared.
      const bus = Layer.succeedContext(yield* Layer.build(TieredCache.layerMemoryBus))
      const a = yield* instance(servers, bus)
      const b = yield* instance(servers, bus)
      yield* a.set("k", "v1")
      expect(yield* b.get("k")).toStrictEqual(Option.some("v1")) // now in b's L1
      yield* a.set("k", "v2")
      expect(yield* b.get("k")).toStrictEqual(Option.some("v2"))
      yield* b.delete("k")
      expect(yield* a.get("k")).toStrictEqual(Option.none())

      yield* a.set("tagged", "t1", { tags: ["group"] })
      expect(yield* b.get("tagged")).toStrictEqual(Option.some("t1"))
      yield* a.invalidateTags(["group"])
      expect(yield* b.get("tagged")).toStrictEqual(Option.none())

      // Single flight within a cache: one computation for 50 concurrent callers.
      let computed = 0
      const values = yield* Effect.forEach(
        Array.from({ length: 50 }),
        () => a.getOrCompute("computed", Effect.sync(() => ++computed)),
        { concurrency: "unbounded" }
      )
      expect(computed).toBe(1)
      expect(new Set(values)).toStrictEqual(new Set([1]))
      // The other cache reads it from memcached, without computing.
      expect(yield* b.getOrCompute("computed", Effect.sync(() => ++computed))).toBe(1)
      expect(computed).toBe(1)
    })))

  it.live("a cache on another bus (another process) keeps its L1 copy until told otherwise: memcached cannot tell it", () =>
    Effect.scoped(Effect.gen(function*() {
      const servers = yield* Effect.forEach([1], () => MemcachedServer.make())
      const a = yield* instance(servers, TieredCache.layerMemoryBus)
      const elsewhere = yield* instance(servers, TieredCache.layerMemoryBus)
      yield* a.set("k", "v1")
      expect(yield* elsewhere.get("k")).toStrictEqual(Option.some("v1")) // now in its L1
      yield* a.set("k", "v2")
      // Its L1 still answers the old value: only a bus shared by both (Redis pub/sub, say) would have dropped it.
      expect(yield* elsewhere.get("k")).toStrictEqual(Option.some("v1"))
    })))
})
