/**
 * Random concurrent histories of the two-tier cache, and running them against real instances.
 *
 * A history is two or three `TieredCache` instances over one L2 and one invalidation bus, and a list of operations,
 * each on one instance, started at its own offset as a fiber of its own. Every value written or computed is unique
 * (`v<op>`, `v<op>r<run>` for a later run of the same computation, `…:<key>` in a batch), so each answer names the
 * operation (and the run) that produced it. The runner records, for every operation, when it was invoked and when it
 * answered (virtual-clock milliseconds, and a sequence number that orders every recorded event exactly), what it
 * answered, and every run of its computations; the slow backend (see `TieredSlowBackend`) records every L2 call
 * with the values it carried. After every operation has ended and nothing is in flight, each key is read on each
 * instance (the quiescence reads).
 *
 * Over a `MemoryBackend` everything runs on a virtual clock (`VirtualClock`, in place of the `TestClock`), with per-call L2 latencies (and, in failure histories,
 * injected L2 failures); over a Redis server of the test's own it runs on the live clock, without injected latency.
 *
 * @since 0.1.0
 */
import * as Cause from "#effect/Cause"
import * as Clock from "#effect/Clock"
import * as Context from "#effect/Context"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Layer from "#effect/Layer"
import * as Logger from "#effect/Logger"
import * as Option from "#effect/Option"
import * as Schedule from "#effect/Schedule"
import type * as Scope from "#effect/Scope"
import * as Semaphore from "#effect/Semaphore"
import * as Clocks from "#test-effect/Clocks"
import * as ControlledScheduler from "#test-effect/ControlledScheduler"
import * as fc from "fast-check"
import * as MemoryBackend from "../../src/MemoryBackend.js"
import * as RedisBackend from "../../src/RedisBackend.js"
import * as RedisClient from "../../src/RedisClient.js"
import * as RemoteCache from "../../src/RemoteCache.js"
import { RemoteCacheBackend, type RemoteCacheBackendShape } from "../../src/RemoteCacheBackend.js"
import * as Serializer from "../../src/Serializer.js"
import * as TieredCache from "../../src/TieredCache.js"
import type * as RedisServer from "./RedisServer.js"
import * as Slow from "./TieredSlowBackend.js"

// ---------------------------------------------------------------------------------------------------------------
// Specifications
// ---------------------------------------------------------------------------------------------------------------

/**
 * A computation: how long it takes and whether it fails.
 *
 * @since 0.1.0
 * @category models
 */
export interface ComputeSpec {
  readonly latency: number
  readonly fails: boolean
}

/**
 * One operation of a history. Durations are milliseconds; `undefined` leaves an option to the cache's default.
 *
 * @since 0.1.0
 * @category models
 */
export type OpSpec =
  | { readonly kind: "get"; readonly instance: number; readonly at: number; readonly key: string }
  | {
    readonly kind: "set"
    readonly instance: number
    readonly at: number
    readonly key: string
    readonly ttl: number
    readonly grace: number | undefined
    readonly tags: ReadonlyArray<string>
  }
  | {
    readonly kind: "getOrCompute"
    readonly instance: number
    readonly at: number
    readonly key: string
    readonly ttl: number
    readonly grace: number | undefined
    readonly tags: ReadonlyArray<string>
    readonly timeout: number | undefined
    readonly hardTimeout: number | undefined
    readonly compute: ComputeSpec
  }
  | {
    readonly kind: "getOrComputeMany"
    readonly instance: number
    readonly at: number
    readonly keys: ReadonlyArray<string>
    readonly ttl: number
    readonly grace: number | undefined
    readonly tags: ReadonlyArray<string>
    readonly timeout: number | undefined
    readonly hardTimeout: number | undefined
    readonly compute: ComputeSpec
  }
  | { readonly kind: "delete"; readonly instance: number; readonly at: number; readonly key: string }
  | {
    readonly kind: "deleteMany"
    readonly instance: number
    readonly at: number
    readonly keys: ReadonlyArray<string>
  }
  | { readonly kind: "expire"; readonly instance: number; readonly at: number; readonly key: string }
  | {
    readonly kind: "invalidateTags"
    readonly instance: number
    readonly at: number
    readonly tags: ReadonlyArray<string>
    readonly hard: boolean
  }
  | { readonly kind: "clear"; readonly instance: number; readonly at: number }

/**
 * The kinds of operation.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = OpSpec["kind"]

/**
 * The cache options a history runs with (the same on every instance).
 *
 * @since 0.1.0
 * @category models
 */
export interface CacheSpec {
  readonly capacity: number
  readonly l1Ttl: number
  readonly grace: number
  readonly graceBackoff: number
}

/**
 * A whole history.
 *
 * @since 0.1.0
 * @category models
 */
export interface HistorySpec {
  readonly instances: number
  readonly keys: ReadonlyArray<string>
  readonly tags: ReadonlyArray<string>
  readonly cache: CacheSpec
  readonly ops: ReadonlyArray<OpSpec>
  /** L2 latencies, taken in turn by the calls as they start (milliseconds). */
  readonly latencies: ReadonlyArray<number>
  /** Injected L2 failures, taken in turn by the calls as they start; empty in a failure-free history. */
  readonly failures: ReadonlyArray<Slow.Failure | undefined>
}

// ---------------------------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------------------------

/**
 * One run of a computation: the value it produces for each of its keys (a run that fails produces none).
 *
 * @since 0.1.0
 * @category models
 */
