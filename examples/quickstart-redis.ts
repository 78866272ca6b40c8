/**
 * Quick start, step 2: the same program on Redis. Only the layer under the cache changes:
 * `REDIS_URL=redis://localhost:6379 npx tsx examples/quickstart-redis.ts`.
 */
import { Effect, Layer } from "effect"
import { RedisBackend, RemoteCache } from "../src/index.js"

// REDIS_URL (default redis://localhost:6379); the connection opens on first use and closes with the layer.
const CacheLive = RemoteCache.layerDefault.pipe(Layer.provide(RedisBackend.layerConfig({ prefix: "app:" })))

const program = Effect.gen(function*() {
  const cache = yield* RemoteCache.RemoteCache
  yield* cache.set("user:1", { id: 1, name: "Ada" }, "5 minutes")
  const user = yield* cache.get("user:1")
  console.log(user)
})

Effect.runPromise(program.pipe(Effect.provide(CacheLive)))
