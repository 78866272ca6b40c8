/**
 * The leased read that `MemcachedBackend` offers `TieredCache` (`internal/backend/lease.ts`): `mg … N` on the
 * backend's stored key. One reader wins a missing key, the others lose it; every plain read takes the placeholder
 * for a miss; a value written replaces it; giving the lease up removes it, never a value.
 */
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import { describe, expect, it } from "#test-effect/vitest"
import * as Lease from "../src/internal/backend/lease.js"
import * as MemcachedBackend from "../src/MemcachedBackend.js"
import { RemoteCacheBackend, type RemoteCacheBackendShape } from "../src/RemoteCacheBackend.js"
import * as MemcachedServer from "./utils/MemcachedServer.js"

/** A backend with a client of its own: another process, as memcached sees it. */
const backend = (server: MemcachedServer.MemcachedServerShape) =>
  Effect.map(
    Layer.build(Layer.orDie(MemcachedBackend.layer({ servers: [server.address], prefix: "lease:" }))),
    (context) => {
      const shape = Context.get(context, RemoteCacheBackend)
      return { shape, lease: Lease.leaseReadOf(shape)! }
    }
  )

const tagOf = (outcome: Lease.LeaseOutcome) => outcome._tag

describe("MemcachedBackend leased read", () => {
  it.live("one reader wins a missing key, the others lose it, plain reads miss, a write ends it", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* MemcachedServer.make()
      const a = yield* backend(server)
      const b = yield* backend(server)
      const outcomes = yield* Effect.forEach([a, b, a, b], (side) => side.lease("k", 5_000), {
        concurrency: "unbounded"
      })
      expect(outcomes.map(tagOf).sort()).toStrictEqual(["Lost", "Lost", "Lost", "Won"])
      const plain: RemoteCacheBackendShape = b.shape
      expect(yield* plain.get("k")).toStrictEqual(Option.none())
      expect(yield* plain.getWithTtl("k")).toStrictEqual(Option.none())
      expect(yield* plain.getMany(["k", "other"])).toStrictEqual([Option.none(), Option.none()])
      // The placeholder is an item: setIfAbsent does not store over it.
      expect(yield* plain.setIfAbsent("k", "early")).toBe(false)
      yield* a.shape.set("k", "v", "1 minute")
      const hit = yield* b.lease("k", 5_000)
      expect(hit._tag).toBe("Hit")
      expect(hit._tag === "Hit" && hit.entry.value).toBe("v")
      expect(yield* plain.get("k")).toStrictEqual(Option.some("v"))
    })))

  it.live("giving the lease up removes the placeholder, so the next reader wins; a value written meanwhile stays", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* MemcachedServer.make()
      const a = yield* backend(server)
      const b = yield* backend(server)
      const first = yield* a.lease("k", 5_000)
      expect(first._tag).toBe("Won")
      expect(tagOf(yield* b.lease("k", 5_000))).toBe("Lost")
      if (first._tag === "Won") yield* first.release
      const second = yield* b.lease("k", 5_000)
      expect(second._tag).toBe("Won")
      // b's value lands; a late release of b's lease leaves it.
      yield* b.shape.set("k", "v")
      if (second._tag === "Won") yield* second.release
      expect(yield* a.shape.get("k")).toStrictEqual(Option.some("v"))
    })))
})