export interface ComputeRun {
  readonly op: number
  readonly run: number
  readonly keys: ReadonlyArray<string>
  readonly startSeq: number
  readonly startMs: number
  endSeq: number
  endMs: number
  /** `undefined` while running; the run's exit otherwise. */
  outcome: "value" | "failure" | "interrupted" | undefined
}

/**
 * What an operation answered.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | { readonly _tag: "Done" }
  | { readonly _tag: "Value"; readonly value: unknown }
  | { readonly _tag: "Option"; readonly value: Option.Option<unknown> }
  | { readonly _tag: "Map"; readonly entries: ReadonlyArray<readonly [string, unknown]> }
  | { readonly _tag: "Failure"; readonly error: unknown }
  | { readonly _tag: "Defect"; readonly cause: string }

/**
 * One operation as it ran.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpRecord {
  readonly id: number
  readonly spec: OpSpec
  /** A read made after every operation had ended. */
  readonly quiescence: boolean
  invSeq: number
  invMs: number
  /** -1 while it has not answered. */
  resSeq: number
  resMs: number
  outcome: Outcome | undefined
  readonly runs: Array<ComputeRun>
}

/**
 * A value some operation wrote or computed.
 *
 * @since 0.1.0
 * @category models
 */
export interface ValueInfo {
  readonly value: string
  readonly key: string
  readonly op: number
  /** The computation run that produced it; `undefined` for a `set`. */
  readonly run: ComputeRun | undefined
  readonly ttl: number
  readonly grace: number
  readonly tags: ReadonlyArray<string>
  /** When the data behind it was read: a `set`'s call, a computation's start. */
  readonly createdSeq: number
  readonly createdMs: number
}

/**
 * A recorded history.
 *
 * @since 0.1.0
 * @category models
 */
export interface History {
  readonly spec: HistorySpec
  readonly backend: "memory" | "redis"
  readonly ops: ReadonlyArray<OpRecord>
  readonly values: ReadonlyMap<string, ValueInfo>
  readonly calls: ReadonlyArray<Slow.Call>
  /** Whether any L2 call failed (injected). */
  readonly failed: boolean
  /** Milliseconds by which an instance's L1 may still miss an invalidation after the op that sent it returned. */
  readonly busLagMs: number
  /** Whether the run stopped with operations or L2 calls still in flight (see `hangBoundMs`). */
  readonly unfinished: ReadonlyArray<string>
}

// ---------------------------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------------------------

/** The virtual clock's wall time when a history starts: a realistic epoch, so stamps look like today's. */
export const epochMs = 1_780_000_000_000

/** How long (virtual time) every operation gets before it counts as hung. */
export const hangBoundMs = 30_000

const keysOf = (count: number) => ["k0", "k1", "k2", "k3"].slice(0, count)
const tagSpace = ["ta", "tb"]

const ttlArb = fc.constantFrom(15, 60, 200, 1_000, 4_000)
const graceArb = fc.option(fc.constantFrom(0, 40, 300, 2_000), { nil: undefined })
const timeoutArb = fc.option(fc.constantFrom(0, 10, 50), { nil: undefined })
const hardTimeoutArb = fc.option(fc.constantFrom(20, 120), { nil: undefined })
const tagsArb = fc.subarray(tagSpace)
const computeArb = fc.record({
  latency: fc.constantFrom(0, 0, 3, 25, 90, 250),
  fails: fc.integer({ min: 0, max: 3 }).map((n) => n === 0)
})

const opArb = (instances: number, keys: ReadonlyArray<string>, maxAt: number): fc.Arbitrary<OpSpec> => {
  const instance = fc.integer({ min: 0, max: instances - 1 })
  const at = fc.integer({ min: 0, max: maxAt })
  const key = fc.constantFrom(...keys)
  const someKeys = fc.uniqueArray(key, { minLength: 1, maxLength: keys.length })
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("get" as const), instance, at, key }) },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant("set" as const),
        instance,
        at,
        key,
        ttl: ttlArb,
        grace: graceArb,
        tags: tagsArb
      })
    },
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant("getOrCompute" as const),
        instance,
        at,
        key,
        ttl: ttlArb,
        grace: graceArb,
        tags: tagsArb,
        timeout: timeoutArb,
        hardTimeout: hardTimeoutArb,
        compute: computeArb
      })
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("getOrComputeMany" as const),
        instance,
        at,
        keys: someKeys,
        ttl: ttlArb,
        grace: graceArb,
        tags: tagsArb,
        timeout: timeoutArb,
        hardTimeout: hardTimeoutArb,
        compute: computeArb
      })
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), instance, at, key }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("deleteMany" as const), instance, at, keys: someKeys }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("expire" as const), instance, at, key }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("invalidateTags" as const),
        instance,
        at,
        tags: fc.subarray(tagSpace, { minLength: 1 }),
        hard: fc.boolean()
      })
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("clear" as const), instance, at }) }
  )
}

/**
 * Two overlapping invalidations of one tag (from one instance or two) started a few milliseconds apart, often with a
 * write of an entry carrying the tag between them and reads after: ops drawn one by one rarely collide like that,
 * and an invalidation that lands in L2 after a later one must not leave that write fresh.
 */
