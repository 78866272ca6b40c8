/**
 * Adversarial tests of a cluster `getMany` whose MGET is split by slot and settled, one primary paused (SIGSTOP): a
 * big batch with duplicates read by concurrent callers and by `TieredCache.getOrComputeMany`, and a node that comes
 * back while its keys are asked again alone.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { keySlot } from "../src/core/cluster/slot.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisCluster from "../src/RedisCluster.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as TieredCache from "../src/TieredCache.js"
import { RedisCluster as TestCluster } from "./utils/RedisCluster.js"

/**
 * The node serving each slot, from the cluster's slot ranges as `redis-cli --cluster create` made them (three
 * contiguous ranges), checked at every range's two ends: no failover happens during these tests.
 */
const ownersOf = (cluster: TestCluster["Type"]) =>
  Effect.gen(function*() {
    const ends = [0, 5460, 5461, 10922, 10923, 16383]
    const owners = yield* Effect.forEach(ends, (slot) => cluster.ownerOf(slot))
    expect(owners[0]).toBe(owners[1])
    expect(owners[2]).toBe(owners[3])
    expect(owners[4]).toBe(owners[5])
    return (slot: number) => slot <= 5460 ? owners[0]! : slot <= 10922 ? owners[2]! : owners[4]!
  })

describe("RedisCluster partial getMany under attack (real cluster, SIGSTOP)", () => {
  layer(TestCluster.layer({ nodeTimeoutMillis: 30_000 }), { excludeTestServices: true, timeout: 180_000 })((it) => {
    const pausing = (cluster: TestCluster["Type"], index: number) =>
      Effect.acquireRelease(cluster.pause(index), () => cluster.resume(index))

    it.scoped(
      "3,000 keys with duplicates, one primary paused, five callers and a getOrComputeMany: no wrong value, no hang",
      () =>
        Effect.gen(function*() {
          const cluster = yield* TestCluster
          const client = yield* RedisCluster.make({
            nodes: cluster.urls,
            commandTimeout: "500 millis",
            failoverWait: "500 millis"
          })
          const backend = yield* Effect.provideService(
            RedisBackend.make({ prefix: "pa:" }),
            RedisClient.RedisClient,
            client
          )
          const cache = yield* RemoteCache.fromBackend(backend, RemoteCache.defaultPolicy)
          const distinct = Array.from({ length: 1_500 }, (_, i) => `k:${i}`)
          yield* backend.setMany(distinct.map((key) => [key, `v:${key}`]))
          const owner = yield* ownersOf(cluster)
          const victim = (yield* cluster.primaries)[2]!
          const onVictim = (key: string) => owner(keySlot(`pa:${key}`)) === victim
          // Every key twice, the second time in reverse, and a few never written.
          const batch = [...distinct, ...distinct.slice().reverse(), "never:1", "never:2"]
          const expected = batch.map((key) =>
            key.startsWith("never") || onVictim(key) ? Option.none() : Option.some(`v:${key}`)
          )
          expect(expected.filter(Option.isNone).length).toBeGreaterThan(500)
          yield* pausing(cluster, victim)
          const started = Date.now()
          const answers = yield* Effect.forEach(Array.from({ length: 5 }), () => cache.getMany(batch), {
            concurrency: "unbounded"
          })
          const elapsed = Date.now() - started
          console.log(`5 concurrent getMany of ${batch.length} keys, one primary paused: ${elapsed} ms`)
          expect(elapsed).toBeLessThan(15_000)
          for (const answer of answers) expect(answer).toStrictEqual(expected)
          // The backend's own error: typed, carrying the same partial, not enumerable.
          const failed = yield* Effect.flip(backend.getMany(batch))
          expect(["CacheTimeoutError", "CacheConnectionError"]).toContain(failed._tag)
          expect(failed.partial).toStrictEqual(expected)
          expect(JSON.stringify(failed)).not.toContain("v:k:")
          // A tiered cache computes exactly the paused node's keys (and the never-written ones), once each.
          const tiered = yield* TieredCache.make().pipe(
            Effect.provideService(RemoteCache.RemoteCache, cache),
            Effect.provide(TieredCache.layerMemoryBus)
          )
          const asked: Array<ReadonlyArray<string>> = []
          const got = yield* tiered.getOrComputeMany(batch, (missing) =>
            Effect.sync(() => {
              asked.push(missing)
              return missing.map((key) => [key, `computed:${key}`] as const)
            }))
          expect(asked.length).toBe(1)
          const shouldCompute = [...new Set(batch.filter((key) => key.startsWith("never") || onVictim(key)))]
          expect([...asked[0]!].sort()).toStrictEqual(shouldCompute.sort())
          for (const key of batch) {
            expect(got.get(key)).toBe(
              key.startsWith("never") || onVictim(key) ? `computed:${key}` : `v:${key}`
            )
          }
        })
    )

    it.scoped("a paused primary resumed while its keys are asked again alone: every value, no error", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const client = yield* RedisCluster.make({
          nodes: cluster.urls,
          commandTimeout: "400 millis",
          failoverWait: "5 seconds"
        })
        const backend = yield* Effect.provideService(
          RedisBackend.make({ prefix: "pr:" }),
          RedisClient.RedisClient,
          client
        )
        const keys = Array.from({ length: 300 }, (_, i) => `r:${i}`)
        yield* backend.setMany(keys.map((key) => [key, `v:${key}`]))
        const victim = (yield* cluster.primaries)[0]!
        yield* pausing(cluster, victim)
        const reading = yield* Effect.fork(Effect.either(backend.getMany(keys)))
        // Past the MGET share's command timeout, within the lone reads' failover wait.
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1_200)))
        yield* cluster.resume(victim)
        const result = yield* Fiber.join(reading)
        expect(result._tag).toBe("Right")
        if (result._tag === "Right") {
          expect(result.right).toStrictEqual(keys.map((key) => Option.some(`v:${key}`)))
        }
      }))
  })
})
