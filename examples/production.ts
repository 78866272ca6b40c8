/**
 * The README's production recipe, type-checked with the project and identical to it from the first import.
 * `REDIS_URL=redis://127.0.0.1:6380 npx tsx examples/production.ts` runs it against that server.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Schedule } from "effect"
import { Policy, RedisBackend, RedisClient, RemoteCache, TieredCache } from "../src/index.js"

// One connection for commands, one for the invalidation bus; timeouts chosen, not the 5 s defaults.
const Redis = RedisClient.layer({
  url: process.env["REDIS_URL"] ?? "redis://localhost:6379", // rediss://user:password@host:port/db works too
  connectTimeout: "1 second", // socket, TLS, AUTH and SELECT
  commandTimeout: "500 millis" // one reply; past it the connection is replaced, never desynchronised
})

// What a failing cache may cost a request, and how it is reported: each attempt bounded, one retry, each failure
// logged at Debug, then the breaker fails fast for 10 s after 5 in a row; each outage is logged at Warning when it
// starts and every 5 minutes while it lasts, its end at Info; the caller sees a miss, never an error.
const policy = Policy.timeout("100 millis").pipe(
  Policy.retry(Schedule.recurs(1)),
  Policy.log("Debug"),
  Policy.circuitBreaker({ failureThreshold: 5, resetAfter: "10 seconds" }),
  RemoteCache.logOutages(),
  Policy.recoverToMiss
)

// layerRedis: the Redis invalidation bus, so a write or delete anywhere drops the L1 copies everywhere.
export const CacheLive = TieredCache.layerRedis({ capacity: 10_000, l1Ttl: "30 seconds" }).pipe(
  Layer.provide(RemoteCache.layer(policy)),
  Layer.provide(RedisBackend.layerWithoutClient({ prefix: "app:" })),
  Layer.provide(Redis)
)

const loadUser = (id: number) => Effect.succeed({ id, name: "Ada" }) // stands for a database query

const program = Effect.gen(function*() {
  const cache = yield* TieredCache.TieredCache
  const user = yield* cache.getOrCompute("user:1", loadUser(1), { ttl: "5 minutes" })
  yield* Effect.log(`user:1 is ${user.name}`)
})

// runMain (@effect/platform-node): exit code, SIGINT / SIGTERM closing the connections, failures logged.
program.pipe(Effect.provide(CacheLive), NodeRuntime.runMain)
