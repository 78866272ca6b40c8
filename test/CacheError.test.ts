import { describe, expect, it } from "@effect/vitest"
import { Effect, Equal, Exit, Option, Ref, Schedule } from "effect"
import * as Policy from "../src/Policy.js"
import * as RedisError from "../src/RedisError.js"
import {
  CacheCircuitOpenError,
  CacheConnectionError,
  type CacheError,
  type CacheErrorFields,
  CacheInputError,
  CacheProtocolError,
  CacheReplyError,
  CacheSerializationError,
  CacheTimeoutError,
  isCacheError,
  type RemoteCacheBackendShape
} from "../src/RemoteCacheBackend.js"

const fields = (message = "m"): CacheErrorFields => ({ operation: "get", key: "k", message })

const everyCacheError = [
  new CacheConnectionError(fields()),
  new CacheTimeoutError(fields()),
  new CacheReplyError(fields("ERR unknown command")),
  new CacheProtocolError(fields()),
  new CacheSerializationError(fields()),
  new CacheInputError(fields()),
  new CacheCircuitOpenError(fields())
]

const everyRedisError = [
  new RedisError.RedisConnectionError({ message: "m" }),
  new RedisError.RedisTimeoutError({ message: "m", phase: "reply", timeoutMillis: 1 }),
  new RedisError.RedisReplyError({ message: "ERR x", code: "ERR", command: "GET" }),
  new RedisError.RedisAuthError({ message: "WRONGPASS x" }),
  new RedisError.RedisProtocolError({ message: "m" }),
  new RedisError.RedisInputError({ message: "m", command: "GET" }),
  new RedisError.RedisConfigError({ message: "m" })
]

// Objects that look like errors by their tag alone.
const lookalikes: ReadonlyArray<unknown> = [
  { _tag: "CacheConnectionError", operation: "get", message: "m", isRetryable: true },
  { _tag: "RedisConnectionError", message: "m" },
  new Error("CacheConnectionError"),
  "CacheConnectionError",
  null,
  undefined,
  42
]

describe("isCacheError", () => {
  it("is true for every cache error class, the circuit breaker's included", () => {
    for (const error of everyCacheError) expect(isCacheError(error), error._tag).toBe(true)
  })

  it("is false for the client's errors and for objects that only carry a cache error's tag", () => {
    for (const u of [...everyRedisError, ...lookalikes]) expect(isCacheError(u)).toBe(false)
  })

  it("leaves structural equality of errors as it was", () => {
    expect(Equal.equals(new CacheTimeoutError(fields()), new CacheTimeoutError(fields()))).toBe(true)
    expect(Equal.equals(new CacheTimeoutError({ ...fields(), key: "a" }), new CacheTimeoutError(fields()))).toBe(false)
  })

  it("Policy.CacheCircuitOpenError is the same class as the backend module's", () => {
    expect(Policy.CacheCircuitOpenError).toBe(CacheCircuitOpenError)
  })
})

describe("RedisError.isRedisError", () => {
  it("is true for every error class of the client, RedisConfigError included", () => {
    for (const error of everyRedisError) expect(RedisError.isRedisError(error), error._tag).toBe(true)
  })

  it("is false for cache errors and lookalikes", () => {
    for (const u of [...everyCacheError, ...lookalikes]) expect(RedisError.isRedisError(u)).toBe(false)
  })
})

describe("isRetryable", () => {
  it("is true for connection losses and timeouts, false for protocol, serialization, input and an open circuit", () => {
    const retryable = Object.fromEntries(everyCacheError.map((error) => [error._tag, error.isRetryable]))
    expect(retryable).toStrictEqual({
      CacheConnectionError: true,
      CacheTimeoutError: true,
      CacheReplyError: false,
      CacheProtocolError: false,
      CacheSerializationError: false,
      CacheInputError: false,
      CacheCircuitOpenError: false
    })
  })

  it("for a reply, follows its code: a server in a passing state is retryable, anything else is not", () => {
    const codes = [
      ["LOADING Redis is loading the dataset in memory", true],
      ["BUSY Redis is busy running a script", true],
      ["TRYAGAIN Multiple keys request during rehashing of slot", true],
      ["CLUSTERDOWN The cluster is down", true],
      ["MASTERDOWN Link with MASTER is down", true],
      ["ERR unknown command 'FOO'", false],
      ["WRONGTYPE Operation against a key holding the wrong kind of value", false],
      ["NOAUTH Authentication required.", false],
      ["WRONGPASS invalid username-password pair", false],
      ["OOM command not allowed when used memory > 'maxmemory'", false],
      ["READONLY You can't write against a read only replica.", false],
      ["LOADINGX not a code of its own", false],
      ["loading lower case is not the code", false],
      ["", false]
    ] as const
    for (const [message, expected] of codes) {
      const error = new CacheReplyError(fields(message))
      expect(error.isRetryable, message).toBe(expected)
      expect(Policy.isRetryable(error), message).toBe(expected)
    }
    expect(new CacheReplyError(fields("LOADING")).code).toBe("LOADING")
    expect(new CacheReplyError(fields("BUSY Redis is busy")).code).toBe("BUSY")
  })

  it("Policy.isRetryable is false for anything that is not a cache error, whatever its tag or fields say", () => {
    for (const u of [...everyRedisError, ...lookalikes]) expect(Policy.isRetryable(u)).toBe(false)
  })
})

