/**
 * The cache applications use: a `RemoteCacheBackend` seen through a `Policy` that says how its failures end,
 * with telemetry (spans and metrics) on every operation, and typed views through `Schema`.
 *
 * ```ts
 * const Cache = RemoteCache.layer(
 *   Policy.timeout("50 millis").pipe(Policy.retry(Schedule.recurs(1)), Policy.log("Debug"), Policy.recoverToMiss)
 * )
 * ```
 *
 * `layerDefault` never lets a cache failure fail the caller: every failure is logged at debug level and
 * becomes a miss (`get`), a no-op (`set`, `delete`, `deleteMany`, `clear`) or "not stored" (`setIfAbsent` answers
 * `false`); no timeout beyond the client's own. Each outage is said at Warning level when it starts and every 5
 * minutes while it lasts, and its end at Info with its duration (`logOutages`).
 *
 * A value the backend's serializer cannot encode is the caller's bug, not a cache failure: under every policy the
 * write dies with an `IllegalArgumentError` (Effect 3's `IllegalArgumentException`) that says why, so a write is
 * never dropped without a trace.
 *
 * ## Telemetry
 *
 * With a tracer installed (OpenTelemetry's, or any other than Effect's built-in one), every operation runs in a
 * span `RemoteCache.<operation>` (kind `client`) with the attributes `cache.operation`, `cache.prefix` (the
 * backend's prefix), `cache.keys` (for `getMany` / `setMany` / `deleteMany`, the number of keys) and, when an error
 * occurred (even
 * one the policy recovered), `cache.error` (its tag). Never a key: keys can hold personal data. Never a value.
 * Under Effect's built-in tracer, which hands its spans to nobody, or with tracing disabled, no span is made: it
 * would cost more than the cache read itself, and nobody would see it.
 *
 * Metrics (`effect/Metric`, with the attribute `operation`, a tag on Effect 3, after the fiber's own attributes):
 * {@link operationsTotal}, {@link hitsTotal}, {@link missesTotal}, {@link errorsTotal} (also with the attribute
 * `error`, the error's tag) and {@link operationDuration}. Errors are counted
 * where they arise, before any recovery: each failed attempt of the backend (a retried one included), each
 * timeout and each call refused by an open circuit, once.
 *
 * @since 0.1.0
 */
import * as Cause from "#effect/Cause"
import * as Clock from "#effect/Clock"
import * as Context from "#effect/Context"
import type * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import type * as Fiber from "#effect/Fiber"
import * as Layer from "#effect/Layer"
import * as Metric from "#effect/Metric"
import * as Option from "#effect/Option"
import * as References from "#effect/References"
import * as Schema from "#effect/Schema"
import type * as Tracer from "#effect/Tracer"
import { formatDuration, OutageTracker } from "./core/outage.js"
import * as Backend from "./internal/backend/backend.js"
import * as Lease from "./internal/backend/lease.js"
import * as Probe from "./internal/backend/probe.js"
import { durationMillis } from "./internal/duration.js"
import * as TypedView from "./internal/schemaView.js"
import * as Metrics from "./internal/telemetry/metrics.js"
import {
  type FusedStep,
  FusionId,
  fusionOf,
  type Observer,
  type StepTarget,
  tapFailure,
  withFusion,
  wrapObserved
} from "./internal/telemetry/observe.js"
import * as Policy from "./Policy.js"
import {
  type CacheError,
  type CacheSerializationError,
  type Operation,
  RemoteCacheBackend,
  type RemoteCacheBackendShape
} from "./RemoteCacheBackend.js"

/**
 * The service: the cache's operations, which never fail (the policy has decided how every failure ends).
 *
 * @since 0.1.0
 * @category models
 */
export interface RemoteCacheShape extends Policy.CacheOps<never> {}

/**
 * The remote cache applications use.
 *
 * @since 0.1.0
 * @category tags
 */
export class RemoteCache extends Context.Service<RemoteCache, RemoteCacheShape>()("effect-remote-cache/RemoteCache") {}

// ---------------------------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------------------------

/**
 * Counter `remote_cache_operations_total`, by `operation`: operations called.
 *
 * @since 0.1.0
 * @category metrics
 */
export const operationsTotal: Metric.Counter<number> = Metrics.operationsTotal

/**
 * Counter `remote_cache_hits_total`, by `operation` (`get`, `getWithTtl`, `getMany`): keys found, one per key
 * for `getMany`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const hitsTotal: Metric.Counter<number> = Metrics.hitsTotal

/**
 * Counter `remote_cache_misses_total`, by `operation`: keys not found, one per key for `getMany`. A failure
 * recovered to a miss counts here as well as in {@link errorsTotal}.
 *
 * @since 0.1.0
 * @category metrics
 */
export const missesTotal: Metric.Counter<number> = Metrics.missesTotal

