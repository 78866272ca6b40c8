import * as Cause from "#effect/Cause"
import * as Context from "#effect/Context"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as Redacted from "#effect/Redacted"
import * as Schedule from "#effect/Schedule"
import * as Schema from "#effect/Schema"
import * as Logs from "#test-effect/Logger"
import * as Metrics from "#test-effect/Metric"
import * as TestClock from "#test-effect/TestClock"
import * as Tracing from "#test-effect/Tracer"
import { describe, expect, expectTypeOf, it } from "#test-effect/vitest"
import * as Policy from "../src/Policy.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RemoteCache from "../src/RemoteCache.js"
import { type CacheError, CacheTimeoutError, RemoteCacheBackend } from "../src/RemoteCacheBackend.js"
import * as Serializer from "../src/Serializer.js"
import { FaultyBackend, layer as faultyLayer } from "./utils/FaultyBackend.js"
import * as RedisServer from "./utils/RedisServer.js"

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

/** Runs `body` with a RemoteCache built with `policy` over a fresh faulty backend whose prefix is "app:". */
const withCache = <A, E>(
  policy: Policy.Policy<CacheError, never>,
  body: Effect.Effect<A, E, RemoteCache.RemoteCache | FaultyBackend | RemoteCacheBackend>
) => Effect.provide(body, RemoteCache.layer(policy).pipe(Layer.provideMerge(faultyLayer({ prefix: "app:" }))))

const captureLogs = Logs.capture

/** The captured lines above Debug, as `[level, message]`: what a default logger would show. */
const aboveDebug = (lines: ReadonlyArray<Logs.CapturedLine>) =>
  lines.filter((line) => line.level !== "DEBUG").map((line) => [line.level, line.message])

/** A tracer that records every span it makes, as an exporter would see them. */
const recordingTracer = Tracing.recording

/** The current value of a counter (or a histogram's count) with exactly these tags; 0 before its first update. */
const metric = (name: string, tags: Record<string, string>) =>
  Effect.map(
    Metrics.seriesState(name, tags),
    (state) => state === undefined ? 0 : Number((state as { readonly count: number | bigint }).count)
  )

/** The sum of the `remote_cache_operation_duration_ms` histogram of one operation. */
const histogramSum = (operation: string) =>
  Effect.map(
    Metrics.seriesState("remote_cache_operation_duration_ms", { operation }),
    (state) => state === undefined ? 0 : (state as { readonly sum: number }).sum
  )

/** Runs `effect` and returns how much each of `readings` grew meanwhile. */
const deltas = <E, R>(readings: Record<string, Effect.Effect<number>>, effect: Effect.Effect<unknown, E, R>) =>
  Effect.gen(function*() {
    const read = Effect.map(
      Effect.forEach(Object.entries(readings), ([name, reading]) => Effect.map(reading, (n) => [name, n] as const)),
      (entries) => Object.fromEntries(entries)
    )
    const before = yield* read
    yield* effect
    const after = yield* read
    return Object.fromEntries(Object.keys(readings).map((name) => [name, after[name]! - before[name]!]))
  })

const hits = (operation: string) => metric("remote_cache_hits_total", { operation })
const misses = (operation: string) => metric("remote_cache_misses_total", { operation })
const operationsOf = (operation: string) => metric("remote_cache_operations_total", { operation })
const errors = (operation: string, error: string) => metric("remote_cache_errors_total", { operation, error })
const durations = (operation: string) => metric("remote_cache_operation_duration_ms", { operation })

// ---------------------------------------------------------------------------------------------------------------
// The default policy is the seed's behaviour
// ---------------------------------------------------------------------------------------------------------------