const invalidationPairArb = (
  instances: number,
  keys: ReadonlyArray<string>,
  maxAt: number
): fc.Arbitrary<ReadonlyArray<OpSpec>> => {
  const instance = fc.integer({ min: 0, max: instances - 1 })
  return fc.record({
    tag: fc.constantFrom(...tagSpace),
    first: instance,
    second: instance,
    writer: fc.option(instance, { freq: 4, nil: undefined }),
    key: fc.constantFrom(...keys),
    ttl: fc.constantFrom(200, 1_000, 4_000),
    at: fc.integer({ min: 0, max: maxAt }),
    gaps: fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 60 })),
    hard: fc.tuple(fc.boolean(), fc.boolean()),
    readers: fc.uniqueArray(instance, { maxLength: 3 })
  }).map(({ at, first, gaps, hard, key, readers, second, tag, ttl, writer }): ReadonlyArray<OpSpec> => [
    { kind: "invalidateTags", instance: first, at, tags: [tag], hard: hard[0] },
    ...(writer === undefined ? [] : [
      {
        kind: "set",
        instance: writer,
        at: at + gaps[0],
        key,
        ttl,
        grace: undefined,
        tags: [tag]
      } as const
    ]),
    { kind: "invalidateTags", instance: second, at: at + gaps[0] + gaps[1], tags: [tag], hard: hard[1] },
    ...readers.map((reader) => ({ kind: "get", instance: reader, at: at + gaps[0] + gaps[1] + gaps[2], key }) as const)
  ])
}

/**
 * A value written with a short TTL and a grace, then, once it may be stale (its TTL over, or an `expire` or a soft
 * invalidation of its tag meanwhile), `getOrCompute` calls that may answer it stale: failing, slow past a soft or a
 * hard timeout, or waiting. Random ops rarely line up like that, and the grace bounds (G3) need stale answers.
 */
const staleScenarioArb = (
  instances: number,
  keys: ReadonlyArray<string>,
  maxAt: number
): fc.Arbitrary<ReadonlyArray<OpSpec>> => {
  const instance = fc.integer({ min: 0, max: instances - 1 })
  return fc.record({
    writer: instance,
    key: fc.constantFrom(...keys),
    tag: fc.constantFrom(...tagSpace),
    ttl: fc.constantFrom(15, 40),
    grace: fc.constantFrom(30, 150, 1_000),
    at: fc.integer({ min: 0, max: maxAt }),
    stale: fc.constantFrom("ttl", "expire", "invalidate"),
    staler: instance,
    readers: fc.array(
      fc.record({
        instance,
        delay: fc.integer({ min: 0, max: 300 }),
        timeout: fc.constantFrom(undefined, 0, 10),
        hardTimeout: fc.constantFrom(undefined, 20),
        compute: computeArb
      }),
      { minLength: 1, maxLength: 4 }
    )
  }).map(({ at, grace, key, readers, stale, staler, tag, ttl, writer }): ReadonlyArray<OpSpec> => [
    { kind: "set", instance: writer, at, key, ttl, grace, tags: [tag] },
    ...(stale === "expire"
      ? [{ kind: "expire", instance: staler, at: at + 5, key } as const]
      : stale === "invalidate"
      ? [{ kind: "invalidateTags", instance: staler, at: at + 5, tags: [tag], hard: false } as const]
      : []),
    ...readers.map((reader) => ({
      kind: "getOrCompute" as const,
      instance: reader.instance,
      at: at + ttl + reader.delay,
      key,
      ttl,
      grace,
      tags: [tag],
      timeout: reader.timeout,
      hardTimeout: reader.hardTimeout,
      compute: reader.compute
    }))
  ])
}

/**
 * Histories over a small key and tag space, so that operations collide. `failures`: inject L2 failures.
 * `maxAt`: the latest start offset (milliseconds).
 *
 * @since 0.1.0
 * @category generators
 */