/**
 * Counter `remote_cache_errors_total`, by `operation` and `error` (the error's `_tag`, such as
 * `CacheConnectionError`, `CacheTimeoutError`, `CacheCircuitOpenError`, or the schema's error, `SchemaError`
 * (`ParseError` on Effect 3), for a stored value that a typed view rejects, this module's or
 * `TieredCache.forSchema`'s, whose reads count as `get` and `getOrCompute`): errors where they arise, before any
 * recovery, each once.
 *
 * @since 0.1.0
 * @category metrics
 */
export const errorsTotal: Metric.Counter<number> = Metrics.errorsTotal

/**
 * Histogram `remote_cache_operation_duration_ms`, by `operation`: the time the caller waited, in
 * milliseconds, policy included (retries, timeouts). Buckets from 0.1 ms doubling to about 52 s.
 *
 * @since 0.1.0
 * @category metrics
 */
export const operationDuration: Metric.Histogram<number> = Metrics.operationDuration

const { countError, isTraced, operationMetrics, tagOf } = Metrics

const observeErrors: Observer = (ops) =>
  Policy.aroundEach(ops, (effect, operation) => tapFailure(effect, (error) => countError(operation, error)))

// `any`: one recorder serves every operation, whose results differ in type (an `Option`, an array of them, `void`).
type Outcome = (value: any, metrics: Metrics.OperationMetrics, context: Metric.UpdateContext) => void

const optionOutcome: Outcome = (value: Option.Option<unknown>, metrics, context) =>
  Metric.updateUnsafe(Option.isSome(value) ? metrics.hits : metrics.misses, 1, context)

const manyOutcome: Outcome = (values: ReadonlyArray<Option.Option<unknown>>, metrics, context) => {
  let hits = 0
  for (const value of values) if (Option.isSome(value)) hits++
  if (hits > 0) Metric.updateUnsafe(metrics.hits, hits, context)
  if (values.length > hits) Metric.updateUnsafe(metrics.misses, values.length - hits, context)
}

// Effect's own clock reads nanoseconds as a `bigint`, allocated on each read; the platform's monotonic clock in
// milliseconds measures the same durations without. Any other clock (`TestClock`) is read as such.
const platformNow = (): number => performance.now()

// The clock of one operation: the fiber's own (`TestClock` in tests), read as milliseconds.
const nowOf = (fiber: Fiber.Current): () => number => {
  const clock = References.getUnsafe(fiber, Clock.Clock)
  return clock === Clock.live ? platformNow : () => Number(Clock.currentTimeNanosUnsafe(clock)) / 1_000_000
}

// Counts one operation and its duration in a metric context (a fiber's attributes, see `Metric.contextUnsafe`), by
// plain calls.
const record = (
  context: Metric.UpdateContext,
  metrics: Metrics.OperationMetrics,
  now: () => number,
  start: number
): void => {
  Metric.updateUnsafe(metrics.operations, 1, context)
  Metric.updateUnsafe(metrics.duration, now() - start, context)
}

// Metrics of one operation, on the fiber's own clock, updated by plain calls. An interrupted operation is counted
// too, so the handler runs in an uninterruptible region, as `Effect.onExit`'s does; but it hands the result straight
// back instead of running a cleanup effect and then the exit, which saves several steps per operation.
const measure = <A, E>(
  fiber: Fiber.Current,
  operation: Operation,
  effect: Effect.Effect<A, E>,
  outcome: Outcome | undefined,
  handler: Handler | undefined,
  key: string | undefined,
  keys: ReadonlyArray<string> | undefined,
  now: () => number = nowOf(fiber),
  start: number = now()
): Effect.Effect<A, E> => {
  const metrics = operationMetrics[operation]
  const done = {
    onFailure: (cause: Cause.Cause<E>) => {
      record(Metric.contextUnsafe(fiber), metrics, now, start)
      return Effect.failCause(cause)
    },
    onSuccess: (value: A) => {
      const context = Metric.contextUnsafe(fiber)
      record(context, metrics, now, start)
      if (outcome !== undefined) outcome(value, metrics, context)
      return Effect.succeed(value)
    }
  }
  if (handler === undefined) {
    return Effect.uninterruptibleMask((restore) => Effect.matchCauseEffect(restore(effect), done))
  }
  // The fused policy steps run inside the operation's interruptible region, as they would around it; an operation
  // interrupted while it waited skips them, as their own handlers would be skipped.
  return Effect.uninterruptibleMask((restore) =>
    Effect.matchCauseEffect(restore(effect), {
      onFailure: (cause) => Effect.matchCauseEffect(restore(handler.onFailure(cause, operation, key, keys)), done),
      onSuccess: (value) => {
        const after = handler.onSuccess === undefined ? undefined : handler.onSuccess(operation)
        return after === undefined
          ? done.onSuccess(value)
          : Effect.matchCauseEffect(restore(Effect.as(after, value)), done)
      }
    })
  )
}

