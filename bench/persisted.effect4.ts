/**
 * The Effect 4 side of `bench/persisted.ts` (the `persisted-get-effect4` row), run by it in a child process on the
 * Effect 4 build (`bench/face.mjs`, `BENCH_FACE=effect4`): `PersistedCache.get` of `effect/persistence` over
 *
 * - `ours`: this package's `BackingPersistence` on `RedisBackend` and `RedisClient` (`ours-json`: with
 *   `Serializer.json`, the encoding of Effect's layers);
 * - `ours-effect-redis`: Effect's `Persistence.layerRedis` on `EffectRedis` (our client under Effect's Redis layer);
 * - `node-redis-layer`: Effect's `Persistence.layerRedis` on node-redis, as `@effect/platform-node`'s `NodeRedis`
 *   builds it (`Redis.make` whose `send` is one node-redis client's `sendCommand`); that package's Effect 4 line
 *   is not installed here, so the service is built the same way below.
 *
 * Usage (by `bench/persisted.ts`): `<url> <rounds>`; prints one JSON line, the row.
 */
import { Effect, Layer, Schema } from "effect"
import * as Persistable from "effect/persistence/Persistable"
import * as PersistedCache from "effect/persistence/PersistedCache"
import * as Persistence from "effect/persistence/Persistence"
import * as Redis from "effect/persistence/Redis"
import { createClient } from "redis"
import * as EffectRedis from "../src/EffectRedis.js"
import * as OwnPersistence from "../src/Persistence.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as Serializer from "../src/Serializer.js"
// The constants and helpers of the Effect 3 row (bench/persisted.ts loads its Effect 3 half only on demand).
import { CONCURRENCY, KEYS, rotate, STORE_ID, timeGets } from "./persisted.js"

class GetRecord extends Persistable.Class<{ payload: { readonly id: number } }>()("GetRecord", {
  primaryKey: ({ id }) => `record:${id}`,
  success: Schema.Struct({ id: Schema.Number, name: Schema.String, tags: Schema.Array(Schema.String) })
}) {}

const recordOf = (id: number) => ({ id, name: `a cached record ${id}`.padEnd(60, "."), tags: ["x", "y"] })

/** Effect's `Redis` service on one node-redis client, as `NodeRedis` builds it (send and eval; no pub/sub here). */
const nodeRedisLayer = (url: string) =>
  Layer.effect(
    Redis.Redis,
    Effect.gen(function*() {
      const client = yield* Effect.acquireRelease(
        Effect.promise(() => createClient({ url }).connect()),
        (client) => Effect.promise(() => client.close())
      )
      return yield* Redis.make({
        send: <A = unknown>(command: string, ...args: ReadonlyArray<string>) =>
          Effect.tryPromise({
            try: () => client.sendCommand([command, ...args]) as Promise<A>,
            catch: (cause) => new Redis.RedisError({ cause })
          }),
        subscribe: () => Effect.die("not used by this benchmark"),
        connect: Effect.die("not used by this benchmark")
      })
    })
  )

/** One side: a PersistedCache over `persistence`, its keys persisted, and a run of the gets. */
const side = (persistence: Layer.Layer<Persistence.Persistence>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(persistence)
    const cache = yield* PersistedCache.make((request: GetRecord) => Effect.succeed(recordOf(request.id)), {
      storeId: STORE_ID,
      timeToLive: () => "10 minutes",
      inMemoryTTL: () => 0
    }).pipe(Effect.provide(context))
    const requests = Array.from({ length: KEYS }, (_, id) => new GetRecord({ id }))
    yield* Effect.forEach(requests, (request) => cache.get(request), { concurrency: 64, discard: true })
    return () =>
      timeGets((ids) =>
        Effect.runPromise(
          Effect.forEach(ids, (id) => cache.get(requests[id]!), { concurrency: CONCURRENCY, discard: true })
        )
      )
  })

const main = (url: string, rounds: number) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const ours = yield* side(
      Persistence.layer.pipe(
        Layer.provide(OwnPersistence.layerBackingPersistence()),
        Layer.provide(RedisBackend.layerWithoutClient({ prefix: "bench-persisted-ours4:" })),
        Layer.provide(RedisClient.layer({ url })),
        Layer.orDie
      )
    )
    const oursJson = yield* side(
      Persistence.layer.pipe(
        Layer.provide(OwnPersistence.layerBackingPersistence()),
        Layer.provide(
          RedisBackend.layerWithoutClient({ prefix: "bench-persisted-ours4-json:", serializer: Serializer.json })
        ),
        Layer.provide(RedisClient.layer({ url })),
        Layer.orDie
      )
    )
    // Effect's Redis backing has no key prefix of its own: each side gets a database of its own instead.
    const oursEffectRedis = yield* side(
      Persistence.layerRedis.pipe(
        Layer.provide(EffectRedis.layer()),
        Layer.provide(RedisClient.layer({ url, db: 1 })),
        Layer.orDie
      )
    )
    const peer = yield* side(Persistence.layerRedis.pipe(Layer.provide(nodeRedisLayer(`${url}/2`))))
    const measured = yield* Effect.promise(() =>
      rotate([
        ["ours", ours],
        ["ours-json", oursJson],
        ["ours-effect-redis", oursEffectRedis],
        ["node-redis-layer", peer]
      ], rounds)
    )
    return {
      id: "persisted-get-effect4",
      title: "Effect 4: PersistedCache.get (effect/persistence), every get a persisted hit read from Redis",
      sides: [
        { name: "ours", description: "this package's BackingPersistence, RedisBackend (v8), RedisClient" },
        { name: "ours-json", description: "the same with Serializer.json" },
        { name: "ours-effect-redis", description: "Effect's Persistence.layerRedis on EffectRedis (RedisClient)" },
        { name: "node-redis-layer", description: "Effect's Persistence.layerRedis on node-redis, as NodeRedis" }
      ],
      rounds: measured
    }
  })))

const [url, rounds] = process.argv.slice(2)
const row = await main(url!, Number(rounds ?? 5))
console.log(JSON.stringify(row))