export const historyArb = (options: {
  readonly failures: boolean
  readonly maxOps?: number
  readonly maxAt?: number
}): fc.Arbitrary<HistorySpec> => {
  const maxAt = options.maxAt ?? 300
  return fc.record({
    instances: fc.integer({ min: 2, max: 3 }),
    keyCount: fc.integer({ min: 3, max: 4 }),
    cache: fc.record({
      capacity: fc.constantFrom(2, 10_000, 10_000),
      l1Ttl: fc.constantFrom(30, 500, 60_000),
      grace: fc.constantFrom(0, 100, 1_000),
      graceBackoff: fc.constantFrom(30, 10_000)
    }),
    latencies: fc.array(fc.constantFrom(0, 0, 0, 1, 4, 15, 40), { minLength: 1, maxLength: 24 }),
    failures: options.failures
      ? fc.array(fc.constantFrom<Slow.Failure | undefined>(undefined, undefined, undefined, "before", "after"), {
        minLength: 1,
        maxLength: 16
      })
      : fc.constant([])
  }).chain(({ cache, failures, instances, keyCount, latencies }) => {
    const keys = keysOf(keyCount)
    return fc.record({
      ops: fc.array(opArb(instances, keys, maxAt), { minLength: 1, maxLength: options.maxOps ?? 20 }),
      pair: fc.option(invalidationPairArb(instances, keys, maxAt), { freq: 3, nil: undefined }),
      stale: fc.option(staleScenarioArb(instances, keys, maxAt), { freq: 3, nil: undefined })
    }).map(({ ops, pair, stale }): HistorySpec => ({
      instances,
      keys,
      tags: tagSpace,
      cache,
      ops: [...ops, ...(pair ?? []), ...(stale ?? [])],
      latencies,
      failures
    }))
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------------------------

/**
 * The value a computation run (or a set) produces.
 *
 * @since 0.1.0
 * @category utils
 */
export const valueName = (op: number, run: number, key: string | undefined): string =>
  `v${op}${run > 0 ? `r${run}` : ""}${key === undefined ? "" : `:${key}`}`

/**
 * The error a failing computation of `op` fails with.
 *
 * @since 0.1.0
 * @category utils
 */
export const errorName = (op: number, run: number): string => `e${op}${run > 0 ? `r${run}` : ""}`

interface Recorder {
  /** Computed entries carry no tags (`RunOptions.avoid` F7). */
  untaggedComputations: boolean
  readonly sequence: () => number
  readonly ops: Array<OpRecord>
  readonly values: Map<string, ValueInfo>
  readonly log: Slow.CallLog
}

const makeRecorder = (): Recorder => {
  let seq = 0
  const sequence = () => ++seq
  return { untaggedComputations: false, sequence, ops: [], values: new Map(), log: Slow.makeLog(sequence) }
}

const now = Clock.currentTimeMillis

/** A computation for `op` that records each run and produces its unique values. */
const computation = (
  rec: Recorder,
  record: OpRecord,
  compute: ComputeSpec,
  write: { readonly ttl: number; readonly grace: number; readonly tags: ReadonlyArray<string> },
  keysOfRun: (missing: ReadonlyArray<string>) => ReadonlyArray<string>,
  batch: boolean
) =>
(missing: ReadonlyArray<string>) =>
  Effect.flatMap(now, (startMs) => {
    const keys = keysOfRun(missing)
    const run: ComputeRun = {
      op: record.id,
      run: record.runs.length,
      keys,
      startSeq: rec.sequence(),
      startMs,
      endSeq: -1,
      endMs: -1,
      outcome: undefined
    }
    record.runs.push(run)
    const produced = keys.map((key) => [key, valueName(record.id, run.run, batch ? key : undefined)] as const)
    for (const [key, value] of produced) {
      rec.values.set(value, {
        value,
        key,
        op: record.id,
        run,
        ttl: write.ttl,
        grace: write.grace,
        tags: write.tags,
        createdSeq: run.startSeq,
        createdMs: startMs
      })
    }
    const body: Effect.Effect<ReadonlyArray<readonly [string, string]>, string> = Effect.andThen(
      compute.latency > 0 ? Effect.sleep(compute.latency) : Effect.void,
      compute.fails ? Effect.fail(errorName(record.id, run.run)) : Effect.succeed(produced)
    )
    return Effect.onExit(body, (exit) =>
      Effect.flatMap(now, (endMs) =>
        Effect.sync(() => {
          run.endSeq = rec.sequence()
          run.endMs = endMs
          run.outcome = Exit.isSuccess(exit) ? "value" : Exit.hasInterrupts(exit) ? "interrupted" : "failure"
        })))
  })

const outcomeOf = (exit: Exit.Exit<Outcome, unknown>): Outcome => {
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Cause.findErrorOption(exit.cause)
  return Option.isSome(failure)
    ? { _tag: "Failure", error: failure.value }
    : { _tag: "Defect", cause: Cause.pretty(exit.cause) }
}

/** The effect of one operation on `cache`, answering its outcome. */
const operation = (
  rec: Recorder,
  record: OpRecord,
  cache: TieredCache.TieredCacheShape,
  cacheGrace: number
): Effect.Effect<Outcome, unknown> => {
  const spec = record.spec
  switch (spec.kind) {
    case "get":
      return Effect.map(cache.get(spec.key), (value): Outcome => ({ _tag: "Option", value }))
    case "set": {
      const value = valueName(record.id, 0, undefined)
      rec.values.set(value, {
        value,
        key: spec.key,
        op: record.id,
        run: undefined,
        ttl: spec.ttl,
        grace: spec.grace ?? cacheGrace,
        tags: spec.tags,
        createdSeq: record.invSeq,
        createdMs: record.invMs
      })
      return Effect.as(
        cache.set(spec.key, value, {
          ttl: spec.ttl,
          ...(spec.grace !== undefined ? { grace: spec.grace } : {}),
          ...(spec.tags.length > 0 ? { tags: spec.tags } : {})
        }),
        { _tag: "Done" } as const
      )
    }
    case "getOrCompute": {
      if (rec.untaggedComputations && spec.tags.length > 0) {
        return operation(rec, { ...record, spec: { ...spec, tags: [] } }, cache, cacheGrace)
      }
      const write = { ttl: spec.ttl, grace: spec.grace ?? cacheGrace, tags: spec.tags }
      const compute = computation(rec, record, spec.compute, write, () => [spec.key], false)
      return Effect.map(
        cache.getOrCompute(spec.key, Effect.map(compute([spec.key]), (produced) => produced[0]![1]), {
          ttl: spec.ttl,
          ...(spec.grace !== undefined ? { grace: spec.grace } : {}),
          ...(spec.tags.length > 0 ? { tags: spec.tags } : {}),
          ...(spec.timeout !== undefined ? { timeout: spec.timeout } : {}),
          ...(spec.hardTimeout !== undefined ? { hardTimeout: spec.hardTimeout } : {})
        }),
        (value): Outcome => ({ _tag: "Value", value })
      )
    }
    case "getOrComputeMany": {
      if (rec.untaggedComputations && spec.tags.length > 0) {
        return operation(rec, { ...record, spec: { ...spec, tags: [] } }, cache, cacheGrace)
      }
      const write = { ttl: spec.ttl, grace: spec.grace ?? cacheGrace, tags: spec.tags }
      const compute = computation(rec, record, spec.compute, write, (missing) => missing, true)
      return Effect.map(
        cache.getOrComputeMany(spec.keys, compute, {
          ttl: spec.ttl,
          ...(spec.grace !== undefined ? { grace: spec.grace } : {}),
          ...(spec.tags.length > 0 ? { tags: spec.tags } : {}),
          ...(spec.timeout !== undefined ? { timeout: spec.timeout } : {}),
          ...(spec.hardTimeout !== undefined ? { hardTimeout: spec.hardTimeout } : {})
        }),
        (map): Outcome => ({ _tag: "Map", entries: Array.from(map.entries()) })
      )
    }
    case "delete":
      return Effect.as(cache.delete(spec.key), { _tag: "Done" } as const)
    case "deleteMany":
      return Effect.as(cache.deleteMany(spec.keys), { _tag: "Done" } as const)
    case "expire":
      return Effect.as(cache.expire(spec.key), { _tag: "Done" } as const)
    case "invalidateTags":
      return Effect.as(cache.invalidateTags(spec.tags, { hard: spec.hard }), { _tag: "Done" } as const)
    case "clear":
      return Effect.as(cache.clear, { _tag: "Done" } as const)
  }
}

/** Runs one operation (after its start offset when `delay`), recording its invocation, answer and response. */
const runOp = (
  rec: Recorder,
  record: OpRecord,
  cache: TieredCache.TieredCacheShape,
  cacheGrace: number,
  invalidations?: Semaphore.Semaphore
): Effect.Effect<void> =>
  Effect.flatMap(now, (invMs) =>
    Effect.suspend(() => {
      record.invSeq = rec.sequence()
      record.invMs = invMs
      const op = operation(rec, record, cache, cacheGrace)
      return Effect.exit(
        invalidations !== undefined && record.spec.kind === "invalidateTags" ? invalidations.withPermits(1)(op) : op
      )
    }).pipe(
      Effect.flatMap((exit) =>
        Effect.flatMap(now, (resMs) =>
          Effect.sync(() => {
            record.resSeq = rec.sequence()
            record.resMs = resMs
            record.outcome = outcomeOf(exit)
          }))
      )
    ))

const newRecord = (rec: Recorder, spec: OpSpec, quiescence: boolean): OpRecord => {
  const record: OpRecord = {
    id: rec.ops.length,
    spec,
    quiescence,
    invSeq: -1,
    invMs: -1,
    resSeq: -1,
    resMs: -1,
    outcome: undefined,
    runs: []
  }
  rec.ops.push(record)
  return record
}

/** Counts what the instances publish and what they hear, so that a run can wait until the bus is drained. */
interface CountingBus {
  readonly bus: TieredCache.InvalidationBusShape
  readonly published: () => number
  readonly heard: () => number
}

const countingBus = (inner: TieredCache.InvalidationBusShape): CountingBus => {
  let published = 0
  let heard = 0
  return {
    bus: {
      publish: (channel, message) =>
        Effect.andThen(
          Effect.sync(() => {
            published++
          }),
          inner.publish(channel, message)
        ),
      subscribe: (channel, handlers) =>
        inner.subscribe(channel, {
          onMessage: (message) => {
            heard++
            handlers.onMessage(message)
          },
          onSubscribed: handlers.onSubscribed
        })
    },
    published: () => published,
    heard: () => heard
  }
}

const cacheOptions = (spec: HistorySpec, channel: string): TieredCache.TieredCacheOptions => ({
  capacity: spec.cache.capacity,
  l1Ttl: spec.cache.l1Ttl,
  grace: spec.cache.grace,
  graceBackoff: spec.cache.graceBackoff,
  channel
})

const buildInstance = (
  backend: Effect.Effect<RemoteCacheBackendShape, never, Scope.Scope>,
  bus: TieredCache.InvalidationBusShape,
  options: TieredCache.TieredCacheOptions
) =>
  Effect.flatMap(backend, (shape) =>
    Effect.map(
      Layer.build(
        TieredCache.layer(options).pipe(
          Layer.provide(RemoteCache.layerDefault),
          Layer.provide(Layer.succeed(RemoteCacheBackend, shape)),
          Layer.provide(Layer.succeed(TieredCache.InvalidationBus, bus))
        )
      ),
      Context.get(TieredCache.TieredCache)
    ))

/** Everything not yet finished: operations without an answer, L2 calls and computations still running. */
const inFlight = (rec: Recorder): ReadonlyArray<string> => [
  ...rec.ops.filter((op) => op.resSeq < 0).map((op) => `op ${op.id} (${op.spec.kind})`),
  ...rec.log.calls.filter((call) => call.endSeq < 0).map((call) => `L2 ${call.operation} ${call.keys.join(",")}`),
  ...rec.ops.flatMap((op) =>
    op.runs.filter((run) => run.endSeq < 0).map((run) => `computation ${valueName(op.id, run.run, undefined)}`)
  )
]

/** The quiescence reads: every key on every instance, one after another, with no time passing. */
const quiescenceReads = (rec: Recorder, spec: HistorySpec, caches: ReadonlyArray<TieredCache.TieredCacheShape>) =>
  Effect.forEach(spec.keys, (key) =>
    Effect.forEach(caches, (cache, instance) => {
      const record = newRecord(rec, { kind: "get", instance, at: -1, key }, true)
      return runOp(rec, record, cache, spec.cache.grace)
    }, { discard: true }), { discard: true })

/**
 * How to run a history. `avoid`: conditions of the defects found so far, kept out of a history so that a pinned
 * regression replays the run that found it (random runs use none): `"F5"` runs the invalidations of a history one at a time, so that no two of them overlap;
 * `"F6"` makes L2 reads instant (MemoryBackend only), so that no caller joins a read sent before it arrived;
 * `"F7"` drops the tags of computed entries, so that no invalidation covers a computation a caller may join.
 *
 * @since 0.1.0
 * @category running
 */
export interface RunOptions {
  readonly avoid?: ReadonlySet<string> | undefined
}

/**
 * A virtual clock for the MemoryBackend histories, standing in for the `TestClock`: the same wall and monotonic
 * time (milliseconds, nanoseconds kept equal to them), sleeps woken in the order of their deadlines, but moved by
 * the runner without any platform timer. With the `TestClock`, every wake-up waits for a platform timer (its
 * `adjust` polls until the fibers are suspended), which made one history cost about 150 ms; here the runner knows
 * the fibers are suspended when its scheduler has nothing left to run.
 */
class VirtualClock {
  private seq = 0
  private sleeps: Array<{ readonly at: number; readonly seq: number; readonly wake: () => void }> = []
  /** The clock the fibers read and sleep on. */
  readonly clock: Clock.Clock = Clocks.make({
    wallMillis: () => this.now,
    monotonicNanos: () => BigInt(this.now) * 1_000_000n,
    sleep: (duration) => this.sleep(duration)
  })
  constructor(public now: number) {}
  private sleep(duration: Duration.Duration): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      const entry = { at: this.now + Duration.toMillis(duration), seq: this.seq++, wake: () => resume(Effect.void) }
      this.sleeps.push(entry)
      return Effect.sync(() => {
        this.sleeps = this.sleeps.filter((sleep) => sleep !== entry)
      })
    })
  }
  /** Moves to the earliest deadline (if not past `limit`) and wakes every sleep due then; `false` when none. */
  advance(limit: number): boolean {
    const next = Math.min(...this.sleeps.map((sleep) => sleep.at))
    if (!Number.isFinite(next) || next > limit) return false
    this.now = Math.max(this.now, next)
    const due = this.sleeps.filter((sleep) => sleep.at <= this.now).sort((a, b) => a.at - b.at || a.seq - b.seq)
    this.sleeps = this.sleeps.filter((sleep) => sleep.at > this.now)
    for (const sleep of due) sleep.wake()
    return true
  }
}

