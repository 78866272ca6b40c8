// `RemoteCache.get` over a backend with a probed read (the single-node `RedisBackend`) records its telemetry from
// the backend's callback instead of a handler around each call. These tests hold it to the general path: the same
// values, the same metrics for the same history (hits, misses, batched and lone reads, a value that cannot be
// decoded, a server gone), an interrupted read counted once, spans still made under a tracer.
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Fiber from "#effect/Fiber"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as Logs from "#test-effect/Logger"
import * as Metrics from "#test-effect/Metric"
import * as Tracing from "#test-effect/Tracer"
import { describe, expect, layer } from "#test-effect/vitest"
import { probedGetOf } from "../src/internal/backend/probe.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import { RemoteCacheBackend, type RemoteCacheBackendShape } from "../src/RemoteCacheBackend.js"
import * as RedisServer from "./utils/RedisServer.js"
import { realSleep } from "./utils/Wait.js"

/** The current count of a series (a counter, or a histogram's count); 0 before its first update. */
const count = (name: string, tags: Record<string, string>) =>
  Effect.map(
    Metrics.seriesState(name, tags),
    (state) => state === undefined ? 0 : Number((state as { readonly count: number | bigint }).count)
  )

/** What `get` has counted so far, for the metric attributes `tags` (each test uses its own, to stay apart). */
const readings = (tags: Record<string, string>) =>
  Effect.all({
    operations: count("remote_cache_operations_total", { operation: "get", ...tags }),
    hits: count("remote_cache_hits_total", { operation: "get", ...tags }),
    misses: count("remote_cache_misses_total", { operation: "get", ...tags }),
    durations: count("remote_cache_operation_duration_ms", { operation: "get", ...tags }),
    decodeErrors: count("remote_cache_errors_total", { operation: "get", error: "CacheSerializationError", ...tags }),
    connectionErrors: count("remote_cache_errors_total", {
      operation: "get",
      error: "CacheConnectionError",
      ...tags
    })
  })

/** A backend over `server`, its client's own (the client closes with the scope). */
const backendOn = (server: RedisServer.RedisServer["Type"], prefix: string) =>
  Effect.flatMap(
    RedisClient.make({ host: server.host, port: server.port }),
    (client) => Effect.provideService(RedisBackend.make({ prefix }), RedisClient.RedisClient, client)
  )

/** The same backend without its probed read: a copy of its public members, as a hand-made backend would be. */
const plain = (backend: RemoteCacheBackendShape): RemoteCacheBackendShape => ({ ...backend })

/** Runs `effect` and returns what it returned and how much each reading grew meanwhile, under the tag `run`. */
const counted = <A, E, R>(run: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const tags = { run }
    const before = yield* readings(tags)
    const value = yield* Metrics.withTags(effect, tags)
    const after = yield* readings(tags)
    const delta = Object.fromEntries(
      Object.entries(after).map(([name, n]) => [name, n - before[name as keyof typeof before]])
    )
    return { value, delta }
  })

// A history that takes every branch of a read: lone reads (the first of a tick), batched ones (the rest), hits,
// misses, and a value no serializer can decode among its neighbours.
const history = (cache: RemoteCache.RemoteCacheShape) =>
  Effect.gen(function*() {
    const lone = [yield* cache.get("a"), yield* cache.get("missing")]
    const keys = Array.from({ length: 300 }, (_, i) => i % 3 === 0 ? "a" : i % 3 === 1 ? "garbage" : `none-${i}`)
    const batched = yield* Effect.forEach(keys, (key) => cache.get(key), { concurrency: "unbounded" })
    return { lone, batched }
  })