describe("RemoteCache.layerDefault", () => {
  it.effect("works as a cache while the backend is healthy", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const cache = yield* RemoteCache.RemoteCache
        yield* cache.set("k", { n: 1 }, "1 minute")
        expect(yield* cache.get("k")).toStrictEqual(Option.some({ n: 1 }))
        const entry = yield* cache.getWithTtl("k")
        expect(Option.map(entry, (e) => Duration.toMillis(Option.getOrThrow(e.remainingTtl)))).toStrictEqual(
          Option.some(60_000)
        )
        yield* cache.setMany([["a", 1], ["b", 2]])
        expect(yield* cache.getMany(["a", "x", "b"])).toStrictEqual([Option.some(1), Option.none(), Option.some(2)])
        yield* cache.delete("a")
        expect(yield* cache.get("a")).toStrictEqual(Option.none())
        yield* cache.clear
        expect(yield* cache.get("k")).toStrictEqual(Option.none())
        expect(cache.prefix).toBe("app:")
      })
    ))

  it.effect("turns every failure into a miss or a no-op, each logged at debug level, the outage once as a Warning", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      yield* Effect.provide(
        Effect.gen(function*() {
          const cache = yield* RemoteCache.RemoteCache
          const faulty = yield* FaultyBackend
          expectTypeOf(cache.get).returns.toEqualTypeOf<Effect.Effect<Option.Option<unknown>>>()
          yield* faulty.failAlways("connection")
          expect(yield* cache.get("k")).toStrictEqual(Option.none())
          expect(yield* cache.getWithTtl("k")).toStrictEqual(Option.none())
          expect(yield* cache.getMany(["a", "b"])).toStrictEqual([Option.none(), Option.none()])
          yield* cache.set("k", "secret-value")
          yield* cache.setMany([["k", "secret-value"]])
          yield* cache.delete("k")
          yield* cache.clear
        }),
        RemoteCache.layerDefault.pipe(Layer.provideMerge(faultyLayer()))
      ).pipe(Effect.provide(logs.layer))
      const perOperation = ["get", "getWithTtl", "getMany", "set", "setMany", "delete", "clear"].map((operation) => [
        "DEBUG",
        `cache ${operation} failed: CacheConnectionError: injected connection fault`
      ])
      // The second failure in a row makes the outage (a lone failure is a blip).
      expect(logs.lines.map((line) => [line.level, line.message])).toStrictEqual([
        ...perOperation.slice(0, 2),
        ["WARN", "cache backend failing: CacheConnectionError: injected connection fault"],
        ...perOperation.slice(2)
      ])
      expect(JSON.stringify(logs.lines)).not.toContain("secret-value")
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// Constructors and types
// ---------------------------------------------------------------------------------------------------------------

describe("RemoteCache.layer / make", () => {
  it.effect("layer takes a policy that ends every failure; make keeps the policy's error type", () =>
    Effect.provide(
      Effect.gen(function*() {
        const faulty = yield* FaultyBackend
        const typed = yield* RemoteCache.make(Policy.timeout("1 second"))
        expectTypeOf(typed.get).returns.toEqualTypeOf<Effect.Effect<Option.Option<unknown>, CacheError>>()
        const guarded = yield* RemoteCache.make(
          Policy.circuitBreaker({ failureThreshold: 5, resetAfter: "1 second" })
        )
        expectTypeOf(guarded.clear).toEqualTypeOf<
          Effect.Effect<void, CacheError | Policy.CacheCircuitOpenError>
        >()
        yield* faulty.failNext("reply")
        expect((yield* Effect.flip(typed.get("k")))._tag).toBe("CacheReplyError")

        const retried = yield* Layer.build(
          RemoteCache.layer(Policy.retry(Schedule.recurs(1)).pipe(Policy.recoverToMiss))
        )
        yield* typed.set("k", "v")
        yield* faulty.failNext("connection")
        expect(yield* Context.get(retried, RemoteCache.RemoteCache).get("k")).toStrictEqual(Option.some("v"))
      }),
      faultyLayer()
    ))
})

// ---------------------------------------------------------------------------------------------------------------
// Telemetry
// ---------------------------------------------------------------------------------------------------------------

describe("telemetry", () => {
  // Runs every kind of operation and checks the span the backend ran in for each.
  const spannedOperations = Effect.gen(function*() {
    const cache = yield* RemoteCache.RemoteCache
    const faulty = yield* FaultyBackend
    yield* cache.get("user:42@example.com")
    yield* cache.getMany(["a", "b", "c"])
    yield* cache.setMany(new Map([["a", 1], ["b", 2]]))
    yield* cache.clear
    yield* faulty.failNext("timeout")
    yield* cache.delete("gone")
    const calls = yield* faulty.calls
    const spans = calls.map((call) => Option.getOrThrow(call.span))
    expect(spans.map((span) => [span.name, span.kind])).toStrictEqual([
      ["RemoteCache.get", "client"],
      ["RemoteCache.getMany", "client"],
      ["RemoteCache.setMany", "client"],
      ["RemoteCache.clear", "client"],
      ["RemoteCache.delete", "client"]
    ])
    expect(Object.fromEntries(spans[0]!.attributes)).toStrictEqual({
      "cache.operation": "get",
      "cache.prefix": "app:"
    })
    expect(Object.fromEntries(spans[1]!.attributes)).toStrictEqual({
      "cache.operation": "getMany",
      "cache.prefix": "app:",
      "cache.keys": 3
    })
    expect(spans[2]!.attributes.get("cache.keys")).toBe(2)
    // A failure the policy recovered still shows on the span, by its tag.
    expect(Object.fromEntries(spans[4]!.attributes)).toStrictEqual({
      "cache.operation": "delete",
      "cache.prefix": "app:",
      "cache.error": "CacheTimeoutError"
    })
    for (const span of spans) {
      for (const value of span.attributes.values()) {
        expect(String(value)).not.toMatch(/user:42|gone|^a$|^b$/)
      }
    }
  })

  it.effect("with a tracer installed, every operation runs in a span with the operation and the prefix, never the key", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const { spans: recorded, tracer } = yield* recordingTracer
        yield* Effect.withTracer(spannedOperations, tracer)
        // The tracer was handed exactly these spans, ended.
        expect(recorded.map((span) => [span.name, span.status._tag])).toStrictEqual([
          ["RemoteCache.get", "Ended"],
          ["RemoteCache.getMany", "Ended"],
          ["RemoteCache.setMany", "Ended"],
          ["RemoteCache.clear", "Ended"],
          ["RemoteCache.delete", "Ended"]
        ])
      })
    ))

  it.effect("under Effect's built-in tracer, which records nothing, no span is made and the caller's is untouched", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const cache = yield* RemoteCache.RemoteCache
        const faulty = yield* FaultyBackend
        const caller = yield* Effect.withSpan(
          Effect.gen(function*() {
            yield* cache.get("k")
            yield* faulty.failNext("timeout")
            yield* cache.delete("gone")
            return yield* Effect.currentSpan
          }),
          "caller"
        )
        const calls = yield* faulty.calls
        // The backend ran in the caller's span, which got no attribute of the cache's.
        expect(calls.map((call) => Option.map(call.span, (span) => span.name))).toStrictEqual([
          Option.some("caller"),
          Option.some("caller")
        ])
        expect(Object.fromEntries(caller.attributes)).toStrictEqual({})
      })
    ))

  it.effect("with a tracer installed, metrics count the same as without", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const cache = yield* RemoteCache.RemoteCache
        const faulty = yield* FaultyBackend
        const { spans, tracer } = yield* recordingTracer
        yield* cache.set("k", 1)
        const counted = yield* deltas(
          {
            hits: hits("get"),
            misses: misses("get"),
            operations: operationsOf("get"),
            durations: durations("get"),
            errors: errors("get", "CacheConnectionError")
          },
          Effect.withTracer(
            Effect.gen(function*() {
              yield* cache.get("k")
              yield* cache.get("x")
              yield* faulty.failNext("connection")
              yield* cache.get("k")
            }),
            tracer
          )
        )
        expect(counted).toStrictEqual({ hits: 1, misses: 2, operations: 3, durations: 3, errors: 1 })
        expect(spans.map((span) => span.name)).toStrictEqual(["RemoteCache.get", "RemoteCache.get", "RemoteCache.get"])
        expect(spans[2]!.attributes.get("cache.error")).toBe("CacheConnectionError")
      })
    ))

  it.effect("hits, misses and operations per operation; getMany counts per key", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const cache = yield* RemoteCache.RemoteCache
        yield* cache.set("k", 1)
        const counted = yield* deltas(
          {
            getHits: hits("get"),
            getMisses: misses("get"),
            manyHits: hits("getMany"),
            manyMisses: misses("getMany"),
            ttlHits: hits("getWithTtl"),
            gets: operationsOf("get"),
            getManys: operationsOf("getMany"),
            sets: operationsOf("set"),
            setMisses: misses("set"),
            durations: durations("get")
          },
          Effect.gen(function*() {
            yield* cache.get("k")
            yield* cache.get("x")
            yield* cache.get("y")
            yield* cache.getMany(["k", "x", "y"])
            yield* cache.getWithTtl("k")
            yield* cache.set("z", 1)
          })
        )
        expect(counted).toStrictEqual({
          getHits: 1,
          getMisses: 2,
          manyHits: 1,
          manyMisses: 2,
          ttlHits: 1,
          gets: 3,
          getManys: 1,
          sets: 1,
          setMisses: 0,
          durations: 3
        })
      })
    ))

  it.effect("errors are counted by tag before recovery, each attempt once, and the failure counts as a miss", () =>
    withCache(
      Policy.retry(Schedule.recurs(2)).pipe(Policy.recoverToMiss),
      Effect.gen(function*() {
        const cache = yield* RemoteCache.RemoteCache
        const faulty = yield* FaultyBackend
        yield* faulty.failNext("connection", 2)
        yield* faulty.failNext("reply")
        const counted = yield* deltas({
          connection: errors("get", "CacheConnectionError"),
          reply: errors("get", "CacheReplyError"),
          misses: misses("get"),
          operations: operationsOf("get")
        }, cache.get("k"))
        expect(counted).toStrictEqual({ connection: 2, reply: 1, misses: 1, operations: 1 })
      })
    ))

  it.effect("timeouts and open circuits are counted where they arise; an error crossing a breaker counts once", () =>
    withCache(
      Policy.timeout("10 millis").pipe(
        Policy.circuitBreaker({ failureThreshold: 2, resetAfter: "1 minute" }),
        Policy.log("Debug"),
        Policy.recoverToMiss
      ),
      Effect.gen(function*() {
        const cache = yield* RemoteCache.RemoteCache
        const faulty = yield* FaultyBackend
        const counted = yield* deltas(
          {
            connection: errors("set", "CacheConnectionError"),
            timeout: errors("set", "CacheTimeoutError"),
            open: errors("set", "CacheCircuitOpenError"),
            slowness: histogramSum("set")
          },
          Effect.gen(function*() {
            yield* faulty.failNext("connection")
            yield* cache.set("k", 1)
            yield* faulty.failNext("hang")
            const fiber = yield* Effect.forkChild(cache.set("k", 1))
            yield* TestClock.adjust("10 millis")
            yield* Fiber.join(fiber)
            yield* cache.set("k", 1)
          })
        )
        expect(counted).toStrictEqual({ connection: 1, timeout: 1, open: 1, slowness: 10 })
      })
    ))

  it.effect("an operation interrupted by its caller is still counted, with the time it waited (TestClock)", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const cache = yield* RemoteCache.RemoteCache
        const faulty = yield* FaultyBackend
        const counted = yield* deltas(
          { operations: operationsOf("get"), durations: durations("get"), waited: histogramSum("get") },
          Effect.gen(function*() {
            yield* faulty.failNext("hang")
            const fiber = yield* Effect.forkChild(cache.get("k"))
            yield* TestClock.adjust("25 millis")
            yield* Fiber.interrupt(fiber)
          })
        )
        expect(counted).toStrictEqual({ operations: 1, durations: 1, waited: 25 })
      })
    ))

  it.effect("labels added with Effect.tagMetrics are kept", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const cache = yield* RemoteCache.RemoteCache
        const counted = yield* deltas(
          { tagged: metric("remote_cache_misses_total", { operation: "get", service: "checkout" }) },
          cache.get("k").pipe(Metrics.withTags({ service: "checkout" }))
        )
        expect(counted).toStrictEqual({ tagged: 1 })
      })
    ))
})

