import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberRef,
  HashMap,
  Layer,
  Logger,
  LogLevel,
  Option,
  Ref,
  Schedule,
  TestClock
} from "effect"
import { expectTypeOf } from "vitest"
import * as Policy from "../src/Policy.js"
import * as RemoteCache from "../src/RemoteCache.js"
import { CacheConnectionError, type CacheError, CacheTimeoutError, withPartial } from "../src/RemoteCacheBackend.js"
import { type Fault, faultMessage, FaultyBackend, layer as faultyLayer, operations } from "./utils/FaultyBackend.js"

// Each test gets its own faulty backend; the policy is applied to it directly, without RemoteCache's telemetry.
const withBackend = <A, E>(body: Effect.Effect<A, E, FaultyBackend>) => Effect.provide(body, faultyLayer())

const apply = <E>(policy: Policy.Policy<CacheError, E>) =>
  Effect.flatMap(FaultyBackend, (faulty) => policy.wrap(faulty.backend))

interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

const captureLogs = Effect.sync(() => {
  const lines: Array<LogLine> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    lines.push({
      level: logLevel.label,
      message: Array.isArray(message) ? message.join(" ") : String(message),
      annotations: Object.fromEntries(HashMap.toEntries(annotations))
    })
  })
  const layer = Layer.merge(Logger.add(logger), Logger.minimumLogLevel(LogLevel.All))
  return { lines, layer }
})

describe("Policy.timeout", () => {
  it.effect("fails an operation without a result in time with CacheTimeoutError naming the operation and key", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* apply(Policy.timeout("50 millis"))
      yield* faulty.failAlways("hang")
      const fiber = yield* Effect.fork(Effect.flip(cache.get("k")))
      yield* TestClock.adjust("49 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      expectTypeOf(error).toEqualTypeOf<CacheError | CacheTimeoutError>()
      expect(error._tag).toBe("CacheTimeoutError")
      expect(error).toMatchObject({ operation: "get", key: "k" })
      expect(error.message).toBe("no result within 50ms")
    })))

  it.effect("names the first key of a batch and no key for clear", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* apply(Policy.timeout("10 millis"))
      yield* faulty.failAlways("hang")
      const run = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(Effect.flip(effect))
          yield* TestClock.adjust("10 millis")
          return yield* Fiber.join(fiber)
        })
      expect(yield* run(cache.getMany(["a", "b"]))).toMatchObject({ operation: "getMany", key: "a" })
      expect(yield* run(cache.setMany(new Map([["x", 1], ["y", 2]])))).toMatchObject({
        operation: "setMany",
        key: "x"
      })
      const cleared = yield* run(cache.clear)
      expect(cleared).toMatchObject({ _tag: "CacheTimeoutError", operation: "clear" })
      expect(cleared.key).toBeUndefined()
    })))

  it.effect("lets results in time and other errors through unchanged", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* apply(Policy.timeout("50 millis"))
      yield* cache.set("k", "v")
      expect(yield* cache.get("k")).toStrictEqual(Option.some("v"))
      yield* faulty.failNext("reply")
      const error = yield* Effect.flip(cache.get("k"))
      expect(error).toMatchObject({ _tag: "CacheReplyError", message: faultMessage("reply") })
    })))
})

