// EffectRedis (Effect 4 only: the module is built into the Effect 4 line alone, and this suite runs in the Effect 4
// run only): Effect's own `Redis` service over our RedisClient, against the test's own redis-server. The replies
// in the shapes Effect's Redis code reads, pub/sub, scripts through Effect's `eval`, `reserve` on a connection of
// its own, and Effect's Redis-based Persistence and RateLimiter end to end.
import { assert, describe, expect, it, layer } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Fiber, Layer, Queue, Schedule, Schema, Scope } from "effect"
import { Persistable, Persistence, RateLimiter, Redis } from "effect/persistence"
import * as EffectRedis from "../src/EffectRedis.js"
import * as RedisClient from "../src/RedisClient.js"
import { RedisReplyError } from "../src/RedisError.js"
import * as RedisServerModule from "./utils/RedisServer.js"
import { RedisServer } from "./utils/RedisServer.js"
import * as Tls from "./utils/Tls.js"

/** Polls `condition` every 20 ms until it holds (at most 20 s). */
const waitFor = <E, R>(condition: Effect.Effect<boolean, E, R>) =>
  condition.pipe(
    Effect.repeat({ until: (holds) => holds, schedule: Schedule.spaced("20 millis") }),
    Effect.timeout("20 seconds"),
    Effect.orDie
  )

let counter = 0
const fresh = (name: string) => `er:${process.pid}:${++counter}:${name}`

/** Our client on the test's server, and Effect's `Redis` over it. */
const redisLayer = (options?: EffectRedis.Options) =>
  Layer.unwrap(Effect.gen(function*() {
    const server = yield* RedisServer
    return EffectRedis.layer(options).pipe(
      Layer.provideMerge(RedisClient.layer({ host: server.host, port: server.port }))
    )
  }))

