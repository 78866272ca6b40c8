/**
 * `deleteMany` and `setIfAbsent` above the backend: what each policy makes of their failures (`void` and `false`
 * under `recoverToMiss`, fused or step by step), their telemetry, the typed view, and `MemoryBackend`'s capacity
 * and expiry.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Effect,
  Exit,
  HashMap,
  Layer,
  Logger,
  Metric,
  Option,
  Schedule,
  Schema,
  TestClock,
  Tracer
} from "effect"
import type { ParseResult } from "effect"
import { expectTypeOf } from "vitest"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as Policy from "../src/Policy.js"
import * as RemoteCache from "../src/RemoteCache.js"
import { type CacheError, operations, RemoteCacheBackend } from "../src/RemoteCacheBackend.js"
import { type Fault, FaultyBackend, layer as faultyLayer } from "./utils/FaultyBackend.js"

/** Runs `body` with a RemoteCache built with `policy` over a fresh faulty backend whose prefix is "app:". */
const withCache = <A, E>(
  policy: Policy.Policy<CacheError, never>,
  body: Effect.Effect<A, E, RemoteCache.RemoteCache | FaultyBackend | RemoteCacheBackend>
) => Effect.provide(body, RemoteCache.layer(policy).pipe(Layer.provideMerge(faultyLayer({ prefix: "app:" }))))

/** The current value of a counter with exactly these tags; 0 before its first update. */
const metric = (name: string, tags: Record<string, string>) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const wanted = JSON.stringify(Object.entries(tags).sort())
    for (const pair of pairs) {
      if (pair.metricKey.name !== name) continue
      const actual = pair.metricKey.tags.map((label) => [label.key, label.value] as const).sort()
      if (JSON.stringify(actual) !== wanted) continue
      return Number((pair.metricState as unknown as { readonly count: number | bigint }).count)
    }
    return 0
  })

const recoverable: ReadonlyArray<Fault> = ["connection", "timeout", "reply", "protocol", "input"]