// ---------------------------------------------------------------------------------------------------------------
// Policies ending in failure-only steps are applied from the telemetry's handler: the same outcome as applied
// step by step
// ---------------------------------------------------------------------------------------------------------------

describe("RemoteCache: failure-only policy steps (log, logOutages, recoverToMiss)", () => {
  // The same policy, but opaque: `RemoteCache` cannot see its steps and applies it as a whole.
  const opaque = (policy: Policy.Policy<CacheError, never>): Policy.Policy<CacheError, never> =>
    Policy.make((ops: Policy.CacheOps<CacheError>) => policy.wrap(ops))

  const describeExit = (exit: Exit.Exit<unknown, unknown>): string =>
    Exit.match(exit, {
      onSuccess: (value) => `ok ${JSON.stringify(value)}`,
      onFailure: (cause) => `failed ${Cause.pretty(cause).split("\n")[0]}`
    })

  // Every operation under every kind of failure, then a success, as the caller, the logs and the metrics see them.
  const scenario = (policy: Policy.Policy<CacheError, never>) =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const readings: Record<string, Effect.Effect<number>> = {}
      for (const operation of ["get", "getWithTtl", "getMany", "set", "setMany", "delete", "clear"]) {
        readings[`${operation} operations`] = operationsOf(operation)
        readings[`${operation} misses`] = misses(operation)
        readings[`${operation} hits`] = hits(operation)
        for (const tag of ["CacheConnectionError", "CacheTimeoutError", "CacheCircuitOpenError", "CacheInputError"]) {
          readings[`${operation} ${tag}`] = errors(operation, tag)
        }
      }
      const results: Array<string> = []
      const counted = yield* deltas(
        readings,
        withCache(
          policy,
          Effect.gen(function*() {
            const cache = yield* RemoteCache.RemoteCache
            const faulty = yield* FaultyBackend
            const calls: ReadonlyArray<Effect.Effect<unknown>> = [
              cache.get("a"),
              cache.getWithTtl("a"),
              cache.getMany(["a", "b"]),
              cache.set("a", 1),
              cache.setMany([["a", 1], ["b", 2]]),
              cache.delete("a"),
              cache.clear
            ]
            for (const fault of ["connection", "timeout", "input", "die"] as const) {
              for (const call of calls) {
                yield* faulty.failNext(fault)
                results.push(describeExit(yield* Effect.exit(call)))
              }
            }
            yield* faulty.failNext("serialization")
            results.push(describeExit(yield* Effect.exit(cache.set("a", 1))))
            yield* cache.set("a", 1)
            for (const call of calls) results.push(describeExit(yield* Effect.exit(call)))
          })
        ).pipe(Effect.provide(logs.layer))
      )
      const lines = logs.lines.map((line) => `${line.level} ${line.message} ${JSON.stringify(line.annotations)}`)
      return { results, lines, counted }
    })

  const policies: Record<string, Policy.Policy<CacheError, never>> = {
    default: RemoteCache.defaultPolicy,
    recoverToMiss: Policy.recoverToMiss,
    "after retry and a breaker": Policy.retry(Schedule.recurs(1)).pipe(
      Policy.circuitBreaker({ failureThreshold: 3, resetAfter: "1 minute" }),
      Policy.log("Info"),
      RemoteCache.logOutages(),
      Policy.recoverToMiss
    ),
    "around a custom step": Policy.log("Warn").pipe(
      Policy.make((ops: Policy.CacheOps<CacheError>) => Effect.succeed(ops)),
      Policy.recoverToMiss
    )
  }

  for (const [name, policy] of Object.entries(policies)) {
    it.effect(`${name}: the same results, logs and metrics as the steps applied one by one`, () =>
      Effect.gen(function*() {
        const fused = yield* scenario(policy)
        const stepByStep = yield* scenario(opaque(policy))
        expect(fused).toStrictEqual(stepByStep)
        // The scenario did exercise the steps.
        expect(fused.results.some((result) => result.startsWith("failed"))).toBe(true)
        expect(fused.results.some((result) => result.startsWith("ok"))).toBe(true)
      }))
  }
})