describe("Policy.timeout on Effect's live clock (a platform timer, one fiber per operation)", () => {
  // Marks each operation interrupted, and sets a fiber-local value while it runs.
  const watched = Effect.gen(function*() {
    const interrupted = yield* Ref.make(0)
    const local = FiberRef.unsafeMake(0)
    const policy = Policy.make((ops: Policy.CacheOps<CacheError>) =>
      Effect.succeed(
        Policy.aroundEach(ops, (effect) =>
          Effect.onInterrupt(
            Effect.zipRight(FiberRef.set(local, 1), effect),
            () => Ref.update(interrupted, (n) => n + 1)
          ))
      )
    )
    return { interrupted, local, policy }
  })

  it.live("fails an operation without a result in time, interrupting it", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const { interrupted, policy } = yield* watched
      const cache = yield* apply(policy.pipe(Policy.timeout("20 millis")))
      yield* faulty.failAlways("hang")
      const error = yield* Effect.flip(cache.get("k"))
      expect(error).toMatchObject({ _tag: "CacheTimeoutError", operation: "get", key: "k" })
      expect(error.message).toBe("no result within 20ms")
      // The operation was interrupted, and the interruption finished, before the timeout was reported.
      expect(yield* Ref.get(interrupted)).toBe(1)
    })))

  it.live("lets a result in time through with the fiber-local changes the operation made", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const { interrupted, local, policy } = yield* watched
      const cache = yield* apply(policy.pipe(Policy.timeout("10 seconds")))
      yield* cache.set("k", "v")
      expect(yield* cache.get("k")).toStrictEqual(Option.some("v"))
      expect(yield* FiberRef.get(local)).toBe(1)
      yield* faulty.failNext("reply")
      expect((yield* Effect.flip(cache.get("k")))._tag).toBe("CacheReplyError")
      expect(yield* Ref.get(interrupted)).toBe(0)
    })))

  it.live("interrupts the operation when its caller is interrupted", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const { interrupted, policy } = yield* watched
      const cache = yield* apply(policy.pipe(Policy.timeout("10 seconds")))
      yield* faulty.failAlways("hang")
      const fiber = yield* Effect.fork(cache.get("k"))
      // Wait until the operation has started.
      while ((yield* faulty.calls).length === 0) yield* Effect.sleep("1 millis")
      yield* Fiber.interrupt(fiber)
      expect(yield* Ref.get(interrupted)).toBe(1)
    })))
})

describe("Policy.retry", () => {
  it.effect("retries connection losses and timeouts as the schedule allows", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* apply(Policy.retry(Schedule.recurs(2)))
      yield* cache.set("k", "v")
      yield* faulty.failNext("connection")
      yield* faulty.failNext("timeout")
      expect(yield* cache.get("k")).toStrictEqual(Option.some("v"))
      expect(yield* operations).toStrictEqual(["set", "get", "get", "get"])
    })))

  it.effect("reports the last error once the schedule gives up", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* apply(Policy.retry(Schedule.recurs(2)))
      yield* faulty.failAlways("connection")
      const error = yield* Effect.flip(cache.delete("k"))
      expect(error).toMatchObject({ _tag: "CacheConnectionError", operation: "delete", key: "k" })
      expect(yield* operations).toStrictEqual(["delete", "delete", "delete"])
    })))

  for (const fault of ["reply", "serialization", "protocol", "input"] as const satisfies ReadonlyArray<Fault>) {
    it.effect(`never retries a ${fault} error`, () =>
      withBackend(Effect.gen(function*() {
        const faulty = yield* FaultyBackend
        const cache = yield* apply(Policy.retry(Schedule.recurs(5)))
        yield* faulty.failNext(fault)
        const error = yield* Effect.flip(cache.set("k", 1))
        expect(error.message).toBe(faultMessage(fault))
        expect(yield* operations).toStrictEqual(["set"])
      })))
  }

  it.effect("never retries an open circuit", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* apply(
        Policy.circuitBreaker({ failureThreshold: 1, resetAfter: "1 minute" }).pipe(Policy.retry(Schedule.recurs(5)))
      )
      yield* faulty.failNext("reply")
      yield* Effect.flip(cache.get("k"))
      const error = yield* Effect.flip(cache.get("k"))
      expect(error._tag).toBe("CacheCircuitOpenError")
      expect(yield* operations).toStrictEqual(["get"])
    })))

  it.effect("feeds the schedule only retryable errors", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const seen: Array<string> = []
      const cache = yield* apply(Policy.retry(Schedule.recurWhile((error: Policy.RetryableError) => {
        seen.push(error._tag)
        return true
      })))
      yield* faulty.failNext("connection")
      yield* faulty.failNext("timeout")
      yield* faulty.failNext("reply")
      const error = yield* Effect.flip(cache.get("k"))
      expect(error._tag).toBe("CacheReplyError")
      expect(seen).toStrictEqual(["CacheConnectionError", "CacheTimeoutError"])
    })))

  it.effect("after timeout, gives each attempt its own timeout", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* apply(Policy.timeout("50 millis").pipe(Policy.retry(Schedule.recurs(1))))
      yield* cache.set("k", "v")
      yield* faulty.failNext("hang")
      const fiber = yield* Effect.fork(cache.get("k"))
      yield* TestClock.adjust("50 millis")
      expect(yield* Fiber.join(fiber)).toStrictEqual(Option.some("v"))
    })))

  it.effect("reads a one-shot iterator of setMany once, so a retry writes the same entries", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* apply(Policy.retry(Schedule.recurs(1)))
      yield* faulty.failNext("connection")
      function* entries(): Generator<readonly [string, unknown]> {
        yield ["a", 1]
        yield ["b", 2]
      }
      yield* cache.setMany(entries())
      expect(yield* cache.getMany(["a", "b"])).toStrictEqual([Option.some(1), Option.some(2)])
    })))
})