// The watcher of one probed `get` (see `internal/backend/probe.ts`): the same metrics as `measure`'s, recorded
// from the backend's callback when the read settles, with no handler around the call. A read settles once whether
// or not its caller still waits, so an interrupted read is counted too, with the time until its reply; its metric
// attributes are read when it starts, as its caller's scope (`Effect.tagMetrics`) may be gone when it settles. The
// fused failure steps run in the caller's fiber, after the failure is counted; what they make of it (a miss, under
// `recoverToMiss`) is counted as the general path counts it.
class GetProbe implements Probe.ReadProbe<Option.Option<unknown>> {
  private readonly start: number
  private readonly context: Metric.UpdateContext
  constructor(
    private readonly fiber: Fiber.Current,
    private readonly now: () => number,
    private readonly handler: Handler,
    private readonly key: string
  ) {
    this.start = now()
    this.context = Metric.contextUnsafe(fiber)
  }

  settle(outcome: Effect.Effect<Option.Option<unknown>, CacheError>): Effect.Effect<Option.Option<unknown>, any> {
    const { context, fiber, handler, key, now, start } = this
    const metrics = operationMetrics.get
    // Not finished (a serializer that answers later, the connection still opening): measured as usual from here.
    if (!Exit.isExit(outcome)) return measure(fiber, "get", outcome, optionOutcome, handler, key, undefined, now, start)
    const exit = outcome as Exit.Exit<Option.Option<unknown>, CacheError>
    record(context, metrics, now, start)
    if (exit._tag === "Success") {
      optionOutcome(exit.value, metrics, context)
      const after = handler.onSuccess === undefined ? undefined : handler.onSuccess("get")
      return after === undefined ? exit : Effect.as(after, exit.value)
    }
    return Effect.map(handler.onFailure(exit.cause, "get", key, undefined), (value) => {
      optionOutcome(value, metrics, context)
      return value
    })
  }
}

// The policy steps that act on failure only (see `Fusion`), applied from `measure`'s own handler: a successful
// operation is the backend's effect and one telemetry step, whatever the number of such steps. With no policy of
// another kind below them, the handler also counts the backend's errors and refuses unencodable values, as
// `observeErrors` and `refuseUnencodable` do around the backend otherwise.
interface Handler {
  readonly onFailure: (
    cause: Cause.Cause<any>,
    operation: Operation,
    key: string | undefined,
    keys: ReadonlyArray<string> | undefined
  ) => Effect.Effect<any, any>
  readonly onSuccess: ((operation: Operation) => Effect.Effect<void> | undefined) | undefined
}

const handlerOf = (steps: ReadonlyArray<FusedStep>, atBackend: boolean): Handler => {
  const onSuccess = steps.flatMap((step) => step.onSuccess === undefined ? [] : [step.onSuccess])
  return {
    onFailure: (cause, operation, key, keys) => {
      let effect: Effect.Effect<any, any> = Effect.failCause(cause)
      if (atBackend) {
        effect = tapFailure(effect, (error) => countError(operation, error))
        if (operation === "set" || operation === "setMany" || operation === "setIfAbsent") {
          effect = Effect.catchTag(
            effect as Effect.Effect<never, CacheError>,
            "CacheSerializationError",
            (error) => refuse(operation, error)
          )
        }
      }
      for (const step of steps) effect = step.onFailure(effect, operation, key, keys)
      return effect
    },
    onSuccess: onSuccess.length === 0 ? undefined : (operation) => {
      let after: Effect.Effect<void> | undefined
      for (const f of onSuccess) {
        const next = f(operation)
        if (next !== undefined) after = after === undefined ? next : Effect.andThen(after, next)
      }
      return after
    }
  }
}

// With a tracer that records spans, the span is outermost, so a policy's log lines and the backend's work are
// inside it, and the clock is read inside it, so the histogram measures what the caller waits for. Without one
// (Effect's built-in tracer hands its spans to nobody) no span is made: see `Metrics.isTraced`.
const instrument = <A, E>(
  operation: Operation,
  effect: Effect.Effect<A, E>,
  spanOptions: Tracer.SpanOptions,
  outcome: Outcome | undefined,
  handler: Handler | undefined,
  key: string | undefined,
  keys: ReadonlyArray<string> | undefined
): Effect.Effect<A, E> =>
  Effect.withFiber((fiber) =>
    isTraced(fiber)
      ? Effect.withSpan(
        Effect.withFiber((inner) => measure(inner, operation, effect, outcome, handler, key, keys)),
        spanNames[operation],
        spanOptions
      )
      : measure(fiber, operation, effect, outcome, handler, key, keys)
  )

const spanNames = Metrics.byOperation((operation) => `RemoteCache.${operation}`)

// The options of an operation's span. Stack traces off: capturing one per call would cost more than the rest of the
// telemetry together.
const clientSpan = (
  operation: Operation,
  prefix: string,
  attributes?: Record<string, unknown>
): Tracer.SpanOptions => ({
  kind: "client",
  captureStackTrace: false,
  attributes: { "cache.operation": operation, "cache.prefix": prefix, ...attributes }
})

