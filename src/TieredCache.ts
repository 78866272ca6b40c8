/**
 * The two-tier cache: a bounded in-process L1 (LRU with per-entry TTL on Effect's `Clock`, values kept decoded)
 * over the remote L2 (`RemoteCache`).
 *
 * - Reads: an L1 hit costs no I/O and no deserialization. An L1 miss reads L2 (value and remaining TTL in one
 *   round trip); an L2 hit back-fills L1 for no longer than the L2 entry has left and no longer than `l1Ttl`.
 * - Writes go through to L2, then L1; `delete` and `clear` remove from both.
 * - `getOrCompute` is read-through with single-flight: concurrent callers for the same missing key in one process
 *   share one computation; a failing computation fails them all and caches nothing; interrupting one caller does
 *   not cancel the computation for the others.
 * - Invalidation: every `set`, `delete` and `clear` is published on a channel derived from the L2 prefix; the
 *   other processes sharing the L2 drop the key (or everything) from their L1. A process ignores its own
 *   messages. After the subscriber reconnects, L1 is cleared, because messages may have been lost meanwhile. The
 *   bus is Redis pub/sub ({@link layerRedisBus}) or in-process (the default, for `MemoryBackend`).
 *
 * L1 holds the very objects it was given or decoded: treat cached values as immutable.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { resolveTtl } from "./internal/ttl.js"
import { RedisClient } from "./RedisClient.js"
import { RemoteCache } from "./RemoteCache.js"

// ---------------------------------------------------------------------------------------------------------------
// Invalidation bus
// ---------------------------------------------------------------------------------------------------------------

/**
 * Carries invalidation messages between the tiered caches that share an L2.
 *
 * @since 0.1.0
 * @category models
 */
export interface InvalidationBusShape {
  /** Publishes `message` on `channel`; failures are swallowed (an L1 elsewhere may then serve until its TTL). */
  readonly publish: (channel: string, message: Uint8Array) => Effect.Effect<void>
  /**
   * Listens to `channel` while the scope is open. `onSubscribed` runs after each (re)subscription: messages may
   * have been lost before it.
   */
  readonly subscribe: (
    channel: string,
    handlers: { readonly onMessage: (message: Uint8Array) => void; readonly onSubscribed: () => void }
  ) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * An in-process bus: delivers synchronously to every other subscriber of the channel in this process.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemoryBus = (): InvalidationBusShape => {
  const channels = new Map<string, Set<(message: Uint8Array) => void>>()
  return {
    publish: (channel, message) =>
      Effect.sync(() => {
        for (const deliver of channels.get(channel) ?? []) deliver(message)
      }),
    subscribe: (channel, handlers) =>
      Effect.asVoid(Effect.acquireRelease(
        Effect.sync(() => {
          const set = channels.get(channel) ?? new Set()
          channels.set(channel, set)
          set.add(handlers.onMessage)
          handlers.onSubscribed()
        }),
        () =>
          Effect.sync(() => {
            const set = channels.get(channel)
            set?.delete(handlers.onMessage)
            if (set?.size === 0) channels.delete(channel)
          })
      ))
  }
}

/**
 * The bus the tiered cache uses. Without a layer it is one in-process bus shared by the whole process, so tiered
 * caches over a shared `MemoryBackend` store invalidate each other; with Redis, provide {@link layerRedisBus}.
 *
 * @since 0.1.0
 * @category tags
 */
export class InvalidationBus extends Context.Reference<InvalidationBus>()(
  "effect-remote-cache/TieredCache/InvalidationBus",
  { defaultValue: makeMemoryBus }
) {}

/**
 * A fresh in-process bus (isolated from the process-wide default), for tests.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemoryBus: Layer.Layer<InvalidationBus> = Layer.sync(InvalidationBus, makeMemoryBus)

/**
 * Redis pub/sub over the `RedisClient`'s own subscriber connection (health-checked, reconnecting,
 * re-subscribing).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedisBus: Layer.Layer<InvalidationBus, never, RedisClient> = Layer.effect(
  InvalidationBus,
  Effect.map(RedisClient, (client): InvalidationBusShape => ({
    publish: (channel, message) => Effect.ignore(client.publish(channel, message)),
    subscribe: (channel, handlers) => client.subscribe(channel, handlers)
  }))
)

// ---------------------------------------------------------------------------------------------------------------
// L1
// ---------------------------------------------------------------------------------------------------------------

interface L1Entry {
  readonly value: unknown
  /** Epoch milliseconds on Effect's clock. */
  readonly expiresAt: number
}

