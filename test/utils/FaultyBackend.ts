/**
 * A `RemoteCacheBackend` that fails on demand: a `MemoryBackend` with injected faults, for testing policies by
 * swapping layers. Faults are consulted when an operation runs (each attempt of a retried operation anew), and
 * every attempt is recorded with the span it ran in.
 *
 * @since 0.1.0
 */
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import type * as Option from "#effect/Option"
import type * as Tracer from "#effect/Tracer"
import * as MemoryBackend from "../../src/MemoryBackend.js"
import {
  CacheConnectionError,
  type CacheError,
  CacheInputError,
  CacheProtocolError,
  CacheReplyError,
  CacheSerializationError,
  CacheTimeoutError,
  type Operation,
  RemoteCacheBackend,
  type RemoteCacheBackendShape
} from "../../src/RemoteCacheBackend.js"

/**
 * What an operation does instead of its work: fail with one of the cache errors, never complete (`hang`, as a
 * paused server would), or die.
 *
 * @since 0.1.0
 * @category models
 */
export type Fault = "connection" | "timeout" | "reply" | "protocol" | "serialization" | "input" | "hang" | "die"

/**
 * One attempt of an operation, as the backend saw it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Call {
  readonly operation: Operation
  readonly key: string | undefined
  /** The span the attempt ran in, if any. */
  readonly span: Option.Option<Tracer.Span>
}

/**
 * The controls of a faulty backend.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultyBackendShape {
  /** The backend itself (also provided as `RemoteCacheBackend` by {@link layer}). */
  readonly backend: RemoteCacheBackendShape
  /** The next `times` attempts (of any operation) hit `fault`; they take precedence over `failAlways`. */
  readonly failNext: (fault: Fault, times?: number) => Effect.Effect<void>
  /** Every attempt hits `fault` until `heal`. */
  readonly failAlways: (fault: Fault) => Effect.Effect<void>
  /** Removes every injected fault. */
  readonly heal: Effect.Effect<void>
  /** Every attempt so far, in order. */
  readonly calls: Effect.Effect<ReadonlyArray<Call>>
}

/**
 * The test's faulty backend.
 *
 * @since 0.1.0
 * @category tags
 */
export class FaultyBackend extends Context.Service<FaultyBackend, FaultyBackendShape>()("test/FaultyBackend") {}

/**
 * The message of an injected error; it names the fault and nothing else.
 *
 * @since 0.1.0
 * @category constants
 */
export const faultMessage = (fault: Fault): string => `injected ${fault} fault`

const errorOf = (fault: Fault, operation: Operation, key: string | undefined): CacheError => {
  const fields = { operation, key, message: faultMessage(fault) }
  switch (fault) {
    case "connection":
      return new CacheConnectionError(fields)
    case "timeout":
      return new CacheTimeoutError(fields)
    case "reply":
      return new CacheReplyError(fields)
    case "protocol":
      return new CacheProtocolError(fields)
    case "serialization":
      return new CacheSerializationError(fields)
    default:
      return new CacheInputError(fields)
  }
}

/**
 * Makes a faulty backend over a fresh `MemoryBackend` built with `options`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: MemoryBackend.MakeOptions): Effect.Effect<FaultyBackendShape> =>
  Effect.gen(function*() {
    const memory = yield* MemoryBackend.make(options)
    const queue: Array<Fault> = []
    let standing: Fault | undefined
    const calls: Array<Call> = []

    const faulty = <A>(
      operation: Operation,
      key: string | undefined,
      effect: Effect.Effect<A, CacheError>
    ): Effect.Effect<A, CacheError> =>
      Effect.flatMap(Effect.option(Effect.currentSpan), (span) => {
        calls.push({ operation, key, span })
        const fault = queue.shift() ?? standing
        switch (fault) {
          case undefined:
            return effect
          case "hang":
            return Effect.never
          case "die":
            return Effect.die(new Error(faultMessage("die")))
          default:
            return Effect.fail(errorOf(fault, operation, key))
        }
      })

    const backend: RemoteCacheBackendShape = {
      prefix: memory.prefix,
      get: (key) => faulty("get", key, memory.get(key)),
      getWithTtl: (key) => faulty("getWithTtl", key, memory.getWithTtl(key)),
      getMany: (keys) => faulty("getMany", keys[0], memory.getMany(keys)),
      set: (key, value, ttl) => faulty("set", key, memory.set(key, value, ttl)),
      setMany: (entries, ttl) => {
        const list = Array.from(entries)
        return faulty("setMany", list[0]?.[0], memory.setMany(list, ttl))
      },
      setIfAbsent: (key, value, ttl) => faulty("setIfAbsent", key, memory.setIfAbsent(key, value, ttl)),
      delete: (key) => faulty("delete", key, memory.delete(key)),
      deleteMany: (keys) => faulty("deleteMany", keys[0], memory.deleteMany(keys)),
      clear: faulty("clear", undefined, memory.clear)
    }

    return FaultyBackend.of({
      backend,
      failNext: (fault, times = 1) =>
        Effect.sync(() => {
          for (let i = 0; i < times; i++) queue.push(fault)
        }),
      failAlways: (fault) =>
        Effect.sync(() => {
          standing = fault
        }),
      heal: Effect.sync(() => {
        queue.length = 0
        standing = undefined
      }),
      calls: Effect.sync(() => calls.slice())
    })
  })

/**
 * A faulty backend, provided both as `FaultyBackend` (the controls) and as `RemoteCacheBackend`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: MemoryBackend.MakeOptions): Layer.Layer<FaultyBackend | RemoteCacheBackend> =>
  Layer.effectContext(
    Effect.map(
      make(options),
      (faulty) => Context.make(FaultyBackend, faulty).pipe(Context.add(RemoteCacheBackend, faulty.backend))
    )
  )

/**
 * Every attempt's operation so far, for short assertions.
 *
 * @since 0.1.0
 * @category utils
 */
export const operations: Effect.Effect<ReadonlyArray<Operation>, never, FaultyBackend> = Effect.flatMap(
  FaultyBackend,
  (faulty) => Effect.map(faulty.calls, (calls) => calls.map((call) => call.operation))
)
