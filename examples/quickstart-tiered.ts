/**
 * Quick start, step 3: two tiers, a bounded in-process L1 over Redis, with read-through and invalidation between
 * processes: `REDIS_URL=redis://localhost:6379 npx tsx examples/quickstart-tiered.ts`.
 */
import { Effect, Layer } from "effect"
import { RedisBackend, RedisClient, RemoteCache, TieredCache } from "../src/index.js"

// One Redis client, shared by the L2 backend and the invalidation bus (Redis pub/sub).
const Redis = RedisClient.layer({ url: process.env["REDIS_URL"] ?? "redis://localhost:6379" })

const CacheLive = TieredCache.layerRedis({ capacity: 10_000, l1Ttl: "30 seconds" }).pipe(
  Layer.provide(RemoteCache.layerDefault),
  Layer.provide(RedisBackend.layerWithoutClient({ prefix: "app:" })),
  Layer.provide(Redis)
)

const loadUser = (id: number) => Effect.succeed({ id, name: "Ada" }) // stands for a database query

const program = Effect.gen(function*() {
  const cache = yield* TieredCache.TieredCache
  // Computed once, then served from L1 (or from Redis, in another process) until the TTL ends; concurrent callers
  // share one computation. A set or delete in any process drops the L1 copies everywhere.
  const user = yield* cache.getOrCompute("user:1", loadUser(1), { ttl: "5 minutes" })
  console.log(user)
})

Effect.runPromise(program.pipe(Effect.provide(CacheLive)))
