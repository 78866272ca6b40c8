/**
 * The BackingPersistence suite shared by every backend it runs over (MemoryBackend, a Redis server, a Redis
 * Cluster), on both majors: the expectations of Effect's `BackingPersistenceStore` (set / get / getMany / setMany /
 * remove / clear, TTLs), each checked against Effect's in-memory backing, the reference, then store isolation
 * (store ids that would collide unescaped), `clear` leaving other stores and foreign keys alone, expiry, and an
 * end-to-end run of Effect's own `PersistedCache` over the layer.
 */
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as P from "#test-effect/Persistence"
import { expect } from "#test-effect/vitest"
import * as Listing from "../../src/internal/backend/keys.js"
import * as Persistence from "../../src/Persistence.js"
import { RemoteCacheBackend, type RemoteCacheBackendShape } from "../../src/RemoteCacheBackend.js"
import { freshPrefix } from "./KeyValueStoreContract.js"

type Store = Persistence.BackingPersistenceStore

/** Runs `check` against our store `storeId` and against the same store of Effect's in-memory backing. */
const withReference = <R>(
  backing: Persistence.BackingPersistence,
  storeId: string,
  check: (store: Store) => Effect.Effect<unknown, unknown, R>
): Effect.Effect<void, unknown, R> =>
  Effect.scoped(Effect.gen(function*() {
    const ours = yield* check(yield* backing.make(storeId))
    const reference = yield* Effect.gen(function*() {
      const effects = yield* P.Tag
      return yield* check(yield* effects.make(storeId))
    }).pipe(Effect.provide(P.layerMemory))
    expect(ours).toStrictEqual(reference)
  }))

const values: ReadonlyArray<unknown> = [
  { a: 1, b: [true, null, "x"] },
  [1, 2, 3],
  "a string",
  "",
  0,
  -1.5,
  true,
  { nested: { deeper: { "🔑": "ключ", "\u0000": "\r\n" } } },
  { _id: "Exit", _tag: "Success", value: { id: 1, name: "user 1" } } // the shape Effect's layers write
]

const hostileKeys = ["", ":", "a:b", "*", "?", "[a-z]", "\\", "%3A", "ключ🔑", "\r\n\u0000", "x".repeat(5_000)]

/** How a test waits for a TTL to pass: a test clock (in process) or real time, polling (a server). */
export type Expiry = "testClock" | "real"

