import { Effect, Layer } from "effect"
import { MemoryBackend, RemoteCache, TieredCache } from "../src/index.js"

// A bounded in-process L1 over an L2. MemoryBackend is the embedded L2; RedisBackend is the same service on Redis.
const CacheLive = TieredCache.layer({ capacity: 1_000, l1Ttl: "30 seconds" }).pipe(
  Layer.provide(RemoteCache.layerDefault),
  Layer.provide(Layer.merge(MemoryBackend.layer({ prefix: "app:" }), TieredCache.layerMemoryBus))
)

const loadUser = (id: number) => Effect.succeed({ id, name: "Ada" }) // stands for a database query

const program = Effect.gen(function*() {
  const cache = yield* TieredCache.TieredCache
  // Computed once, then served from L1 (or L2) until the TTL ends; concurrent callers share one computation.
  const user = yield* cache.getOrCompute("user:1", loadUser(1), { ttl: "5 minutes" })
  const again = yield* cache.getOrCompute("user:1", loadUser(1), { ttl: "5 minutes" })
  console.log(user, again === user ? "(the same value, from L1)" : "")
})

Effect.runPromise(program.pipe(Effect.provide(CacheLive)))
