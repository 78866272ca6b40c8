// EffectRedis over our cluster client (RedisCluster) on the test's own 3+3 cluster (Effect 4 only, like
// EffectRedis). `send` of a keyed command goes to its slot's primary, `eval` loads its script on every node and
// runs EVALSHA on the primary of the script's keys (loading again on NOSCRIPT), `KEYS` and `SCAN` answer every
// primary's keys. Then what of Effect's own Redis-based code runs on a cluster and what the cluster refuses with a
// typed error (CROSSSLOT): Persistence.layerRedis, RateLimiter.layerStoreRedis, PersistedQueue.layerStoreRedis.
import { assert, describe, expect, layer } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Schedule, Schema } from "effect"
import { PersistedQueue, Persistence, RateLimiter, Redis } from "effect/persistence"
import * as EffectRedis from "../src/EffectRedis.js"
import * as RedisCluster from "../src/RedisCluster.js"
import { RedisReplyError } from "../src/RedisError.js"
import { RedisCluster as TestCluster } from "./utils/RedisCluster.js"

let counter = 0
const fresh = (name: string) => `erc${process.pid}-${++counter}-${name}`

/** Our cluster client seeded with the first node, and Effect's Redis over it. */
const clusterRedis = Layer.unwrap(Effect.gen(function*() {
  const cluster = yield* TestCluster
  return EffectRedis.layer().pipe(Layer.provideMerge(RedisCluster.layer({ nodes: [cluster.urls[0]!] })))
}))

/** The cause of Effect's RedisError (or of an error carrying one as its cause) is the server's CROSSSLOT reply. */
const isCrossSlot = (cause: unknown): boolean =>
  cause instanceof RedisReplyError ? cause.code === "CROSSSLOT" : typeof cause === "object" && cause !== null &&
    "cause" in cause && isCrossSlot(cause.cause)

/** The indexes of the primaries serving `keys`. */
const ownersOf = (keys: ReadonlyArray<string>) =>
  Effect.flatMap(TestCluster, (cluster) =>
    Effect.map(
      Effect.forEach(keys, (key) => Effect.flatMap(cluster.keySlot(key), cluster.ownerOf)),
      (owners) => new Set(owners)
    ))

