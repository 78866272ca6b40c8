/**
 * The state one tiered cache instance shares between its modules, and the rules that change it: what a change of
 * a key (here, or heard on the bus) does to L1, to the reads and computations in flight and to the work later
 * callers may join. Every module of the cache (reads, writes, single flight, refresh, batches) goes through these
 * rules rather than touching the collections on its own.
 *
 * Members are arrow functions so that the modules can take them out of the state once, when the cache is built.
 *
 * @internal
 */
import * as Cause from "#effect/Cause"
import * as Context from "#effect/Context"
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import type * as Scope from "#effect/Scope"
import { Flights } from "../../core/tiered/flights.js"
import { encodeMessage, type Message, randomId } from "../../core/tiered/message.js"
import { KeyTickets, type Ticket } from "../../core/tiered/tickets.js"
import type { InvalidationBusShape } from "../../InvalidationBus.js"
import type { RemoteCacheShape } from "../../RemoteCache.js"
import * as Lease from "../backend/lease.js"
import { handled } from "../background.js"
import { currentClock, stampsOf } from "./clock.js"
import { L1 } from "./l1.js"
import type { Settings } from "./settings.js"
import * as Tags from "./tags.js"
import type { View } from "./view.js"
import { WriteOrder } from "./writeOrder.js"

export type { Ticket } from "../../core/tiered/tickets.js"
export type { View } from "./view.js"

/**
 * What a single-flight group yields: the stored form, and the value as the leader's view sees it; `stale` when L2
 * held only a stale value (in its grace period), which the callers then refresh.
 *
 * @internal
 */
export interface Outcome {
  readonly stored: unknown
  readonly value: unknown
  // `any`: a group is shared by callers of different views; each checks `view` against its own before using `value`.
  readonly view: View<any, any> | undefined
  readonly stale: boolean
  /** For a stale outcome: the end of the value's grace (wall milliseconds), checked again when it is answered. */
  readonly graceUntil?: number | undefined
  /**
   * For a value read from L2: the end of its fresh period (wall milliseconds). A caller that joined the read after
   * it ended was never in the value's fresh period: for it the value is stale.
   */
  readonly freshUntil?: number | undefined
}

/**
 * A single-flight group: the callers of one key wait for its outcome.
 *
 * @internal
 */
export type Group = Deferred.Deferred<Outcome, unknown>

/**
 * A stale value found by a batch, answered only within its grace (wall milliseconds).
 *
 * @internal
 */
export interface StaleValue<A> {
  readonly value: A
  readonly graceUntil: number
}

/**
 * A refresh in flight: `group` completes with the computation's outcome; `cut` when the refresh has run past its
 * `hardTimeout`, which releases the callers holding a stale value (the computation is interrupted, and one that
 * cannot be interrupted finishes and writes through in the background).
 *
 * @internal
 */
export interface Refresh {
  readonly group: Group
  readonly cut: Deferred.Deferred<void>
}

const noGroups: ReadonlySet<Group> = new Set()

/**
 * The groups whose computation runs in the current fiber (inherited by the fibers it forks): a fiber-local value,
 * read with `yield*` and set for one computation with `Effect.provideService`.
 *
 * @internal
 */
export const computingGroups: Context.Reference<ReadonlySet<Group>> = Context.Reference<ReadonlySet<Group>>(
  "effect-remote-cache/TieredCache/computingGroups",
  { defaultValue: () => noGroups }
)

/**
 * The state of one tiered cache instance.
 *
 * @internal
 */
export class TieredState {
  /** This instance's id on the bus: it ignores its own messages. */
  readonly self = randomId()
  readonly prefix: string
  readonly l1: L1
  readonly tickets = new KeyTickets()
  readonly flights: Flights<Group, Refresh>
  /** The order of this instance's L2 writes of each key. */
  readonly writes = new WriteOrder()
  readonly tags: Tags.Tags
  /** Set when the cache's scope closes: no work may start after it. */
  closed = false
  /**
   * The L2 read that leases a missing key's computation across processes (`distributedSingleFlight`), when it is
   * on and the `RemoteCache` offers one; else `undefined`.
   */
  readonly leaseRead: Lease.LeaseRead | undefined