/**
 * Runs `spec` over a `MemoryBackend` on a virtual clock (see `VirtualClock`) with a controlled scheduler: the
 * operations as fibers at their offsets; the runner runs every fiber that can run, then moves the clock to the
 * next deadline, until everything has ended (or {@link hangBoundMs} has passed, or nothing can move while an
 * operation waits: a hang). After every operation has answered it waits (on the clock) for the background work
 * and the bus to drain, then makes the quiescence reads with L2 latency and failures turned off.
 *
 * @since 0.1.0
 * @category running
 */
export const runMemory = (spec: HistorySpec, options: RunOptions = {}): History => {
  const rec = makeRecorder()
  rec.untaggedComputations = options.avoid?.has("F7") === true
  let callIndex = 0
  const instantReads = options.avoid?.has("F6") === true
  const controls: Slow.Controls = {
    latency: (info) =>
      instantReads && (info.operation === "get" || info.operation === "getWithTtl" || info.operation === "getMany")
        ? 0
        : spec.latencies[callIndex % spec.latencies.length]!,
    failure: () => spec.failures.length === 0 ? undefined : spec.failures[callIndex % spec.failures.length]
  }
  const counted: Slow.Controls = {
    latency: (info) => controls.latency(info),
    failure: (info) => {
      const failure = controls.failure(info)
      callIndex++
      return failure
    }
  }
  const clock = new VirtualClock(epochMs)
  const program = Effect.gen(function*() {
    const store = yield* MemoryBackend.makeStore()
    const bus = countingBus(TieredCache.makeMemoryBus())
    const tieredOptions = cacheOptions(spec, "model")
    const caches: Array<TieredCache.TieredCacheShape> = []
    for (let instance = 0; instance < spec.instances; instance++) {
      const backend = Slow.make({ store, prefix: "m:", serializer: TieredCache.serializer() }, {
        instance,
        log: rec.log,
        controls: counted
      })
      caches.push(yield* buildInstance(backend, bus.bus, tieredOptions))
    }
    const records = spec.ops.map((op) => newRecord(rec, op, false))
    const invalidations = options.avoid?.has("F5") === true ? yield* Semaphore.make(1) : undefined
    const fibers = yield* Effect.forEach(records, (record) =>
      Effect.forkChild(
        Effect.andThen(
          record.spec.at > 0 ? Effect.sleep(record.spec.at) : Effect.void,
          runOp(rec, record, caches[record.spec.instance]!, spec.cache.grace, invalidations)
        )
      ))
    yield* Effect.forEach(fibers, Fiber.join, { discard: true })
    while (inFlight(rec).length > 0 || bus.heard() < bus.published() * spec.instances) {
      if (clock.now - epochMs > hangBoundMs) return inFlight(rec)
      yield* Effect.sleep(1)
    }
    controls.latency = () => 0
    controls.failure = () => undefined
    yield* quiescenceReads(rec, spec, caches)
    return []
  })
  const fiber = ControlledScheduler.run(
    Effect.scoped(program).pipe(Clocks.provide(clock.clock), Effect.provide(Logger.layer([])))
  )
  const limit = epochMs + hangBoundMs + 1_000
  for (;;) {
    fiber.drain()
    if (fiber.poll() !== undefined) break
    if (!clock.advance(limit)) break
  }
  let unfinished: ReadonlyArray<string>
  const exit = fiber.poll()
  if (exit === undefined) {
    unfinished = inFlight(rec).length > 0 ? inFlight(rec) : ["the run itself"]
    fiber.interrupt()
    for (let i = 0; i < 100 && fiber.poll() === undefined; i++) {
      fiber.drain()
      clock.advance(Infinity)
    }
  } else if (Exit.isSuccess(exit)) {
    unfinished = exit.value
  } else {
    unfinished = [`the run died: ${Cause.pretty(exit.cause)}`]
  }
  return {
    spec,
    backend: "memory",
    ops: rec.ops,
    values: rec.values,
    calls: rec.log.calls,
    failed: rec.log.calls.some((call) => call.failed),
    busLagMs: 0,
    unfinished
  }
}