const instrumentAll = <E>(
  ops: Policy.CacheOps<any>,
  handler?: Handler,
  probed?: Probe.ProbedGet | undefined
): Policy.CacheOps<E> => {
  const prefix = ops.prefix
  const spanOptions = (operation: Operation): Tracer.SpanOptions => clientSpan(operation, prefix)
  const batchOptions = (operation: Operation, count: number): Tracer.SpanOptions =>
    clientSpan(operation, prefix, { "cache.keys": count })
  const get = spanOptions("get")
  const getWithTtl = spanOptions("getWithTtl")
  const set = spanOptions("set")
  const setIfAbsent = spanOptions("setIfAbsent")
  const del = spanOptions("delete")
  const instrumented = (key: string) => instrument("get", ops.get(key), get, optionOutcome, handler, key, undefined)
  return {
    prefix,
    // Without spans, a backend's probed read records its own telemetry (see `GetProbe`).
    get: probed === undefined || handler === undefined ?
      instrumented :
      (key) =>
        Effect.withFiber((fiber) =>
          isTraced(fiber) ? instrumented(key) : probed(key, new GetProbe(fiber, nowOf(fiber), handler, key))
        ),
    getWithTtl: (key) =>
      instrument("getWithTtl", ops.getWithTtl(key), getWithTtl, optionOutcome, handler, key, undefined),
    getMany: (keys) =>
      instrument(
        "getMany",
        ops.getMany(keys),
        batchOptions("getMany", keys.length),
        manyOutcome,
        handler,
        keys[0],
        keys
      ),
    set: (key, value, ttl) => instrument("set", ops.set(key, value, ttl), set, undefined, handler, key, undefined),
    setMany: (entries, ttl) => {
      const list = Array.isArray(entries) ? entries : Array.from(entries)
      return instrument(
        "setMany",
        ops.setMany(list, ttl),
        batchOptions("setMany", list.length),
        undefined,
        handler,
        list[0]?.[0],
        undefined
      )
    },
    setIfAbsent: (key, value, ttl) =>
      instrument("setIfAbsent", ops.setIfAbsent(key, value, ttl), setIfAbsent, undefined, handler, key, undefined),
    delete: (key) => instrument("delete", ops.delete(key), del, undefined, handler, key, undefined),
    deleteMany: (keys) =>
      instrument(
        "deleteMany",
        ops.deleteMany(keys),
        batchOptions("deleteMany", keys.length),
        undefined,
        handler,
        keys[0],
        undefined
      ),
    clear: instrument("clear", ops.clear, spanOptions("clear"), undefined, handler, undefined, undefined),
    diagnosis: ops.diagnosis
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Outages and programming errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * Options of {@link logOutages}.
 *
 * @since 0.1.0
 * @category models
 */
export interface LogOutagesOptions {
  /**
   * Consecutive failed operations that make an outage (an integer, at least 1). Default 2: one failure between
   * successes (a blip, a single timeout) is left to `Policy.log`; two in a row are an outage.
   *
   * @since 0.2.0
   */
  readonly threshold?: number | undefined
  /**
   * How often an outage that goes on is said again, at the first failure after this long since it was last said.
   * Default 5 minutes.
   *
   * @since 0.2.0
   */
  readonly repeatEvery?: Duration.Input | undefined
  /**
   * The former name of `repeatEvery`, which it means now (`repeatEvery` wins when both are given). It used to
   * hold back the start of the next outage as well, so a short blip could hide a real outage that followed it.
   *
   * @deprecated Use `repeatEvery`.
   */
  readonly minInterval?: Duration.Input | undefined
}

// Errors about the value or the caller's input say nothing about the backend's health.
const isOutage = (error: unknown): boolean => {
  const tag = tagOf(error)
  return tag !== "CacheSerializationError" && tag !== "CacheInputError"
}

// Tag and message only: never the key, the value or the cause. This library's messages quote neither values nor
// secrets.
const describeError = (error: unknown): string => {
  const message = typeof error === "object" && error !== null && "message" in error &&
      typeof error.message === "string"
    ? error.message
    : ""
  return message === "" ? tagOf(error) : `${tagOf(error)}: ${message}`
}

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? "" : "s"}`

/**
 * Says every outage of the backend, however close to the last: a Warning when it starts, again while it lasts,
 * and an Info when it ends, whatever the number of operations in between.
 *
 * - Start: `threshold` consecutive failed operations (default 2, so that a lone failure between successes is not
 *   an outage): Warning `cache backend failing: <why>`. `<why>` is the backend's own diagnosis when it has one (a
 *   Redis backend: what its client last saw, such as `cannot connect to host:port: connect ECONNREFUSED…`, a failed
 *   TLS handshake or `authentication to host:port failed: WRONGPASS…`), else the operation's error
 *   (`<error tag>: <message>`, such as a policy's timeout).
 * - While it lasts: the same Warning, `cache backend still failing after <duration> (<n> failed operations): <why>`,
 *   at the first failure once `repeatEvery` (default 5 minutes) has passed since it was last said.
 * - End, at the first success: Info `cache backend working again after <duration> (<n> failed operations)`, the
 *   duration from the outage's first failure.
 *
 * Every line is annotated with `cache.operation` and `cache.prefix`; the Warnings with `cache.error` (the error's
 * tag) and `cache.failures`. Never a key, a value or a secret. Time is Effect's `Clock`. Errors about the value or
 * the input (`CacheSerializationError`, `CacheInputError`) are not outages: they neither count nor break a run.
 *
 * The step sees operations only: with no traffic it says nothing, and an outage ends at the first success after
 * it. The Redis client logs its connection too (`redis: cannot reach …`, `redis: connected to … again after …`),
 * from its background reconnection, with or without traffic.
 *
 * Each operation's failure is still `Policy.log`'s business: put this step before `recoverToMiss`, as
 * {@link defaultPolicy} does, so that a recovered failure is still seen.
 *
 * A `threshold` that is not a positive integer, or a `NaN`, negative or unparsable `repeatEvery` (or
 * `minInterval`), throws `IllegalArgumentError` here, when the step is made.
 *
 * @since 0.1.0
 * @category policies
 */
export const logOutages = (options: LogOutagesOptions = {}): Policy.Adds<never> => {
  const threshold = options.threshold ?? 2
  if (!Number.isInteger(threshold) || threshold < 1) {
    throw new Cause.IllegalArgumentError(`logOutages threshold must be a positive integer, got ${threshold}`)
  }
  const repeatName = options.repeatEvery === undefined && options.minInterval !== undefined
    ? "logOutages minInterval"
    : "logOutages repeatEvery"
  const repeatEvery = durationMillis(options.repeatEvery ?? options.minInterval ?? "5 minutes", repeatName, {
    allowZero: true
  })
  if (repeatEvery._tag === "Invalid") throw new Cause.IllegalArgumentError(repeatEvery.message)
  const repeatEveryMillis = repeatEvery.millis
  // Per cache built: one tracker of its outages.
  const makeStep = (target: StepTarget) => {
    const tracker = new OutageTracker({ threshold, repeatEveryMillis })
    const prefix = target.prefix
    const annotations = (operation: Operation): Record<string, string> => ({
      "cache.operation": operation,
      "cache.prefix": prefix
    })
    const why = (error: unknown): string => {
      const diagnosis = target.diagnosis?.()
      return diagnosis === undefined ? describeError(error) : diagnosis
    }
    const failed = (operation: Operation, error: unknown): Effect.Effect<void> =>
      Effect.clockWith((clock) => {
        if (!isOutage(error)) return Effect.void
        const event = tracker.failure(Clock.currentTimeMillisUnsafe(clock))
        if (event === undefined || event._tag === "Ended") return Effect.void
        const message = event._tag === "Started"
          ? `cache backend failing: ${why(error)}`
          : `cache backend still failing after ${formatDuration(event.elapsedMillis)} ` +
            `(${plural(event.failures, "failed operation")}): ${why(error)}`
        return Effect.annotateLogs(Effect.logWarning(message), {
          ...annotations(operation),
          "cache.error": tagOf(error),
          "cache.failures": String(event.failures)
        })
      })
    const succeeded = (operation: Operation): Effect.Effect<void> =>
      Effect.clockWith((clock) => {
        const event = tracker.success(Clock.currentTimeMillisUnsafe(clock))
        if (event === undefined || event._tag !== "Ended") return Effect.void
        return Effect.annotateLogs(
          Effect.logInfo(
            `cache backend working again after ${formatDuration(event.durationMillis)} ` +
              `(${plural(event.failures, "failed operation")})`
          ),
          annotations(operation)
        )
      })
    // Nothing to do on a success unless failures are counted: the usual success costs one comparison.
    const onSuccess = (operation: Operation) => tracker.failures > 0 ? succeeded(operation) : undefined
    return {
      step: {
        onFailure: (failedEffect, operation) => tapFailure(failedEffect, (error) => failed(operation, error)),
        onSuccess
      } satisfies FusedStep,
      // `tapBoth`, without its extra steps on the usual success (the backend working, nothing to say).
      around: <A, E>(effect: Effect.Effect<A, E>, operation: Operation): Effect.Effect<A, E> =>
        Effect.matchCauseEffect(effect, {
          onFailure: (cause) => Effect.tapError(Effect.failCause(cause), (error) => failed(operation, error)),
          onSuccess: (value) => {
            const after = onSuccess(operation)
            return after === undefined ? Effect.succeed(value) : Effect.as(after, value)
          }
        })
    }
  }
  const policy = Policy.make((ops: Policy.CacheOps<CacheError>) =>
    Effect.sync(() => Policy.aroundEach(ops, makeStep(ops).around))
  )
  // Like `Policy.log`, it adds no error and lets through whatever it is given, so it composes after any policy;
  // and it acts on failure only (but for the Info, said on a success), so `RemoteCache` can fuse it.
  return withFusion(policy, [(target) => makeStep(target).step]) as unknown as Policy.Adds<never>
}

// Set while a typed view writes the encoded form it made, so that a refusal can name the likely cause. A reference
// is known by its key, so every copy of this module shares it.
const WritingSchemaView = Context.Reference<boolean>("effect-remote-cache/RemoteCache/writingSchemaView", {
  defaultValue: () => false
})

const refuse = (operation: Operation, error: CacheSerializationError): Effect.Effect<never> =>
  Effect.withFiber((fiber) =>
    Effect.die(
      new Cause.IllegalArgumentError(
        `RemoteCache.${operation}: the backend's serializer cannot encode the value (${error.message}). A value ` +
          "that cannot be stored is a programming error, not a cache failure, so no policy hides it." +
          (References.getUnsafe(fiber, WritingSchemaView)
            ? " The value is the encoded form made by a typed view (RemoteCache.forSchema): with Serializer.schema " +
              "on the backend too, it is encoded twice. Give the schema to one of them only: a typed view over " +
              "Serializer.v8 or Serializer.json, or the untyped cache over Serializer.schema."
            : "")
      )
    )
  )