describe("Policy.circuitBreaker", () => {
  it.effect("opens after N consecutive failures, probes after resetAfter, closes on success (TestClock)", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const breaker = yield* Policy.makeCircuitBreaker({ failureThreshold: 3, resetAfter: "1 second" })
      const cache = yield* apply(breaker.policy)
      const calls = Effect.map(operations, (ops) => ops.length)
      expect(yield* breaker.state).toBe("Closed")

      yield* faulty.failAlways("connection")
      for (let i = 1; i <= 2; i++) {
        expect((yield* Effect.flip(cache.get("k")))._tag).toBe("CacheConnectionError")
        expect(yield* breaker.state).toBe("Closed")
        expect(yield* breaker.failures).toBe(i)
      }
      expect((yield* Effect.flip(cache.get("k")))._tag).toBe("CacheConnectionError")
      expect(yield* breaker.state).toBe("Open")

      // Open: fail fast, the backend is not touched.
      const rejected = yield* Effect.flip(cache.set("k", "v"))
      expect(rejected).toMatchObject({ _tag: "CacheCircuitOpenError", operation: "set", key: "k" })
      expect(rejected.message).toBe("circuit open after 3 consecutive failures; next probe after 1s")
      expect(yield* calls).toBe(3)

      yield* TestClock.adjust("999 millis")
      expect(yield* breaker.state).toBe("Open")
      expect((yield* Effect.flip(cache.get("k")))._tag).toBe("CacheCircuitOpenError")
      yield* TestClock.adjust("1 millis")
      expect(yield* breaker.state).toBe("HalfOpen")

      // A failed probe opens it again for another resetAfter.
      expect((yield* Effect.flip(cache.get("k")))._tag).toBe("CacheConnectionError")
      expect(yield* calls).toBe(4)
      expect(yield* breaker.state).toBe("Open")
      yield* TestClock.adjust("500 millis")
      expect((yield* Effect.flip(cache.get("k")))._tag).toBe("CacheCircuitOpenError")
      yield* TestClock.adjust("500 millis")
      expect(yield* breaker.state).toBe("HalfOpen")

      // A successful probe closes it.
      yield* faulty.heal
      yield* cache.set("k", "v")
      expect(yield* breaker.state).toBe("Closed")
      expect(yield* cache.get("k")).toStrictEqual(Option.some("v"))
      expect(yield* calls).toBe(6)
    })))

  it.effect("counts consecutive failures only: a success resets the count", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const breaker = yield* Policy.makeCircuitBreaker({ failureThreshold: 3, resetAfter: "1 second" })
      const cache = yield* apply(breaker.policy)
      yield* faulty.failNext("connection", 2)
      yield* Effect.exit(cache.get("k"))
      yield* Effect.exit(cache.get("k"))
      yield* cache.get("k")
      expect(yield* breaker.failures).toBe(0)
      yield* faulty.failNext("timeout", 2)
      yield* Effect.exit(cache.get("k"))
      yield* Effect.exit(cache.get("k"))
      expect(yield* breaker.state).toBe("Closed")
    })))

  it.effect("lets one probe through at a time; an interrupted probe frees the slot", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const breaker = yield* Policy.makeCircuitBreaker({ failureThreshold: 1, resetAfter: "1 second" })
      const cache = yield* apply(breaker.policy)
      yield* faulty.failNext("connection")
      yield* Effect.exit(cache.get("k"))
      yield* TestClock.adjust("1 second")
      yield* faulty.failNext("hang")
      const probe = yield* Effect.fork(cache.get("k"))
      yield* Effect.yieldNow()
      expect(yield* breaker.state).toBe("HalfOpen")
      expect((yield* Effect.flip(cache.get("k")))._tag).toBe("CacheCircuitOpenError")
      yield* Fiber.interrupt(probe)
      expect(yield* breaker.state).toBe("HalfOpen")
      expect(yield* cache.get("k")).toStrictEqual(Option.none())
      expect(yield* breaker.state).toBe("Closed")
      expect(yield* operations).toStrictEqual(["get", "get", "get"])
    })))

  it.effect("ignores a late result of a call started before the circuit opened, even after a probe closed it", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const breaker = yield* Policy.makeCircuitBreaker({ failureThreshold: 2, resetAfter: "1 second" })
      // "late-*" keys answer once their gate opens: a reply still in flight on a server that has since recovered.
      const lateFailure = yield* Deferred.make<void>()
      const lateSuccess = yield* Deferred.make<void>()
      const cache = yield* breaker.policy.wrap({
        ...faulty.backend,
        get: (key) =>
          key === "late-failure"
            ? Effect.zipRight(
              Deferred.await(lateFailure),
              Effect.fail(new CacheConnectionError({ operation: "get", key, message: "late" }))
            )
            : key === "late-success"
            ? Effect.zipRight(Deferred.await(lateSuccess), Effect.succeedNone)
            : faulty.backend.get(key)
      })
      const failing = yield* Effect.fork(Effect.flip(cache.get("late-failure")))
      const succeeding = yield* Effect.fork(cache.get("late-success"))
      yield* Effect.yieldNow()

      // The circuit opens, and a successful probe closes it again.
      yield* faulty.failNext("connection", 2)
      yield* Effect.exit(cache.get("k"))
      yield* Effect.exit(cache.get("k"))
      expect(yield* breaker.state).toBe("Open")
      yield* TestClock.adjust("1 second")
      yield* cache.get("k")
      expect(yield* breaker.state).toBe("Closed")

      // One fresh failure counts; the old call's late failure does not add to it.
      yield* faulty.failNext("connection")
      yield* Effect.exit(cache.get("k"))
      expect(yield* breaker.failures).toBe(1)
      yield* Deferred.succeed(lateFailure, undefined)
      expect((yield* Fiber.join(failing))._tag).toBe("CacheConnectionError")
      expect(yield* breaker.failures).toBe(1)
      expect(yield* breaker.state).toBe("Closed")

      // Nor does a late success reset the count: the next fresh failure opens the circuit.
      yield* Deferred.succeed(lateSuccess, undefined)
      expect(yield* Fiber.join(succeeding)).toStrictEqual(Option.none())
      expect(yield* breaker.failures).toBe(1)
      yield* faulty.failNext("connection")
      yield* Effect.exit(cache.get("k"))
      expect(yield* breaker.state).toBe("Open")
    })))

  it.effect("with a threshold of 1, a late failure from before the circuit opened does not re-open it", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const breaker = yield* Policy.makeCircuitBreaker({ failureThreshold: 1, resetAfter: "1 second" })
      const gate = yield* Deferred.make<void>()
      const cache = yield* breaker.policy.wrap({
        ...faulty.backend,
        set: (key, value, ttl) =>
          key === "late"
            ? Effect.zipRight(
              Deferred.await(gate),
              Effect.fail(new CacheTimeoutError({ operation: "set", key, message: "late" }))
            )
            : faulty.backend.set(key, value, ttl)
      })
      const late = yield* Effect.fork(Effect.flip(cache.set("late", 1)))
      yield* Effect.yieldNow()
      yield* faulty.failNext("connection")
      yield* Effect.exit(cache.get("k"))
      expect(yield* breaker.state).toBe("Open")
      yield* TestClock.adjust("1 second")
      yield* cache.get("k")
      expect(yield* breaker.state).toBe("Closed")
      yield* Deferred.succeed(gate, undefined)
      expect((yield* Fiber.join(late))._tag).toBe("CacheTimeoutError")
      expect(yield* breaker.state).toBe("Closed")
      expect(yield* cache.get("k")).toStrictEqual(Option.none())
    })))

  it.effect("does not count serialization or input errors, which say nothing about the server", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const breaker = yield* Policy.makeCircuitBreaker({ failureThreshold: 1, resetAfter: "1 second" })
      const cache = yield* apply(breaker.policy)
      yield* faulty.failNext("serialization")
      yield* faulty.failNext("input")
      yield* Effect.exit(cache.set("k", 1))
      yield* Effect.exit(cache.set("k", 1))
      expect(yield* breaker.state).toBe("Closed")
      yield* faulty.failNext("reply")
      yield* Effect.exit(cache.set("k", 1))
      expect(yield* breaker.state).toBe("Open")
    })))

  it.effect("isFailure chooses what counts", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const breaker = yield* Policy.makeCircuitBreaker({
        failureThreshold: 1,
        resetAfter: "1 second",
        isFailure: Policy.isRetryable
      })
      const cache = yield* apply(breaker.policy)
      yield* faulty.failNext("reply")
      yield* Effect.exit(cache.get("k"))
      expect(yield* breaker.state).toBe("Closed")
      yield* faulty.failNext("timeout")
      yield* Effect.exit(cache.get("k"))
      expect(yield* breaker.state).toBe("Open")
    })))

  it.effect("counts timeouts when placed after timeout", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const breaker = yield* Policy.makeCircuitBreaker({ failureThreshold: 2, resetAfter: "1 second" })
      const cache = yield* apply(Policy.timeout("10 millis").pipe(breaker.policy))
      yield* faulty.failAlways("hang")
      for (let i = 0; i < 2; i++) {
        const fiber = yield* Effect.fork(Effect.flip(cache.get("k")))
        yield* TestClock.adjust("10 millis")
        expect((yield* Fiber.join(fiber))._tag).toBe("CacheTimeoutError")
      }
      expect(yield* breaker.state).toBe("Open")
    })))

  it.effect("gives each cache built with circuitBreaker its own breaker", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const policy = Policy.circuitBreaker({ failureThreshold: 1, resetAfter: "1 second" })
      const one = yield* apply(policy)
      const two = yield* apply(policy)
      yield* faulty.failNext("connection")
      yield* Effect.exit(one.get("k"))
      expect((yield* Effect.flip(one.get("k")))._tag).toBe("CacheCircuitOpenError")
      expect(yield* two.get("k")).toStrictEqual(Option.none())
    })))

  it.effect("rejects invalid options as defects", () =>
    Effect.gen(function*() {
      for (const failureThreshold of [0, 1.5, -1, NaN]) {
        const exit = yield* Effect.exit(Policy.makeCircuitBreaker({ failureThreshold, resetAfter: "1 second" }))
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      }
      const exit = yield* Effect.exit(Policy.makeCircuitBreaker({ failureThreshold: 1, resetAfter: Duration.infinity }))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      const applied = yield* Effect.exit(
        withBackend(apply(Policy.circuitBreaker({ failureThreshold: 0, resetAfter: "1 second" })))
      )
      expect(Exit.isFailure(applied) && Cause.isDie(applied.cause)).toBe(true)
    }))
})

