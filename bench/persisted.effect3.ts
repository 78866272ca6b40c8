/**
 * The `persisted-get` row on Effect 3 (see `persisted.ts`): Effect's own `PersistedCache.get` from
 * `@effect/experimental` over this package's `BackingPersistence` against the same over its ioredis layer.
 */
import * as PersistedCache from "@effect/experimental/PersistedCache"
import * as Persistence from "@effect/experimental/Persistence"
import * as PersistenceRedis from "@effect/experimental/Persistence/Redis"
import { Effect, Layer, PrimaryKey, Schema } from "effect"
import * as OwnPersistence from "../src/Persistence.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as Serializer from "../src/Serializer.js"
import { CONCURRENCY, KEYS, type PersistedRow, rotate, STORE_ID, timeGets } from "./persisted.js"

// --- ----------------------------------------------------------------------------------------------------

class GetRecord extends Schema.TaggedRequest<GetRecord>()("GetRecord", {
  failure: Schema.String,
  success: Schema.Struct({ id: Schema.Number, name: Schema.String, tags: Schema.Array(Schema.String) }),
  payload: { id: Schema.Number }
}) {
  [PrimaryKey.symbol]() {
    return `record:${this.id}`
  }
}

const recordOf = (id: number) => ({ id, name: `a cached record ${id}`.padEnd(60, "."), tags: ["x", "y"] })

/** One Effect 3 side: a PersistedCache over `backing`, its keys persisted, and a run of the gets. */
const effect3Side = (backing: Layer.Layer<Persistence.BackingPersistence>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Layer.provide(Persistence.layerResult, backing))
    const cache = yield* PersistedCache.make({
      storeId: STORE_ID,
      lookup: (request: GetRecord) => Effect.succeed(recordOf(request.id)),
      timeToLive: () => "10 minutes",
      inMemoryTTL: 0
    }).pipe(Effect.provide(context))
    const requests = Array.from({ length: KEYS }, (_, id) => new GetRecord({ id }))
    // Persisted before the rounds (the lookup runs once per key): every measured get is a persisted hit.
    yield* Effect.forEach(requests, (request) => cache.get(request), { concurrency: 64, discard: true })
    return () =>
      timeGets((ids) =>
        Effect.runPromise(
          Effect.forEach(ids, (id) => cache.get(requests[id]!), { concurrency: CONCURRENCY, discard: true })
        )
      )
  })

/** Measures the Effect 3 row. */
export const runEffect3 = (url: string, rounds: number): Promise<PersistedRow> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const { hostname, port } = new URL(url)
    const ours = yield* effect3Side(
      OwnPersistence.layerBackingPersistence().pipe(
        Layer.provide(RedisBackend.layerWithoutClient({ prefix: "bench-persisted-ours:" })),
        Layer.provide(RedisClient.layer({ url })),
        Layer.orDie
      )
    )
    const oursJson = yield* effect3Side(
      OwnPersistence.layerBackingPersistence().pipe(
        Layer.provide(
          RedisBackend.layerWithoutClient({ prefix: "bench-persisted-ours-json:", serializer: Serializer.json })
        ),
        Layer.provide(RedisClient.layer({ url })),
        Layer.orDie
      )
    )
    const peer = yield* effect3Side(
      PersistenceRedis.layer({ host: hostname, port: Number(port), keyPrefix: "bench-persisted-ioredis:" })
    )
    const measured = yield* Effect.promise(() =>
      rotate([["ours", ours], ["ours-json", oursJson], ["ioredis-layer", peer]], rounds)
    )
    return {
      id: "persisted-get",
      title: "Effect 3: PersistedCache.get (@effect/experimental), every get a persisted hit read from Redis",
      sides: [
        { name: "ours", description: "this package's BackingPersistence, RedisBackend (v8), RedisClient" },
        { name: "ours-json", description: "the same with Serializer.json" },
        { name: "ioredis-layer", description: "@effect/experimental/Persistence/Redis on ioredis (JSON)" }
      ],
      rounds: measured
    } satisfies PersistedRow
  })))
