/**
 * A `RemoteCacheBackend` for model checking the two-tier cache: a wrapper (usually over a `MemoryBackend`) that
 * gives every call a latency, slept with `Effect.sleep` so that a `TestClock` drives it, optionally fails it, and
 * records it in a log with the values it carried.
 *
 * Each call sleeps half its latency before it reaches the inner backend and half after (a request, then its reply),
 * so calls of several fibers land in L2 in an order the latencies choose. An injected failure is a
 * `CacheConnectionError`, either before the call reaches the inner backend (nothing done) or after (done, reply
 * lost: the caller cannot tell which, as with a real server).
 *
 * @since 0.1.0
 */
import * as Effect from "#effect/Effect"
import * as MemoryBackend from "../../src/MemoryBackend.js"
import {
  CacheConnectionError,
  type CacheError,
  type Operation,
  type RemoteCacheBackendShape
} from "../../src/RemoteCacheBackend.js"

/**
 * What the controls are asked about a call before it runs.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallInfo {
  /** The instance (index) whose backend this is. */
  readonly instance: number
  readonly operation: Operation
  /** The keys the call touches, without the backend prefix; empty for `clear`. */
  readonly keys: ReadonlyArray<string>
}

/**
 * How a call fails: `"before"` it reaches the inner backend (nothing done), `"after"` (done, its reply lost).
 *
 * @since 0.1.0
 * @category models
 */
export type Failure = "before" | "after"

/**
 * The injectable behaviour; both are consulted once per call, when it starts.
 *
 * @since 0.1.0
 * @category models
 */
export interface Controls {
  /** Milliseconds the call takes (0: none, no sleep at all). */
  latency: (call: CallInfo) => number
  /** Whether, and how, the call fails. */
  failure: (call: CallInfo) => Failure | undefined
}

/**
 * One call as the wrapper saw it. Sequence numbers come from the `sequence` function the log was made with, so
 * they order the calls with any other event recorded with the same function.
 *
 * @since 0.1.0
 * @category models
 */
export interface Call {
  readonly instance: number
  readonly operation: Operation
  readonly keys: ReadonlyArray<string>
  /** For writes, the value each key is written with (see {@link valueTag}), `undefined` when none is recognized. */
  readonly values: ReadonlyArray<string | undefined>
  readonly startSeq: number
  readonly startMs: number
  endSeq: number
  endMs: number
  /** Whether the inner backend ran it. */
  applied: boolean
  failed: boolean
}

/**
 * The log of every call made through wrappers sharing it.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallLog {
  readonly calls: Array<Call>
  readonly sequence: () => number
}

/**
 * A fresh log whose events are numbered by `sequence`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeLog = (sequence: () => number): CallLog => ({ calls: [], sequence })

/**
 * Controls with no latency and no failure.
 *
 * @since 0.1.0
 * @category constructors
 */
export const quiet = (): Controls => ({ latency: () => 0, failure: () => undefined })

/**
 * The string a stored value stands for: the value itself when it is a string, or the value field of the tiered
 * cache's entry (`{ "~tiered": 1, v }`); `undefined` otherwise (a tag key's record, for instance).
 *
 * @since 0.1.0
 * @category utils
 */
export const valueTag = (stored: unknown): string | undefined => {
  if (typeof stored === "string") return stored
  if (typeof stored === "object" && stored !== null && "v" in stored) {
    const inner = (stored as { readonly v: unknown }).v
    return typeof inner === "string" ? inner : undefined
  }
  return undefined
}

/**
 * Wraps `inner`: every call sleeps, may fail, and is logged.
 *
 * @since 0.1.0
 * @category constructors
 */
export const wrap = (
  inner: RemoteCacheBackendShape,
  options: { readonly instance: number; readonly log: CallLog; readonly controls: Controls }
): RemoteCacheBackendShape => {
  const { controls, instance, log } = options
  const run = <A>(
    operation: Operation,
    keys: ReadonlyArray<string>,
    values: ReadonlyArray<string | undefined>,
    effect: Effect.Effect<A, CacheError>
  ): Effect.Effect<A, CacheError> =>
    Effect.suspend(() => {
      const info: CallInfo = { instance, operation, keys }
      const latency = Math.max(0, controls.latency(info))
      const failure = controls.failure(info)
      const call: Call = {
        instance,
        operation,
        keys,
        values,
        startSeq: log.sequence(),
        startMs: 0,
        endSeq: -1,
        endMs: -1,
        applied: false,
        failed: false
      }
      log.calls.push(call)
      const half = Math.floor(latency / 2)
      const sleep = (millis: number) => millis > 0 ? Effect.sleep(millis) : Effect.void
      const fail = Effect.fail(
        new CacheConnectionError({ operation, key: keys[0], message: "injected connection fault" })
      )
      const body = failure === "before" ? fail : Effect.flatMap(
        Effect.tap(effect, () =>
          Effect.sync(() => {
            call.applied = true
          })),
        (a) => failure === "after" ? fail : Effect.succeed(a)
      )
      const finish = Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (now) =>
        Effect.sync(() => {
          call.endSeq = log.sequence()
          call.endMs = now
        }))
      return Effect.clockWith((clock) => clock.currentTimeMillis).pipe(
        Effect.tap((now) =>
          Effect.sync(() => {
            ;(call as { startMs: number }).startMs = now
          })
        ),
        Effect.andThen(sleep(half)),
        Effect.andThen(body),
        Effect.tapError(() =>
          Effect.sync(() => {
            call.failed = true
          })
        ),
        Effect.tap(() => sleep(latency - half)),
        Effect.ensuring(finish)
      )
    })
  return {
    prefix: inner.prefix,
    get: (key) => run("get", [key], [], inner.get(key)),
    getWithTtl: (key) => run("getWithTtl", [key], [], inner.getWithTtl(key)),
    getMany: (keys) => run("getMany", keys, [], inner.getMany(keys)),
    set: (key, value, ttl) => run("set", [key], [valueTag(value)], inner.set(key, value, ttl)),
    setMany: (entries, ttl) => {
      const list = Array.from(entries)
      return run(
        "setMany",
        list.map(([key]) => key),
        list.map(([, value]) => valueTag(value)),
        inner.setMany(list, ttl)
      )
    },
    setIfAbsent: (key, value, ttl) => run("setIfAbsent", [key], [valueTag(value)], inner.setIfAbsent(key, value, ttl)),
    delete: (key) => run("delete", [key], [], inner.delete(key)),
    deleteMany: (keys) => run("deleteMany", keys, [], inner.deleteMany(keys)),
    clear: run("clear", [], [], inner.clear)
  }
}

/**
 * A `MemoryBackend` (built with `memory`, usually over a store shared by every instance) behind {@link wrap}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  memory: MemoryBackend.MakeOptions,
  options: { readonly instance: number; readonly log: CallLog; readonly controls: Controls }
): Effect.Effect<RemoteCacheBackendShape> => Effect.map(MemoryBackend.make(memory), (inner) => wrap(inner, options))
