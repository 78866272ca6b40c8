/**
 * The two-tier cache: a bounded in-process L1 (LRU with per-entry TTL on Effect's `Clock`, values kept in their
 * stored form) over the remote L2 (`RemoteCache`).
 *
 * - Reads: an L1 hit costs no I/O and no deserialization. An L1 miss reads L2 (value and remaining TTL in one
 *   round trip); an L2 hit back-fills L1 for no longer than the L2 entry had left when the request was sent and no
 *   longer than `l1Ttl`.
 * - `set` writes L2, then drops the key from L1 here and in the other processes: the next read of every instance
 *   back-fills from L2, so all of them see what L2 holds, also when the write failed (a value the backend cannot
 *   serialize, a server that is down). `delete` and `clear` remove from both tiers.
 * - `getOrCompute` is read-through with single-flight: concurrent callers for the same missing key in one process
 *   share one L2 read and one computation, typed (`forSchema`) or not; a failing computation fails them all and
 *   caches nothing; interrupting one caller does not cancel the computation for the others. The computed value is
 *   written to L2, then kept in L1.
 * - Races, decided: a `set`, `delete` or `clear` of the key (here, or received from another process) made while a
 *   read or a computation is in flight wins: what that read or computation found is returned to the callers already
 *   waiting for it, but stored neither in L1 nor (for a computation) in L2, and callers arriving afterwards start a
 *   fresh read instead of joining it.
 * - Invalidation: every `set`, `delete` and `clear` (and every computed write) is published with the cache's L2
 *   prefix on one channel shared by all tiered caches; every other instance whose keys the change touches drops
 *   them from its L1, nested prefixes included (a `clear` of `"a:"` empties the L1 of a cache on `"a:b:"`). A cache
 *   ignores its own messages. After the subscriber reconnects, L1 is cleared, because messages may have been lost
 *   meanwhile. The bus is a required service: Redis pub/sub ({@link layerRedis}, {@link layerRedisBus}) or
 *   in-process ({@link layerInProcess}, {@link layerMemoryBus}), so a cache over Redis cannot silently go without
 *   cross-process invalidation.
 *
 * No operation waits on the bus: publishing and subscribing happen off the caller's path, so an unreachable Redis
 * costs each operation only what the `RemoteCache` policy allows.
 *
 * L1 holds the very objects it was given or decoded: treat cached values as immutable.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as DefaultServices from "effect/DefaultServices"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Metrics from "./internal/metrics.js"
import * as TypedView from "./internal/schemaView.js"
import { resolveTtl } from "./internal/ttl.js"
import { RedisClient } from "./RedisClient.js"
import { RemoteCache } from "./RemoteCache.js"

// ---------------------------------------------------------------------------------------------------------------
// Invalidation bus
// ---------------------------------------------------------------------------------------------------------------

/**
 * Carries invalidation messages between the tiered caches that share an L2.
 *
 * Neither operation may wait on the network: the tiered cache calls them on its callers' paths.
 *
 * @since 0.1.0
 * @category models
 */