describe("deleteMany and setIfAbsent through policies", () => {
  it("are operations, each between its kin", () => {
    expect(operations).toStrictEqual([
      "get",
      "getWithTtl",
      "getMany",
      "set",
      "setMany",
      "setIfAbsent",
      "delete",
      "deleteMany",
      "clear"
    ])
  })

  // The default policy is fused (its steps run from the telemetry's failure handler); the other recovers step by
  // step, behind a step of another kind. Both must answer the same.
  const policies: Record<string, Policy.Policy<CacheError, never>> = {
    default: RemoteCache.defaultPolicy,
    "step by step": Policy.retry(Schedule.recurs(0)).pipe(
      Policy.make((ops: Policy.CacheOps<CacheError>) => Effect.succeed(ops)),
      Policy.log("Debug"),
      Policy.recoverToMiss
    )
  }

  for (const [name, policy] of Object.entries(policies)) {
    it.effect(`${name}: a failed deleteMany is void, a failed setIfAbsent false ("not stored"); a defect still dies`, () =>
      withCache(
        policy,
        Effect.gen(function*() {
          const cache = yield* RemoteCache.RemoteCache
          const faulty = yield* FaultyBackend
          expectTypeOf(cache.setIfAbsent).returns.toEqualTypeOf<Effect.Effect<boolean>>()
          expectTypeOf(cache.deleteMany).returns.toEqualTypeOf<Effect.Effect<void>>()
          expect(yield* cache.setIfAbsent("k", 1)).toBe(true)
          expect(yield* cache.setIfAbsent("k", 2)).toBe(false)
          for (const fault of recoverable) {
            yield* faulty.failNext(fault)
            expect(yield* cache.setIfAbsent(`fresh-${fault}`, 1), fault).toBe(false)
            yield* faulty.failNext(fault)
            expect(yield* cache.deleteMany(["k"]), fault).toBeUndefined()
          }
          // Nothing was stored or removed by the failed calls.
          const backend = yield* RemoteCacheBackend
          expect(yield* backend.getMany(["k", "fresh-connection"])).toStrictEqual([Option.some(1), Option.none()])
          yield* faulty.failNext("die")
          expect(Exit.isFailure(yield* Effect.exit(cache.setIfAbsent("x", 1)))).toBe(true)
          yield* faulty.failNext("die")
          expect(Exit.isFailure(yield* Effect.exit(cache.deleteMany(["x"])))).toBe(true)
          yield* cache.deleteMany(["k", "missing"])
          expect(yield* backend.get("k")).toStrictEqual(Option.none())
        })
      ))

    it.effect(`${name}: a value the serializer cannot encode makes setIfAbsent die, never answer false`, () =>
      withCache(
        policy,
        Effect.gen(function*() {
          const cache = yield* RemoteCache.RemoteCache
          const exit = yield* Effect.exit(cache.setIfAbsent("f", () => 1))
          const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
          expect(Cause.isIllegalArgumentException(defect)).toBe(true)
          expect((defect as Error).message).toMatch(/^RemoteCache\.setIfAbsent: the backend's serializer cannot encode/)
        })
      ))
  }

  it.effect("recoverToMiss applied alone gives the same answers", () =>
    Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* Policy.recoverToMiss.wrap(faulty.backend)
      yield* faulty.failNext("connection")
      expect(yield* cache.setIfAbsent("k", 1)).toBe(false)
      yield* faulty.failNext("timeout")
      expect(yield* cache.deleteMany(["k"])).toBeUndefined()
      expect(yield* cache.setIfAbsent("k", 1)).toBe(true)
    }).pipe(Effect.provide(faultyLayer())))

  it.effect("retry retries both; a failure before the write leaves setIfAbsent's answer true", () =>
    Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* Policy.retry(Schedule.recurs(2)).wrap(faulty.backend)
      yield* faulty.failNext("connection", 2)
      expect(yield* cache.setIfAbsent("k", 1)).toBe(true)
      yield* faulty.failNext("timeout")
      yield* cache.deleteMany(["k"])
      const calls = (yield* faulty.calls).map((call) => `${call.operation} ${call.key}`)
      expect(calls).toStrictEqual([
        "setIfAbsent k",
        "setIfAbsent k",
        "setIfAbsent k",
        "deleteMany k",
        "deleteMany k"
      ])
      expect(yield* faulty.backend.get("k")).toStrictEqual(Option.none())
    }).pipe(Effect.provide(faultyLayer())))

  it.effect("log names the operation and the key (for deleteMany the first), never the value", () =>
    Effect.gen(function*() {
      const lines: Array<{ readonly message: string; readonly annotations: Record<string, unknown> }> = []
      const logger = Logger.make((options) => {
        lines.push({
          message: String(options.message),
          annotations: Object.fromEntries(HashMap.toEntries(options.annotations))
        })
      })
      const faulty = yield* FaultyBackend
      const cache = yield* Policy.log("Info").pipe(Policy.recoverToMiss).wrap(faulty.backend)
      yield* faulty.failAlways("connection")
      yield* Effect.provide(
        Effect.zipRight(cache.setIfAbsent("user:1", "secret-value"), cache.deleteMany(["a", "b"])),
        Logger.replace(Logger.defaultLogger, logger)
      )
      expect(lines).toStrictEqual([
        {
          message: "cache setIfAbsent failed: CacheConnectionError: injected connection fault",
          annotations: { "cache.operation": "setIfAbsent", "cache.key": "user:1" }
        },
        {
          message: "cache deleteMany failed: CacheConnectionError: injected connection fault",
          annotations: { "cache.operation": "deleteMany", "cache.key": "a" }
        }
      ])
    }).pipe(Effect.provide(faultyLayer())))
})

describe("deleteMany and setIfAbsent telemetry", () => {
  it.effect("each runs in its span, deleteMany's with the number of keys, neither with a key", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const spans: Array<Tracer.Span> = []
        const base = yield* Effect.tracer
        const tracer = Tracer.make({
          span: (...args) => {
            const span = base.span(...args)
            spans.push(span)
            return span
          },
          context: (f, fiber) => base.context(f, fiber)
        })
        const cache = yield* RemoteCache.RemoteCache
        const faulty = yield* FaultyBackend
        yield* Effect.withTracer(
          Effect.gen(function*() {
            yield* cache.setIfAbsent("user:42", 1)
            yield* faulty.failNext("timeout")
            yield* cache.deleteMany(["user:42", "user:43", "user:42"])
          }),
          tracer
        )
        expect(spans.map((span) => [span.name, span.kind, span.status._tag])).toStrictEqual([
          ["RemoteCache.setIfAbsent", "client", "Ended"],
          ["RemoteCache.deleteMany", "client", "Ended"]
        ])
        expect(Object.fromEntries(spans[0]!.attributes)).toStrictEqual({
          "cache.operation": "setIfAbsent",
          "cache.prefix": "app:"
        })
        expect(Object.fromEntries(spans[1]!.attributes)).toStrictEqual({
          "cache.operation": "deleteMany",
          "cache.prefix": "app:",
          "cache.keys": 3,
          "cache.error": "CacheTimeoutError"
        })
      })
    ))

  it.effect("operations, durations and errors are counted under their own operation", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const cache = yield* RemoteCache.RemoteCache
        const faulty = yield* FaultyBackend
        const read = Effect.all([
          metric("remote_cache_operations_total", { operation: "setIfAbsent" }),
          metric("remote_cache_operations_total", { operation: "deleteMany" }),
          metric("remote_cache_operation_duration_ms", { operation: "deleteMany" }),
          metric("remote_cache_errors_total", { operation: "setIfAbsent", error: "CacheConnectionError" }),
          metric("remote_cache_errors_total", { operation: "deleteMany", error: "CacheTimeoutError" })
        ])
        const before = yield* read
        yield* cache.setIfAbsent("k", 1)
        yield* faulty.failNext("connection")
        yield* cache.setIfAbsent("k", 1)
        yield* cache.deleteMany(["k"])
        yield* faulty.failNext("timeout")
        yield* cache.deleteMany(["k"])
        const after = yield* read
        expect(after.map((n, i) => n - before[i]!)).toStrictEqual([2, 2, 2, 1, 1])
      })
    ))
})