// ---------------------------------------------------------------------------------------------------------------
// Typed views
// ---------------------------------------------------------------------------------------------------------------

// A date is stored as its ISO string: `Schema.DateFromString` on both majors (Effect 3's `Schema.Date` decodes from a
// string too, Effect 4's is a `Date` as it is).
const User = Schema.Struct({ id: Schema.Int, name: Schema.String, joined: Schema.DateFromString })
type User = typeof User.Type

/** The tag of the error a schema fails with (`ParseError` on Effect 3, `SchemaError` on Effect 4). */
const schemaErrorTag = Effect.runSync(Effect.flip(Schema.decodeUnknownEffect(User)(null)))._tag

const ada: User = { id: 1, name: "Ada", joined: new Date("1843-07-01T00:00:00.000Z") }

describe("RemoteCache.forSchema", () => {
  it.effect("stores the encoded form and gives back an A", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const users = yield* RemoteCache.forSchema(User)
        expectTypeOf(users.get).returns.toEqualTypeOf<Effect.Effect<Option.Option<User>>>()
        expectTypeOf(users.set).returns.toEqualTypeOf<Effect.Effect<void, Schema.SchemaError>>()
        yield* users.set("user:1", ada, "1 minute")
        const raw = yield* RemoteCacheBackend
        expect(yield* raw.get("user:1")).toStrictEqual(
          Option.some({ id: 1, name: "Ada", joined: "1843-07-01T00:00:00.000Z" })
        )
        const back = yield* users.get("user:1")
        expect(back).toStrictEqual(Option.some(ada))
        expect(Option.getOrThrow(back).joined).toBeInstanceOf(Date)
        const entry = Option.getOrThrow(yield* users.getWithTtl("user:1"))
        expect(entry.value).toStrictEqual(ada)
        expect(Option.isSome(entry.remainingTtl)).toBe(true)
        yield* users.setMany([["user:2", { ...ada, id: 2 }]])
        expect(yield* users.getMany(["user:1", "nobody", "user:2"])).toStrictEqual([
          Option.some(ada),
          Option.none(),
          Option.some({ ...ada, id: 2 })
        ])
        yield* users.delete("user:1")
        expect(yield* users.get("user:1")).toStrictEqual(Option.none())
        yield* users.clear
        expect(yield* users.get("user:2")).toStrictEqual(Option.none())
      })
    ))

  it.effect("a stored value that no longer matches the schema is a miss, logged without the value and counted", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      yield* withCache(
        RemoteCache.defaultPolicy,
        Effect.gen(function*() {
          const users = yield* RemoteCache.forSchema(User)
          const raw = yield* RemoteCacheBackend
          // Written before a deploy changed the type.
          yield* raw.set("user:old", { id: "private-old-id", name: "Ada" })
          yield* users.set("user:1", ada)
          const counted = yield* deltas(
            {
              parse: errors("get", schemaErrorTag),
              manyParse: errors("getMany", schemaErrorTag)
            },
            Effect.gen(function*() {
              expect(yield* users.get("user:old")).toStrictEqual(Option.none())
              expect(yield* users.getMany(["user:old", "user:1"])).toStrictEqual([Option.none(), Option.some(ada)])
              expect(yield* users.getWithTtl("user:old")).toStrictEqual(Option.none())
            })
          )
          expect(counted).toStrictEqual({ parse: 1, manyParse: 1 })
        })
      ).pipe(Effect.provide(logs.layer))
      expect(logs.lines.map((line) => [line.level, line.message, line.annotations])).toStrictEqual([
        [
          "DEBUG",
          "cache get miss: the stored value does not match the schema",
          { "cache.operation": "get", "cache.key": "user:old" }
        ],
        [
          "DEBUG",
          "cache getMany miss: the stored value does not match the schema",
          { "cache.operation": "getMany", "cache.key": "user:old" }
        ],
        [
          "DEBUG",
          "cache getWithTtl miss: the stored value does not match the schema",
          { "cache.operation": "getWithTtl", "cache.key": "user:old" }
        ]
      ])
      expect(JSON.stringify(logs.lines)).not.toContain("private-old-id")
    }))

  it.effect("writing a value the schema rejects fails with the schema's error and stores nothing", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const users = yield* RemoteCache.forSchema(User)
        const raw = yield* RemoteCacheBackend
        const invalid = { ...ada, id: 1.5 }
        expect((yield* Effect.flip(users.set("user:1", invalid)))._tag).toBe(schemaErrorTag)
        expect(yield* raw.get("user:1")).toStrictEqual(Option.none())
        expect((yield* Effect.flip(users.setMany([["user:2", ada], ["user:3", invalid]])))._tag).toBe(schemaErrorTag)
        expect(yield* raw.getMany(["user:2", "user:3"])).toStrictEqual([Option.none(), Option.none()])
      })
    ))

  it.effect("is a miss, not a crash, when the backend fails", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const users = yield* RemoteCache.forSchema(User)
        yield* users.set("user:1", ada)
        yield* (yield* FaultyBackend).failAlways("protocol")
        expect(yield* users.get("user:1")).toStrictEqual(Option.none())
        yield* users.set("user:1", ada)
      })
    ))
})