/** A Map kept in recency order (re-inserted on each hit) is an LRU with O(1) operations. */
class L1 {
  private readonly entries = new Map<string, L1Entry>()
  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.entries.size
  }

  lookup(key: string, now: number): L1Entry | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    this.entries.delete(key)
    // Alive through its last millisecond, as Redis and MemoryBackend keep keys.
    if (entry.expiresAt < now) return undefined
    this.entries.set(key, entry)
    return entry
  }

  put(key: string, value: unknown, expiresAt: number): void {
    this.entries.delete(key)
    this.entries.set(key, { value, expiresAt })
    if (this.entries.size > this.capacity) {
      // The first key in a Map is the least recently used.
      this.entries.delete(this.entries.keys().next().value!)
    }
  }

  delete(key: string): void {
    this.entries.delete(key)
  }

  clear(): void {
    this.entries.clear()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------------------------

/**
 * Options of the tiered cache.
 *
 * @since 0.1.0
 * @category models
 */
export interface TieredCacheOptions {
  /** Most entries kept in L1; least recently used go first. Default 10,000. */
  readonly capacity?: number | undefined
  /** Longest time an entry stays in L1 (never longer than its L2 TTL). Default 1 minute. */
  readonly l1Ttl?: Duration.DurationInput | undefined
  /** TTL of writes that give none (L2 and L1). Default: none (L2 keeps them until evicted). */
  readonly defaultTtl?: Duration.DurationInput | undefined
  /** The invalidation channel. Default `effect-remote-cache:invalidate:<L2 prefix>`. */
  readonly channel?: string | undefined
}

/**
 * Options of one `getOrCompute` call.
 *
 * @since 0.1.0
 * @category models
 */
export interface ComputeOptions {
  /** TTL of the computed value (L2 and L1). Default: the cache's `defaultTtl`. */
  readonly ttl?: Duration.DurationInput | undefined
}

/**
 * The service shape. No operation fails: L2 failures were already recovered by the `RemoteCache` policy, and
 * `getOrCompute` fails only with its computation's own error.
 *
 * @since 0.1.0
 * @category models
 */
export interface TieredCacheShape {
  /** L1, then L2 (back-filling L1). */
  readonly get: (key: string) => Effect.Effect<Option.Option<unknown>>
  /** Writes L2 then L1, and tells the other processes to drop the key from their L1. */
  readonly set: (key: string, value: unknown, ttl?: Duration.DurationInput) => Effect.Effect<void>
  /** Removes the key from L2 and L1, here and in the other processes. */
  readonly delete: (key: string) => Effect.Effect<void>
  /** Removes every key of the L2 prefix, and every L1 entry here and in the other processes. */
  readonly clear: Effect.Effect<void>
  /**
   * Read-through: the cached value, or the result of `compute`, stored with `options.ttl`. Concurrent calls for
   * the same missing key share one computation; its failure fails them all and nothing is cached.
   */
  readonly getOrCompute: <A, E, R>(
    key: string,
    compute: Effect.Effect<A, E, R>,
    options?: ComputeOptions
  ) => Effect.Effect<A, E, R>
  /** Entries in L1 now (expired ones included until touched). */
  readonly l1Size: Effect.Effect<number>
}

/**
 * The tiered cache service.
 *
 * @since 0.1.0
 * @category tags
 */
export class TieredCache extends Context.Tag("effect-remote-cache/TieredCache")<TieredCache, TieredCacheShape>() {}

// ---------------------------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------------------------

/**
 * Reads answered by L1.
 *
 * @since 0.1.0
 * @category metrics
 */
export const l1HitsTotal: Metric.Metric.Counter<number> = Metric.counter("tiered_cache_l1_hits_total", {
  description: "Reads answered by the in-process tier",
  incremental: true
})

/**
 * Reads missed by L1 and answered by L2.
 *
 * @since 0.1.0
 * @category metrics
 */
export const l2HitsTotal: Metric.Metric.Counter<number> = Metric.counter("tiered_cache_l2_hits_total", {
  description: "Reads missed by the in-process tier and answered by the remote tier",
  incremental: true
})

/**
 * Reads missed by both tiers.
 *
 * @since 0.1.0
 * @category metrics
 */
export const missesTotal: Metric.Metric.Counter<number> = Metric.counter("tiered_cache_misses_total", {
  description: "Reads missed by both tiers",
  incremental: true
})

/**
 * Computations run by `getOrCompute` (one per single-flight group).
 *
 * @since 0.1.0
 * @category metrics
 */
export const computesTotal: Metric.Metric.Counter<number> = Metric.counter("tiered_cache_computes_total", {
  description: "Computations run by getOrCompute",
  incremental: true
})

/**
 * Invalidation messages received from other processes (own messages are not counted).
 *
 * @since 0.1.0
 * @category metrics
 */
export const invalidationsReceivedTotal: Metric.Metric.Counter<number> = Metric.counter(
  "tiered_cache_invalidations_received_total",
  { description: "Invalidation messages received from other processes", incremental: true }
)

// ---------------------------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------------------------

/** An invalidation on the wire: JSON, small, and free of values. */
interface Message {
  /** The publishing instance. */
  readonly o: string
  /** "s" set, "d" delete, "c" clear. */
  readonly t: "s" | "d" | "c"
  readonly k?: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const randomId = (): string => `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`

/**
 * Makes a tiered cache over the `RemoteCache` in context, subscribed to invalidations for as long as the scope is
 * open. Invalid options are a defect (`IllegalArgumentException`): they are programming errors.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: TieredCacheOptions = {}
): Effect.Effect<TieredCacheShape, never, RemoteCache | Scope.Scope> =>
  Effect.gen(function*() {
    const remote = yield* RemoteCache
    const bus = yield* InvalidationBus
    const scope = yield* Effect.scope
    const capacity = options.capacity ?? 10_000
    if (!(Number.isInteger(capacity) && capacity > 0)) {
      return yield* Effect.dieMessage(`TieredCache capacity must be a positive integer, got ${capacity}`)
    }
    const l1TtlResolved = resolveTtl(options.l1Ttl ?? "1 minute")
    if (l1TtlResolved._tag === "Invalid" || l1TtlResolved._tag === "Expired") {
      return yield* Effect.dieMessage("TieredCache l1Ttl must be a positive duration")
    }
    const l1TtlMillis = l1TtlResolved._tag === "Millis" ? l1TtlResolved.millis : Infinity
    const defaultTtl = options.defaultTtl
    if (defaultTtl !== undefined && resolveTtl(defaultTtl)._tag === "Invalid") {
      return yield* Effect.dieMessage("TieredCache defaultTtl is not a valid duration")
    }
    const channel = options.channel ?? `effect-remote-cache:invalidate:${remote.prefix}`
    const self = randomId()
    const l1 = new L1(capacity)
    /**
     * Bumped by every invalidation: a read that started before one must not back-fill L1 with what it read,
     * which may be the value just invalidated.
     */
    let generation = 0
    const inflight = new Map<string, Deferred.Deferred<unknown, unknown>>()

    const invalidate = (message: Message) => {
      generation++
      if (message.t === "c") l1.clear()
      else if (message.k !== undefined) l1.delete(message.k)
    }

    yield* bus.subscribe(channel, {
      onMessage: (bytes) => {
        let message: Message
        try {
          message = JSON.parse(decoder.decode(bytes)) as Message
        } catch {
          return
        }
        if (message === null || typeof message !== "object" || message.o === self) return
        invalidate(message)
        Effect.runSync(Metric.increment(invalidationsReceivedTotal))
      },
      // Messages may have been lost while the subscriber was away: nothing in L1 can be trusted.
      onSubscribed: () => invalidate({ o: self, t: "c" })
    })

    const publish = (message: Message) => bus.publish(channel, encoder.encode(JSON.stringify(message)))

    /** L1 expiry for an entry with `ttlMillis` left in L2 (`Infinity`: no L2 expiry). */
    const l1ExpiresAt = (now: number, ttlMillis: number) => now + Math.min(l1TtlMillis, ttlMillis)

    const readThrough = (key: string): Effect.Effect<Option.Option<unknown>> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const entry = l1.lookup(key, now)
        if (entry !== undefined) return Effect.as(Metric.increment(l1HitsTotal), Option.some(entry.value))
        const startedAt = generation
        return Effect.flatMap(remote.getWithTtl(key), (found) => {
          if (Option.isNone(found)) return Effect.as(Metric.increment(missesTotal), Option.none())
          const { remainingTtl, value } = found.value
          return Effect.flatMap(Clock.currentTimeMillis, (after) => {
            if (generation === startedAt) {
              const left = Option.isSome(remainingTtl) ? Duration.toMillis(remainingTtl.value) : Infinity
              if (left > 0) l1.put(key, value, l1ExpiresAt(after, left))
            }
            return Effect.as(Metric.increment(l2HitsTotal), Option.some(value))
          })
        })
      })

    const set = (key: string, value: unknown, ttl?: Duration.DurationInput): Effect.Effect<void> => {
      const effective = ttl ?? defaultTtl
      const resolved = resolveTtl(effective)
      return Effect.zipRight(
        remote.set(key, value, effective),
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          generation++
          switch (resolved._tag) {
            case "Forever":
              l1.put(key, value, l1ExpiresAt(now, Infinity))
              break
            case "Millis":
              l1.put(key, value, l1ExpiresAt(now, resolved.millis))
              break
            default:
              // Expired removes, as in L2; an invalid TTL was rejected by L2, so L1 must not keep a value either.
              l1.delete(key)
          }
          return publish({ o: self, t: "s", k: key })
        })
      )
    }

    const del = (key: string): Effect.Effect<void> =>
      Effect.zipRight(
        remote.delete(key),
        Effect.suspend(() => {
          generation++
          l1.delete(key)
          return publish({ o: self, t: "d", k: key })
        })
      )

    const clear: Effect.Effect<void> = Effect.zipRight(
      remote.clear,
      Effect.suspend(() => {
        generation++
        l1.clear()
        return publish({ o: self, t: "c" })
      })
    )

    /**
     * The leader of a single-flight group: reads L2, else computes and writes through. It runs in the cache's
     * scope, not in a caller's fiber, so interrupting a caller never cancels the work the others wait for.
     */
    const lead = <A, E, R>(
      key: string,
      compute: Effect.Effect<A, E, R>,
      ttl: Duration.DurationInput | undefined,
      deferred: Deferred.Deferred<unknown, unknown>
    ): Effect.Effect<void, never, R> =>
      readThrough(key).pipe(
        Effect.flatMap((cached) =>
          Option.isSome(cached)
            ? Effect.succeed(cached.value)
            : Effect.zipRight(
              Metric.increment(computesTotal),
              Effect.tap(compute, (value) => set(key, value, ttl))
            )
        ),
        Effect.exit,
        Effect.flatMap((exit) =>
          Effect.suspend(() => {
            inflight.delete(key)
            return Deferred.done(deferred, exit as Exit.Exit<unknown, unknown>)
          })
        ),
        Effect.asVoid
      )

    const getOrCompute = <A, E, R>(
      key: string,
      compute: Effect.Effect<A, E, R>,
      computeOptions?: ComputeOptions
    ): Effect.Effect<A, E, R> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const entry = l1.lookup(key, now)
        if (entry !== undefined) return Effect.as(Metric.increment(l1HitsTotal), entry.value as A)
        // Join the group before any I/O, so that no caller can start a second computation while the first one's
        // result is on its way to L2.
        let deferred = inflight.get(key)
        if (deferred !== undefined) return Deferred.await(deferred) as Effect.Effect<A, E>
        deferred = Deferred.unsafeMake<unknown, unknown>(FiberId.none)
        inflight.set(key, deferred)
        const group = deferred
        return Effect.zipRight(
          Effect.forkIn(lead(key, compute, computeOptions?.ttl, group), scope),
          Deferred.await(group) as Effect.Effect<A, E>
        )
      })

    return TieredCache.of({
      get: readThrough,
      set,
      delete: del,
      clear,
      getOrCompute,
      l1Size: Effect.sync(() => l1.size)
    })
  })

