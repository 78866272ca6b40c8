/**
 * Single flight of a tiered cache: concurrent callers of one key join one group, led in the cache's scope, that
 * reads L2 and else computes; `getOrCompute` answers L1 hits at once and hands stale values to the refresh.
 *
 * @internal
 */
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Metric from "#effect/Metric"
import * as Option from "#effect/Option"
import { backingOff, earlyRefreshDue, refreshWindow } from "../../core/tiered/freshness.js"
import type * as Lease from "../backend/lease.js"
import { handled } from "../background.js"
import * as Metrics from "../telemetry/metrics.js"
import type { ComputeOptions } from "./api.js"
import { underLease } from "./claim.js"
import { currentClock, currentMillis, monoOf } from "./clock.js"
import { computeAndWrite } from "./compute.js"
import { closedDefect, recursionDefect } from "./defects.js"
import { countL1Hit, nowOf } from "./fiber.js"
import { l1HitsTotal, l2HitsTotal, missesTotal } from "./metrics.js"
import { leasedReadL2, readL2 } from "./reads.js"
import { refresh, serveStale, valueFor } from "./refresh.js"
import { computingGroups, type Group, type Outcome, type Ticket, type TieredState, type View } from "./state.js"

/**
 * The leader of a single-flight group: reads L2, else computes and writes through, then completes the group.
 * It runs in the cache's scope, not in a caller's fiber, so interrupting a caller never cancels the work the
 * others wait for; closing the scope interrupts it, and its waiters with it. A stale value found in L2 is
 * handed to the callers, who refresh it.
 *
 * The key's ticket is opened and the group registered in an uninterruptible region, and both are settled from
 * the work's own handler, however it ends (interruption included): the ticket closed, then the group completed
 * with the work's exit. One region and one handler, where a ticket's `ensuring` inside an `onExit` inside an
 * `exit` took three, each with its own finalizer effect and steps.
 */
const lead = <A, E, R, RV>(
  s: TieredState,
  key: string,
  compute: Effect.Effect<A, E, R>,
  computeOptions: ComputeOptions<A> | undefined,
  view: View<A, RV> | undefined,
  group: Group
): Effect.Effect<void, never, R | RV> =>
  Effect.withFiber((fiber) => {
    // The cross-process lease this leader won, if any (see `read` below).
    let won: Lease.Won | undefined = undefined
    const miss = (ticket: Ticket): Effect.Effect<Outcome, E, R | RV> => {
      Metric.updateWithFiberUnsafe(missesTotal, 1, fiber)
      return underLease(
        won,
        (write) => computeAndWrite(s, key, ticket, compute, computeOptions, view, group, write)
      )
    }
    // With `distributedSingleFlight` on a backend that offers it, the read also leases the computation across
    // processes: `undefined` then means this process should compute (see `leasedReadL2`).
    const leaseRead = s.leaseRead
    const read = (ticket: Ticket) =>
      leaseRead === undefined
        ? readL2(s, key, ticket)
        : leasedReadL2(s, key, ticket, leaseRead, s.settings.leaseMillis!, (lease) => {
          won = lease
        })
    const body = (ticket: Ticket) =>
      Effect.flatMap(read(ticket), (read): Effect.Effect<Outcome, E, R | RV> => {
        if (read === undefined || read.sentAt > read.meta.graceUntil) {
          return miss(ticket)
        }
        const accepted = view === undefined
          ? Effect.succeedSome(read.stored)
          : view.decode("getOrCompute", key, read.stored)
        return Effect.flatMap(accepted, (decoded) => {
          // A value this view cannot read (an older schema, another view's) is a miss: computed again.
          if (Option.isNone(decoded)) {
            return miss(ticket)
          }
          const stale = read.sentAt > read.meta.freshUntil
          Metric.updateWithFiberUnsafe(stale ? missesTotal : l2HitsTotal, 1, fiber)
          return Effect.succeed({
            stored: read.stored,
            value: decoded.value,
            view,
            stale,
            graceUntil: read.meta.graceUntil,
            freshUntil: read.meta.freshUntil
          })
        })
      })
    return Effect.uninterruptibleMask((restore) => {
      const ticket = s.tickets.open(key)
      const settle = (exit: Exit.Exit<Outcome, E>): Effect.Effect<void> => {
        s.tickets.close(key, ticket)
        if (s.flights.joinable.get(key) === group) {
          s.flights.joinable.delete(key)
        }
        s.flights.pending.delete(group)
        Deferred.doneUnsafe(group, exit)
        return Effect.void
      }
      return Effect.matchCauseEffect(restore(body(ticket)), {
        onFailure: (cause) => settle(Exit.failCause(cause)),
        onSuccess: (outcome) => settle(Exit.succeed(outcome))
      })
    })
  })