/**
 * Over Redis pub/sub an invalidation reaches the other instances some time after the operation that sent it has
 * returned; the documentation promises no bound. The model gives it this long before it holds another instance's
 * reads to it (the quiescence reads wait until every message has been heard instead).
 *
 * @since 0.1.0
 * @category running
 */
export const redisBusLagMs = 250

/**
 * Runs `spec` over a Redis server of the test's own, on the live clock: every instance with its own client (as
 * separate processes would), the invalidations over Redis pub/sub on a channel of this run, keys under a prefix of
 * this run. Injected latencies and failures are not used; the L2 calls are still logged. Waits for every
 * subscription before starting and, before the quiescence reads, for every published invalidation to be heard.
 *
 * @since 0.1.0
 * @category running
 */
export const runRedis = (
  spec: HistorySpec,
  server: RedisServer.RedisServerShape,
  run: number,
  options: RunOptions = {}
): Effect.Effect<History> =>
  Effect.scoped(Effect.gen(function*() {
    const rec = makeRecorder()
    rec.untaggedComputations = options.avoid?.has("F7") === true
    const channel = `model:${run}:${Math.random().toString(36).slice(2)}`
    const tieredOptions = cacheOptions(spec, channel)
    const caches: Array<TieredCache.TieredCacheShape> = []
    const buses: Array<CountingBus> = []
    for (let instance = 0; instance < spec.instances; instance++) {
      const client = yield* Layer.build(RedisClient.layer({ host: server.host, port: server.port })).pipe(Effect.orDie)
      const busContext = yield* Layer.build(Layer.provide(TieredCache.layerRedisBus, Layer.succeedContext(client)))
      const bus = countingBus(Context.get(busContext, TieredCache.InvalidationBus))
      buses.push(bus)
      const backend = Effect.map(
        Layer.build(
          RedisBackend.layerWithClient({ prefix: `model${run}:`, serializer: TieredCache.serializer(Serializer.v8) })
            .pipe(Layer.provide(Layer.succeedContext(client)))
        ),
        (context) =>
          Slow.wrap(Context.get(context, RemoteCacheBackend), { instance, log: rec.log, controls: Slow.quiet() })
      )
      caches.push(yield* buildInstance(backend, bus.bus, tieredOptions))
    }
    const waitFor = (what: string, check: () => Effect.Effect<boolean>) =>
      Effect.flatMap(check(), (ok) => ok ? Effect.void : Effect.fail(what)).pipe(
        Effect.retry({ schedule: Schedule.spaced("5 millis"), times: 2_000 }),
        Effect.orDie
      )
    yield* waitFor("subscriptions", () =>
      Effect.map(
        server.cli("PUBSUB", "NUMSUB", channel),
        (reply) => reply.split("\n")[1]?.trim() === String(spec.instances)
      ))
    const records = spec.ops.map((op) => newRecord(rec, op, false))
    const invalidations = options.avoid?.has("F5") === true ? yield* Semaphore.make(1) : undefined
    const fibers = yield* Effect.forEach(records, (record) =>
      Effect.forkChild(
        Effect.andThen(
          record.spec.at > 0 ? Effect.sleep(record.spec.at) : Effect.void,
          runOp(rec, record, caches[record.spec.instance]!, spec.cache.grace, invalidations)
        )
      ))
    const joined = yield* Effect.timeout(Effect.forEach(fibers, Fiber.join, { discard: true }), hangBoundMs).pipe(
      Effect.option
    )
    let unfinished: ReadonlyArray<string> = []
    if (Option.isNone(joined)) {
      unfinished = inFlight(rec)
    } else {
      const drained = () =>
        Effect.sync(() => {
          const published = buses.reduce((n, bus) => n + bus.published(), 0)
          const heard = buses.reduce((n, bus) => n + bus.heard(), 0)
          return inFlight(rec).length === 0 && heard >= published * spec.instances
        })
      yield* waitFor("background work and the bus to drain", drained).pipe(
        Effect.catchDefect(() =>
          Effect.sync(() => {
            unfinished = inFlight(rec).length > 0 ? inFlight(rec) : ["the bus never drained"]
          })
        )
      )
    }
    yield* Effect.forEach(fibers, Fiber.interrupt, { discard: true })
    if (unfinished.length === 0) yield* quiescenceReads(rec, spec, caches)
    return {
      spec,
      backend: "redis",
      ops: rec.ops,
      values: rec.values,
      calls: rec.log.calls,
      failed: rec.log.calls.some((call) => call.failed),
      busLagMs: redisBusLagMs,
      unfinished
    } satisfies History
  }))

