/**
 * Refresh and grace of a tiered cache: one refresh per key in the cache's scope, cut at its `hardTimeout`, backing
 * off after a failure; and the callers holding a stale value, who wait for the refresh at most its soft timeout and
 * answer the stale value only while its grace lasts.
 *
 * @internal
 */
import * as Cause from "#effect/Cause"
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Metric from "#effect/Metric"
import * as Option from "#effect/Option"
import type * as Lease from "../backend/lease.js"
import { forkChildExit, handled, joinExit } from "../background.js"
import * as Metrics from "../telemetry/metrics.js"
import type { ComputeOptions } from "./api.js"
import { claimedRefresh } from "./claim.js"
import { currentClock, monoOf } from "./clock.js"
import { computeAndWrite } from "./compute.js"
import { closedDefect, recursionDefect } from "./defects.js"
import { refreshesTotal, staleServedTotal } from "./metrics.js"
import { computingGroups, type Group, type Outcome, type Refresh, type TieredState, type View } from "./state.js"

/**
 * Interrupts a computation run past its hard timeout, in the background, if it can be interrupted now; one in
 * an uninterruptible region is left to finish (interrupting it would only throw its result away when the
 * region ends), so that its value is still written through.
 *
 * @internal
 */
export const cutShort = (fiber: Fiber.Fiber<unknown, unknown> | undefined): Effect.Effect<void> =>
  fiber === undefined ?
    Effect.void :
    Effect.flatMap(
      Fiber.isInterruptibleNow(fiber),
      (interruptible) =>
        interruptible
          ? Effect.asVoid(Effect.forkDetach(handled("TieredCache cut", Fiber.interrupt(fiber))))
          : Effect.void
    )

/** Serves stale values of `key` without refreshing it until `graceBackoff` has passed (monotonic clock). */
const startBackoff = (
  s: TieredState,
  key: string,
  backoff: number
) => s.flights.startBackoff(key, monoOf(currentClock()), backoff)

/**
 * At `hardTimeout` after its start, a refresh still running is cut: its callers holding a stale value are
 * released, the key backs off, and the computation is interrupted. One that cannot be interrupted finishes in
 * the background and writes through (the refresh's group completes then, for callers with nothing stale).
 */
const cutAt = (
  s: TieredState,
  key: string,
  record: Refresh,
  hardTimeout: number,
  backoff: number,
  computation: () => Fiber.Fiber<unknown, unknown> | undefined
) =>
  Effect.flatMap(
    Effect.raceFirst(
      Effect.as(Effect.sleep(hardTimeout), true),
      Effect.as(Effect.exit(Deferred.await(record.group)), false)
    ),
    (expired) =>
      Effect.suspend(() => {
        if (!expired) {
          return Effect.void
        }
        Deferred.doneUnsafe(record.cut, Exit.void)
        startBackoff(s, key, backoff)
        return cutShort(computation())
      })
  )

/**
 * Starts the key's refresh (unless one runs): a computation in the cache's scope that writes through under the
 * key's ticket, cut at `hardTimeout` (see `cutAt`); its failure starts the key's backoff. Across processes
 * (`distributedSingleFlight`) the refresh is claimed first (see `claim.ts`); `window` is how long the entry had left
 * to live in L2 when its refresh became due (`refreshWindow`), `undefined` when unknown.
 */
export const refresh = <A, E, R, RV>(
  s: TieredState,
  key: string,
  compute: Effect.Effect<A, E, R>,
  computeOptions: ComputeOptions<A> | undefined,
  view: View<A, RV> | undefined,
  window: number | undefined
): Effect.Effect<Refresh, never, R | RV> =>
  Effect.suspend(() => {
    const running = s.flights.refreshing.get(key)
    if (running !== undefined) {
      return Effect.succeed(running)
    }
    if (s.closed) {
      return Effect.die(closedDefect())
    }
    const settings = s.settings.settingsOf(computeOptions)
    const group: Group = Deferred.makeUnsafe<Outcome, unknown>()
    const record: Refresh = { group, cut: Deferred.makeUnsafe<void>() }
    s.flights.refreshing.set(key, record)
    s.flights.pending.add(group)
    // The computation runs in a fiber of its own, so that a cut interrupts it and not the write that follows.
    let computation: Fiber.Fiber<Exit.Exit<A, E>> | undefined
    const cuttable = Effect.flatMap(forkChildExit(compute), (fiber) => {
      computation = fiber
      return joinExit(fiber)
    })
    const leaseRead = s.leaseRead
    const body = s.withTicket(key, (ticket) => {
      const computing = (leased?: Lease.Write) =>
        computeAndWrite(s, key, ticket, cuttable, computeOptions, view, group, leased)
      if (leaseRead === undefined) return computing()
      // A refresh cut at its hard timeout while it waited for another process's value computes nothing after.
      const uncut = (leased: Lease.Write | undefined) =>
        Effect.flatMap(Deferred.isDone(record.cut), (cut) => cut ? Effect.interrupt : computing(leased))
      return claimedRefresh(s, key, ticket, leaseRead, window, settings.early, view, record.cut, uncut)
    })
    const done = Effect.onExit(body, (exit) =>
      Effect.sync(() => {
        if (s.flights.refreshing.get(key) === record) {
          s.flights.refreshing.delete(key)
        }
        s.flights.pending.delete(group)
        if (Exit.isSuccess(exit)) {
          s.flights.backoffUntil.delete(key)
        } else if (!Cause.hasInterruptsOnly(exit.cause)) {
          startBackoff(s, key, settings.backoff)
        }
        Deferred.doneUnsafe(group, exit)
      }))
    const timer = settings.hardTimeout === undefined
      ? Effect.void
      : Effect.forkIn(
        Effect.interruptible(
          handled(
            "TieredCache refresh timeout",
            cutAt(s, key, record, settings.hardTimeout, settings.backoff, () => computation)
          )
        ),
        s.scope
      )
    return Effect.as(
      Effect.andThen(
        Metrics.increment(refreshesTotal),
        // The refresh's outcome goes to its group (see `done`): the fiber ends with it as a value.
        Effect.andThen(Effect.forkIn(Effect.interruptible(Effect.exit(done)), s.scope), timer)
      ),
      record
    )
  })