layer(RedisServer.layer(), { excludeTestServices: true })((it) => {
  describe("RemoteCache.get over a probed read", () => {
    it.effect("the single-node backend offers the probed read; a copy of its members does not", () =>
      Effect.gen(function*() {
        const backend = yield* backendOn(yield* RedisServer.RedisServer, "probe-offer:")
        expect(probedGetOf(backend)).toBeDefined()
        expect(probedGetOf(plain(backend))).toBeUndefined()
      }))

    it.effect("the same values and the same metrics as the general path, for the same history", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        const backend = yield* backendOn(server, "probe-same:")
        yield* backend.set("a", { n: 1 })
        yield* server.cli("SET", "probe-same:garbage", "\x01not v8")
        const probed = yield* RemoteCache.fromBackend(backend, RemoteCache.defaultPolicy)
        const general = yield* RemoteCache.fromBackend(plain(backend), RemoteCache.defaultPolicy)
        const viaProbe = yield* counted("probe-same-probed", history(probed))
        const viaGeneral = yield* counted("probe-same-general", history(general))
        expect(viaProbe.value).toStrictEqual(viaGeneral.value)
        expect(viaProbe.value.lone).toStrictEqual([Option.some({ n: 1 }), Option.none()])
        expect(viaProbe.value.batched.filter(Option.isSome).length).toBe(100)
        expect(viaProbe.delta).toStrictEqual(viaGeneral.delta)
        // Every read counted once; the undecodable value as an error and, recovered, as a miss.
        expect(viaProbe.delta).toStrictEqual({
          operations: 302,
          hits: 101,
          misses: 201,
          durations: 302,
          decodeErrors: 100,
          connectionErrors: 0
        })
      }))

    it.effect("a read whose caller is interrupted is counted once, when its reply comes", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        const backend = yield* backendOn(server, "probe-interrupt:")
        yield* backend.set("a", 1)
        const cache = yield* RemoteCache.fromBackend(backend, RemoteCache.defaultPolicy)
        const tags = { run: "probe-interrupt" }
        const before = yield* readings(tags)
        yield* server.pause
        // Each child counts itself just before its read, which registers in the same synchronous run.
        let started = 0
        const fibers = yield* Effect.forEach(
          ["a", "a", "b"],
          (key) =>
            Effect.forkChild(Metrics.withTags(Effect.andThen(Effect.sync(() => started++), cache.get(key)), tags))
        )
        while (started < 3) yield* Effect.yieldNow
        yield* Effect.forEach(fibers, Fiber.interrupt, { discard: true })
        yield* server.resume
        const settled = Effect.map(readings(tags), (now) => now.operations - before.operations)
        let operations = 0
        const deadline = Date.now() + 20_000
        while ((operations = yield* settled) < 3 && Date.now() < deadline) yield* realSleep(5)
        // The neighbours of an interrupted read are served as usual.
        expect(yield* Metrics.withTags(cache.get("a"), tags)).toStrictEqual(Option.some(1))
        const after = yield* readings(tags)
        expect(after.operations - before.operations).toBe(4)
        expect(after.durations - before.durations).toBe(4)
        expect(after.hits + after.misses - before.hits - before.misses).toBe(4)
        expect(operations).toBe(3)
      }))

    it.effect("a server gone: a miss, counted as an error and a miss, as on the general path", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const backend = yield* backendOn(server, "probe-gone:")
        yield* backend.set("a", 1)
        const probed = yield* RemoteCache.fromBackend(backend, RemoteCache.defaultPolicy)
        const general = yield* RemoteCache.fromBackend(plain(backend), RemoteCache.defaultPolicy)
        yield* server.stop
        const viaProbe = yield* counted("probe-gone-probed", probed.get("a"))
        const viaGeneral = yield* counted("probe-gone-general", general.get("a"))
        expect(viaProbe.value).toStrictEqual(Option.none())
        expect(viaGeneral.value).toStrictEqual(Option.none())
        expect(viaProbe.delta).toStrictEqual(viaGeneral.delta)
        expect(viaProbe.delta).toMatchObject({ operations: 1, misses: 1, connectionErrors: 1 })
      }).pipe(Effect.scoped))

    it.effect("an outage seen by probed reads is said when it starts and when it ends", () =>
      Effect.gen(function*() {
        const logs = yield* Logs.capture
        const server = yield* RedisServer.make()
        const backend = yield* backendOn(server, "probe-outage:")
        yield* backend.set("a", 1)
        const cache = yield* RemoteCache.fromBackend(backend, RemoteCache.defaultPolicy)
        const said = () =>
          logs.lines.filter((line) => line.level !== "DEBUG" && line.message.startsWith("cache backend"))
            .map((line) => line.level)
        yield* Effect.gen(function*() {
          yield* server.stop
          expect(yield* cache.get("a")).toStrictEqual(Option.none())
          expect(yield* cache.get("a")).toStrictEqual(Option.none())
          expect(said()).toStrictEqual(["WARN"])
          yield* server.start
          // The client reconnects in the background: read until a read succeeds (it ends the outage).
          const deadline = Date.now() + 20_000
          while (Option.isNone(yield* cache.get("missing-or-not")) && said().length < 2 && Date.now() < deadline) {
            yield* realSleep(10)
          }
        }).pipe(Effect.provide(logs.layer))
        expect(said()).toStrictEqual(["WARN", "INFO"])
      }).pipe(Effect.scoped))

    it.effect("under a tracer that records spans, each read still has its span", () =>
      Effect.gen(function*() {
        const backend = yield* backendOn(yield* RedisServer.RedisServer, "probe-span:")
        yield* backend.set("a", 1)
        const cache = yield* RemoteCache.fromBackend(backend, RemoteCache.defaultPolicy)
        const recorder = yield* Tracing.recording
        const value = yield* cache.get("a").pipe(Effect.withTracer(recorder.tracer))
        expect(value).toStrictEqual(Option.some(1))
        expect(recorder.spans.map((span) => span.name)).toContain("RemoteCache.get")
      }))

    it.effect("a layer built from RedisBackend.layer takes the probed read", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        const context = yield* Layer.build(
          RedisBackend.layer({ host: server.host, port: server.port, prefix: "probe-layer:" })
        )
        expect(probedGetOf(Context.get(context, RemoteCacheBackend))).toBeDefined()
      }))
  })
})