export interface InvalidationBusShape {
  /**
   * Sends `message` on `channel` and returns once it is on its way, without waiting for delivery; failures are
   * swallowed (an L1 elsewhere may then serve until its TTL).
   */
  readonly publish: (channel: string, message: Uint8Array) => Effect.Effect<void>
  /**
   * Listens to `channel` while the scope is open. Returns without waiting for the network: the subscription may
   * complete later. `onSubscribed` runs after each (re)subscription: messages may have been lost before it.
   */
  readonly subscribe: (
    channel: string,
    handlers: { readonly onMessage: (message: Uint8Array) => void; readonly onSubscribed: () => void }
  ) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * An in-process bus: delivers synchronously to every subscriber of the channel in this process.
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
 * The bus the tiered cache publishes its invalidations on and listens to. It has no default: over Redis, provide
 * {@link layerRedisBus} (or use {@link layerRedis}); within one process, {@link layerMemoryBus} (or use
 * {@link layerInProcess}).
 *
 * @since 0.1.0
 * @category tags
 */
export class InvalidationBus extends Context.Tag("effect-remote-cache/TieredCache/InvalidationBus")<
  InvalidationBus,
  InvalidationBusShape
>() {}

/**
 * A fresh in-process bus: the tiered caches built over this one layer value (layers are shared within one
 * `Layer` graph) invalidate each other. No other process hears them.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemoryBus: Layer.Layer<InvalidationBus> = Layer.sync(InvalidationBus, makeMemoryBus)

let processBus: InvalidationBusShape | undefined

/** One in-process bus for the whole process, so every {@link layerInProcess} cache hears every other. */
const layerProcessBus: Layer.Layer<InvalidationBus> = Layer.sync(InvalidationBus, () => {
  processBus ??= makeMemoryBus()
  return processBus
})

/**
 * Redis pub/sub over the `RedisClient`'s own subscriber connection (health-checked, reconnecting,
 * re-subscribing). Publishing and subscribing run in fibers of this layer's scope, so no caller waits on them
 * while Redis is slow or unreachable (a `PUBLISH` still ends within the client's `commandTimeout`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedisBus: Layer.Layer<InvalidationBus, never, RedisClient> = Layer.scoped(
  InvalidationBus,
  Effect.gen(function*() {
    const client = yield* RedisClient
    const scope = yield* Effect.scope
    return InvalidationBus.of({
      publish: (channel, message) =>
        Effect.asVoid(Effect.forkIn(Effect.interruptible(Effect.ignore(client.publish(channel, message))), scope)),
      // The subscription belongs to the caller's scope; only the wait for its confirmation is left behind.
      subscribe: (channel, handlers) =>
        Effect.flatMap(
          Effect.scope,
          (subscriberScope) =>
            Effect.asVoid(
              Effect.forkIn(
                Effect.interruptible(Scope.extend(client.subscribe(channel, handlers), subscriberScope)),
                subscriberScope
              )
            )
        )
    })
  })
)

// ---------------------------------------------------------------------------------------------------------------
// L1
// ---------------------------------------------------------------------------------------------------------------

/**
 * An L1 entry. The answers of a hit are made once, on the first hit, and reused by every later one, so a hit
 * allocates nothing: `Exit`s are effects the runtime completes with in one step.
 */
class L1Entry {
  private some: Exit.Exit<Option.Option<unknown>> | undefined = undefined
  private exit: Exit.Exit<unknown> | undefined = undefined
  constructor(
    readonly value: unknown,
    /** Epoch milliseconds on Effect's clock. */
    readonly expiresAt: number
  ) {}

  /** What `get` answers: `Some(value)`. */
  get someExit(): Exit.Exit<Option.Option<unknown>> {
    return this.some ??= Exit.succeed(Option.some(this.value))
  }

  /** What an untyped `getOrCompute` answers: the value. */
  get valueExit(): Exit.Exit<unknown> {
    return this.exit ??= Exit.succeed(this.value)
  }
}

/**
 * A Map kept in recency order (re-inserted on each hit) is an LRU with O(1) operations. The most recently used
 * entry is already last, so a hit on it moves nothing: a hot key costs one Map lookup.
 */
class L1 {
  private readonly entries = new Map<string, L1Entry>()
  private newest: L1Entry | undefined = undefined
  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.entries.size
  }

  lookup(key: string, now: number): L1Entry | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    // Alive through its last millisecond, as Redis and MemoryBackend keep keys.
    if (entry.expiresAt < now) {
      this.entries.delete(key)
      return undefined
    }
    if (entry !== this.newest) {
      this.entries.delete(key)
      this.entries.set(key, entry)
      this.newest = entry
    }
    return entry
  }

  put(key: string, value: unknown, expiresAt: number): void {
    const entry = new L1Entry(value, expiresAt)
    this.entries.delete(key)
    this.entries.set(key, entry)
    this.newest = entry
    if (this.entries.size > this.capacity) {
      // The first key in a Map is the least recently used.
      this.entries.delete(this.entries.keys().next().value!)
    }
  }

  delete(key: string): void {
    this.entries.delete(key)
  }

  deleteStartingWith(start: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(start)) this.entries.delete(key)
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
  /**
   * The invalidation channel, shared by every tiered cache whose L2 keys may overlap (messages carry the prefix,
   * so caches on unrelated prefixes ignore each other's). Default {@link defaultChannel}.
   */
  readonly channel?: string | undefined
}

/**
 * The invalidation channel every tiered cache uses unless told otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultChannel = "effect-remote-cache:invalidate"

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
 * `getOrCompute` fails only with its computation's own error (or a defect for a programming error, see
 * {@link TieredCacheDefect}).
 *
 * @since 0.1.0
 * @category models
 */
