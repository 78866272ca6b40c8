/**
 * The README's two-tier cache example, type-checked with the project and identical to it from the first import.
 * `npx tsx examples/tiered.ts` runs the program on the in-memory layer.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Data, Effect, Layer, Schema } from "effect"
import { MemoryBackend, RedisBackend, RedisClient, RemoteCache, TieredCache } from "../src/index.js"

// Production: Redis as L2, one client for commands and for pub/sub invalidation between processes.
export const Live = TieredCache.layerRedis({ capacity: 10_000, l1Ttl: "30 seconds" }).pipe(
  Layer.provide(RemoteCache.layerDefault),
  Layer.provide(RedisBackend.layerWithoutClient({ prefix: "app:" })),
  Layer.provide(RedisClient.layer({ url: "redis://localhost:6379" }))
)

// Tests and demos: an in-process L2; invalidation works between the instances of this process only.
export const Test = TieredCache.layerInProcess().pipe(
  Layer.provide(RemoteCache.layerDefault),
  Layer.provide(MemoryBackend.layer({ prefix: "app:" }))
)

class User extends Schema.Class<User>("User")({ id: Schema.Number, name: Schema.String }) {}

class NotFound extends Data.TaggedError("NotFound")<{ readonly id: number }> {}

// Stands for a database query.
const fetchUser = (id: number): Effect.Effect<User, NotFound> =>
  id > 0 ? Effect.succeed(new User({ id, name: `user ${id}` })) : Effect.fail(new NotFound({ id }))

export const program = Effect.gen(function*() {
  const cache = yield* TieredCache.TieredCache
  // Read-through with stampede protection: concurrent callers share one fetch; a failure is not cached.
  const user = yield* cache.getOrCompute("user:1", fetchUser(1), { ttl: "5 minutes" })
  yield* cache.set("user:1", user, "5 minutes") // L2; every process (this one too) drops its L1 copy
  yield* cache.delete("user:1")

  // A typed view: values are checked against the schema on every read; a stale shape is a miss (recomputed).
  const users = yield* TieredCache.forSchema(User)
  const typed = yield* users.getOrCompute("user:2", fetchUser(2)) // Effect<User, NotFound>
  return typed.name
})

program.pipe(Effect.tap(Effect.log), Effect.provide(Test), NodeRuntime.runMain)