// An encoding failure is deterministic: every later write of such a value fails the same way, and swallowing it
// (as recovering policies do) would drop every write without a trace. It fails the caller loudly instead.
const refuseUnencodable = (ops: Policy.CacheOps<CacheError>): Policy.CacheOps<CacheError> => ({
  ...ops,
  set: (key, value, ttl) =>
    Effect.catchTag(ops.set(key, value, ttl), "CacheSerializationError", (error) => refuse("set", error)),
  setMany: (entries, ttl) =>
    Effect.catchTag(ops.setMany(entries, ttl), "CacheSerializationError", (error) => refuse("setMany", error)),
  setIfAbsent: (key, value, ttl) =>
    Effect.catchTag(
      ops.setIfAbsent(key, value, ttl),
      "CacheSerializationError",
      (error) => refuse("setIfAbsent", error)
    )
})

// ---------------------------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------------------------

/**
 * The policy of {@link layerDefault}: a cache failure never fails the caller. Every failure is logged at
 * debug level, then `get` yields a miss, `set` / `delete` / `deleteMany` / `clear` do nothing and `setIfAbsent`
 * answers `false`. It is not silent: when the
 * backend fails twice in a row a Warning names the cause (the client's diagnosis when it has one), repeated every
 * 5 minutes while it lasts, and an Info says when it works again and for how long it did not
 * ({@link logOutages}). No timeout is added: an unresponsive server costs the client's own `commandTimeout`
 * (5 s by default).
 *
 * @since 0.1.0
 * @category policies
 */
