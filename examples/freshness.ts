import { NodeRuntime } from "@effect/platform-node"
import { Data, Effect, Layer, Option } from "effect"
import { MemoryBackend, RedisBackend, RedisClient, RemoteCache, Serializer, TieredCache } from "../src/index.js"

// Over Redis: the backend's serializer wrapped, so entries that need it carry their header.
export const Live = TieredCache.layerRedis({ grace: "6 hours", graceBackoff: "1 minute", timeout: "200 millis" }).pipe(
  Layer.provide(RemoteCache.layerDefault),
  Layer.provide(RedisBackend.layerWithoutClient({ prefix: "app:", serializer: TieredCache.serializer(Serializer.v8) })),
  Layer.provide(RedisClient.layer({ url: "redis://localhost:6379" }))
)

export const Test = TieredCache.layerInProcess({ grace: "6 hours" }).pipe(
  Layer.provide(RemoteCache.layerDefault),
  Layer.provide(MemoryBackend.layer({ prefix: "app:", serializer: TieredCache.serializer() }))
)

class DbError extends Data.TaggedError("DbError")<{}> {}
interface Product {
  readonly id: string
  readonly name: string
}
// Stands for a database query; None when there is no such product.
const findProduct = (id: string): Effect.Effect<Option.Option<Product>, DbError> =>
  Effect.succeed(Option.some({ id, name: `product ${id}` }))

export const program = Effect.gen(function*() {
  const cache = yield* TieredCache.TieredCache
  // Fresh for 5 minutes, then stale for 6 hours: served if the database fails, refreshed once per key meanwhile.
  // A missing product is not cached (TTL 0); tags let one call invalidate every product.
  const product = yield* cache.getOrCompute("product:1", findProduct("1"), {
    ttl: (found) => Option.isSome(found) ? "5 minutes" : 0,
    tags: ["products"],
    earlyRefresh: 0.8 // a hit after 4 of the 5 minutes rewrites it in the background
  })
  // Many keys: one L2 read, one query for the missing ones, one write.
  const many = yield* cache.getOrComputeMany(
    ["product:2", "product:3"],
    (missing) => Effect.succeed(missing.map((key) => [key, Option.some({ id: key, name: key })] as const)),
    { ttl: "5 minutes", tags: ["products"] }
  )
  yield* cache.invalidateTags(["products"]) // every instance: stale (in grace) or gone
  yield* cache.expire("product:1") // stale now, kept for its grace
  yield* cache.deleteMany(["product:2", "product:3"])
  return [product, many.size] as const
})

program.pipe(Effect.tap(Effect.log), Effect.provide(Test), NodeRuntime.runMain)
