/**
 * `npm start`: the two-tier cache in a few lines of output — read-through, stampede protection and TTL expiry —
 * on the embedded default (an in-process MemoryBackend as L2, no server needed). With `REDIS_URL` set, the same
 * program runs against that Redis (L2) with pub/sub invalidation.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Metric } from "effect"
import { MemoryBackend, RedisBackend, RedisClient, RemoteCache, TieredCache } from "../src/index.js"

const url = process.env["REDIS_URL"]

// The only difference between the embedded demo and Redis is the layer under the cache.
const L2 = url === undefined
  ? Layer.merge(MemoryBackend.layer({ prefix: "demo:" }), TieredCache.layerMemoryBus)
  : RedisBackend.layerWithoutClient({ prefix: "demo:" }).pipe(
    Layer.provideMerge(TieredCache.layerRedisBus),
    Layer.provide(RedisClient.layer({ url, connectTimeout: "2 seconds" }))
  )

const Cache = TieredCache.layer({ capacity: 1_000, l1Ttl: "1 minute" }).pipe(
  Layer.provide(RemoteCache.layerDefault),
  Layer.provideMerge(L2)
)

/** Stands for a slow source: a database, another service. */
let computations = 0
const loadUser = (id: string) =>
  Effect.sync(() => {
    computations++
    return { id, name: `user ${id}`, loadedAt: new Date().toISOString() }
  }).pipe(Effect.delay("50 millis"))

const millisSince = (start: number) => `${(performance.now() - start).toFixed(1)} ms`

/** Where a read was answered from, told by the cache's own metrics rather than assumed. */
const answeredFrom = <A>(read: Effect.Effect<A>) =>
  Effect.gen(function*() {
    const counts = Effect.all([Metric.value(TieredCache.l1HitsTotal), Metric.value(TieredCache.l2HitsTotal)])
    const [l1Before, l2Before] = yield* counts
    yield* read
    const [l1After, l2After] = yield* counts
    return l1After.count > l1Before.count ? "L1 hit" : l2After.count > l2Before.count ? "L2 hit" : "computed"
  })

const program = Effect.gen(function*() {
  const cache = yield* TieredCache.TieredCache
  yield* cache.clear
  yield* Console.log(`L2: ${url === undefined ? "in-process MemoryBackend (set REDIS_URL to use Redis)" : url}`)

  let start = performance.now()
  let from = yield* answeredFrom(cache.getOrCompute("user:1", loadUser("1"), { ttl: "1 second" }))
  yield* Console.log(`1. read-through, first read: ${from} (${millisSince(start)})`)
  start = performance.now()
  from = yield* answeredFrom(cache.getOrCompute("user:1", loadUser("1"), { ttl: "1 second" }))
  yield* Console.log(`2. read-through, second read: ${from} (${millisSince(start)})`)

  computations = 0
  start = performance.now()
  yield* Effect.forEach(
    Array.from({ length: 100 }),
    () => cache.getOrCompute("user:2", loadUser("2"), { ttl: "1 second" }),
    { concurrency: "unbounded" }
  )
  yield* Console.log(
    `3. stampede: 100 concurrent reads of a missing key -> ${computations} computation (${millisSince(start)})`
  )

  yield* Effect.sleep("1100 millis")
  computations = 0
  yield* cache.getOrCompute("user:1", loadUser("1"), { ttl: "1 second" })
  yield* Console.log(`4. TTL: after 1.1 s the 1 s entry has expired in both tiers -> recomputed (${computations})`)

  const [l1, l2, computes] = yield* Effect.all([
    Metric.value(TieredCache.l1HitsTotal),
    Metric.value(TieredCache.l2HitsTotal),
    Metric.value(TieredCache.computesTotal)
  ])
  yield* Console.log(`metrics: L1 hits ${l1.count}, L2 hits ${l2.count}, computations ${computes.count}`)
})

// runMain: the exit code follows the outcome, SIGINT / SIGTERM interrupt the program (closing the Redis
// connection), and a failure is logged with its cause.
program.pipe(Effect.provide(Cache), NodeRuntime.runMain)
