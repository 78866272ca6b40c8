// The shared KeyValueStore suite on a Redis Cluster, in both runs (Effect 3 and Effect 4): listing and
// clearing scan every primary, and the keys of one store live in many slots.
import * as Effect from "#effect/Effect"
import { describe, expect, layer } from "#test-effect/vitest"
import * as KeyValueStore from "../src/KeyValueStore.js"
import * as RedisBackend from "../src/RedisBackend.js"
import { backendFromLayer } from "./contract/BackendContract.js"
import { freshPrefix, suite } from "./contract/KeyValueStoreContract.js"
import { RedisCluster as TestCluster } from "./utils/RedisCluster.js"

describe("KeyValueStore over RedisBackend on a cluster", () => {
  layer(TestCluster.layer(), { excludeTestServices: true, timeout: 120_000 })((it) => {
    const backendOf = (prefix: string) =>
      Effect.flatMap(
        TestCluster,
        (cluster) => backendFromLayer(RedisBackend.layerCluster({ nodes: [cluster.urls[0]!], prefix }))
      )
    suite(it, backendOf)

    it.effect("size and clear see the keys of every primary", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const backend = yield* backendOf(freshPrefix())
        const store = KeyValueStore.fromCache(backend)
        const other = KeyValueStore.fromCache(backend, { prefix: "other:" })
        const keys = Array.from({ length: 300 }, (_, i) => `k${i}`)
        yield* Effect.forEach(keys, (key) => store.set(key, key), { concurrency: 32, discard: true })
        yield* other.set("keep", "me")
        // The keys really are spread over the three primaries.
        const owners = new Set(
          yield* Effect.forEach(keys, (key) =>
            Effect.flatMap(cluster.keySlot(`${backend.prefix}kv:${key}`), cluster.ownerOf))
        )
        expect(owners.size).toBe(3)
        expect(yield* store.size).toBe(300)
        yield* store.clear
        expect([yield* store.size, yield* other.size]).toStrictEqual([0, 1])
      }))
  })
})
