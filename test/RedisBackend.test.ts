import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import { describe, expect, it, layer } from "#test-effect/vitest"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import { RemoteCacheBackend } from "../src/RemoteCacheBackend.js"
import * as Serializer from "../src/Serializer.js"
import { backendFromLayer, contractSuite } from "./contract/BackendContract.js"
import { RedisServer, type RedisServerShape } from "./utils/RedisServer.js"

contractSuite({
  name: "RedisBackend",
  layer: RedisServer.layer(),
  realClock: true,
  session: Effect.gen(function*() {
    const server = yield* RedisServer
    // A client of the test's own, for raw writes and for emptying the server before each test.
    const raw = yield* RedisClient.make({ host: server.host, port: server.port })
    yield* raw.send(["FLUSHALL"])
    return {
      backend: (prefix: string) =>
        backendFromLayer(RedisBackend.layer({ host: server.host, port: server.port, prefix })),
      writeRaw: (fullKey: string, bytes: Uint8Array, ttlMillis?: number) =>
        raw.send(
          ttlMillis === undefined
            ? ["SET", fullKey, bytes]
            : ["SET", fullKey, bytes, "PX", BigInt(ttlMillis).toString()]
        ),
      advance: (millis: number) => Effect.sleep(millis)
    }
  })
})

const backendOn = (server: RedisServerShape, options: RedisBackend.MakeOptions = {}) =>
  Effect.flatMap(
    RedisClient.make({ host: server.host, port: server.port }),
    (client) => Effect.provideService(RedisBackend.make(options), RedisClient.RedisClient, client)
  )

describe("RedisBackend", () => {
  layer(RedisServer.layer({ args: ["--enable-debug-command", "yes"] }), { excludeTestServices: true })((it) => {
    it.effect("wire format: redis-cli sees prefix + key, and PTTL shows the TTL", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        const cache = yield* backendOn(server, { serializer: Serializer.json })
        yield* cache.set("user:1", { name: "Ada" }, "10 seconds")
        expect(yield* server.cli("GET", "ac:user:1")).toBe(`{"name":"Ada"}`)
        const pttl = Number(yield* server.cli("PTTL", "ac:user:1"))
        expect(pttl).toBeGreaterThan(9_000)
        expect(pttl).toBeLessThanOrEqual(10_000)
        yield* cache.set("forever", 1)
        expect(yield* server.cli("PTTL", "ac:forever")).toBe("-1")

        const v8 = yield* backendOn(server, { prefix: "v8:" })
        yield* v8.set("k", "hi")
        // v8.serialize output, no header of ours: 0xFF version tag, format 15, then the string.
        expect(yield* server.cli("--no-raw", "GET", "v8:k")).toBe(`"\\xff\\x0f\\"\\x02hi"`)
      }))

    it.effect("several backends with different prefixes share one client", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        const client = yield* RedisClient.make({ host: server.host, port: server.port })
        const a = yield* Effect.provideService(RedisBackend.make({ prefix: "one:" }), RedisClient.RedisClient, client)
        const b = yield* Effect.provideService(RedisBackend.make({ prefix: "two:" }), RedisClient.RedisClient, client)
        yield* a.set("k", "from a")
        yield* b.set("k", "from b")
        expect(yield* a.get("k")).toStrictEqual(Option.some("from a"))
        yield* a.clear
        expect(yield* a.get("k")).toStrictEqual(Option.none())
        expect(yield* b.get("k")).toStrictEqual(Option.some("from b"))
      }))

    it.effect("clear removes 200,000 keys in batches while the server keeps answering, and nothing else", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        yield* server.cli("FLUSHALL")
        // DEBUG POPULATE makes keys "ac:bulk:0" … server-side, in a fraction of the time SETs would take.
        yield* server.cli("DEBUG", "POPULATE", "200000", "ac:bulk", "10")
        yield* server.cli("DEBUG", "POPULATE", "1000", "ac-neighbour", "10")
        const cache = yield* backendOn(server)
        const probe = yield* RedisClient.make({ host: server.host, port: server.port })
        yield* server.cli("CONFIG", "RESETSTAT")
        let worstPingMillis = 0
        let clearing = true
        const pinger = Effect.gen(function*() {
          while (clearing) {
            const started = performance.now()
            yield* probe.send(["PING"])
            worstPingMillis = Math.max(worstPingMillis, performance.now() - started)
            yield* Effect.sleep("2 millis")
          }
        })
        const fiber = yield* Effect.forkChild(pinger)
        yield* cache.clear.pipe(Effect.ensuring(Effect.sync(() => (clearing = false))))
        yield* Effect.orDie(Fiber.await(fiber))
        expect(yield* server.cli("DBSIZE")).toBe("1000")
        // SCAN COUNT 1000 + UNLINK of each batch keeps every step short: hundreds of small commands, never one that
        // walks or removes the 200,000 keys at once.
        const stats = yield* server.cli("INFO", "commandstats")
        const calls = (command: string) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)
        expect(calls("scan")).toBeGreaterThanOrEqual(200)
        expect(calls("unlink")).toBeGreaterThanOrEqual(200)
        expect(calls("keys") + calls("flushdb") + calls("flushall")).toBe(0)
        // So the server kept answering. The test's own process measures the pings, and a loaded machine stalls it
        // too (120 ms was seen): the bound is for a blocked server, not for a busy test.
        expect(worstPingMillis).toBeLessThan(1_000)
      }))
  })

  it.effect("layer fails with RedisConfigError on invalid options, layerConfig reads REDIS_URL and CACHE_PREFIX", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(RedisBackend.layer({ port: 0 })))
      expect(Exit.isFailure(exit)).toBe(true)
      const built = yield* Effect.exit(
        RemoteCacheBackend.pipe(Effect.provide(RedisBackend.layer({ url: "redis://127.0.0.1:1" })))
      )
      expect(Exit.isSuccess(built)).toBe(true)
    }))

  describe("on a server without UNLINK", () => {
    layer(RedisServer.layer({ args: ["--rename-command", "UNLINK", ""] }), { excludeTestServices: true })((it) => {
      it.effect("delete and clear fall back to DEL", () =>
        Effect.gen(function*() {
          const server = yield* RedisServer
          const cache = yield* backendOn(server)
          yield* cache.setMany([["a", 1], ["b", 2], ["c", 3]])
          yield* cache.delete("a")
          expect(yield* cache.getMany(["a", "b"])).toStrictEqual([Option.none(), Option.some(2)])
          yield* cache.clear
          expect(yield* server.cli("DBSIZE")).toBe("0")
        }))
    })
  })
})