describe("Policy.log", () => {
  it.effect("logs each failure with the operation, the key and the error, never the value", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      yield* withBackend(Effect.gen(function*() {
        const faulty = yield* FaultyBackend
        const cache = yield* apply(Policy.log("Warning"))
        yield* faulty.failAlways("connection")
        const error = yield* Effect.flip(cache.set("user:1", { password: "the-secret-value" }))
        expect(error._tag).toBe("CacheConnectionError")
        yield* Effect.exit(cache.clear)
        yield* Effect.exit(cache.getMany(["a", "b"]))
      })).pipe(Effect.provide(logs.layer))
      expect(logs.lines).toStrictEqual([
        {
          level: "WARN",
          message: "cache set failed: CacheConnectionError: injected connection fault",
          annotations: { "cache.operation": "set", "cache.key": "user:1" }
        },
        {
          level: "WARN",
          message: "cache clear failed: CacheConnectionError: injected connection fault",
          annotations: { "cache.operation": "clear" }
        },
        {
          level: "WARN",
          message: "cache getMany failed: CacheConnectionError: injected connection fault",
          annotations: { "cache.operation": "getMany", "cache.key": "a" }
        }
      ])
      expect(JSON.stringify(logs.lines)).not.toContain("the-secret-value")
    }))

  it.effect("logs nothing for successes and misses", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      yield* withBackend(Effect.gen(function*() {
        const cache = yield* apply(Policy.log("Error"))
        yield* cache.set("k", 1)
        yield* cache.get("k")
        yield* cache.get("missing")
      })).pipe(Effect.provide(logs.layer))
      expect(logs.lines).toStrictEqual([])
    }))
})