/** Starts a group led in the cache's scope; `joinable` groups are the ones later callers join. */
const startGroup = <A, E, R, RV>(
  s: TieredState,
  key: string,
  compute: Effect.Effect<A, E, R>,
  computeOptions: ComputeOptions<A> | undefined,
  view: View<A, RV> | undefined,
  joinable: boolean
): Effect.Effect<Outcome, E, R | RV> => {
  // After the scope has closed no group may start: nothing would ever complete it.
  if (s.closed) {
    return Effect.die(closedDefect())
  }
  const group: Group = Deferred.makeUnsafe<Outcome, unknown>()
  if (joinable) {
    s.flights.joinable.set(key, group)
  }
  s.flights.pending.add(group)
  return Effect.andThen(
    Effect.forkIn(
      Effect.interruptible(handled("TieredCache computation", lead(s, key, compute, computeOptions, view, group))),
      s.scope
    ),
    Deferred.await(group) as Effect.Effect<Outcome, E>
  )
}

/**
 * Joins the key's group, or leads a new one. A group that yields what this view cannot read (another view's
 * computation) is a miss: the caller tries once more (joining or leading a group for its own view), then
 * computes in a group of its own that nobody else joins. A group that found a stale value hands it over to be
 * refreshed.
 */
const through = <A, E, R, RV>(
  s: TieredState,
  key: string,
  compute: Effect.Effect<A, E, R>,
  computeOptions: ComputeOptions<A> | undefined,
  view: View<A, RV> | undefined,
  attempt: number
): Effect.Effect<A, E, R | RV> =>
  Effect.suspend(() => {
    const own = attempt > 1
    const group = own ? undefined : s.flights.joinable.get(key)
    const joinedAt = group === undefined ? undefined : currentMillis()
    const outcome = group === undefined
      ? startGroup(s, key, compute, computeOptions, view, !own)
      : Effect.flatMap(
        computingGroups,
        (groups) =>
          groups.has(group) ? Effect.die(recursionDefect()) : (Deferred.await(group) as Effect.Effect<Outcome, E>)
      )
    return Effect.flatMap(outcome, (outcome) => {
      // Joined a read sent while the value was fresh, after its fresh period ended: stale for this caller.
      const staleHere = outcome.stale ||
        (joinedAt !== undefined && outcome.freshUntil !== undefined && joinedAt > outcome.freshUntil)
      if (staleHere) {
        const graceUntil = outcome.graceUntil ?? Infinity
        const window = outcome.freshUntil === undefined || graceUntil === Infinity
          ? undefined
          : graceUntil - outcome.freshUntil
        return serveStale(s, key, compute, computeOptions, view, outcome.stored, window, () =>
          currentMillis() <= graceUntil, () =>
          through(s, key, compute, computeOptions, view, 0))
      }
      // A group of one's own was led with this view: its value is this view's.
      return own
        ? Effect.succeed(outcome.value as A)
        : Effect.flatMap(valueFor(key, outcome, view), (value) =>
          Option.isSome(value)
            ? Effect.succeed(value.value)
            : through(s, key, compute, computeOptions, view, attempt + 1))
    })
  })

export const getOrComputeWith = <A, E, R, RV>(
  s: TieredState,
  key: string,
  compute: Effect.Effect<A, E, R>,
  computeOptions: ComputeOptions<A> | undefined,
  view: View<A, RV> | undefined
): Effect.Effect<A, E, R | RV> =>
  Effect.withFiber((fiber) => {
    // Every option is checked before any work, whichever path the call then takes.
    const invalid = s.settings.checkCall("getOrCompute", key, computeOptions)
    if (invalid !== undefined) return Effect.die(invalid)
    const now = nowOf(fiber)
    const entry = s.l1.lookup(key, now)
    if (entry === undefined) {
      return through(s, key, compute, computeOptions, view, 0)
    }
    const meta = entry.meta
    // Kept in L1 past its fresh period: within its grace (its meta lowered by any invalidation meanwhile).
    if (now > meta.freshUntil) {
      const window = refreshWindow(meta, undefined)
      return serveStale(s, key, compute, computeOptions, view, entry.value, window, () =>
        monoOf(currentClock()) <= meta.graceUntil, () =>
        through(s, key, compute, computeOptions, view, 0))
    }
    const early = computeOptions?.earlyRefresh ?? s.settings.defaults.early
    const hit = view === undefined
      ? (countL1Hit(fiber), entry.valueExit as Exit.Exit<A>)
      : Effect.flatMap(view.decode("getOrCompute", key, entry.value), (decoded) =>
        Option.isSome(decoded)
          ? Effect.as(Metrics.increment(l1HitsTotal), decoded.value)
          : through(s, key, compute, computeOptions, view, 0))
    if (
      !earlyRefreshDue(meta, now, early) || s.flights.refreshing.has(key) ||
      backingOff(s.flights.backoffUntil.get(key), now) || s.closed
    ) {
      return hit
    }
    // Past its early-refresh point: answered now, rewritten in the background.
    return Effect.andThen(refresh(s, key, compute, computeOptions, view, refreshWindow(meta, early)), hit)
  })