// ---------------------------------------------------------------------------------------------------------------
// Against a real redis-server
// ---------------------------------------------------------------------------------------------------------------

const buildCache = (policy: Policy.Policy<CacheError, never>, options: RedisBackend.RedisBackendOptions) =>
  Effect.map(
    Layer.build(RemoteCache.layer(policy).pipe(Layer.provide(RedisBackend.layer(options)))),
    Context.get(RemoteCache.RemoteCache)
  )

/** Runs `effect` and returns how long it took, in milliseconds of real time. */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const result = yield* effect
    return [result, performance.now() - start] as const
  })

const exerciseAll = (cache: RemoteCache.RemoteCacheShape) =>
  Effect.gen(function*() {
    expect(yield* cache.get("k")).toStrictEqual(Option.none())
    expect(yield* cache.getWithTtl("k")).toStrictEqual(Option.none())
    expect(yield* cache.getMany(["k", "j"])).toStrictEqual([Option.none(), Option.none()])
    yield* cache.set("k", "w", "1 minute")
    yield* cache.setMany([["k", "w"], ["j", "x"]], "1 minute")
    yield* cache.delete("k")
    yield* cache.clear
  })

// Each test starts its server first: the "cache hung" guard times the cache, not the server's start.
describe("RemoteCache over Redis", () => {
  it.live("default policy, server stopped: get is a miss, set returns, nothing throws, nothing hangs", () =>
    Effect.flatMap(RedisServer.make(), (server) =>
      Effect.gen(function*() {
        const cache = yield* buildCache(RemoteCache.defaultPolicy, { host: server.host, port: server.port })
        yield* cache.set("k", "v")
        expect(yield* cache.get("k")).toStrictEqual(Option.some("v"))
        yield* server.stop
        const [, elapsed] = yield* timed(exerciseAll(cache))
        // Connection refused: the client fails fast, well within its 5 s timeouts.
        expect(elapsed).toBeLessThan(1_000)
      }).pipe(Effect.timeoutOrElse({ duration: "4 seconds", orElse: () => Effect.fail(new Error("the cache hung")) }))))

  it.live("default policy, server hung: get is a miss after the client's commandTimeout", () =>
    Effect.flatMap(RedisServer.make(), (server) =>
      Effect.gen(function*() {
        const cache = yield* buildCache(RemoteCache.defaultPolicy, {
          host: server.host,
          port: server.port,
          commandTimeout: "300 millis"
        })
        yield* cache.set("k", "v")
        yield* server.pause
        const [value, elapsed] = yield* timed(cache.get("k"))
        expect(value).toStrictEqual(Option.none())
        expect(elapsed).toBeGreaterThanOrEqual(250)
        expect(elapsed).toBeLessThan(1_500)
        yield* server.resume
      }).pipe(Effect.timeoutOrElse({ duration: "4 seconds", orElse: () => Effect.fail(new Error("the cache hung")) }))))

  it.live("a timeout policy bounds a hung server's cost below the client's own timeout", () =>
    Effect.flatMap(RedisServer.make(), (server) =>
      Effect.gen(function*() {
        const cache = yield* buildCache(
          Policy.timeout("100 millis").pipe(Policy.log("Debug"), Policy.recoverToMiss),
          { host: server.host, port: server.port }
        )
        yield* cache.set("k", "v")
        yield* server.pause
        const [value, elapsed] = yield* timed(cache.get("k"))
        expect(value).toStrictEqual(Option.none())
        expect(elapsed).toBeLessThan(1_000)
        yield* server.resume
        // The interrupted command's reply was read in its place: the connection is still in step.
        expect(yield* cache.get("k")).toStrictEqual(Option.some("v"))
      }).pipe(Effect.timeoutOrElse({ duration: "4 seconds", orElse: () => Effect.fail(new Error("the cache hung")) }))))

  it.live("a password given in the options or the URL never appears in a log line or a span", () =>
    Effect.flatMap(RedisServer.make({ args: ["--requirepass", "the-right-one"] }), (server) =>
      Effect.gen(function*() {
        const logs = yield* captureLogs
        const password = "Wr0ng-pa55word-never-logged"
        yield* Effect.gen(function*() {
          const viaOption = yield* buildCache(RemoteCache.defaultPolicy, {
            host: server.host,
            port: server.port,
            password: Redacted.make(password),
            connectTimeout: "1 second"
          })
          const viaUrl = yield* buildCache(RemoteCache.defaultPolicy, {
            url: `redis://default:${encodeURIComponent(password)}@${server.host}:${server.port}`,
            connectTimeout: "1 second"
          })
          // Rejected credentials (the client then fails fast with the same error until its backoff allows a retry).
          yield* exerciseAll(viaOption)
          yield* exerciseAll(viaUrl)
          // A server that is gone.
          yield* server.stop
          const unreachable = yield* buildCache(RemoteCache.defaultPolicy, {
            url: `redis://default:${encodeURIComponent(password)}@${server.host}:${server.port}`,
            connectTimeout: "1 second"
          })
          yield* exerciseAll(unreachable)
        }).pipe(Effect.provide(logs.layer))
        // Each operation at Debug, and each of the three caches' outage once as a Warning. The clients' own lines
        // (`redis: …`, from their background retries, as many as the machine's speed allows) are checked below
        // with the rest.
        const cacheLines = logs.lines.filter((line) => !line.message.startsWith("redis: "))
        expect(cacheLines.length).toBe(24)
        expect(cacheLines.filter((line) => line.level === "WARN").length).toBe(3)
        expect(logs.lines.some((line) => line.message.includes("CacheReplyError"))).toBe(true)
        expect(logs.lines.some((line) => line.message.includes("CacheConnectionError"))).toBe(true)
        for (const line of logs.lines) {
          expect(line.formatted).not.toContain(password)
          expect(line.formatted).not.toContain(encodeURIComponent(password))
        }
      }).pipe(Effect.timeoutOrElse({ duration: "4 seconds", orElse: () => Effect.fail(new Error("the cache hung")) }))))
})