describe("Policy.recoverToMiss", () => {
  it.effect("turns every failure into a miss or a no-op; the error channel is never", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* apply(Policy.recoverToMiss)
      expectTypeOf(cache.get).returns.toEqualTypeOf<Effect.Effect<Option.Option<unknown>>>()
      expectTypeOf(cache.clear).toEqualTypeOf<Effect.Effect<void>>()
      yield* cache.set("k", "v")
      for (const fault of ["connection", "timeout", "reply", "protocol", "serialization", "input"] as const) {
        yield* faulty.failAlways(fault)
        expect(yield* cache.get("k")).toStrictEqual(Option.none())
        expect(yield* cache.getWithTtl("k")).toStrictEqual(Option.none())
        expect(yield* cache.getMany(["a", "k", "c"])).toStrictEqual([Option.none(), Option.none(), Option.none()])
        yield* cache.set("k", "other")
        yield* cache.setMany([["k", "other"]])
        yield* cache.delete("k")
        yield* cache.clear
      }
      yield* faulty.heal
      expect(yield* cache.get("k")).toStrictEqual(Option.some("v"))
    })))

  it.effect("a getMany that failed on some keys only answers what it read of the others, else a miss per key", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const read = [Option.some("a"), Option.none(), Option.some("c")]
      let partial: ReadonlyArray<Option.Option<unknown>> = read
      const backend = {
        ...faulty.backend,
        getMany: () =>
          Effect.fail(
            withPartial(
              new CacheConnectionError({ operation: "getMany", key: "b", message: "one server down" }),
              partial
            )
          )
      }
      const wrapped = yield* Policy.recoverToMiss.wrap(backend)
      const fused = yield* RemoteCache.fromBackend(backend, Policy.recoverToMiss)
      const chained = yield* RemoteCache.fromBackend(
        backend,
        Policy.timeout("1 second").pipe(Policy.retry(Schedule.recurs(1)), Policy.recoverToMiss)
      )
      for (const cache of [wrapped, fused, chained]) {
        partial = read
        expect(yield* cache.getMany(["a", "b", "c"])).toStrictEqual(read)
        // A partial result that does not match the keys is not trusted: a miss per key.
        partial = [Option.some("a")]
        expect(yield* cache.getMany(["a", "b", "c"])).toStrictEqual([Option.none(), Option.none(), Option.none()])
      }
    })))

  it.effect("lets defects through", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* apply(Policy.recoverToMiss)
      yield* faulty.failNext("die")
      const exit = yield* Effect.exit(cache.get("k"))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
    })))
})