// A backend whose `get` fails with each error of `failures` in turn, then finds the value.
const scripted = (failures: ReadonlyArray<CacheError>) =>
  Effect.map(Ref.make(0), (attempts) => {
    const get = Effect.flatMap(Ref.getAndUpdate(attempts, (n) => n + 1), (n) => {
      const failure = failures[n]
      return failure === undefined ? Effect.succeed(Option.some<unknown>("v")) : Effect.fail(failure)
    })
    const backend: RemoteCacheBackendShape = {
      prefix: "t:",
      get: () => get,
      getWithTtl: () => Effect.succeed(Option.none()),
      getMany: (keys) => Effect.succeed(keys.map(() => Option.none())),
      set: () => Effect.void,
      setMany: () => Effect.void,
      setIfAbsent: () => Effect.succeed(true),
      delete: () => Effect.void,
      deleteMany: () => Effect.void,
      clear: Effect.void
    }
    return { backend, attempts: Ref.get(attempts) }
  })

describe("Policy.retry and isRetryable", () => {
  it.effect("retries a reply of a server in a passing state (LOADING, BUSY) until it answers", () =>
    Effect.gen(function*() {
      const { attempts, backend } = yield* scripted([
        new CacheReplyError(fields("LOADING Redis is loading the dataset in memory")),
        new CacheReplyError(fields("BUSY Redis is busy running a script"))
      ])
      const cache = yield* Policy.retry(Schedule.recurs(5)).wrap(backend)
      expect(yield* cache.get("k")).toStrictEqual(Option.some("v"))
      expect(yield* attempts).toBe(3)
    }))

  it.effect("makes one attempt only for every error that is not retryable", () =>
    Effect.gen(function*() {
      const notRetryable = [
        new CacheReplyError(fields("WRONGTYPE Operation against a key holding the wrong kind of value")),
        new CacheReplyError(fields("NOAUTH Authentication required.")),
        new CacheProtocolError(fields()),
        new CacheSerializationError(fields()),
        new CacheInputError(fields())
      ]
      for (const error of notRetryable) {
        const { attempts, backend } = yield* scripted([error, error, error])
        const cache = yield* Policy.retry(Schedule.recurs(5)).wrap(backend)
        expect(yield* Effect.flip(cache.get("k"))).toBe(error)
        expect(yield* attempts, error.message).toBe(1)
      }
    }))

  it.effect("does not retry a failure that only carries a retryable error's tag", () =>
    Effect.gen(function*() {
      const lookalike = { _tag: "CacheConnectionError", operation: "get", message: "m" } as unknown as CacheError
      const { attempts, backend } = yield* scripted([lookalike, lookalike])
      const cache = yield* Policy.retry(Schedule.recurs(5)).wrap(backend)
      expect(yield* Effect.exit(cache.get("k"))).toStrictEqual(Exit.fail(lookalike))
      expect(yield* attempts).toBe(1)
    }))

  it.effect("the circuit breaker's open error is never retried", () =>
    Effect.gen(function*() {
      const { attempts, backend } = yield* scripted([new CacheConnectionError(fields())])
      const cache = yield* Policy.circuitBreaker({ failureThreshold: 1, resetAfter: "1 hour" }).pipe(
        Policy.retry(Schedule.recurs(5))
      ).wrap(backend)
      // The first attempt fails and opens the circuit; the retries meet the open circuit and stop there.
      expect((yield* Effect.flip(cache.get("k")))._tag).toBe("CacheCircuitOpenError")
      expect(yield* attempts).toBe(1)
    }))
})