export interface TieredCacheShape {
  /** L1, then L2 (back-filling L1). */
  readonly get: (key: string) => Effect.Effect<Option.Option<unknown>>
  /**
   * Writes L2, then drops the key from L1 here and in the other processes; the next read back-fills from L2.
   */
  readonly set: (key: string, value: unknown, ttl?: Duration.DurationInput) => Effect.Effect<void>
  /** Removes the key from L2 and L1, here and in the other processes. */
  readonly delete: (key: string) => Effect.Effect<void>
  /** Removes every key of the L2 prefix, and the matching L1 entries here and in the other processes. */
  readonly clear: Effect.Effect<void>
  /**
   * Read-through: the cached value, or the result of `compute`, written to L2 with `options.ttl` and then kept in
   * L1. Concurrent calls for the same missing key share one L2 read and one computation; its failure fails them
   * all and nothing is cached. A computation that calls `getOrCompute` on its own key dies with
   * {@link TieredCacheDefect} (it would wait for itself); so do calls after the cache's scope has closed, and
   * callers waiting when it closes are interrupted.
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

/**
 * A programming error in the use of a tiered cache, raised as a defect: a computation that calls `getOrCompute`
 * on its own key, `getOrCompute` after the cache's scope has closed, or a typed view's computation returning a
 * value its schema cannot encode (`cause` is then the `ParseError`).
 *
 * @since 0.1.0
 * @category errors
 */
export class TieredCacheDefect extends Data.TaggedError("TieredCacheDefect")<{
  readonly message: string
  readonly cause?: unknown
}> {}

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
 * Invalidation messages received from other instances that touched this cache's keys (its own messages, and those
 * about unrelated prefixes, are not counted).
 *
 * @since 0.1.0
 * @category metrics
 */
export const invalidationsReceivedTotal: Metric.Metric.Counter<number> = Metric.counter(
  "tiered_cache_invalidations_received_total",
  {
    description: "Invalidation messages received from other instances that touched this cache's keys",
    incremental: true
  }
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
  /** The publisher's L2 prefix: the full key is `p + k`; a clear removes every full key starting with `p`. */
  readonly p: string
  readonly k?: string
}

const isMessage = (u: unknown): u is Message => {
  if (typeof u !== "object" || u === null) return false
  const m = u as Record<string, unknown>
  if (typeof m["o"] !== "string" || typeof m["p"] !== "string") return false
  return m["t"] === "c" || ((m["t"] === "s" || m["t"] === "d") && typeof m["k"] === "string")
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const randomId = (): string => `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`

/**
 * One read or computation in flight for a key. An invalidation of the key marks it stale: what it found may be
 * the value just invalidated, so it must store nothing.
 */
interface Ticket {
  stale: boolean
  /**
   * Set by a (re)subscription of the bus: messages may have been lost, so what this read or computation found must
   * not enter L1. Unlike `stale`, it does not stop a computed value's L2 write: nothing is known to have changed.
   */
  notInL1: boolean
}

/**
 * How a typed view sees stored values: `decode` accepts a stored value (or not: a miss, counted and logged with
 * the operation and the key), `encode` turns a computed value into its stored form and dies on failure.
 */
interface View<A, R> {
  readonly decode: TypedView.DecodeOrMiss<A, R>
  readonly encode: (value: A) => Effect.Effect<unknown, never, R>
}

/** What a single-flight group yields: the stored form, and the value as the leader's view sees it. */
interface Outcome {
  readonly stored: unknown
  readonly value: unknown
  // `any`: a group is shared by callers of different views; each checks `view` against its own before using `value`.
  readonly view: View<any, any> | undefined
}

type Group = Deferred.Deferred<Outcome, unknown>

/** The groups whose computation runs in the current fiber (inherited by the fibers it forks). */
const computingGroups: FiberRef.FiberRef<ReadonlySet<Group>> = FiberRef.unsafeMake<ReadonlySet<Group>>(new Set())

/** The view-aware `getOrCompute` behind the typed views; not part of the public shape. */
const viewCompute = Symbol.for("effect-remote-cache/TieredCache/viewCompute")

type ViewCompute = <A, E, R, RV>(
  key: string,
  compute: Effect.Effect<A, E, R>,
  options: ComputeOptions | undefined,
  view: View<A, RV>
) => Effect.Effect<A, E, R | RV>

/**
 * The time on the fiber's `Clock` (a `TestClock` in tests), read as `Clock.currentTimeMillis` reads it, without
 * the Effect steps around it: the L1 hit path runs in one step.
 */
const nowOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): number => {
  const services = fiber.currentDefaultServices
  // The services rarely change (a `TestClock` is provided once per test): one identity check replaces the lookup.
  if (services !== lastServices) {
    lastServices = services
    lastClock = Context.get(services, Clock.Clock)
  }
  return lastClock!.unsafeCurrentTimeMillis()
}
let lastServices: Context.Context<DefaultServices.DefaultServices> | undefined
let lastClock: Clock.Clock | undefined