  constructor(
    readonly settings: Settings,
    readonly remote: RemoteCacheShape,
    readonly bus: InvalidationBusShape,
    readonly scope: Scope.Scope,
    /** Runs what a bus message starts (outside any fiber) with this cache's services, its clock among them. */
    readonly context: Context.Context<never>
  ) {
    this.prefix = remote.prefix
    this.leaseRead = settings.leaseMillis === undefined ? undefined : Lease.leaseReadOf(remote)
    this.l1 = new L1(settings.capacity)
    this.flights = new Flights(settings.capacity)
    this.tags = Tags.make({
      remote,
      tagKeyPrefix: settings.tagKeyPrefix,
      capacity: settings.capacity,
      writes: this.writes,
      fork: (effect) =>
        this.closed
          ? Effect.void
          : Effect.asVoid(Effect.forkIn(Effect.interruptible(handled("TieredCache tags", effect)), scope)),
      forkFromOutside: (effect) => {
        if (!this.closed) {
          Effect.runForkWith(context)(
            Effect.forkIn(Effect.interruptible(handled("TieredCache tags", effect)), scope)
          )
        }
      }
    })
  }

  /** Runs `write` after this instance's earlier writes of `keys` (see `WriteOrder`). */
  readonly chained = <A>(keys: ReadonlyArray<string>, write: Effect.Effect<A>): Effect.Effect<A> =>
    this.writes.chained(keys, write)

  /**
   * The key changed (here or elsewhere): nothing read or computed before now may be stored or joined. A change
   * made elsewhere also marks the writes in flight here as `remote`: they may land after it.
   */
  readonly invalidateKey = (key: string, fromRemote = false): void => {
    this.l1.delete(key)
    this.tickets.markStale(key, undefined, fromRemote)
    this.flights.forgetKey(key)
  }

  /** Every key starting with `start` changed (a clear of a longer prefix than this cache's). */
  readonly invalidateStartingWith = (start: string, fromRemote = false): void => {
    if (start === "") return this.invalidateAll(fromRemote)
    this.l1.deleteStartingWith(start)
    const tagKeyPrefix = this.settings.tagKeyPrefix
    if (tagKeyPrefix.startsWith(start) || start.startsWith(tagKeyPrefix)) this.tags.forgetKeys()
    this.tickets.markStartingWith(start, fromRemote)
    this.flights.forgetStartingWith(start)
  }

  /** Every key changed (a clear). */
  readonly invalidateAll = (fromRemote = false): void => {
    this.l1.clear()
    // A clear removes tag keys too: the next tagged write must create them again.
    this.tags.forgetKeys()
    this.tickets.markAll(fromRemote)
    this.flights.forgetAll()
  }

  /**
   * Tags invalidated at `at` by a cache on `home` (an L2 prefix): L1 entries carrying them and written where
   * those tags live turn stale (gone when `hard`), and no read in flight (which may have checked the tag keys
   * before the change) may fill L1. A group in flight that may hold a value the invalidation covers is no longer
   * joined (those that joined before may still get it).
   */
  readonly invalidateTagsHere = (tags: ReadonlyArray<string>, at: number, hard: boolean, home: string): void => {
    stampsOf(currentClock()).observe(at)
    if (home === this.prefix) this.tags.note(tags, at, hard)
    this.l1.invalidateTags(new Set(tags), at, hard, (key) => this.homeOf(key) === home)
    this.tickets.keepAllOutOfL1()
    this.flights.forgetCovering(new Set(tags))
  }

  /**
   * The L2 prefix that the tags of the entry under `key` belong to: this cache's own. Kept as a function so that
   * nested prefixes are decided in one place: an entry is covered by invalidations made on this prefix.
   */
  readonly homeOf = (_key: string): string => this.prefix