describe("EffectRedis on a cluster", () => {
  layer(TestCluster.layer(), { excludeTestServices: true, timeout: 120_000 })((it) => {
    it.effect("send: keyed commands go to their slot's primary; MGET and DEL over many slots are split", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const keys = Array.from({ length: 30 }, (_, i) => fresh(`k${i}`))
        expect((yield* ownersOf(keys)).size).toBe(3)
        for (const [i, key] of keys.entries()) expect(yield* redis.send("SET", key, `v${i}`)).toBe("OK")
        expect(yield* redis.send("GET", keys[7]!)).toBe("v7")
        expect(yield* redis.send("mget", ...keys)).toStrictEqual(keys.map((_, i) => `v${i}`))
        expect(yield* redis.send("HSET", keys[0]! + ":h", "f", "1")).toBe(1)
        expect(yield* redis.send("DEL", ...keys)).toBe(30)
      }).pipe(Effect.provide(clusterRedis)))

    it.effect("eval: loaded on every node, run on the primary of its keys, loaded again after SCRIPT FLUSH", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const cluster = yield* TestCluster
        const getSet = redis.eval(
          Redis.script((key: string, value: string) => [key, value], {
            lua: "local old = redis.call('GET', KEYS[1]); redis.call('SET', KEYS[1], ARGV[1]); return old",
            numberOfKeys: 1
          }).withReturnType<string | null>()
        )
        const keys = Array.from({ length: 30 }, (_, i) => fresh(`s${i}`))
        expect((yield* ownersOf(keys)).size).toBe(3)
        for (const key of keys) expect(yield* getSet(key, "one")).toBeNull()
        for (const key of keys) expect(yield* getSet(key, "two")).toBe("one")
        // Every node, replicas included, has the script: a promoted replica runs EVALSHA too.
        const sha = yield* redis.send<string>(
          "SCRIPT",
          "LOAD",
          "local old = redis.call('GET', KEYS[1]); redis.call('SET', KEYS[1], ARGV[1]); return old"
        )
        for (const server of cluster.servers) expect(yield* server.cli("SCRIPT", "EXISTS", sha)).toBe("1")
        // Flushed everywhere: the next EVALSHA answers NOSCRIPT and Effect's eval loads it again.
        expect(yield* redis.send("SCRIPT", "FLUSH")).toBe("OK")
        expect(yield* cluster.servers[0]!.cli("SCRIPT", "EXISTS", sha)).toBe("0")
        for (const key of keys) expect(yield* getSet(key, "three")).toBe("two")
      }).pipe(Effect.provide(clusterRedis)))

    it.effect("eval: keys of several slots are refused by the server (CROSSSLOT, typed); one hash tag runs", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const both = redis.eval(
          Redis.script((a: string, b: string) => [a, b], {
            lua: "redis.call('SET', KEYS[1], '1'); redis.call('SET', KEYS[2], '2'); return 2",
            numberOfKeys: 2
          }).withReturnType<number>()
        )
        const [a, b] = [fresh("a"), fresh("b-other")]
        const cluster = yield* TestCluster
        expect(yield* cluster.keySlot(a)).not.toBe(yield* cluster.keySlot(b))
        const error = yield* Effect.flip(both(a, b))
        assert.instanceOf(error, Redis.RedisError)
        expect(isCrossSlot(error)).toBe(true)
        const tag = fresh("tag")
        expect(yield* both(`{${tag}}:a`, `{${tag}}:b`)).toBe(2)
      }).pipe(Effect.provide(clusterRedis)))

    it.effect("KEYS and SCAN answer the keys of every primary (each holds only its slots')", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const prefix = fresh("list")
        const keys = Array.from({ length: 40 }, (_, i) => `${prefix}:${i}`)
        expect((yield* ownersOf(keys)).size).toBe(3)
        for (const key of keys) yield* redis.send("SET", key, "x")
        const listed = yield* redis.send<Array<string>>("KEYS", `${prefix}:*`)
        expect([...listed].sort()).toStrictEqual([...keys].sort())
        const [cursor, scanned] = yield* redis.send<[string, Array<string>]>(
          "SCAN",
          "0",
          "MATCH",
          `${prefix}:*`,
          "COUNT",
          "5"
        )
        expect(cursor).toBe("0")
        expect([...scanned].sort()).toStrictEqual([...keys].sort())
        // No cursor spans nodes: any cursor but 0 is refused.
        const error = yield* Effect.flip(redis.send("SCAN", "17"))
        assert.instanceOf(error, Redis.RedisError)
      }).pipe(Effect.provide(clusterRedis)))

    it.effect("Persistence.layerBackingRedis: get / getMany / set / remove / clear over every primary", () =>
      Effect.gen(function*() {
        const backing = yield* Persistence.BackingPersistence
        const redis = yield* Redis.Redis
        const storeId = fresh("store")
        const store = yield* backing.make(storeId)
        const other = yield* backing.make(fresh("other"))
        const keys = Array.from({ length: 30 }, (_, i) => `k${i}`)
        expect((yield* ownersOf(keys.map((key) => `${storeId}:${key}`))).size).toBe(3)
        for (const [i, key] of keys.entries()) yield* store.set(key, { i }, i % 2 === 0 ? undefined : Duration.hours(1))
        yield* other.set("keep", { me: true }, undefined)
        expect(yield* store.getMany(keys as [string, ...Array<string>])).toStrictEqual(keys.map((_, i) => ({ i })))
        yield* store.remove("k0")
        expect(yield* store.get("k0")).toBeUndefined()
        // Effect's clear is KEYS + DEL: KEYS on every primary, DEL split by slot.
        yield* store.clear
        expect(yield* redis.send<Array<string>>("KEYS", `${storeId}:*`)).toStrictEqual([])
        expect(yield* other.get("keep")).toStrictEqual({ me: true })
      }).pipe(Effect.provide(Persistence.layerBackingRedis.pipe(Layer.provideMerge(clusterRedis)))))

    it.effect("Persistence.layerBackingRedis: setMany is one EVAL over every key, CROSSSLOT unless the store id is a hash tag", () =>
      Effect.gen(function*() {
        const backing = yield* Persistence.BackingPersistence
        type Entry = readonly [string, object, Duration.Duration | undefined]
        const entries = Array.from({ length: 10 }, (_, i): Entry => [`k${i}`, { i }, undefined]) as [
          Entry,
          ...Array<Entry>
        ]
        const spread = yield* backing.make(fresh("spread"))
        const error = yield* Effect.flip(spread.setMany(entries))
        assert.instanceOf(error, Persistence.PersistenceError)
        expect(isCrossSlot(error)).toBe(true)
        const tagged = yield* backing.make(`{${fresh("tagged")}}`)
        yield* tagged.setMany(entries)
        expect(yield* tagged.get("k9")).toStrictEqual({ i: 9 })
      }).pipe(Effect.provide(Persistence.layerBackingRedis.pipe(Layer.provideMerge(clusterRedis)))))

    it.effect("RateLimiter.layerStoreRedis: fixed window on any key; token bucket needs a hash-tagged prefix", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.RateLimiter
        const consume = (key: string, algorithm: "fixed-window" | "token-bucket") =>
          limiter.consume({ key, algorithm, limit: 2, window: "1 minute", onExceeded: "fail" })
        for (const key of Array.from({ length: 6 }, (_, i) => fresh(`fw${i}`))) {
          yield* consume(key, "fixed-window")
          yield* consume(key, "fixed-window")
          const error = yield* Effect.flip(consume(key, "fixed-window"))
          expect(error.reason._tag).toBe("RateLimitExceeded")
        }
        // Token bucket keeps `key` and `key:refill`: two slots under the default prefix.
        const refused = yield* Effect.flip(consume(fresh("tb"), "token-bucket"))
        expect(refused.reason._tag).toBe("RateLimitStoreError")
        expect(isCrossSlot(refused.reason)).toBe(true)
      }).pipe(
        Effect.provide(
          RateLimiter.layer.pipe(
            Layer.provide(RateLimiter.layerStoreRedis({ prefix: `${fresh("rl")}:` })),
            Layer.provideMerge(clusterRedis)
          )
        )
      ))

    it.effect("RateLimiter.layerStoreRedis with a hash-tagged prefix: the token bucket holds its limit", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.RateLimiter
        const key = fresh("tb")
        const consume = limiter.consume({
          key,
          algorithm: "token-bucket",
          limit: 3,
          window: "1 minute",
          onExceeded: "fail"
        })
        for (let i = 0; i < 3; i++) yield* consume
        const error = yield* Effect.flip(consume)
        expect(error.reason._tag).toBe("RateLimitExceeded")
      }).pipe(
        Effect.provide(
          RateLimiter.layer.pipe(
            Layer.provide(RateLimiter.layerStoreRedis({ prefix: `{${fresh("rl")}}:` })),
            Layer.provideMerge(clusterRedis)
          )
        )
      ))

    const Job = Schema.Struct({ n: Schema.Number })
    const queueLayer = (prefix: string) =>
      PersistedQueue.layer.pipe(
        Layer.provideMerge(PersistedQueue.layerStoreRedis({ prefix, pollInterval: "20 millis" })),
        Layer.provideMerge(clusterRedis)
      )

    it.effect("PersistedQueue.layerStoreRedis with a hash-tagged prefix: offer / take / retry / cleanup", () => {
      const prefix = `{${fresh("q")}}:`
      return Effect.gen(function*() {
        const queue = yield* PersistedQueue.make({
          name: "jobs",
          schema: Job,
          retrySchedule: Schedule.spaced("10 millis")
        })
        const store = yield* PersistedQueue.PersistedQueueStore
        const redis = yield* Redis.Redis
        yield* queue.offer({ n: 1 }, { id: "one" })
        yield* queue.offer({ n: 2 })
        expect(yield* Effect.flip(queue.take(() => Effect.fail("retry me")))).toBe("retry me")
        const seen: Array<[number, number]> = []
        for (let i = 0; i < 2; i++) {
          yield* queue.take((value, meta) => Effect.sync(() => seen.push([value.n, meta.attempts])))
        }
        expect(seen).toStrictEqual([[2, 1], [1, 2]])
        // Cleanup SCANs for the ids sets (on every primary) and trims them.
        expect(yield* redis.send("ZCARD", `${prefix}jobs:ids`)).toBe(1)
        yield* store.cleanup({ timeToLive: Duration.zero, failedTimeToLive: undefined }).pipe(
          Effect.andThen(redis.send<number>("ZCARD", `${prefix}jobs:ids`)),
          Effect.repeat({ until: (left) => left === 0, schedule: Schedule.spaced("20 millis") }),
          Effect.timeout("10 seconds")
        )
      }).pipe(Effect.provide(queueLayer(prefix)))
    })

    it.effect("PersistedQueue.layerStoreRedis without a hash tag: an offer with an id is refused (CROSSSLOT, typed)", () =>
      Effect.gen(function*() {
        const queue = yield* PersistedQueue.make({ name: "jobs", schema: Job })
        const error = yield* Effect.flip(queue.offer({ n: 1 }, { id: "one" }))
        assert.instanceOf(error, PersistedQueue.PersistedQueueError)
        expect(isCrossSlot(error)).toBe(true)
        // A take would poll with a 5-key script: refused the same way, and retried by the store's poller forever.
        const take = yield* Effect.timeoutOption(queue.take(() => Effect.void), "300 millis")
        expect(Option.isNone(take)).toBe(true)
      }).pipe(Effect.provide(queueLayer(`${fresh("q")}:`))))
  })
})