export const valueFor = <A, RV>(
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
 * A caller holding a stale value: refresh (or join the refresh), wait for it at most the soft timeout or until
 * the refresh is cut at `hardTimeout`, and answer the stale value when the refresh fails, is backing off, or
 * takes longer. Every answer of the stale value checks `withinGrace` at that moment: a value whose grace ended
 * while the caller waited is no fallback any more, nor is one this view cannot read; such a caller waits for
 * the refresh, shares its failure, and computes on its own when the refresh was cut or interrupted.
 */
export const serveStale = <A, E, R, RV>(
  s: TieredState,
  key: string,
  compute: Effect.Effect<A, E, R>,
  computeOptions: ComputeOptions<A> | undefined,
  view: View<A, RV> | undefined,
  stored: unknown,
  window: number | undefined,
  withinGrace: () => boolean,
  alone: () => Effect.Effect<A, E, R | RV>
): Effect.Effect<A, E, R | RV> =>
  Effect.flatMap(
    view === undefined ? Effect.succeedSome(stored as A) : view.decode("getOrCompute", key, stored),
    (fallback) =>
      // The groups this fiber computes: a caller inside the refresh's own computation must not wait for it.
      Effect.flatMap(computingGroups, (groups) =>
        Effect.withFiber((fiber) => {
          const settings = s.settings.settingsOf(computeOptions)
          const usable = () => Option.isSome(fallback) && withinGrace()
          const stale = Effect.sync(() => {
            Metric.updateWithFiberUnsafe(staleServedTotal, 1, fiber)
            return (fallback as Option.Some<A>).value
          })
          const backoff = s.flights.backoffUntil.get(key)
          if (backoff !== undefined) {
            const now = monoOf(currentClock())
            if (backoff <= now) {
              s.flights.backoffUntil.delete(key)
            } else if (usable()) {
              return stale
            }
          }
          const running = s.flights.refreshing.get(key)
          if (running !== undefined && groups.has(running.group)) {
            return Effect.die(recursionDefect())
          }
          return Effect.flatMap(refresh(s, key, compute, computeOptions, view, window), (record) => {
            const awaited: Effect.Effect<A, E, R | RV> = Effect.matchCauseEffect(
              Deferred.await(record.group) as Effect.Effect<Outcome, E>,
              {
                onSuccess: (outcome) =>
                  Effect.flatMap(
                    valueFor(key, outcome, view),
                    (value) => Option.isSome(value) ? Effect.succeed(value.value) : compute
                  ),
                onFailure: (cause) =>
                  Cause.hasInterruptsOnly(cause) && s.closed
                    // Closing the cache interrupts the refresh: its callers are interrupted too, as for any group.
                    ? Effect.failCause(cause)
                    : usable()
                    ? stale
                    : !Cause.hasInterruptsOnly(cause)
                    ? Effect.failCause(cause)
                    // Cut at its hard timeout: computed here, never cut short (nothing stale to fall back on).
                    : alone()
              }
            )
            if (!usable()) {
              return awaited
            }
            if (settings.timeout === 0) {
              return stale
            }
            const deadline = settings.timeout === undefined
              ? Deferred.await(record.cut)
              : Effect.race(Effect.sleep(settings.timeout), Deferred.await(record.cut))
            return Effect.flatten(Effect.raceFirst(
              Effect.as(Effect.exit(Deferred.await(record.group)), awaited),
              Effect.as(
                deadline,
                Effect.suspend(() => usable() ? stale : awaited)
              )
            ))
          })
        }))
  )