/** Counts an L1 hit with the fiber's metric labels, as `Metric.increment` would, without an Effect step. */
const countL1Hit = (fiber: Fiber.RuntimeFiber<unknown, unknown>): void =>
  l1HitsTotal.unsafeUpdate(1, fiber.getFiberRef(FiberRef.currentMetricLabels))

const recursionDefect = () =>
  new TieredCacheDefect({
    message: "TieredCache.getOrCompute: a computation called getOrCompute on the key it is computing, which " +
      "would wait for itself forever; compute the inner value directly or use another key"
  })

const closedDefect = () => new TieredCacheDefect({ message: "TieredCache.getOrCompute: the cache's scope is closed" })

/**
 * Makes a tiered cache over the `RemoteCache` in context, subscribed to invalidations on the `InvalidationBus` for
 * as long as the scope is open. Invalid options are a defect (`IllegalArgumentException`): they are programming
 * errors.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: TieredCacheOptions = {}
): Effect.Effect<TieredCacheShape, never, RemoteCache | InvalidationBus | Scope.Scope> =>
  Effect.gen(function*() {
    const capacity = options.capacity ?? 10_000
    if (!(Number.isInteger(capacity) && capacity > 0)) {
      return yield* Effect.die(
        new Cause.IllegalArgumentException(`TieredCache capacity must be a positive integer, got ${capacity}`)
      )
    }
    const l1TtlResolved = resolveTtl(options.l1Ttl ?? "1 minute")
    if (l1TtlResolved._tag === "Invalid" || l1TtlResolved._tag === "Expired") {
      return yield* Effect.die(new Cause.IllegalArgumentException("TieredCache l1Ttl must be a positive duration"))
    }
    const l1TtlMillis = l1TtlResolved._tag === "Millis" ? l1TtlResolved.millis : Infinity
    const defaultTtl = options.defaultTtl
    if (defaultTtl !== undefined && resolveTtl(defaultTtl)._tag === "Invalid") {
      return yield* Effect.die(new Cause.IllegalArgumentException("TieredCache defaultTtl is not a valid duration"))
    }
    const remote = yield* RemoteCache
    const bus = yield* InvalidationBus
    const scope = yield* Effect.scope
    const prefix = remote.prefix
    const channel = options.channel ?? defaultChannel
    const self = randomId()
    const l1 = new L1(capacity)
    const tickets = new Map<string, Set<Ticket>>()
    /** The single-flight group each key's callers join. */
    const inflight = new Map<string, Group>()
    /** Every group not yet completed, joinable or not, so closing the scope can end them all. */
    const pending = new Set<Group>()
    let closed = false

    const openTicket = (key: string): Ticket => {
      const ticket: Ticket = { stale: false, notInL1: false }
      const set = tickets.get(key)
      if (set === undefined) tickets.set(key, new Set([ticket]))
      else set.add(ticket)
      return ticket
    }

    const closeTicket = (key: string, ticket: Ticket) => {
      const set = tickets.get(key)
      if (set === undefined) return
      set.delete(ticket)
      if (set.size === 0) tickets.delete(key)
    }

    const markStale = (key: string, except?: Ticket) => {
      const set = tickets.get(key)
      if (set !== undefined) { for (const ticket of set) if (ticket !== except) ticket.stale = true }
    }

    /** The key changed (here or elsewhere): nothing read or computed before now may be stored or joined. */
    const invalidateKey = (key: string) => {
      l1.delete(key)
      markStale(key)
      inflight.delete(key)
    }

    const invalidateStartingWith = (start: string) => {
      if (start === "") return invalidateAll()
      l1.deleteStartingWith(start)
      for (const [key, set] of tickets) if (key.startsWith(start)) { for (const ticket of set) ticket.stale = true }
      for (const key of inflight.keys()) if (key.startsWith(start)) inflight.delete(key)
    }

    const invalidateAll = () => {
      l1.clear()
      for (const set of tickets.values()) for (const ticket of set) ticket.stale = true
      inflight.clear()
    }

    /** Applies another instance's change to this cache's keys; `true` when some of them may have changed. */
    const receive = (message: Message): boolean => {
      if (message.t === "c") {
        // A clear of `p` removes every full key starting with `p`.
        if (prefix.startsWith(message.p)) invalidateAll()
        else if (message.p.startsWith(prefix)) invalidateStartingWith(message.p.slice(prefix.length))
        else return false
        return true
      }
      const fullKey = message.p + message.k!
      if (!fullKey.startsWith(prefix)) return false
      invalidateKey(fullKey.slice(prefix.length))
      return true
    }

    yield* bus.subscribe(channel, {
      onMessage: (bytes) => {
        let message: unknown
        try {
          message = JSON.parse(decoder.decode(bytes))
        } catch {
          return
        }
        if (!isMessage(message) || message.o === self) return
        if (receive(message)) invalidationsReceivedTotal.unsafeUpdate(1, [])
      },
      // Messages may have been lost while the subscriber was away: nothing in L1 can be trusted, nor anything a read
      // in flight would put there. A computation in flight still writes L2: no change is known to have happened.
      onSubscribed: () => {
        l1.clear()
        for (const set of tickets.values()) for (const ticket of set) ticket.notInL1 = true
        inflight.clear()
      }
    })

    const publish = (t: "s" | "d", key: string) =>
      bus.publish(channel, encoder.encode(JSON.stringify({ o: self, t, p: prefix, k: key } satisfies Message)))

    /** L1 expiry for an entry with `ttlMillis` left in L2 when the request was sent at `sentAt`. */
    const l1ExpiresAt = (sentAt: number, ttlMillis: number) => sentAt + Math.min(l1TtlMillis, ttlMillis)

    const withTicket = <A, E, R>(key: string, use: (ticket: Ticket) => Effect.Effect<A, E, R>) =>
      Effect.suspend(() => {
        const ticket = openTicket(key)
        return Effect.ensuring(use(ticket), Effect.sync(() => closeTicket(key, ticket)))
      })

    /** Back-fills L1 from an L2 hit, unless the key was invalidated since the request was sent at `sentAt`. */
    const backFill = (
      key: string,
      ticket: Ticket,
      sentAt: number,
      stored: unknown,
      remainingTtl: Option.Option<Duration.Duration>
    ) => {
      if (ticket.stale || ticket.notInL1) return
      const left = Option.isSome(remainingTtl) ? Duration.toMillis(remainingTtl.value) : Infinity
      if (left > 0) l1.put(key, stored, l1ExpiresAt(sentAt, left))
    }

    const get = (key: string): Effect.Effect<Option.Option<unknown>> =>
      Effect.withFiberRuntime((fiber) => {
        const now = nowOf(fiber)
        const entry = l1.lookup(key, now)
        if (entry !== undefined) {
          countL1Hit(fiber)
          return entry.someExit
        }
        return withTicket(key, (ticket) =>
          Effect.flatMap(remote.getWithTtl(key), (found) => {
            if (Option.isNone(found)) return Effect.as(Metrics.increment(missesTotal), Option.none())
            backFill(key, ticket, now, found.value.value, found.value.remainingTtl)
            return Effect.as(Metrics.increment(l2HitsTotal), Option.some(found.value.value))
          }))
      })

    // Writes invalidate before they start, so that a read or computation in flight (which may have read the old
    // value) stores nothing, and again once L2 has answered, for the reads that started meanwhile.
    const set = (key: string, value: unknown, ttl?: Duration.DurationInput): Effect.Effect<void> =>
      Effect.suspend(() => {
        invalidateKey(key)
        return Effect.zipRight(
          remote.set(key, value, ttl ?? defaultTtl),
          Effect.suspend(() => {
            invalidateKey(key)
            return publish("s", key)
          })
        )
      })

    const del = (key: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        invalidateKey(key)
        return Effect.zipRight(
          remote.delete(key),
          Effect.suspend(() => {
            invalidateKey(key)
            return publish("d", key)
          })
        )
      })

    const clear: Effect.Effect<void> = Effect.suspend(() => {
      invalidateAll()
      return Effect.zipRight(
        remote.clear,
        Effect.suspend(() => {
          invalidateAll()
          return bus.publish(channel, encoder.encode(JSON.stringify({ o: self, t: "c", p: prefix } satisfies Message)))
        })
      )
    })

    /**
     * Writes a computed value through: L2, then L1 with an expiry counted from before the write was sent. Skipped
     * when the key was invalidated since the leader started: that change is newer than the computation.
     */
    const writeComputed = (key: string, ticket: Ticket, stored: unknown, ttl: Duration.DurationInput | undefined) =>
      Effect.suspend(() => {
        if (ticket.stale) return Effect.void
        const effective = ttl ?? defaultTtl
        const resolved = resolveTtl(effective)
        return Effect.flatMap(Clock.currentTimeMillis, (sentAt) =>
          Effect.zipRight(
            remote.set(key, stored, effective),
            Effect.suspend(() => {
              markStale(key, ticket)
              if (ticket.stale || ticket.notInL1 || (resolved._tag !== "Forever" && resolved._tag !== "Millis")) {
                l1.delete(key)
              } else {
                l1.put(key, stored, l1ExpiresAt(sentAt, resolved._tag === "Millis" ? resolved.millis : Infinity))
              }
              return publish("s", key)
            })
          ))
      })

    /**
     * The leader of a single-flight group: reads L2, else computes and writes through, then completes the group.
     * It runs in the cache's scope, not in a caller's fiber, so interrupting a caller never cancels the work the
     * others wait for; closing the scope interrupts it, and its waiters with it.
     */
    const lead = <A, E, R, RV>(
      key: string,
      compute: Effect.Effect<A, E, R>,
      ttl: Duration.DurationInput | undefined,
      view: View<A, RV> | undefined,
      group: Group
    ): Effect.Effect<void, never, R | RV> => {
      const computeAndWrite = (ticket: Ticket): Effect.Effect<Outcome, E, R | RV> =>
        Effect.zipRight(
          Metrics.increment(computesTotal),
          Effect.flatMap(
            Effect.flatMap(
              FiberRef.get(computingGroups),
              (groups) => Effect.locally(compute, computingGroups, new Set(groups).add(group))
            ),
            (value) =>
              Effect.flatMap(
                view === undefined ? Effect.succeed<unknown>(value) : view.encode(value),
                (stored) => Effect.as(writeComputed(key, ticket, stored, ttl), { stored, value, view })
              )
          )
        )
      const body = withTicket(key, (ticket) =>
        Effect.flatMap(Clock.currentTimeMillis, (sentAt) =>
          Effect.flatMap(remote.getWithTtl(key), (found): Effect.Effect<Outcome, E, R | RV> => {
            if (Option.isNone(found)) {
              return Effect.zipRight(Metrics.increment(missesTotal), computeAndWrite(ticket))
            }
            const { remainingTtl, value: stored } = found.value
            const accepted = view === undefined
              ? Effect.succeedSome(stored)
              : view.decode("getOrCompute", key, stored)
            return Effect.flatMap(accepted, (decoded) => {
              // A value this view cannot read (an older schema, another view's) is a miss: computed again.
              if (Option.isNone(decoded)) {
                return Effect.zipRight(Metrics.increment(missesTotal), computeAndWrite(ticket))
              }
              backFill(key, ticket, sentAt, stored, remainingTtl)
              return Effect.as(Metrics.increment(l2HitsTotal), { stored, value: decoded.value, view })
            })
          })))
      return Effect.asVoid(Effect.exit(Effect.onExit(body, (exit) =>
        Effect.sync(() => {
          if (inflight.get(key) === group) {
            inflight.delete(key)
          }
          pending.delete(group)
          Deferred.unsafeDone(group, exit)
        }))))
    }

    /** Starts a group led in the cache's scope; `joinable` groups are the ones later callers join. */
    const startGroup = <A, E, R, RV>(
      key: string,
      compute: Effect.Effect<A, E, R>,
      ttl: Duration.DurationInput | undefined,
      view: View<A, RV> | undefined,
      joinable: boolean
    ): Effect.Effect<Outcome, E, R | RV> => {
      // After the scope has closed no group may start: nothing would ever complete it.
      if (closed) {
        return Effect.die(closedDefect())
      }
      const group: Group = Deferred.unsafeMake<Outcome, unknown>(FiberId.none)
      if (joinable) {
        inflight.set(key, group)
      }
      pending.add(group)
      return Effect.zipRight(
        Effect.forkIn(Effect.interruptible(lead(key, compute, ttl, view, group)), scope),
        Deferred.await(group) as Effect.Effect<Outcome, E>
      )
    }

    const valueFor = <A, RV>(
      key: string,
      outcome: Outcome,
      view: View<A, RV> | undefined
    ): Effect.Effect<Option.Option<A>, never, RV> =>
      view === undefined
        ? Effect.succeedSome(outcome.stored as A)
        : outcome.view === view
        ? Effect.succeedSome(outcome.value as A)
        : view.decode("getOrCompute", key, outcome.stored)

    /**
     * Joins the key's group, or leads a new one. A group that yields what this view cannot read (another view's
     * computation) is a miss: the caller tries once more (joining or leading a group for its own view), then
     * computes in a group of its own that nobody else joins.
     */
    const through = <A, E, R, RV>(
      key: string,
      compute: Effect.Effect<A, E, R>,
      ttl: Duration.DurationInput | undefined,
      view: View<A, RV> | undefined,
      attempt: number
    ): Effect.Effect<A, E, R | RV> =>
      Effect.suspend(() => {
        const own = attempt > 1
        const group = own ? undefined : inflight.get(key)
        const outcome = group === undefined
          ? startGroup(key, compute, ttl, view, !own)
          : Effect.flatMap(FiberRef.get(computingGroups), (groups) =>
            groups.has(group) ? Effect.die(recursionDefect()) : (Deferred.await(group) as Effect.Effect<Outcome, E>))
        return Effect.flatMap(outcome, (outcome) =>
          // A group of one's own was led with this view: its value is this view's.
          own
            ? Effect.succeed(outcome.value as A)
            : Effect.flatMap(valueFor(key, outcome, view), (value) =>
              Option.isSome(value) ? Effect.succeed(value.value) : through(key, compute, ttl, view, attempt + 1)))
      })

    const getOrComputeWith = <A, E, R, RV>(
      key: string,
      compute: Effect.Effect<A, E, R>,
      computeOptions: ComputeOptions | undefined,
      view: View<A, RV> | undefined
    ): Effect.Effect<A, E, R | RV> =>
      Effect.withFiberRuntime((fiber) => {
        const entry = l1.lookup(key, nowOf(fiber))
        if (entry === undefined) {
          return through(key, compute, computeOptions?.ttl, view, 0)
        }
        if (view === undefined) {
          countL1Hit(fiber)
          return entry.valueExit as Exit.Exit<A>
        }
        return Effect.flatMap(view.decode("getOrCompute", key, entry.value), (decoded) =>
          Option.isSome(decoded)
            ? Effect.as(Metrics.increment(l1HitsTotal), decoded.value)
            : through(key, compute, computeOptions?.ttl, view, 0))
      })

    // Added last, so it runs first when the scope closes: no group may start after it, and every waiting caller
    // is released, including those of a leader interrupted before it could run.
    yield* Effect.addFinalizer((exit) =>
      Effect.withFiberRuntime((fiber) => {
        closed = true
        const interrupted = Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
          ? exit
          : Exit.interrupt(fiber.id())
        for (const group of pending) {
          Deferred.unsafeDone(group, interrupted as Exit.Exit<never>)
        }
        pending.clear()
        inflight.clear()
        return Effect.void
      })
    )

    const getOrCompute: TieredCacheShape["getOrCompute"] = (key, compute, computeOptions) =>
      getOrComputeWith(key, compute, computeOptions, undefined)
    const withView: ViewCompute = getOrComputeWith
    const sizeOfL1 = () =>
      l1.size
    const shape: TieredCacheShape & { readonly [viewCompute]: ViewCompute } = {
      get,
      set,
      delete: del,
      clear,
      getOrCompute,
      l1Size: Effect.sync(sizeOfL1),
      [viewCompute]: withView
    }
    return shape
  })