// ---------------------------------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------------------------------

const describeSpec = (spec: OpSpec): string => {
  const opts = (o: {
    readonly ttl?: number
    readonly grace?: number | undefined
    readonly tags?: ReadonlyArray<string>
    readonly timeout?: number | undefined
    readonly hardTimeout?: number | undefined
  }) =>
    [
      o.ttl !== undefined ? `ttl=${o.ttl}` : "",
      o.grace !== undefined ? `grace=${o.grace}` : "",
      o.tags !== undefined && o.tags.length > 0 ? `tags=[${o.tags.join(",")}]` : "",
      o.timeout !== undefined ? `timeout=${o.timeout}` : "",
      o.hardTimeout !== undefined ? `hardTimeout=${o.hardTimeout}` : ""
    ].filter((s) => s !== "").join(" ")
  switch (spec.kind) {
    case "get":
    case "delete":
    case "expire":
      return `${spec.kind}(${spec.key})`
    case "set":
      return `set(${spec.key}) ${opts(spec)}`
    case "getOrCompute":
      return `getOrCompute(${spec.key}) ${opts(spec)} compute=${spec.compute.latency}ms${
        spec.compute.fails ? " FAILS" : ""
      }`
    case "getOrComputeMany":
      return `getOrComputeMany(${spec.keys.join(",")}) ${opts(spec)} compute=${spec.compute.latency}ms${
        spec.compute.fails ? " FAILS" : ""
      }`
    case "deleteMany":
      return `deleteMany(${spec.keys.join(",")})`
    case "invalidateTags":
      return `invalidateTags([${spec.tags.join(",")}])${spec.hard ? " hard" : ""}`
    case "clear":
      return "clear"
  }
}