/**
 * The tiered cache as a scoped layer over `RemoteCache` (and the `InvalidationBus`, in-process by default).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { RedisBackend, RedisClient, RemoteCache, TieredCache } from "effect-remote-cache"
 *
 * const Redis = RedisClient.layer({ url: "redis://localhost:6379" })
 * const Live = TieredCache.layer({ capacity: 5_000, l1Ttl: "30 seconds" }).pipe(
 *   Layer.provide(RemoteCache.layerDefault),
 *   Layer.provide(RedisBackend.layerWithClient({ prefix: "app:" })),
 *   Layer.provide(TieredCache.layerRedisBus),
 *   Layer.provide(Redis)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: TieredCacheOptions = {}): Layer.Layer<TieredCache, never, RemoteCache> =>
  Layer.scoped(TieredCache, make(options))

// ---------------------------------------------------------------------------------------------------------------
// Typed view
// ---------------------------------------------------------------------------------------------------------------

/**
 * A typed view of the tiered cache: values are stored in the schema's encoded form and decoded on every read (an
 * L1 hit costs a decode, no I/O); a stored value that no longer matches the schema is a miss.
 *
 * @since 0.1.0
 * @category models
 */
export interface TieredSchemaView<A, R> {
  readonly get: (key: string) => Effect.Effect<Option.Option<A>, never, R>
  /** Encoding an invalid `A` is a programming error: it fails with the `ParseError`. */
  readonly set: (key: string, value: A, ttl?: Duration.DurationInput) => Effect.Effect<void, ParseResult.ParseError, R>
  readonly delete: (key: string) => Effect.Effect<void>
  readonly getOrCompute: <E, R2>(
    key: string,
    compute: Effect.Effect<A, E, R2>,
    options?: ComputeOptions
  ) => Effect.Effect<A, E | ParseResult.ParseError, R | R2>
}