/**
 * The tiered cache as a scoped layer over `RemoteCache` and an `InvalidationBus`, which the types require you to
 * choose: {@link layerRedisBus} when several processes share the L2, {@link layerMemoryBus} otherwise. The layers
 * {@link layerRedis} and {@link layerInProcess} make that choice for you.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: TieredCacheOptions = {}
): Layer.Layer<TieredCache, never, RemoteCache | InvalidationBus> => Layer.scoped(TieredCache, make(options))

/**
 * The tiered cache over Redis, invalidating the L1 of every other process through Redis pub/sub on the same
 * `RedisClient` ({@link layerRedisBus}). The choice for an L2 that several processes share.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { RedisBackend, RedisClient, RemoteCache, TieredCache } from "effect-remote-cache"
 *
 * const Live = TieredCache.layerRedis({ capacity: 5_000, l1Ttl: "30 seconds" }).pipe(
 *   Layer.provide(RemoteCache.layerDefault),
 *   Layer.provide(RedisBackend.layerWithClient({ prefix: "app:" })),
 *   Layer.provide(RedisClient.layer({ url: "redis://localhost:6379" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedis = (
  options: TieredCacheOptions = {}
): Layer.Layer<TieredCache, never, RemoteCache | RedisClient> => Layer.provide(layer(options), layerRedisBus)

/**
 * The tiered cache with invalidation inside this process only (one bus for the whole process): for a
 * `MemoryBackend` L2, or an L2 no other process writes. Over a shared Redis it lets other processes' L1 serve
 * stale values until `l1Ttl`: use {@link layerRedis} there.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerInProcess = (options: TieredCacheOptions = {}): Layer.Layer<TieredCache, never, RemoteCache> =>
  Layer.provide(layer(options), layerProcessBus)

// ---------------------------------------------------------------------------------------------------------------
// Typed view
// ---------------------------------------------------------------------------------------------------------------

/**
 * A typed view of the tiered cache: values are stored in the schema's encoded form and decoded on every read (an
 * L1 hit costs a decode, no I/O); a stored value that does not match the schema (written by an older schema, or
 * by another view of the same key) is a miss, for `getOrCompute` too, which then computes. Each such miss is logged
 * at debug level with the operation (`get` or `getOrCompute`) and the key, never the value, and counted in
 * `RemoteCache.errorsTotal` with the tag `ParseError`, as `RemoteCache.forSchema` does.
 *
 * @since 0.1.0
 * @category models
 */