export const defaultPolicy: Policy.Policy<CacheError, never> = Policy.log("Debug").pipe(
  logOutages(),
  Policy.recoverToMiss
)

/**
 * Applies `policy` to `backend`, with telemetry. The operations fail with the policy's error type: a policy that
 * does not end in `recoverToMiss` gives typed failures to handle.
 *
 * A value the backend's serializer cannot encode (`CacheSerializationError` from `set`, `setMany` or `setIfAbsent`) is a
 * programming error, not a cache failure: whatever the policy, the write dies with an `IllegalArgumentError`
 * that says why, rather than being dropped.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromBackend = <E>(
  backend: RemoteCacheBackendShape,
  policy: Policy.Policy<CacheError, E>
): Effect.Effect<Policy.CacheOps<E>> => {
  if (!(FusionId in policy)) {
    return Effect.map(
      wrapObserved(policy, refuseUnencodable(observeErrors(backend)), observeErrors),
      (ops) => instrumentAll<E>(ops)
    )
  }
  // A policy that ends in steps acting on failure only (`defaultPolicy` is nothing else): the part below them is
  // applied as usual, and the steps run from the telemetry's own failure handler.
  const { inner, steps } = fusionOf(policy)
  return Effect.map(
    inner === undefined
      ? Effect.succeed(backend)
      : wrapObserved(inner, refuseUnencodable(observeErrors(backend)), observeErrors),
    (ops) => {
      const handler = handlerOf(steps.map((make) => make(backend)), inner === undefined)
      const instrumented = instrumentAll<E>(
        ops,
        handler,
        inner === undefined ? Probe.probedGetOf(backend) : undefined
      )
      const leaseRead = inner === undefined ? Lease.leaseReadOf(backend) : undefined
      return leaseRead === undefined
        ? instrumented
        : Lease.attach(instrumented, recoveredLease(instrumentedLease(leaseRead, handler, ops.prefix)))
    }
  )
}

const leaseOutcome: Outcome = (outcome: Lease.LeaseOutcome | Option.Option<unknown>, metrics, context) =>
  Metric.updateUnsafe(isHit(outcome) ? metrics.hits : metrics.misses, 1, context)

const isHit = (outcome: Lease.LeaseOutcome | Option.Option<unknown>): boolean =>
  Option.isOption(outcome) ? Option.isSome(outcome) : outcome._tag === "Hit"

// The backend's leased read with the telemetry and the failure steps of a `getWithTtl` (its count, duration, hit or
// miss, errors, span, the policy's logs and outage log). A failure the steps recover becomes a miss (`None`), which
// is `Won` here: the caller computes the value itself.
const instrumentedLease = (leaseRead: Lease.LeaseRead, handler: Handler, prefix: string): Lease.LeaseRead => {
  const spanOptions = clientSpan("getWithTtl", prefix, { "cache.lease": true })
  const writeSpanOptions = clientSpan("set", prefix, { "cache.lease": true })
  // The write under the lease, as a `set`: a failure the steps recover (`void`) counts as written, as an ignored
  // failed `set` does.
  const instrumentedWrite = (key: string, write: Lease.Write): Lease.Write => (value, ttl) =>
    Effect.map(
      instrument("set", write(value, ttl), writeSpanOptions, undefined, handler, key, undefined),
      (written) => written !== false
    )
  return (key, leaseMillis, recacheSeconds) =>
    Effect.map(
      instrument(
        "getWithTtl",
        leaseRead(key, leaseMillis, recacheSeconds) as Effect.Effect<Lease.LeaseOutcome | Option.Option<unknown>, any>,
        spanOptions,
        leaseOutcome,
        handler,
        key,
        undefined
      ),
      (outcome): Lease.LeaseOutcome =>
        Option.isOption(outcome)
          ? Lease.won
          : outcome._tag === "Lost" || outcome.write === undefined
          ? outcome
          : { ...outcome, write: instrumentedWrite(key, outcome.write) }
    )
}

// A failure no step recovered: logged at debug level and `Won`, so that the caller computes the value itself, as
// after a miss.
const recoveredLease = (leaseRead: Lease.LeaseRead): Lease.LeaseRead => (key, leaseMillis, recacheSeconds) =>
  Effect.catch(
    leaseRead(key, leaseMillis, recacheSeconds),
    (error) =>
      Effect.as(
        Effect.logDebug(`RemoteCache leased read failed, computing locally: ${describeError(error)}`),
        Lease.won
      )
  )

/**
 * Applies `policy` to the `RemoteCacheBackend` in context, with telemetry (see {@link fromBackend}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E>(
  policy: Policy.Policy<CacheError, E>
): Effect.Effect<Policy.CacheOps<E>, never, RemoteCacheBackend> =>
  Effect.flatMap(RemoteCacheBackend, (backend) => fromBackend(backend, policy))

/**
 * What {@link layer} asks for in place of a policy that can still fail (its error type `E` is not `never`), so
 * that the compiler's message names the fix: `Policy.timeout("50 millis")` alone fails with `CacheTimeoutError`;
 * `Policy.timeout("50 millis").pipe(Policy.recoverToMiss)` never fails. For typed failures to handle, use
 * {@link make} (or {@link fromBackend}), which keep `E`.
 *
 * @since 0.2.0
 * @category models
 */
