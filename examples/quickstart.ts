/**
 * Quick start, step 1: the cache service over the embedded in-memory L2. No server needed:
 * `npx tsx examples/quickstart.ts`.
 */
import { Effect, Layer } from "effect"
import { MemoryBackend, RemoteCache } from "../src/index.js"

// The service applications call, over the in-memory backend. With the default policy a failing cache never fails
// the caller: a read becomes a miss, a write does nothing, and the outage is logged.
const CacheLive = RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer({ prefix: "app:" })))

const program = Effect.gen(function*() {
  const cache = yield* RemoteCache.RemoteCache
  yield* cache.set("user:1", { id: 1, name: "Ada" }, "5 minutes")
  const user = yield* cache.get("user:1") // Option<unknown>: Some({ id: 1, name: "Ada" }), None once expired
  console.log(user)
})

Effect.runPromise(program.pipe(Effect.provide(CacheLive)))
