// The shared BackingPersistence suite on a Redis Cluster, in both runs (Effect 3 and Effect 4): a store's
// keys live in many slots, so getMany / setMany must be split by slot (no CROSSSLOT) and clear must scan every
// primary.
import * as Effect from "#effect/Effect"
import * as Option from "#effect/Option"
import * as P from "#test-effect/Persistence"
import { describe, expect, layer } from "#test-effect/vitest"
import * as Persistence from "../src/Persistence.js"
import * as RedisBackend from "../src/RedisBackend.js"
import { backendFromLayer } from "./contract/BackendContract.js"
import { freshPrefix } from "./contract/KeyValueStoreContract.js"
import { suite } from "./contract/PersistenceContract.js"
import { RedisCluster as TestCluster } from "./utils/RedisCluster.js"

describe("BackingPersistence over RedisBackend on a cluster", () => {
  layer(TestCluster.layer(), { excludeTestServices: true, timeout: 120_000 })((it) => {
    const backendOf = (prefix: string) =>
      Effect.flatMap(
        TestCluster,
        (cluster) => backendFromLayer(RedisBackend.layerCluster({ nodes: [cluster.urls[0]!], prefix }))
      )
    suite(it, backendOf, { expiry: "real", advance: (millis) => Effect.sleep(millis) })

    it.effect("getMany / setMany / clear over keys of every primary", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const backend = yield* backendOf(freshPrefix())
        const backing = Persistence.fromCache(backend)
        const store = yield* backing.make("s")
        const other = yield* backing.make("other")
        const keys = Array.from({ length: 300 }, (_, i) => `k${i}`)
        yield* P.setMany(store, keys.map((key, i) => [key, { i }, i % 3 === 0 ? "1 hour" : undefined] as const))
        yield* P.set(other, "keep", "me")
        // The keys really are spread over the three primaries.
        const owners = new Set(
          yield* Effect.forEach(keys, (key) =>
            Effect.flatMap(cluster.keySlot(`${backend.prefix}persistence:s:${key}`), cluster.ownerOf))
        )
        expect(owners.size).toBe(3)
        expect((yield* P.getMany(store, keys)).map(Option.getOrUndefined)).toStrictEqual(keys.map((_, i) => ({ i })))
        yield* store.clear
        expect((yield* P.getMany(store, keys)).every(Option.isNone)).toBe(true)
        expect(yield* P.get(other, "keep")).toStrictEqual(Option.some("me"))
      }).pipe(Effect.scoped))
  })
})