export interface PolicyMustEndWithRecoverToMiss<E> {
  /** The errors the policy may still fail with. */
  readonly "RemoteCache.layer needs a policy that never fails: end it with Policy.recoverToMiss": E
}

/**
 * The `RemoteCache` of the backend in context, seen through `policy`. The policy must end every failure (its
 * error type is `never`, as after `Policy.recoverToMiss`), so the application states how its cache fails; any
 * other policy is a type error that reads {@link PolicyMustEndWithRecoverToMiss}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E = never>(
  policy: Policy.Policy<CacheError, E> & ([E] extends [never] ? unknown : PolicyMustEndWithRecoverToMiss<E>)
): Layer.Layer<RemoteCache, never, RemoteCacheBackend> =>
  Layer.effect(RemoteCache, make(policy as Policy.Policy<CacheError, never>))

/**
 * The `RemoteCache` with {@link defaultPolicy}: every failure logged at debug level and recovered to a miss or a
 * no-op.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDefault: Layer.Layer<RemoteCache, never, RemoteCacheBackend> = layer(defaultPolicy)

// ---------------------------------------------------------------------------------------------------------------
// Typed views
// ---------------------------------------------------------------------------------------------------------------

/**
 * A decoded value with the time it has left (`None` when it never expires).
 *
 * @since 0.1.0
 * @category models
 */
export interface SchemaEntry<A> {
  readonly value: A
  readonly remainingTtl: Option.Option<Duration.Duration>
}