// ---------------------------------------------------------------------------------------------------------------
// Outages said once; unencodable values refused
// ---------------------------------------------------------------------------------------------------------------

describe("RemoteCache.logOutages (in the default policy)", () => {
  it.effect("a Warning when the backend starts failing, an Info with its duration when it recovers", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const loud = () => aboveDebug(logs.lines)
      yield* withCache(
        RemoteCache.defaultPolicy,
        Effect.gen(function*() {
          const cache = yield* RemoteCache.RemoteCache
          const faulty = yield* FaultyBackend
          yield* cache.set("k", 1)
          yield* faulty.failAlways("timeout")
          for (let i = 0; i < 10; i++) {
            expect(yield* cache.get("k")).toStrictEqual(Option.none())
            yield* TestClock.adjust("100 millis")
          }
          yield* cache.set("k", 2)
          const warning = ["WARN", "cache backend failing: CacheTimeoutError: injected timeout fault"]
          expect(loud()).toStrictEqual([warning])
          const [line] = logs.lines.filter((line) => line.level === "WARN")
          expect(line!.annotations).toStrictEqual({
            "cache.operation": "get",
            "cache.prefix": "app:",
            "cache.error": "CacheTimeoutError",
            "cache.failures": "2"
          })
          yield* faulty.heal
          expect(yield* cache.get("k")).toStrictEqual(Option.some(1))
          yield* cache.get("k")
          // From the first failure (10 gets 100 ms apart, then the set) to the success: 1 s, 11 failed operations.
          const info = ["INFO", "cache backend working again after 1 s (11 failed operations)"]
          expect(loud()).toStrictEqual([warning, info])
        })
      ).pipe(Effect.provide(logs.layer))
    }))

  it.effect("a blip, then a real outage a moment later: both are said, each with its end", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const loud = () => aboveDebug(logs.lines)
      yield* withCache(
        RemoteCache.defaultPolicy,
        Effect.gen(function*() {
          const cache = yield* RemoteCache.RemoteCache
          const faulty = yield* FaultyBackend
          // A lone failure between successes: no outage, nothing said above Debug.
          yield* faulty.failNext("connection")
          yield* cache.get("k")
          yield* cache.get("k")
          expect(loud()).toStrictEqual([])
          // A 0.2 s blip under traffic: an outage of its own, said and ended.
          yield* faulty.failAlways("connection")
          yield* cache.get("k")
          yield* TestClock.adjust("100 millis")
          yield* cache.get("k")
          yield* TestClock.adjust("100 millis")
          yield* faulty.heal
          yield* cache.get("k")
          // A second later, the real 4 s outage: said at once, not held back by the blip.
          yield* TestClock.adjust("1 second")
          yield* faulty.failAlways("timeout")
          for (let i = 0; i < 5; i++) {
            yield* cache.get("k")
            yield* TestClock.adjust("1 second")
          }
          yield* faulty.heal
          yield* cache.get("k")
          expect(loud()).toStrictEqual([
            ["WARN", "cache backend failing: CacheConnectionError: injected connection fault"],
            ["INFO", "cache backend working again after 200 ms (2 failed operations)"],
            ["WARN", "cache backend failing: CacheTimeoutError: injected timeout fault"],
            ["INFO", "cache backend working again after 5 s (5 failed operations)"]
          ])
        })
      ).pipe(Effect.provide(logs.layer))
    }))

  it.effect("a long outage is said again every repeatEvery while it lasts, with its duration so far", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const loud = () => aboveDebug(logs.lines)
      yield* withCache(
        RemoteCache.defaultPolicy,
        Effect.gen(function*() {
          const cache = yield* RemoteCache.RemoteCache
          const faulty = yield* FaultyBackend
          yield* faulty.failAlways("connection")
          // One failed get every 30 s for 12 minutes.
          for (let i = 0; i <= 24; i++) {
            yield* cache.get("k")
            yield* TestClock.adjust("30 seconds")
          }
          yield* faulty.heal
          yield* cache.get("k")
          const why = "injected connection fault"
          expect(loud()).toStrictEqual([
            ["WARN", `cache backend failing: CacheConnectionError: ${why}`],
            [
              "WARN",
              `cache backend still failing after 5 min 30 s (12 failed operations): CacheConnectionError: ${why}`
            ],
            [
              "WARN",
              `cache backend still failing after 10 min 30 s (22 failed operations): CacheConnectionError: ${why}`
            ],
            ["INFO", "cache backend working again after 12 min 30 s (25 failed operations)"]
          ])
        })
      ).pipe(Effect.provide(logs.layer))
    }))

  it.effect("threshold and repeatEvery are options; minInterval still means repeatEvery; bad values throw", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const loud = () => aboveDebug(logs.lines)
      yield* withCache(
        Policy.log("Debug").pipe(
          RemoteCache.logOutages({ threshold: 1, minInterval: "1 second" }),
          Policy.recoverToMiss
        ),
        Effect.gen(function*() {
          const cache = yield* RemoteCache.RemoteCache
          const faulty = yield* FaultyBackend
          yield* faulty.failNext("reply")
          yield* cache.get("k")
          yield* cache.get("k")
          yield* faulty.failAlways("reply")
          yield* cache.get("k")
          yield* TestClock.adjust("1 second")
          yield* cache.get("k")
          expect(loud().map(([level, message]) => `${level} ${message!.replace(/: .*/, "")}`)).toStrictEqual([
            "WARN cache backend failing",
            "INFO cache backend working again after 0 ms (1 failed operation)",
            "WARN cache backend failing",
            "WARN cache backend still failing after 1 s (2 failed operations)"
          ])
        })
      ).pipe(Effect.provide(logs.layer))
      expect(() => RemoteCache.logOutages({ threshold: 0 })).toThrow("threshold")
      expect(() => RemoteCache.logOutages({ threshold: 1.5 })).toThrow("threshold")
      expect(() => RemoteCache.logOutages({ repeatEvery: NaN })).toThrow("logOutages repeatEvery is NaN")
    }))

  it.effect("the backend's diagnosis, when it has one, says why instead of the operation's error", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const backend = yield* Effect.provide(
        Effect.flatMap(RemoteCacheBackend, Effect.succeed),
        faultyLayer({ prefix: "app:" })
      )
      let diagnosis: string | undefined = "cannot connect to db:6379: connect ECONNREFUSED"
      // What a policy's own timeout says: nothing about why.
      const timedOut = new CacheTimeoutError({ operation: "get", message: "no result within 100 ms" })
      const cache = yield* RemoteCache.fromBackend(
        { ...backend, get: () => Effect.fail(timedOut), diagnosis: () => diagnosis },
        RemoteCache.defaultPolicy
      )
      yield* Effect.provide(cache.get("k"), logs.layer)
      yield* Effect.provide(cache.get("k"), logs.layer)
      diagnosis = undefined
      yield* Effect.provide(cache.get("k"), logs.layer)
      const warnings = logs.lines.filter((line) => line.level === "WARN")
      expect(warnings.map((line) => line.message)).toStrictEqual([
        "cache backend failing: cannot connect to db:6379: connect ECONNREFUSED"
      ])
      expect(warnings[0]!.annotations["cache.error"]).toBe("CacheTimeoutError")
    }))

  it.effect("a value or input error is no outage", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      yield* withCache(
        RemoteCache.defaultPolicy,
        Effect.gen(function*() {
          const cache = yield* RemoteCache.RemoteCache
          const faulty = yield* FaultyBackend
          yield* faulty.failAlways("input")
          yield* cache.get("k")
          yield* cache.delete("k")
        })
      ).pipe(Effect.provide(logs.layer))
      expect(logs.lines.map((line) => line.level)).toStrictEqual(["DEBUG", "DEBUG"])
    }))

  it.effect("composes with any policy", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const policy = Policy.timeout("50 millis").pipe(
        Policy.circuitBreaker({ failureThreshold: 2, resetAfter: "1 second" }),
        RemoteCache.logOutages({ minInterval: "10 seconds" }),
        Policy.recoverToMiss
      )
      yield* withCache(
        policy,
        Effect.gen(function*() {
          const cache = yield* RemoteCache.RemoteCache
          const faulty = yield* FaultyBackend
          yield* faulty.failAlways("reply")
          for (let i = 0; i < 5; i++) yield* cache.get("k")
        })
      ).pipe(Effect.provide(logs.layer))
      expect(logs.lines.map((line) => [line.level, line.message])).toStrictEqual([
        ["WARN", "cache backend failing: CacheReplyError: injected reply fault"]
      ])
    }))

  it.live("100 gets against a wrong password: the cache's Warning and the client's name the cause, never the password", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const password = "Wr0ng-pa55word-never-logged"
      const server = yield* RedisServer.make({ args: ["--requirepass", "the-right-one"] })
      const warnings = () => logs.lines.filter((line) => line.level === "WARN").map((line) => line.message)
      yield* Effect.gen(function*() {
        const cache = yield* buildCache(RemoteCache.defaultPolicy, {
          host: server.host,
          port: server.port,
          password: Redacted.make(password)
        })
        for (let i = 0; i < 100; i++) expect(yield* cache.get(`k${i}`)).toStrictEqual(Option.none())
        // The client's background retry fails too, and the client says so.
        for (let i = 0; i < 500 && !warnings().some((line) => line.startsWith("redis:")); i++) {
          yield* Effect.sleep("10 millis")
        }
      }).pipe(Effect.provide(logs.layer))
      const where = `127.0.0.1:${server.port}`
      const cause = `authentication to ${where} failed: WRONGPASS`
      expect(warnings().filter((line) => line.startsWith("cache backend failing")).length).toBe(1)
      expect(warnings()).toContainEqual(expect.stringMatching(new RegExp(`^cache backend failing: ${cause}`)))
      expect(warnings()).toContainEqual(
        expect.stringMatching(new RegExp(`^redis: cannot reach ${where}: ${cause}.*; retrying in the background$`))
      )
      expect(logs.lines.filter((line) => line.level === "DEBUG" && line.message.startsWith("cache get")).length)
        .toBe(100)
      for (const line of logs.lines) expect(line.formatted).not.toContain(password)
    }))
})

