// Effect 4's own expectations of `effect/persistence`'s RateLimiter and PersistedCache (the cases of Effect's
// RateLimiter and PersistedCache suites, written from the modules' documented behaviour: the repository's test
// files are not in the published package), run on every stack they can run on here (Effect 4 only):
//
// - RateLimiter: Effect's in-memory store (the reference), Effect's Redis store on EffectRedis over one node, and
//   on EffectRedis over the 3+3 cluster with a hash-tagged prefix (a token bucket keeps two keys);
// - PersistedCache: Effect's Persistence over this package's BackingPersistence on MemoryBackend, on RedisBackend
//   (one node, cluster), and Effect's own Persistence.layerRedis on EffectRedis (one node, cluster).
//
// The clock is the real one: Redis keeps the windows and TTLs by its own clock.
import { assert, describe, expect, layer } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, Schedule, Schema } from "effect"
import { Persistable, PersistedCache, Persistence, RateLimiter } from "effect/persistence"
import * as EffectRedis from "../src/EffectRedis.js"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as OwnPersistence from "../src/Persistence.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisCluster from "../src/RedisCluster.js"
import { RedisCluster as TestCluster } from "./utils/RedisCluster.js"
import { RedisServer } from "./utils/RedisServer.js"

let counter = 0
const fresh = (name: string) => `ported${process.pid}-${++counter}-${name}`

type Env = RedisServer | TestCluster

const nodeRedis = Layer.unwrap(Effect.map(
  RedisServer,
  (server) => EffectRedis.layer().pipe(Layer.provide(RedisClient.layer({ host: server.host, port: server.port })))
))
const clusterRedis = Layer.unwrap(Effect.map(
  TestCluster,
  (cluster) => EffectRedis.layer().pipe(Layer.provide(RedisCluster.layer({ nodes: [cluster.urls[0]!] })))
))

/** Polls `effect` every 25 ms until it succeeds (at most 20 s). */
const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.retry(Schedule.spaced("25 millis")), Effect.timeout("20 seconds"), Effect.orDie)

const millis = (duration: Duration.Duration) => Duration.toMillis(duration)

// --- RateLimiter ----------------------------------------------------------------------------------------------

const limiterStores: ReadonlyArray<readonly [string, Layer.Layer<RateLimiter.RateLimiter, unknown, Env>]> = [
  ["Effect's memory store", RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreMemory))],
  [
    "Effect's Redis store on EffectRedis, one node",
    RateLimiter.layer.pipe(
      Layer.provide(RateLimiter.layerStoreRedis({ prefix: `${fresh("rl")}:` })),
      Layer.provide(nodeRedis)
    )
  ],
  [
    "Effect's Redis store on EffectRedis, cluster (hash-tagged prefix)",
    RateLimiter.layer.pipe(
      Layer.provide(RateLimiter.layerStoreRedis({ prefix: `{${fresh("rl")}}:` })),
      Layer.provide(clusterRedis)
    )
  ]
]

// --- PersistedCache -------------------------------------------------------------------------------------------

const persistenceLayers: ReadonlyArray<readonly [string, Layer.Layer<Persistence.Persistence, unknown, Env>]> = [
  [
    "this package's BackingPersistence on MemoryBackend",
    Persistence.layer.pipe(
      Layer.provide(OwnPersistence.layerBackingPersistence()),
      Layer.provide(MemoryBackend.layer())
    )
  ],
  [
    "this package's BackingPersistence on RedisBackend, one node",
    Persistence.layer.pipe(
      Layer.provide(OwnPersistence.layerBackingPersistence()),
      Layer.provide(Layer.unwrap(Effect.map(
        RedisServer,
        (server) => RedisBackend.layer({ host: server.host, port: server.port, prefix: `${fresh("pc")}:` })
      )))
    )
  ],
  [
    "this package's BackingPersistence on RedisBackend, cluster",
    Persistence.layer.pipe(
      Layer.provide(OwnPersistence.layerBackingPersistence()),
      Layer.provide(Layer.unwrap(Effect.map(
        TestCluster,
        (cluster) => RedisBackend.layerCluster({ nodes: [cluster.urls[0]!], prefix: `${fresh("pc")}:` })
      )))
    )
  ],
  ["Effect's Persistence.layerRedis on EffectRedis, one node", Persistence.layerRedis.pipe(Layer.provide(nodeRedis))],
  ["Effect's Persistence.layerRedis on EffectRedis, cluster", Persistence.layerRedis.pipe(Layer.provide(clusterRedis))]
]