/** The shared suite, over the backends `backendOf` makes (each call a new namespace of the same server or store). */
export const suite = (
  itFor: { readonly effect: (name: string, test: () => Effect.Effect<unknown, unknown, any>) => void },
  backendOf: (prefix: string) => Effect.Effect<RemoteCacheBackendShape, unknown, any>,
  options: { readonly expiry: Expiry; readonly advance: (millis: number) => Effect.Effect<void, never, any> }
) => {
  const setup = (opts?: Persistence.Options) =>
    Effect.map(backendOf(freshPrefix()), (backend) => ({ backend, backing: Persistence.fromCache(backend, opts) }))

  itFor.effect("set / get / getMany / remove, as Effect's own backing", () =>
    Effect.gen(function*() {
      const { backing } = yield* setup()
      yield* withReference(backing, "store", (store) =>
        Effect.gen(function*() {
          const seen: Array<unknown> = []
          for (const [i, value] of values.entries()) yield* P.set(store, `k${i}`, value)
          for (let i = 0; i < values.length; i++) seen.push(yield* P.get(store, `k${i}`))
          seen.push(yield* P.get(store, "missing"))
          seen.push(yield* P.getMany(store, ["k0", "missing", "k1", "k0"]))
          yield* P.set(store, "k0", { replaced: true })
          yield* store.remove("k1")
          yield* store.remove("never-written")
          seen.push(yield* P.getMany(store, ["k0", "k1", "k2"]))
          return seen
        }))
    }))

  itFor.effect("hostile keys round-trip and stay apart", () =>
    Effect.gen(function*() {
      const { backing } = yield* setup()
      yield* withReference(backing, "hostile", (store) =>
        Effect.gen(function*() {
          for (const [i, key] of hostileKeys.entries()) yield* P.set(store, key, { i })
          const one = yield* Effect.forEach(hostileKeys, (key) => P.get(store, key))
          const many = yield* P.getMany(store, hostileKeys)
          yield* store.remove(":")
          return [one, many, yield* P.getMany(store, hostileKeys)]
        }))
    }))

  itFor.effect(
    "setMany: mixed TTLs, the last entry of a key wins, as Effect's own backing",
    () =>
      Effect.gen(function*() {
        const { backing } = yield* setup()
        yield* withReference(backing, "many", (store) =>
          Effect.gen(function*() {
            yield* P.setMany(store, [
              ["a", 1, undefined],
              ["b", 2, "1 hour"],
              ["c", 3, "2 hours"],
              ["a", 4, "1 hour"], // a again, with another TTL: this one wins
              ["d", 5, undefined],
              ["b", 6, undefined] // b again, without TTL
            ])
            return yield* P.getMany(store, ["a", "b", "c", "d"])
          }))
      })
  )

  itFor.effect("a TTL of 0 removes the key, in set and in setMany", () =>
    Effect.gen(function*() {
      const { backing } = yield* setup()
      yield* withReference(backing, "zero", (store) =>
        Effect.gen(function*() {
          yield* P.set(store, "a", 1)
          yield* P.set(store, "b", 2)
          yield* P.set(store, "a", 10, 0)
          yield* P.setMany(store, [["b", 20, 0], ["c", 30, undefined]])
          return yield* P.getMany(store, ["a", "b", "c"])
        }))
    }))

  itFor.effect("TTL: a key expires after it, one without TTL stays", () =>
    Effect.gen(function*() {
      const { backing } = yield* setup()
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* backing.make("ttl")
        const ttl = options.expiry === "real" ? 300 : 60_000
        yield* P.set(store, "short", "s", ttl)
        yield* P.setMany(store, [["many", "m", ttl], ["lasting", "l", undefined]])
        expect(yield* P.getMany(store, ["short", "many", "lasting"])).toStrictEqual([
          Option.some("s"),
          Option.some("m"),
          Option.some("l")
        ])
        if (options.expiry === "testClock") {
          yield* options.advance(ttl - 1)
          expect(Option.isSome(yield* P.get(store, "short"))).toBe(true)
          yield* options.advance(2)
        } else {
          // Real expiry: poll until the server has expired both (bounded, so a lost TTL fails the test).
          const deadline = Date.now() + 10_000
          while (Date.now() < deadline) {
            const found = yield* P.getMany(store, ["short", "many"])
            if (found.every(Option.isNone)) break
            yield* options.advance(25)
          }
        }
        expect(yield* P.getMany(store, ["short", "many", "lasting"])).toStrictEqual([
          Option.none(),
          Option.none(),
          Option.some("l")
        ])
      }))
    }))

  itFor.effect("stores are isolated: ids that would collide unescaped keep apart keys", () =>
    Effect.gen(function*() {
      const { backing } = yield* setup()
      yield* Effect.scoped(Effect.gen(function*() {
        // Unescaped, store "a" key "b:c" and store "a:b" key "c" would both be "a:b:c". Store ids that are glob
        // patterns come before the ids they would match, so clearing them (a SCAN MATCH) must not reach those.
        const ids = ["a*", "a?", "[ab]", "\\", "*", "a", "ab", "b", "a:b", "a%3Ab", "", ":", "a:"]
        const stores = yield* Effect.forEach(ids, (id) => backing.make(id))
        for (const [i, store] of stores.entries()) {
          yield* P.set(store, "b:c", `b:c of ${ids[i]}`)
          yield* P.set(store, "c", `c of ${ids[i]}`)
        }
        for (const [i, store] of stores.entries()) {
          expect(yield* P.getMany(store, ["b:c", "c"])).toStrictEqual([
            Option.some(`b:c of ${ids[i]}`),
            Option.some(`c of ${ids[i]}`)
          ])
        }
        // Clearing one store leaves every other one whole.
        for (const [i, store] of stores.entries()) {
          yield* store.clear
          expect(yield* P.getMany(store, ["b:c", "c"])).toStrictEqual([Option.none(), Option.none()])
          for (const other of stores.slice(i + 1)) {
            expect((yield* P.getMany(other, ["b:c", "c"])).every(Option.isSome)).toBe(true)
          }
        }
      }))
    }))

  itFor.effect(
    "clear removes exactly the store's keys: other stores, other prefixes and foreign keys stay",
    () =>
      Effect.gen(function*() {
        const { backend, backing } = yield* setup()
        const otherPrefix = Persistence.fromCache(backend, { prefix: "other:" })
        yield* Effect.scoped(Effect.gen(function*() {
          const store = yield* backing.make("s")
          const sibling = yield* backing.make("s2")
          const samePrefixElsewhere = yield* otherPrefix.make("s")
          yield* Effect.forEach(Array.from({ length: 120 }, (_, i) => i), (i) => P.set(store, `k${i}`, i), {
            concurrency: 16,
            discard: true
          })
          yield* P.set(sibling, "k0", "sibling")
          yield* P.set(samePrefixElsewhere, "k0", "elsewhere")
          // Foreign keys next to the namespace: "persistence:s" (no colon), "persistence:s2:", "persistence:", "x".
          const foreign = ["persistence:s", "persistence:s;k0", "persistence:", "persistence", "x", "s:k0"]
          for (const key of foreign) yield* backend.set(key, "foreign")
          yield* store.clear
          expect((yield* P.getMany(store, ["k0", "k1", "k119"])).every(Option.isNone)).toBe(true)
          expect(yield* P.get(sibling, "k0")).toStrictEqual(Option.some("sibling"))
          expect(yield* P.get(samePrefixElsewhere, "k0")).toStrictEqual(Option.some("elsewhere"))
          expect(yield* backend.getMany(foreign)).toStrictEqual(foreign.map(() => Option.some("foreign")))
          // The listing sees nothing left under the store's namespace; clearing again is fine.
          expect(yield* Listing.listingOf(backend)!.keys("persistence:s:")).toStrictEqual([])
          yield* store.clear
        }))
      })
  )

  itFor.effect(
    "keys land under backend prefix + store prefix + escaped store id + \":\"",
    () =>
      Effect.gen(function*() {
        const { backend, backing } = yield* setup({ prefix: "p:" })
        yield* Effect.scoped(Effect.gen(function*() {
          yield* P.set(yield* backing.make("users:v%2"), "u:1", { ok: true })
          expect(yield* Listing.listingOf(backend)!.keys("p:")).toStrictEqual(["p:users%3Av%252:u:1"])
          expect(yield* backend.get("p:users%3Av%252:u:1")).toStrictEqual(Option.some({ ok: true }))
        }))
      })
  )

  itFor.effect(
    "Effect's own PersistedCache over the layer: the second cache answers from the backend",
    () =>
      Effect.gen(function*() {
        const backend = yield* backendOf(freshPrefix())
        const backing = Persistence.layerBackingPersistence().pipe(
          Layer.provide(Layer.succeed(RemoteCacheBackend, backend))
        )
        const result = yield* P.persistedCacheRun(backing, "users")
        const user = { id: 1, name: "user 1" }
        const notFound = { _tag: "UserNotFound", id: 0 }
        expect(result).toStrictEqual({ first: [user, notFound], second: [user, notFound], lookups: 2 })
        const stored = yield* Listing.listingOf(backend)!.keys("persistence:users:")
        expect([...stored].sort()).toStrictEqual(P.persistedKeys.map((key) => `persistence:users:${key}`))
      })
  )

  itFor.effect(
    "Effect's own PersistedCache over the layer: invalidate removes the result from the backend",
    () =>
      Effect.gen(function*() {
        const backend = yield* backendOf(freshPrefix())
        const backing = Persistence.layerBackingPersistence().pipe(
          Layer.provide(Layer.succeed(RemoteCacheBackend, backend))
        )
        const between = Effect.gen(function*() {
          expect(yield* backend.get("persistence:invalidated:GetUser:1")).toStrictEqual(Option.none())
        }).pipe(Effect.orDie)
        const result = yield* P.persistedCacheInvalidate(backing, "invalidated", between)
        // Looked up again after invalidate, and that result is the one persisted for the next cache.
        expect(result).toStrictEqual({ names: ["user 1 #1", "user 1 #2", "user 1 #2"], lookups: 2 })
      })
  )

  itFor.effect(
    "Effect's own PersistedCache over the layer: an expired result is looked up again",
    () =>
      Effect.gen(function*() {
        const backend = yield* backendOf(freshPrefix())
        const backing = Persistence.layerBackingPersistence().pipe(
          Layer.provide(Layer.succeed(RemoteCacheBackend, backend))
        )
        const ttl = options.expiry === "real" ? 300 : 60_000
        const stored = Effect.map(
          backend.getMany(P.persistedKeys.map((key) => `persistence:expiring:${key}`)),
          (found) => found.filter(Option.isSome).length
        )
        const between = Effect.gen(function*() {
          expect(yield* stored).toBe(2)
          if (options.expiry === "testClock") {
            yield* options.advance(ttl + 1)
          } else {
            const deadline = Date.now() + 10_000
            while (Date.now() < deadline && (yield* stored) > 0) yield* options.advance(25)
          }
          expect(yield* stored).toBe(0)
        }).pipe(Effect.orDie)
        const result = yield* P.persistedCacheRun(backing, "expiring", { timeToLive: ttl, between })
        // Both results expired with the TTL Effect's layer passed down: the second cache looked both up again.
        expect(result.lookups).toBe(4)
      })
  )
}