/**
 * The typed view of the `TieredCache` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forSchema = <A, I, R>(
  schema: Schema.Schema<A, I, R>
): Effect.Effect<TieredSchemaView<A, R>, never, TieredCache> =>
  Effect.map(TieredCache, (cache): TieredSchemaView<A, R> => {
    const decode = Schema.decodeUnknown(schema)
    const encode = Schema.encode(schema)
    const decodeOrMiss = (raw: Option.Option<unknown>) =>
      Option.isNone(raw)
        ? Effect.succeedNone
        : Effect.option(decode(raw.value)).pipe(
          Effect.tap((decoded) =>
            Option.isNone(decoded)
              ? Effect.logDebug("tiered cache value does not match the schema: a miss")
              : Effect.void
          )
        )
    return {
      get: (key) => Effect.flatMap(cache.get(key), decodeOrMiss),
      set: (key, value, ttl) => Effect.flatMap(encode(value), (encoded) => cache.set(key, encoded, ttl)),
      delete: cache.delete,
      getOrCompute: (key, compute, options) =>
        Effect.flatMap(cache.get(key), (raw) =>
          Effect.flatMap(decodeOrMiss(raw), (decoded) => {
            if (Option.isSome(decoded)) return Effect.succeed(decoded.value)
            const computed = Effect.flatMap(
              cache.getOrCompute(key, Effect.flatMap(compute, (value) => encode(value)), options),
              (encoded) => decode(encoded)
            )
            // A stored value of an older shape is dropped first, or the read-through would find it again.
            return Option.isSome(raw) ? Effect.zipRight(cache.delete(key), computed) : computed
          }))
    }
  })