const User = Schema.Struct({ id: Schema.Int, joined: Schema.Date })

describe("RemoteCache.forSchema: deleteMany and setIfAbsent", () => {
  it.effect("setIfAbsent stores the encoded form only when the key holds nothing; deleteMany removes", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const users = yield* RemoteCache.forSchema(User)
        expectTypeOf(users.setIfAbsent).returns.toEqualTypeOf<Effect.Effect<boolean, ParseResult.ParseError>>()
        const ada = { id: 1, joined: new Date("1843-07-01T00:00:00.000Z") }
        expect(yield* users.setIfAbsent("u1", ada, "1 minute")).toBe(true)
        expect(yield* users.setIfAbsent("u1", { ...ada, id: 2 })).toBe(false)
        const raw = yield* RemoteCacheBackend
        expect(yield* raw.get("u1")).toStrictEqual(Option.some({ id: 1, joined: "1843-07-01T00:00:00.000Z" }))
        expect(yield* users.get("u1")).toStrictEqual(Option.some(ada))
        // A value the schema cannot encode fails with ParseError, and nothing is stored.
        const refused = yield* Effect.flip(users.setIfAbsent("u2", { id: 1.5, joined: ada.joined }))
        expect(refused._tag).toBe("ParseError")
        expect(yield* raw.get("u2")).toStrictEqual(Option.none())
        yield* users.setIfAbsent("u2", { ...ada, id: 2 })
        yield* users.deleteMany(["u1", "u2", "u3"])
        expect(yield* raw.getMany(["u1", "u2"])).toStrictEqual([Option.none(), Option.none()])
      })
    ))
})

describe("MemoryBackend.setIfAbsent: capacity and expiry", () => {
  it.effect("a store at capacity evicts the least recently used entry to make room; a refused write uses nothing", () =>
    Effect.gen(function*() {
      const cache = yield* MemoryBackend.make({ capacity: 2 })
      yield* cache.set("a", 1)
      yield* cache.set("b", 2)
      // Refused: "a" stays the least recently used.
      expect(yield* cache.setIfAbsent("a", 10)).toBe(false)
      expect(yield* cache.setIfAbsent("c", 3)).toBe(true)
      expect(yield* cache.getMany(["a", "b", "c"])).toStrictEqual([Option.none(), Option.some(2), Option.some(3)])
    }))

  it.effect("an entry is held through the last millisecond of its TTL, then the key holds nothing", () =>
    Effect.gen(function*() {
      const cache = yield* MemoryBackend.make({ capacity: 1 })
      yield* cache.set("k", "old", 100)
      yield* TestClock.adjust(100)
      expect(yield* cache.setIfAbsent("k", "new")).toBe(false)
      yield* TestClock.adjust(1)
      expect(yield* cache.setIfAbsent("k", "new", 50)).toBe(true)
      expect(yield* cache.get("k")).toStrictEqual(Option.some("new"))
      yield* TestClock.adjust(51)
      // The expired entry holds no capacity either: the only slot goes to "other".
      expect(yield* cache.setIfAbsent("other", 1)).toBe(true)
      expect(yield* cache.getMany(["k", "other"])).toStrictEqual([Option.none(), Option.some(1)])
    }))

  it.effect("deleteMany on a shared store removes only its own prefix's keys", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore()
      const a = yield* MemoryBackend.make({ prefix: "a:", store })
      const b = yield* MemoryBackend.make({ prefix: "b:", store })
      yield* a.setMany([["k", 1], ["l", 2]])
      yield* b.setMany([["k", 3]])
      yield* a.deleteMany(["k", "l", "k"])
      expect(yield* a.getMany(["k", "l"])).toStrictEqual([Option.none(), Option.none()])
      expect(yield* b.get("k")).toStrictEqual(Option.some(3))
    }))
})