const describeOutcome = (outcome: Outcome | undefined): string => {
  if (outcome === undefined) return "(no answer)"
  switch (outcome._tag) {
    case "Done":
      return "done"
    case "Value":
      return `-> ${String(outcome.value)}`
    case "Option":
      return Option.isSome(outcome.value) ? `-> ${String(outcome.value.value)}` : "-> none"
    case "Map":
      return `-> {${outcome.entries.map(([k, v]) => `${k}: ${String(v)}`).join(", ")}}`
    case "Failure":
      return `-> fails ${String(outcome.error)}`
    case "Defect":
      return `-> DIES ${outcome.cause}`
  }
}

/**
 * The history, one line per event, in the order of the events (invocations, computation runs, answers, and
 * optionally the L2 calls), with virtual-clock (or live) milliseconds since the start.
 *
 * @since 0.1.0
 * @category printing
 */
export const format = (history: History, options: { readonly calls?: boolean } = {}): string => {
  const base = history.backend === "memory"
    ? epochMs
    : Math.min(...history.ops.filter((op) => op.invMs >= 0).map((op) => op.invMs))
  const t = (ms: number) => String(ms - base).padStart(6)
  const events: Array<readonly [number, string]> = []
  const { spec } = history
  events.push([
    -1,
    `instances=${spec.instances} keys=${spec.keys.join(",")} cache=${
      JSON.stringify(spec.cache)
    } backend=${history.backend}${history.failed ? " (L2 failures injected)" : ""}`
  ])
  for (const op of history.ops) {
    if (op.invSeq < 0) continue
    const name = `#${op.id}${op.quiescence ? "q" : ""} i${op.spec.instance} ${describeSpec(op.spec)}`
    events.push([op.invSeq, `${t(op.invMs)}  start  ${name}`])
    for (const run of op.runs) {
      events.push([
        run.startSeq,
        `${t(run.startMs)}    compute ${valueName(op.id, run.run, undefined)} of #${op.id} [${
          run.keys.join(",")
        }] starts`
      ])
      if (run.endSeq >= 0) {
        events.push([
          run.endSeq,
          `${t(run.endMs)}    compute ${valueName(op.id, run.run, undefined)} of #${op.id} ends: ${run.outcome}`
        ])
      }
    }
    if (op.resSeq >= 0) events.push([op.resSeq, `${t(op.resMs)}  end    ${name} ${describeOutcome(op.outcome)}`])
  }
  if (options.calls === true) {
    for (const call of history.calls) {
      const values = call.values.some((v) => v !== undefined) ? ` [${call.values.map(String).join(",")}]` : ""
      events.push([
        call.startSeq,
        `${t(call.startMs)}      L2 i${call.instance} ${call.operation}(${call.keys.join(",")})${values} ... ${
          call.endSeq < 0 ?
            "never ends" :
            `${t(call.endMs).trim()}${call.failed ? " FAILED" : ""}${call.failed && call.applied ? " (applied)" : ""}`
        }`
      ])
    }
  }
  events.sort((a, b) => a[0] - b[0])
  return events.map(([, line]) => line).join("\n")
}