describe("RemoteCache: a value the backend cannot encode", () => {
  const User = Schema.Struct({ id: Schema.Number, joined: Schema.DateFromString })
  const ada = { id: 1, joined: new Date("2020-01-01T00:00:00.000Z") }

  it.live("Serializer.schema on the backend plus forSchema: the first write dies saying why, nothing is dropped silently", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const cache = yield* buildCache(RemoteCache.defaultPolicy, {
        host: server.host,
        port: server.port,
        serializer: Serializer.schema(User)
      })
      const users = RemoteCache.schemaView(cache, User)
      for (const write of [users.set("u", ada), users.setMany([["u", ada]])]) {
        const exit = yield* Effect.exit(write)
        expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
        const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        expect(Cause.isIllegalArgumentError(defect)).toBe(true)
        expect((defect as Error).message).toContain("encoded twice")
        expect((defect as Error).message).toContain("schema(")
      }
      expect(yield* server.cli("DBSIZE")).toBe("0")
      // Either one alone works.
      yield* cache.set("u", ada)
      expect(yield* cache.get("u")).toStrictEqual(Option.some(ada))
      const v8 = yield* buildCache(RemoteCache.defaultPolicy, { host: server.host, port: server.port, prefix: "v8:" })
      const typed = RemoteCache.schemaView(v8, User)
      yield* typed.set("u", ada)
      expect(yield* typed.get("u")).toStrictEqual(Option.some(ada))
    }))

  it.effect("an untyped value the serializer rejects dies too, whatever the policy", () =>
    withCache(
      RemoteCache.defaultPolicy,
      Effect.gen(function*() {
        const cache = yield* RemoteCache.RemoteCache
        const exit = yield* Effect.exit(cache.set("f", () => 1))
        const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        expect(Cause.isIllegalArgumentError(defect)).toBe(true)
        expect((defect as Error).message).toMatch(/^RemoteCache\.set: the backend's serializer cannot encode/)
        expect((defect as Error).message).not.toContain("encoded twice")
        expect(yield* cache.get("f")).toStrictEqual(Option.none())
      })
    ))
})