  /** Applies another instance's change to this cache's keys; `true` when some of them may have changed. */
  readonly receive = (message: Message): boolean => {
    const prefix = this.prefix
    switch (message.t) {
      case "c":
        // A clear of `p` removes every full key starting with `p`.
        if (prefix.startsWith(message.p)) this.invalidateAll(true)
        else if (message.p.startsWith(prefix)) this.invalidateStartingWith(message.p.slice(prefix.length), true)
        else return false
        return true
      case "g":
        // Tag keys live under the prefix of the cache that wrote the entry: only caches that can see entries
        // written there (on that prefix or a shorter one) are concerned.
        if (!message.p.startsWith(prefix)) return false
        this.invalidateTagsHere(message.g!, message.a!, message.h === 1, message.p)
        if (message.p === prefix) this.tags.heard(message.g!, message.a!)
        return true
      case "m": {
        let touched = false
        for (const key of message.ks!) {
          const fullKey = message.p + key
          if (fullKey.startsWith(prefix)) {
            this.invalidateKey(fullKey.slice(prefix.length), true)
            touched = true
          }
        }
        return touched
      }
      default: {
        const fullKey = message.p + message.k!
        if (!fullKey.startsWith(prefix)) return false
        this.invalidateKey(fullKey.slice(prefix.length), true)
        return true
      }
    }
  }

  /**
   * The bus (re)subscribed: messages may have been lost while the subscriber was away, so nothing in L1 can be
   * trusted, nor anything a read in flight would put there. A computation in flight still writes L2: no change is
   * known to have happened.
   */
  readonly resubscribed = (): void => {
    this.l1.clear()
    this.tickets.keepAllOutOfL1()
    this.flights.joinable.clear()
  }

  /**
   * Publishes a change of this cache's keys to the other instances. A bus is not to fail (see its contract); one
   * that dies anyway (a hand-made one) is logged, and the write that published stays done.
   */
  readonly send = (message: Omit<Message, "o" | "p">): Effect.Effect<void> =>
    Effect.catchDefect(
      this.bus.publish(this.settings.channel, encodeMessage({ o: this.self, p: this.prefix, ...message })),
      (defect) => Effect.logError("TieredCache: the invalidation bus failed to publish a change", Cause.die(defect))
    )

  /** Publishes a write (`s`) or a delete (`d`) of one key. */
  readonly publish = (t: "s" | "d", key: string): Effect.Effect<void> => this.send({ t, k: key })

  /** L1 expiry for an entry with `ttlMillis` left in L2 when the request was sent at `sentAt`. */
  readonly l1ExpiresAt = (sentAt: number, ttlMillis: number): number =>
    sentAt + Math.min(this.settings.l1TtlMillis, ttlMillis)

  /** Runs `use` with a ticket on `key`, closed however `use` ends. */
  readonly withTicket = <A, E, R>(key: string, use: (ticket: Ticket) => Effect.Effect<A, E, R>) =>
    Effect.suspend(() => {
      const ticket = this.tickets.open(key)
      return Effect.ensuring(use(ticket), Effect.sync(() => this.tickets.close(key, ticket)))
    })

  /**
   * After a write of `key` whose ticket was made stale by another instance while the write was in flight: that
   * change may have landed first, and this write would then undo it (a deleted value back for its whole TTL).
   * Removing the key again costs a miss, never a resurrection.
   */
  readonly undoIfOvertaken = (key: string, ticket: Ticket): Effect.Effect<void> =>
    ticket.remote
      ? Effect.andThen(
        // Reads made here until the delete is answered may find the overtaken value: none may keep it in L1.
        Effect.ensuring(
          Effect.andThen(Effect.sync(() => this.invalidateKey(key)), this.chained([key], this.remote.delete(key))),
          Effect.sync(() => this.invalidateKey(key))
        ),
        this.publish("d", key)
      )
      : Effect.void

  /**
   * The cache's scope closes: no group may start after this, and every waiting caller is released with an
   * interruption: the scope's `exit` when it is one, else `interrupted` (made by the fiber closing the scope),
   * including those of a leader interrupted before it could run.
   */
  readonly close = (exit: Exit.Exit<unknown, unknown>, interrupted: Exit.Exit<never>): void => {
    this.closed = true
    const released = Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? exit : interrupted
    for (const group of this.flights.pending) {
      Deferred.doneUnsafe(group, released as Exit.Exit<never>)
    }
    this.flights.pending.clear()
    this.flights.joinable.clear()
    this.flights.refreshing.clear()
  }
}