describe("EffectRedis", () => {
  layer(RedisServer.layer(), { excludeTestServices: true })((it) => {
    it.effect("send: the replies in the shapes Effect's Redis code reads", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const key = fresh("k")
        const hash = fresh("h")
        expect(yield* redis.send("SET", key, "héllo")).toBe("OK")
        expect(yield* redis.send("GET", key)).toBe("héllo")
        expect(yield* redis.send("GET", fresh("missing"))).toBeNull()
        expect(yield* redis.send("INCR", fresh("n"))).toBe(1)
        expect(yield* redis.send("MGET", key, fresh("missing"))).toStrictEqual(["héllo", null])
        yield* redis.send("HSET", hash, "a", "1", "b", "2")
        expect(yield* redis.send("HGETALL", hash)).toStrictEqual(["a", "1", "b", "2"])
        expect(yield* redis.send("SCAN", "0", "MATCH", key, "COUNT", "1000")).toStrictEqual(["0", [key]])
        // An integer outside the safe range keeps its digits.
        const big = fresh("big")
        yield* redis.send("SET", big, "9007199254740993")
        expect(yield* redis.send("INCR", big)).toBe("9007199254740994")
      }).pipe(Effect.provide(redisLayer())))

    it.effect("send: an error reply fails with Effect's RedisError, the client's RedisReplyError as its cause", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const key = fresh("list")
        yield* redis.send("RPUSH", key, "a")
        const error = yield* Effect.flip(redis.send("GET", key))
        assert.instanceOf(error, Redis.RedisError)
        assert.instanceOf(error.cause, RedisReplyError)
        expect((error.cause as RedisReplyError).code).toBe("WRONGTYPE")
      }).pipe(Effect.provide(redisLayer())))

    it.effect("subscribe: the messages published on the channel, as text, until the scope closes", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const channel = fresh("channel")
        yield* Effect.scoped(Effect.gen(function*() {
          const messages = yield* redis.subscribe(channel)
          expect(yield* redis.send("PUBLISH", channel, "one")).toBe(1)
          yield* redis.send("PUBLISH", channel, "twö")
          expect(yield* Queue.take(messages)).toStrictEqual({ channel, message: "one" })
          expect(yield* Queue.take(messages)).toStrictEqual({ channel, message: "twö" })
        }))
        // Unsubscribed with the scope (the client closes its subscriber with its last subscription).
        expect(yield* redis.send("PUBSUB", "NUMSUB", channel)).toStrictEqual([channel, 0])
      }).pipe(Effect.provide(redisLayer())))

    it.effect("eval: Effect's Redis.script, loaded once, loaded again after SCRIPT FLUSH (NOSCRIPT)", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const server = yield* RedisServer
        const key = fresh("script")
        const setGet = redis.eval(
          Redis.script((key: string, value: string) => [key, value], {
            lua: "redis.call('SET', KEYS[1], ARGV[1]); return {redis.call('GET', KEYS[1]), 42}",
            numberOfKeys: 1
          }).withReturnType<[string, number]>()
        )
        expect(yield* setGet(key, "v1")).toStrictEqual(["v1", 42])
        yield* server.cli("SCRIPT", "FLUSH")
        expect(yield* setGet(key, "v2")).toStrictEqual(["v2", 42])
        expect(yield* redis.send("GET", key)).toBe("v2")
      }).pipe(Effect.provide(redisLayer())))

    it.effect("reserve: MULTI/EXEC on a connection of its own, an EXEC with a failed command keeps its error", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const client = yield* RedisClient.RedisClient
        const key = fresh("tx")
        const list = fresh("txlist")
        yield* redis.send("RPUSH", list, "a")
        const sharedId = yield* redis.send<number>("CLIENT", "ID")
        const [ownId, queued, reply] = yield* Effect.scoped(Effect.gen(function*() {
          const connection = yield* redis.reserve
          const ownId = yield* connection.send<number>("CLIENT", "ID")
          yield* connection.send("MULTI")
          const queued = yield* connection.send("SET", key, "1")
          yield* connection.send("INCR", key)
          yield* connection.send("INCR", list)
          // The shared connection does not see the transaction before EXEC.
          expect(yield* client.send(["GET", key])).toBeNull()
          return [ownId, queued, yield* connection.send<ReadonlyArray<unknown>>("EXEC")] as const
        }))
        expect(ownId).not.toBe(sharedId)
        expect(queued).toBe("QUEUED")
        expect(reply.slice(0, 2)).toStrictEqual(["OK", 2])
        assert.instanceOf(reply[2], RedisReplyError)
        expect((reply[2] as RedisReplyError).code).toBe("WRONGTYPE")
        expect(yield* redis.send("GET", key)).toBe("2")
      }).pipe(Effect.provide(redisLayer())))

    it.effect("reserve: a blocking command waits past the client's command timeout (none on reserved ones)", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const list = fresh("blocking")
        const popped = yield* Effect.scoped(Effect.gen(function*() {
          const connection = yield* redis.reserve
          return yield* connection.send("BLPOP", list, "0").pipe(
            Effect.forkScoped,
            Effect.tap(() => Effect.sleep("700 millis")),
            Effect.tap(() => redis.send("RPUSH", list, "x")),
            Effect.flatMap((fiber) => Effect.exit(Fiber.join(fiber)))
          )
        }))
        expect(popped).toStrictEqual(Exit.succeed([list, "x"]))
      }).pipe(
        Effect.provide(Layer.unwrap(Effect.gen(function*() {
          const server = yield* RedisServer
          return EffectRedis.layer().pipe(
            Layer.provideMerge(
              RedisClient.layer({ host: server.host, port: server.port, commandTimeout: "300 millis" })
            )
          )
        })))
      ))

    it.effect("reserve: interrupting a blocked BLPOP closes its connection, so it pops nothing afterwards", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const server = yield* RedisServer
        const list = fresh("abandoned")
        const blocked = yield* Effect.forkChild(Effect.scoped(Effect.flatMap(
          redis.reserve,
          (connection) => connection.send("BLPOP", list, "0")
        )))
        yield* waitFor(Effect.map(server.cli("CLIENT", "LIST"), (text) => text.includes("cmd=blpop")))
        yield* Fiber.interrupt(blocked)
        // The reserved connection is dropped with the interruption: the server sees the blocked client go.
        yield* waitFor(Effect.map(server.cli("CLIENT", "LIST"), (text) => !text.includes("cmd=blpop")))
        yield* redis.send("RPUSH", list, "kept")
        expect(yield* redis.send("LRANGE", list, "0", "-1")).toStrictEqual(["kept"])
        // The pool gives a working connection again.
        expect(yield* Effect.scoped(Effect.flatMap(redis.reserve, (connection) => connection.send("LPOP", list))))
          .toBe("kept")
      }).pipe(Effect.provide(redisLayer())))

    it.effect("reserve: closing the service's scope fails a blocked command and closes its connection", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        const list = fresh("closing")
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(redisLayer(), scope)
        const redis = Context.get(context, Redis.Redis)
        const blocked = yield* Effect.forkDetach(Effect.scoped(Effect.flatMap(
          redis.reserve,
          (connection) => connection.send("BLPOP", list, "0")
        )))
        yield* waitFor(Effect.map(server.cli("CLIENT", "LIST"), (text) => text.includes("cmd=blpop")))
        yield* Scope.close(scope, Exit.void)
        const exit = yield* Fiber.await(blocked)
        assert.isTrue(Exit.isFailure(exit))
        yield* waitFor(Effect.map(server.cli("CLIENT", "LIST"), (text) => !text.includes("cmd=blpop")))
      }))

    it.effect("reserve: reserveCommandTimeout bounds a reserved connection's commands", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const error = yield* Effect.flip(Effect.scoped(Effect.flatMap(
          redis.reserve,
          (connection) => connection.send("BLPOP", fresh("never"), "0")
        )))
        assert.instanceOf(error, Redis.RedisError)
        expect((error.cause as { readonly _tag: string })._tag).toBe("RedisTimeoutError")
      }).pipe(Effect.provide(redisLayer({ reserveCommandTimeout: "200 millis" }))))

    it.effect("reserve: a server that cannot be reached fails it with Effect's RedisError", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const error = yield* Effect.flip(Effect.scoped(redis.reserve))
        assert.instanceOf(error, Redis.RedisError)
      }).pipe(
        Effect.provide(
          EffectRedis.layer().pipe(
            Layer.provideMerge(RedisClient.layer({ host: "127.0.0.1", port: 1, connectTimeout: "500 millis" }))
          )
        )
      ))

    it.effect("reserve: refused on a cluster client (a connection of its own would reach one node)", () =>
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const error = yield* Effect.flip(Effect.scoped(redis.reserve))
        assert.instanceOf(error, Redis.RedisError)
        expect(String(error.cause)).toContain("cluster")
      }).pipe(
        Effect.provide(Layer.unwrap(Effect.gen(function*() {
          const server = yield* RedisServer
          const client = yield* RedisClient.make({ host: server.host, port: server.port })
          // What a cluster client (RedisCluster) has and a single-node one has not.
          const cluster = { ...client, primaries: Effect.succeed([client]) }
          return EffectRedis.layer().pipe(Layer.provide(Layer.succeed(RedisClient.RedisClient, cluster)))
        })))
      ))

    it.effect("Effect's Persistence.layerRedis over it: a persisted result comes back from Redis", () =>
      Effect.gen(function*() {
        class Lookup extends Persistable.Class<{ payload: { readonly id: string } }>()("Lookup", {
          primaryKey: ({ id }) => id,
          success: Schema.String
        }) {}
        const storeId = fresh("store")
        const id = fresh("id")
        yield* Effect.scoped(Effect.gen(function*() {
          const persistence = yield* Persistence.Persistence
          const store = yield* persistence.make({ storeId, timeToLive: () => Duration.minutes(1) })
          yield* store.set(new Lookup({ id }), Exit.succeed("found"))
        }))
        const again = yield* Effect.scoped(Effect.gen(function*() {
          const persistence = yield* Persistence.Persistence
          const store = yield* persistence.make({ storeId })
          return yield* store.get(new Lookup({ id }))
        }))
        expect(again).toStrictEqual(Exit.succeed("found"))
      }).pipe(Effect.provide(Persistence.layerRedis.pipe(Layer.provideMerge(redisLayer())))))

    it.effect("Effect's RateLimiter with its Redis store over it: the limit holds across the window", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.RateLimiter
        const key = fresh("limit")
        const consume = limiter.consume({ key, limit: 2, window: "1 minute", onExceeded: "fail" })
        yield* consume
        yield* consume
        const error = yield* Effect.flip(consume)
        expect(error._tag).toBe("RateLimiterError")
      }).pipe(
        Effect.provide(
          RateLimiter.layer.pipe(
            Layer.provide(RateLimiter.layerStoreRedis({ prefix: fresh("rl") })),
            Layer.provideMerge(redisLayer())
          )
        )
      ))
  })
})

it("the module is Effect 4's service tag", () => {
  expect(EffectRedis.Redis).toBe(Redis.Redis)
})

it.live("reserve: a TLS client's reserved connection uses its TLS options", () =>
  Effect.gen(function*() {
    const files = yield* Tls.makeTlsFiles
    const server = yield* RedisServerModule.make({ tls: files, plainPort: false })
    const sent = yield* Effect.gen(function*() {
      const redis = yield* Redis.Redis
      return yield* Effect.scoped(Effect.flatMap(redis.reserve, (connection) => connection.send("PING")))
    }).pipe(
      Effect.provide(
        EffectRedis.layer().pipe(
          Layer.provide(RedisClient.layer({ host: "127.0.0.1", port: server.tlsPort!, tls: { ca: files.ca } }))
        )
      )
    )
    expect(sent).toBe("PONG")
  }).pipe(Effect.scoped))