describe("composition", () => {
  it.effect("the design's sketch: timeout, one retry, then a miss", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const policy = Policy.timeout("50 millis").pipe(Policy.retry(Schedule.recurs(1)), Policy.recoverToMiss)
      expectTypeOf(policy).toEqualTypeOf<Policy.Policy<CacheError, never>>()
      const cache = yield* apply(policy)
      yield* faulty.failAlways("hang")
      const fiber = yield* Effect.fork(cache.get("k"))
      yield* TestClock.adjust("99 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toStrictEqual(Option.none())
      expect(yield* operations).toStrictEqual(["get", "get"])
    })))

  it.effect("order matters: after retry, one timeout bounds every attempt together", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* apply(Policy.retry(Schedule.recurs(3)).pipe(Policy.timeout("50 millis")))
      yield* faulty.failAlways("hang")
      const fiber = yield* Effect.fork(Effect.flip(cache.get("k")))
      yield* TestClock.adjust("50 millis")
      expect((yield* Fiber.join(fiber))._tag).toBe("CacheTimeoutError")
      expect(yield* operations).toStrictEqual(["get"])
    })))

  it.effect("every combinator, in several orders", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const breaker = yield* Policy.makeCircuitBreaker({ failureThreshold: 2, resetAfter: "1 second" })
      const policy = Policy.timeout("20 millis").pipe(
        Policy.retry(Schedule.recurs(1)),
        breaker.policy,
        Policy.log("Debug"),
        Policy.recoverToMiss
      )
      const cache = yield* apply(policy)
      yield* cache.set("k", "v")
      yield* faulty.failAlways("connection")
      // Each get: two attempts (retried), one breaker failure.
      expect(yield* cache.get("k")).toStrictEqual(Option.none())
      expect(yield* cache.get("k")).toStrictEqual(Option.none())
      expect(yield* breaker.state).toBe("Open")
      expect(yield* cache.get("k")).toStrictEqual(Option.none())
      expect((yield* operations).length).toBe(5)
      yield* faulty.heal
      yield* TestClock.adjust("1 second")
      expect(yield* cache.get("k")).toStrictEqual(Option.some("v"))
      expect(yield* breaker.state).toBe("Closed")

      // The breaker first, then the rest: still a policy that never fails.
      const other = Policy.circuitBreaker({ failureThreshold: 1, resetAfter: "1 second" }).pipe(
        Policy.log("Info"),
        Policy.timeout("1 second"),
        Policy.retry(Schedule.recurs(1)),
        Policy.recoverToMiss
      )
      expectTypeOf(other).toEqualTypeOf<Policy.Policy<CacheError, never>>()
      expect(yield* (yield* apply(other)).get("k")).toStrictEqual(Option.some("v"))
    })))

  it.effect("types show what each step does to the error channel", () =>
    Effect.sync(() => {
      const timeoutAlone = Policy.timeout("1 second")
      expectTypeOf(timeoutAlone).toMatchTypeOf<Policy.Policy<CacheError, CacheError | CacheTimeoutError>>()
      const guarded = Policy.timeout("1 second").pipe(
        Policy.circuitBreaker({ failureThreshold: 1, resetAfter: "1 second" })
      )
      expectTypeOf(guarded).toEqualTypeOf<Policy.Policy<CacheError, CacheError | Policy.CacheCircuitOpenError>>()
      const retried = guarded.pipe(Policy.retry(Schedule.recurs(1)), Policy.log("Debug"))
      expectTypeOf(retried).toEqualTypeOf<Policy.Policy<CacheError, CacheError | Policy.CacheCircuitOpenError>>()
      expectTypeOf(retried.pipe(Policy.recoverToMiss)).toEqualTypeOf<Policy.Policy<CacheError, never>>()
      // Calling a policy with another is the same as piping.
      expectTypeOf(Policy.recoverToMiss(guarded)).toEqualTypeOf<Policy.Policy<CacheError, never>>()

      // A RemoteCache needs a policy that ends every failure.
      RemoteCache.layer(Policy.recoverToMiss)
      RemoteCache.layer(Policy.identity.pipe(Policy.recoverToMiss))
      RemoteCache.layer(retried.pipe(Policy.recoverToMiss))
      // @ts-expect-error a timeout alone leaves failures to the application
      RemoteCache.layer(Policy.timeout("1 second"))
      // @ts-expect-error so does a circuit breaker
      RemoteCache.layer(guarded)
      // @ts-expect-error recovering first and timing out afterwards fails again
      RemoteCache.layer(Policy.recoverToMiss.pipe(Policy.timeout("1 second")))
    }))

  it.effect("a custom policy composes with the built-in ones and gets its state per application", () =>
    withBackend(Effect.gen(function*() {
      const counters: Array<Ref.Ref<number>> = []
      const counting = Policy.make((ops: Policy.CacheOps<CacheError>) =>
        Effect.map(Ref.make(0), (count) => {
          counters.push(count)
          return Policy.aroundEach(ops, (effect) => Effect.zipRight(Ref.update(count, (n) => n + 1), effect))
        })
      )
      const policy = counting.pipe(Policy.recoverToMiss)
      const one = yield* apply(policy)
      const two = yield* apply(policy)
      yield* one.get("a")
      yield* one.set("a", 1)
      yield* two.clear
      expect(yield* Effect.all(counters.map(Ref.get))).toStrictEqual([2, 1])
      expect(Policy.isPolicy(policy)).toBe(true)
      expect(Policy.isPolicy({})).toBe(false)
    })))

  it.effect("identity changes nothing", () =>
    withBackend(Effect.gen(function*() {
      const faulty = yield* FaultyBackend
      const cache = yield* apply(Policy.identity)
      yield* faulty.failNext("protocol")
      expect((yield* Effect.flip(cache.get("k")))._tag).toBe("CacheProtocolError")
      expect(cache.prefix).toBe("ac:")
    })))
})