class User extends Schema.Class<User>("User")({ id: Schema.Number, name: Schema.String }) {}
class UserNotFound extends Schema.TaggedError<UserNotFound>()("UserNotFound", { id: Schema.Number }) {}

class GetUser extends Persistable.Class<{ payload: { readonly id: number } }>()("GetUser", {
  primaryKey: (payload) => `user-${payload.id}`,
  success: User,
  error: UserNotFound
}) {}

/** A PersistedCache of `GetUser` whose lookup counts its calls; ids below 0 are not found. */
const makeCache = (
  storeId: string,
  options: { readonly timeToLive?: Duration.Input; readonly inMemoryTTL?: Duration.Input } = {}
) =>
  Effect.gen(function*() {
    const calls: Array<number> = []
    const cache = yield* PersistedCache.make(
      (request: GetUser) =>
        Effect.suspend(() => {
          calls.push(request.id)
          return request.id < 0
            ? Effect.fail(new UserNotFound({ id: request.id }))
            : Effect.succeed(new User({ id: request.id, name: `user ${request.id} #${calls.length}` }))
        }),
      {
        storeId,
        timeToLive: () => options.timeToLive ?? Duration.minutes(5),
        inMemoryTTL: () => options.inMemoryTTL ?? Duration.minutes(5)
      }
    )
    return { cache, calls } as const
  })