/**
 * A cache of `A`s: values are stored in the schema's encoded form (through the backend's serializer) and decoded
 * on the way out. A stored value that no longer matches the schema (written before a deploy changed the type) is
 * a miss, logged at debug level and counted in `remote_cache_errors_total` with the tag of the schema's error
 * (`SchemaError`; `ParseError` on Effect 3). Writing a value the schema cannot encode is a programming error,
 * reported as a `Schema.SchemaError` (Effect 3's `ParseError`; nothing is stored).
 *
 * The view hands the backend the schema's encoded form, so the backend's serializer must not be
 * `Serializer.schema` as well: it would encode that form a second time. That combination is refused at the first
 * write, which dies with an `IllegalArgumentError` saying so. Use a typed view over `Serializer.v8` or
 * `Serializer.json`, or the untyped cache over `Serializer.schema`.
 *
 * `E` is the error of the underlying cache: `never` for a `RemoteCache`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SchemaView<A, R = never, E = never> {
  /** The value stored under `key`, or `None` (also when the stored value does not match the schema). */
  readonly get: (key: string) => Effect.Effect<Option.Option<A>, E, R>
  /** The value stored under `key` with the TTL it has left. */
  readonly getWithTtl: (key: string) => Effect.Effect<Option.Option<SchemaEntry<A>>, E, R>
  /** The values of `keys`, in order, `None` for each miss. */
  readonly getMany: (keys: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Option.Option<A>>, E, R>
  /** Encodes `value` and stores it under `key`. */
  readonly set: (
    key: string,
    value: A,
    ttl?: Duration.Input
  ) => Effect.Effect<void, Schema.SchemaError | E, R>
  /** Encodes every value, then stores them all; nothing is stored when one fails to encode. */
  readonly setMany: (
    entries: Iterable<readonly [key: string, value: A]>,
    ttl?: Duration.Input
  ) => Effect.Effect<void, Schema.SchemaError | E, R>
  /**
   * Encodes `value` and stores it under `key` only when the key holds nothing; `true` when it stored (see
   * `RemoteCacheBackend`'s `setIfAbsent`). A value the schema cannot encode fails with a `SchemaError`, before the
   * key is looked at.
   */
  readonly setIfAbsent: (
    key: string,
    value: A,
    ttl?: Duration.Input
  ) => Effect.Effect<boolean, Schema.SchemaError | E, R>
  /** Removes `key`. */
  readonly delete: (key: string) => Effect.Effect<void, E>
  /** Removes every key of `keys` (values of any type), in a few commands (see `RemoteCacheBackend`'s `deleteMany`). */
  readonly deleteMany: (keys: ReadonlyArray<string>) => Effect.Effect<void, E>
  /** Removes every key under the cache's prefix (values of any type). */
  readonly clear: Effect.Effect<void, E>
}

/**
 * A typed view of `cache` through `schema` (see {@link SchemaView}). The view needs what the schema needs to decode
 * (`R`) and to encode (`RE`, by default the same; on Effect 3 a schema has one requirement for both).
 *
 * @since 0.1.0
 * @category constructors
 */
export const schemaView = <A, I, R, E, RE = R>(
  cache: Policy.CacheOps<E>,
  schema: Schema.Codec<A, I, R, RE>
): SchemaView<A, R | RE, E> => {
  const decodeOrMiss = TypedView.decodeOrMiss(schema)
  const encode = Schema.encodeEffect(schema)

  const decodeOption = (operation: Operation, key: string, stored: Option.Option<unknown>) =>
    Option.isNone(stored) ? Effect.succeedNone : decodeOrMiss(operation, key, stored.value)

  return {
    get: (key) => Effect.flatMap(cache.get(key), (stored) => decodeOption("get", key, stored)),
    getWithTtl: (key) =>
      Effect.flatMap(
        cache.getWithTtl(key),
        (stored): Effect.Effect<Option.Option<SchemaEntry<A>>, never, R | RE> =>
          Option.isNone(stored)
            ? Effect.succeedNone
            : Effect.map(
              decodeOrMiss("getWithTtl", key, stored.value.value),
              Option.map((value) => ({ value, remainingTtl: stored.value.remainingTtl }))
            )
      ),
    getMany: (keys) =>
      Effect.flatMap(
        cache.getMany(keys),
        (stored) => Effect.forEach(stored, (item, i) => decodeOption("getMany", keys[i]!, item))
      ),
    set: (key, value, ttl) =>
      Effect.flatMap(
        encode(value),
        (encoded) => Effect.provideService(cache.set(key, encoded, ttl), WritingSchemaView, true)
      ),
    setMany: (entries, ttl) =>
      Effect.flatMap(
        // Read once, at call time, like the backends do.
        Effect.forEach(Backend.entriesOf(entries), ([key, value]) =>
          Effect.map(encode(value), (encoded) => [key, encoded] as const)),
        (encoded) =>
          Effect.provideService(cache.setMany(encoded, ttl), WritingSchemaView, true)
      ),
    setIfAbsent: (key, value, ttl) =>
      Effect.flatMap(
        encode(value),
        (encoded) => Effect.provideService(cache.setIfAbsent(key, encoded, ttl), WritingSchemaView, true)
      ),
    delete: cache.delete,
    deleteMany: cache.deleteMany,
    clear: cache.clear
  }
}

/**
 * A typed view (see {@link SchemaView}) of the `RemoteCache` in context.
 *
 * ```ts
 * const users = yield* RemoteCache.forSchema(User)
 * yield* users.set("user:1", { id: 1, name: "Ada" }, "10 minutes")
 * const user = yield* users.get("user:1") // Option<User>
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const forSchema = <A, I, R, RE = R>(
  schema: Schema.Codec<A, I, R, RE>
): Effect.Effect<SchemaView<A, R | RE>, never, RemoteCache> =>
  Effect.map(RemoteCache, (cache) => schemaView(cache, schema))
