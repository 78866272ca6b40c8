/**
 * Every fiber the library forks ends its own failures: through a whole failure scenario (the server killed while
 * operations, refreshes and the invalidation bus run, restarted, then hung with operations in flight while the
 * caches' scope closes), no log line at any level says a fiber terminated with an unhandled error, and none
 * carries a stack.
 */
import * as Cause from "#effect/Cause"
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Layer from "#effect/Layer"
import * as Schedule from "#effect/Schedule"
import * as Scope from "#effect/Scope"
import * as Logs from "#test-effect/Logger"
import { describe, expect, it } from "#test-effect/vitest"
import { describeCause, handled } from "../src/internal/background.js"
import * as Policy from "../src/Policy.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as TieredCache from "../src/TieredCache.js"
import * as RedisServer from "./utils/RedisServer.js"
import { realSleep, waitUntil } from "./utils/Wait.js"

/** Runs `body` with every log line, at every level, captured (its own fibers' and those they fork). */
const withLogs = <A, E, R>(
  body: (logs: { readonly lines: ReadonlyArray<Logs.CapturedLine> }) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => Effect.flatMap(Logs.capture, (logs) => Effect.provide(body(logs), logs.layer))

/** A stack frame, as a pretty-printed cause prints it (raw, or escaped in a logfmt line). */
const stackFrame = /(\n|\\n)\s*at [^\s]/

/** The lines that say a fiber ended with an unhandled failure, or carry a stack. */
const offending = (lines: ReadonlyArray<Logs.CapturedLine>): ReadonlyArray<string> =>
  lines.filter((line) =>
    /unhandled/i.test(line.message) || /unhandled/i.test(line.formatted) || line.message.includes("\n") ||
    stackFrame.test(line.formatted)
  ).map((line) => `${line.level} ${line.formatted.slice(0, 400)}`)

/** Waits until no line has been logged for `quietMillis`: the fibers still ending have said what they say. */
const settled = (lines: ReadonlyArray<unknown>, quietMillis: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    let seen = -1
    while (seen !== lines.length) {
      seen = lines.length
      yield* realSleep(quietMillis)
    }
  })

