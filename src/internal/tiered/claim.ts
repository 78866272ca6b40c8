/**
 * Refreshes claimed across processes (`distributedSingleFlight` over a backend with a leased read): before a
 * refresh computes, it reads the key claiming the refresh (memcached's `mg … R<secs>` win token), so that of all
 * the processes holding a stale or early-due copy only one computes; the others wait for its value in L2.
 *
 * @internal
 */
import * as Cause from "#effect/Cause"
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Option from "#effect/Option"
import { earlyRefreshDue } from "../../core/tiered/freshness.js"
import type * as Lease from "../backend/lease.js"
import { leasedReadL2, type RefreshClaim } from "./reads.js"
import type { Outcome, Ticket, TieredState, View } from "./state.js"

/**
 * Computes and writes under `lease` (when this process holds one): `compute` is given the lease's write. The lease
 * is given up when the computation fails, so that another process computes at once rather than after the lease, and
 * when it ended without writing through the lease (its write skipped because the key changed here meanwhile), so
 * that no placeholder is left for the others to wait out. An interrupted one (the cache closing, a refresh cut)
 * leaves it to expire, adding no round trip.
 *
 * @internal
 */
export const underLease = <A, E, R>(
  lease: Lease.Won | undefined,
  compute: (write: Lease.Write | undefined) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  if (lease === undefined) return compute(undefined)
  const leased = lease.write
  let wrote = false
  const write: Lease.Write | undefined = leased === undefined ? undefined : (value, ttl) => {
    wrote = true
    return leased(value, ttl)
  }
  return Effect.onExit(
    compute(write),
    (exit) =>
      Exit.isSuccess(exit)
        ? (wrote || leased === undefined ? Effect.void : lease.release)
        : !Cause.hasInterruptsOnly(exit.cause)
        ? lease.release
        : Effect.void
  )
}

/**
 * The slack of a claim, in seconds: memcached counts an item's time to live in whole seconds on a clock that ticks
 * once a second, and its expiry was rounded up to whole seconds when written.
 */
const claimSlackSeconds = 2

/**
 * The claim of a refresh whose entry had `window` milliseconds to live in L2 when its refresh became due (see
 * `refreshWindow`): it claims entries with less than that (plus the slack) to live, and takes a value that is fresh
 * and not due for an early refresh at the time of its read (the one another process wrote).
 */
const claimOf = (window: number | undefined, early: number | undefined): RefreshClaim => ({
  // Whole seconds (memcached's): the window's milliseconds come from clocks read a little apart.
  recacheSeconds: window === undefined ? undefined : Math.round(window / 1000) + claimSlackSeconds,
  accept: (read) =>
    read.sentAt <= read.meta.freshUntil &&
    (read.meta.createdAt === -Infinity || !earlyRefreshDue(read.meta, read.sentAt, early))
})

/**
 * A refresh's work across processes: the claiming read, then either the value another process refreshed (its
 * outcome, nothing computed or written here) or `compute` (this process won the claim or the lease, the entry could
 * not be claimed, or the claim's holder wrote nothing within the lease), given the write of the claim or lease won
 * (see `Lease.Write`), giving a lease won up if it fails.
 *
 * @internal
 */
export const claimedRefresh = <A, E, R, RV>(
  s: TieredState,
  key: string,
  ticket: Ticket,
  leaseRead: Lease.LeaseRead,
  window: number | undefined,
  early: number | undefined,
  view: View<A, RV> | undefined,
  cut: Deferred.Deferred<void>,
  compute: (leased: Lease.Write | undefined) => Effect.Effect<Outcome, E, R | RV>
): Effect.Effect<Outcome, E, R | RV> =>
  Effect.suspend(() => {
    let won: Lease.Won | undefined = undefined
    const leased = leasedReadL2(s, key, ticket, leaseRead, s.settings.leaseMillis!, (lease) => {
      won = lease
    }, claimOf(window, early))
    // The refresh cut at its hard timeout while it reads or waits for another process's value: it ends there, as
    // a cut computation does (its callers without a stale value then compute on their own).
    const read = Effect.flatMap(
      Effect.raceFirst(Effect.map(leased, (found) => ({ found })), Effect.as(Deferred.await(cut), undefined)),
      (read) => read === undefined ? Effect.interrupt : Effect.succeed(read.found)
    )
    return Effect.flatMap(read, (found) => {
      const computing = () => underLease(won, compute)
      if (found === undefined) return computing()
      const decoded = view === undefined
        ? Effect.succeedSome(found.stored)
        : view.decode("getOrCompute", key, found.stored)
      return Effect.flatMap(decoded, (value) =>
        Option.isNone(value) ? computing() : Effect.succeed<Outcome>({
          stored: found.stored,
          value: value.value,
          view,
          stale: false,
          graceUntil: found.meta.graceUntil,
          freshUntil: found.meta.freshUntil
        }))
    })
  })