export interface TieredSchemaView<A, R> {
  readonly get: (key: string) => Effect.Effect<Option.Option<A>, never, R>
  /** Encoding an invalid `A` fails with the `ParseError` (nothing is written), as `RemoteCache.forSchema` does. */
  readonly set: (key: string, value: A, ttl?: Duration.DurationInput) => Effect.Effect<void, ParseResult.ParseError, R>
  readonly delete: (key: string) => Effect.Effect<void>
  /**
   * Read-through, sharing single-flight groups with the untyped `getOrCompute` (one L2 read and one computation
   * for N concurrent callers). A computed value the schema cannot encode is a programming error: a defect
   * ({@link TieredCacheDefect} with the `ParseError` as `cause`).
   */
  readonly getOrCompute: <E, R2>(
    key: string,
    compute: Effect.Effect<A, E, R2>,
    options?: ComputeOptions
  ) => Effect.Effect<A, E, R | R2>
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
    const encode = Schema.encode(schema)
    const view: View<A, R> = {
      decode: TypedView.decodeOrMiss(schema),
      encode: (value) =>
        Effect.catchAll(encode(value), (error) =>
          Effect.die(
            new TieredCacheDefect({
              message: "TieredCache.forSchema getOrCompute: the computed value does not match the schema " +
                "(a programming error); the cause holds the ParseError",
              cause: error
            })
          ))
    }
    const decodeOption = (key: string, stored: Option.Option<unknown>) =>
      Option.isNone(stored) ? Effect.succeedNone : view.decode("get", key, stored.value)
    const withView = (cache as Partial<{ readonly [viewCompute]: ViewCompute }>)[viewCompute]
    return {
      get: (key) => Effect.flatMap(cache.get(key), (stored) => decodeOption(key, stored)),
      set: (key, value, ttl) => Effect.flatMap(encode(value), (encoded) => cache.set(key, encoded, ttl)),
      delete: cache.delete,
      getOrCompute: (key, compute, options) =>
        withView !== undefined
          ? withView(key, compute, options, view)
          // A hand-made TieredCacheShape (a test double): decode what it returns, compute on a mismatch.
          : Effect.flatMap(
            cache.getOrCompute(key, Effect.flatMap(compute, view.encode), options),
            (stored) =>
              Effect.flatMap(
                view.decode("getOrCompute", key, stored),
                (decoded) => Option.isSome(decoded) ? Effect.succeed(decoded.value) : compute
              )
          )
    }
  })