describe("Effect 4's RateLimiter and PersistedCache expectations, on every stack", () => {
  layer(Layer.merge(RedisServer.layer(), TestCluster.layer()), { excludeTestServices: true, timeout: 120_000 })(
    (it) => {
      for (const [name, limiterLayer] of limiterStores) {
        describe(`RateLimiter: ${name}`, () => {
          it.effect("fixed window, onExceeded fail: the limit per window, then RateLimitExceeded until it resets", () =>
            Effect.gen(function*() {
              const limiter = yield* RateLimiter.RateLimiter
              const key = fresh("fw")
              const consume = limiter.consume({ key, limit: 3, window: "3 seconds", onExceeded: "fail" })
              const results = [yield* consume, yield* consume, yield* consume]
              expect(results.map((result) => result.remaining)).toStrictEqual([2, 1, 0])
              for (const result of results) {
                expect(millis(result.delay)).toBe(0)
                expect(result.limit).toBe(3)
                expect(millis(result.resetAfter)).toBeGreaterThan(0)
                expect(millis(result.resetAfter)).toBeLessThanOrEqual(3000)
              }
              const error = yield* Effect.flip(consume)
              assert.instanceOf(error, RateLimiter.RateLimiterError)
              assert.instanceOf(error.reason, RateLimiter.RateLimitExceeded)
              expect(error.reason).toMatchObject({ key, limit: 3, remaining: 0 })
              expect(millis(error.reason.retryAfter)).toBeGreaterThan(0)
              expect(millis(error.reason.retryAfter)).toBeLessThanOrEqual(3000)
              // Refused until the window is over, then a full window again.
              const refusedAt = Date.now()
              const reset = yield* eventually(consume)
              expect(Date.now() - refusedAt).toBeGreaterThanOrEqual(millis(error.reason.retryAfter) - 100)
              expect(reset.remaining).toBe(2)
              // Another key has its own window.
              expect((yield* limiter.consume({ key: `${key}:other`, limit: 3, window: "1 minute" })).remaining).toBe(2)
            }).pipe(Effect.provide(limiterLayer)))

          it.effect("fixed window, onExceeded delay: the delay until the window the request falls in", () =>
            Effect.gen(function*() {
              const limiter = yield* RateLimiter.RateLimiter
              const key = fresh("fwd")
              const consume = limiter.consume({ key, limit: 2, window: "1 minute", onExceeded: "delay" })
              const delays = [] as Array<number>
              for (let i = 0; i < 5; i++) delays.push(millis((yield* consume).delay))
              expect(delays.slice(0, 2)).toStrictEqual([0, 0])
              // The 3rd and 4th go to the next window, the 5th to the one after.
              for (const delay of delays.slice(2, 4)) {
                expect(delay).toBeGreaterThan(55_000)
                expect(delay).toBeLessThanOrEqual(60_000)
              }
              expect(delays[4]).toBeGreaterThan(115_000)
              expect(delays[4]).toBeLessThanOrEqual(120_000)
            }).pipe(Effect.provide(limiterLayer)))

          it.effect("token bucket, onExceeded fail: the bucket empties, refills one token per window / limit", () =>
            Effect.gen(function*() {
              const limiter = yield* RateLimiter.RateLimiter
              const key = fresh("tb")
              const consume = limiter.consume({
                key,
                algorithm: "token-bucket",
                limit: 4,
                window: "2 seconds",
                onExceeded: "fail"
              })
              const remaining = [] as Array<number>
              for (let i = 0; i < 4; i++) remaining.push((yield* consume).remaining)
              // A token may refill while a busy machine runs the four (one each 500 ms).
              expect(remaining[0]).toBe(3)
              expect(remaining.every((left, i) => i === 0 || left <= remaining[i - 1]! + 1)).toBe(true)
              const error = yield* Effect.flip(Effect.repeat(consume, { times: 4 }))
              assert.instanceOf(error.reason, RateLimiter.RateLimitExceeded)
              expect(millis(error.reason.retryAfter)).toBeGreaterThan(0)
              expect(millis(error.reason.retryAfter)).toBeLessThanOrEqual(500)
              const refusedAt = Date.now()
              yield* eventually(consume)
              expect(Date.now() - refusedAt).toBeGreaterThanOrEqual(millis(error.reason.retryAfter) - 100)
            }).pipe(Effect.provide(limiterLayer)))

          it.effect("token bucket, onExceeded delay: each request past the bucket waits one more refill", () =>
            Effect.gen(function*() {
              const limiter = yield* RateLimiter.RateLimiter
              const consume = limiter.consume({
                key: fresh("tbd"),
                algorithm: "token-bucket",
                limit: 2,
                window: "1 minute",
                onExceeded: "delay"
              })
              const results = [] as Array<RateLimiter.ConsumeResult>
              for (let i = 0; i < 4; i++) results.push(yield* consume)
              expect(results.map((result) => result.remaining)).toStrictEqual([1, 0, -1, -2])
              expect(millis(results[0]!.delay)).toBe(0)
              expect(millis(results[1]!.delay)).toBe(0)
              expect(millis(results[2]!.delay)).toBeGreaterThan(25_000)
              expect(millis(results[2]!.delay)).toBeLessThanOrEqual(30_000)
              expect(millis(results[3]!.delay)).toBeGreaterThan(55_000)
              expect(millis(results[3]!.delay)).toBeLessThanOrEqual(60_000)
            }).pipe(Effect.provide(limiterLayer)))

          it.effect("more tokens than the limit fail at once; keys that escape alike stay apart", () =>
            Effect.gen(function*() {
              const limiter = yield* RateLimiter.RateLimiter
              const base = fresh("k")
              const error = yield* Effect.flip(
                limiter.consume({ key: base, limit: 2, tokens: 3, window: "1 minute", onExceeded: "fail" })
              )
              assert.instanceOf(error.reason, RateLimiter.RateLimitExceeded)
              // `:` is stored as `%3A`: a key spelt that way must not share the window.
              const keys = [`${base}:a`, `${base}%3Aa`, `${base}{x}*?`, `${base} ñ 🚀`]
              for (const key of keys) {
                const result = yield* limiter.consume({ key, limit: 1, window: "1 minute", onExceeded: "fail" })
                expect(result.remaining).toBe(0)
              }
            }).pipe(Effect.provide(limiterLayer)))
        })
      }

      for (const [name, persistenceLayer] of persistenceLayers) {
        describe(`PersistedCache: ${name}`, () => {
          it.effect("a miss runs the lookup once; later gets, and another cache on the store, do not", () =>
            Effect.gen(function*() {
              const storeId = fresh("users")
              const first = yield* makeCache(storeId)
              const user = yield* first.cache.get(new GetUser({ id: 1 }))
              expect(user).toStrictEqual(new User({ id: 1, name: "user 1 #1" }))
              expect(yield* first.cache.get(new GetUser({ id: 1 }))).toStrictEqual(user)
              // Concurrent gets of one new key share one lookup.
              yield* Effect.all(Array.from({ length: 10 }, () => first.cache.get(new GetUser({ id: 2 }))), {
                concurrency: "unbounded"
              })
              expect(first.calls).toStrictEqual([1, 2])
              const second = yield* makeCache(storeId)
              expect(yield* second.cache.get(new GetUser({ id: 1 }))).toStrictEqual(user)
              expect(second.calls).toStrictEqual([])
            }).pipe(Effect.scoped, Effect.provide(persistenceLayer)))

          it.effect("a failed lookup is persisted as its typed error", () =>
            Effect.gen(function*() {
              const storeId = fresh("users")
              const first = yield* makeCache(storeId)
              const error = yield* Effect.flip(first.cache.get(new GetUser({ id: -1 })))
              expect(error).toStrictEqual(new UserNotFound({ id: -1 }))
              const second = yield* makeCache(storeId)
              expect(yield* Effect.exit(second.cache.get(new GetUser({ id: -1 }))))
                .toStrictEqual(Exit.fail(new UserNotFound({ id: -1 })))
              expect(second.calls).toStrictEqual([])
            }).pipe(Effect.scoped, Effect.provide(persistenceLayer)))

          it.effect("invalidate removes the entry from memory and from the store: the next get looks up", () =>
            Effect.gen(function*() {
              const storeId = fresh("users")
              const first = yield* makeCache(storeId)
              yield* first.cache.get(new GetUser({ id: 3 }))
              yield* first.cache.invalidate(new GetUser({ id: 3 }))
              expect(yield* first.cache.get(new GetUser({ id: 3 }))).toStrictEqual(
                new User({ id: 3, name: "user 3 #2" })
              )
              const second = yield* makeCache(storeId)
              expect((yield* second.cache.get(new GetUser({ id: 3 }))).name).toBe("user 3 #2")
              expect(second.calls).toStrictEqual([])
            }).pipe(Effect.scoped, Effect.provide(persistenceLayer)))

          it.effect("the persisted result expires with timeToLive: a new cache looks up again", () =>
            Effect.gen(function*() {
              const storeId = fresh("users")
              const first = yield* makeCache(storeId, { timeToLive: "1 second" })
              yield* first.cache.get(new GetUser({ id: 4 }))
              const persistence = yield* Persistence.Persistence
              const store = yield* persistence.make({ storeId })
              expect(yield* store.get(new GetUser({ id: 4 }))).toBeDefined()
              // Wait for the store to drop it, then a cache with an empty memory looks up again.
              yield* eventually(Effect.flatMap(
                store.get(new GetUser({ id: 4 })),
                (exit) => exit === undefined ? Effect.void : Effect.fail("still there")
              ))
              const second = yield* makeCache(storeId)
              expect((yield* second.cache.get(new GetUser({ id: 4 }))).name).toBe("user 4 #1")
              expect(second.calls).toStrictEqual([4])
              // The in-memory tier of the first cache still answers within its own TTL.
              expect((yield* first.cache.get(new GetUser({ id: 4 }))).name).toBe("user 4 #1")
              expect(first.calls).toStrictEqual([4])
            }).pipe(Effect.scoped, Effect.provide(persistenceLayer)))
        })
      }
    }
  )
})