describe("background fibers", () => {
  it.effect("handled: a failure or a defect is one Debug line; an interruption is nothing", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        yield* handled("test failing", Effect.fail(new Error("it failed\n    at somewhere (file.ts:1:1)")))
        yield* handled("test dying", Effect.die({ _tag: "Boom", message: "it died" }))
        const interrupted = yield* Effect.forkChild(handled("test interrupted", Effect.never))
        yield* Fiber.interrupt(interrupted)
        expect(logs.lines.map((line) => [line.level, line.message, line.annotations])).toStrictEqual([
          ["DEBUG", "test failing failed: Error: it failed", { "effect_remote_cache.fiber": "test failing" }],
          ["DEBUG", "test dying failed: Boom: it died", { "effect_remote_cache.fiber": "test dying" }]
        ])
        expect(describeCause(Cause.fail("plain"))).toBe("plain")
      })
    ))

  it.live(
    "a server killed under operations, refreshes and the bus, then hung while the scope closes: no unhandled failure, no stack",
    () =>
      withLogs((logs) =>
        Effect.gen(function*() {
          const server = yield* RedisServer.make()
          const scope = yield* Scope.make()
          const clientOptions = {
            host: server.host,
            port: server.port,
            commandTimeout: "300 millis",
            connectTimeout: "300 millis",
            reconnectBaseDelay: "20 millis",
            reconnectMaxDelay: "100 millis"
          } as const
          // A policy with a timeout on the live clock (its own fiber per operation), retried, then the default's.
          const policy = Policy.timeout("200 millis").pipe(
            Policy.retry(Schedule.recurs(1)),
            Policy.log("Debug"),
            RemoteCache.logOutages(),
            Policy.recoverToMiss
          )
          const tiered = yield* Effect.map(
            Layer.buildWithScope(
              TieredCache.layerRedis({ defaultTtl: "30 millis", grace: "1 minute", timeout: "20 millis" }).pipe(
                Layer.provide(RemoteCache.layer(policy)),
                Layer.provide(RedisBackend.layerWithoutClient()),
                Layer.provide(RedisClient.layer(clientOptions)),
                Layer.orDie
              ),
              scope
            ),
            Context.get(TieredCache.TieredCache)
          )
          let stop = false
          let computations = 0
          // A computation that fails one time in three and dies one time in seven: refreshes fail in the background.
          const compute = (key: string) =>
            Effect.suspend(() => {
              const n = ++computations
              if (n % 7 === 0) return Effect.die(new Error(`computation of ${key} died`))
              if (n % 3 === 0) return Effect.fail(new Error(`computation of ${key} failed`))
              return Effect.as(realSleep(5), `${key}:${n}`)
            })
          const worker = (i: number) =>
            Effect.gen(function*() {
              for (let round = 0; !stop; round++) {
                const key = `k${(i + round) % 16}`
                yield* Effect.exit(tiered.getOrCompute(key, compute(key), { tags: ["t"] }))
                yield* Effect.exit(tiered.getOrComputeMany([key, `m${round % 5}`], (keys) =>
                  Effect.map(
                    Effect.forEach(keys, (k) => compute(k)),
                    (values) => keys.map((k, j) => [k, values[j]!] as const)
                  )))
                if (round % 5 === 0) yield* Effect.exit(tiered.set(key, round))
                if (round % 11 === 0) yield* Effect.exit(tiered.invalidateTags(["t"]))
                yield* Effect.exit(tiered.get(key))
                yield* realSleep(2)
              }
            })
          const workers = yield* Effect.forEach(
            Array.from({ length: 8 }, (_, i) => i),
            (i) => Effect.forkChild(worker(i))
          )
          const said = (prefix: string) => () => logs.lines.some((line) => line.message.startsWith(prefix))
          yield* waitUntil(() => computations >= 20, "traffic")
          // Killed under traffic: connections lost mid-command, refused attempts, the subscriber reconnecting.
          yield* server.kill
          yield* waitUntil(said("redis: cannot reach"), "the client's Warning")
          const before = computations
          yield* waitUntil(() => computations >= before + 10, "traffic during the outage")
          yield* server.start
          yield* waitUntil(said(`redis: connected to 127.0.0.1:${server.port} again`), "the client's recovery")
          // Hung with operations in flight, then the caches' scope closes under them.
          yield* server.pause
          let started = 0
          const inFlight = yield* Effect.forEach(
            Array.from({ length: 16 }, (_, i) => i),
            (i) =>
              Effect.forkChild(Effect.exit(Effect.suspend(() => {
                started++
                return tiered.getOrCompute(`hung${i}`, compute(`hung${i}`))
              })))
          )
          yield* waitUntil(() => started === 16, "the operations in flight")
          yield* Scope.close(scope, Exit.void)
          yield* server.resume
          stop = true
          yield* Effect.forEach(workers, (fiber) => Effect.exit(Fiber.join(fiber)), { discard: true })
          yield* Effect.forEach(inFlight, (fiber) => Effect.exit(Fiber.join(fiber)), { discard: true })
          // What the fibers still ending in the background say.
          yield* settled(logs.lines, 200)
          expect(computations).toBeGreaterThan(0)
          expect(logs.lines.length).toBeGreaterThan(0)
          expect(offending(logs.lines)).toStrictEqual([])
          // The scenario did fail: the outage was said, and operations failed at Debug.
          expect(logs.lines.some((line) => line.level === "WARN")).toBe(true)
          expect(logs.lines.some((line) => line.level === "DEBUG" && line.message.startsWith("cache "))).toBe(true)
        })
      ),
    { timeout: 60_000 }
  )
})
