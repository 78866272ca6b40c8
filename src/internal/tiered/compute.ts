/**
 * A computation of a tiered cache and its write-through: the computation runs marked as its group's (so that it
 * cannot wait for itself), stamped after its tags' keys exist, and its value is written to L2 in the key's write
 * order, then kept in L1, unless the key changed meanwhile.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import * as Metric from "#effect/Metric"
import type * as Lease from "../backend/lease.js"
import type { ComputeOptions } from "./api.js"
import { currentMillis } from "./clock.js"
import { computesTotal } from "./metrics.js"
import { computingGroups, type Group, type Outcome, type Ticket, type TieredState, type View } from "./state.js"
import { planWrite } from "./writePlan.js"

/**
 * Writes a computed value through: L2, then L1 with an expiry counted from before the write was sent. Skipped
 * when the key was invalidated since the leader started: that change is newer than the computation. `tags` are
 * the ones the computation was stamped with (their keys made sure of), read once from the options. Under a lease
 * or a claim (`write`, see `Lease.Write`) the L2 write is refused when another process wrote the key first: that
 * value is newer, so this one is not kept in L1 either.
 */
const writeComputed = <A>(
  s: TieredState,
  key: string,
  ticket: Ticket,
  value: A,
  stored: unknown,
  computeOptions: ComputeOptions<A> | undefined,
  tags: ReadonlyArray<string>,
  createdAt: number,
  leased: Lease.Write | undefined
) =>
  Effect.suspend(() => {
    if (ticket.stale) return Effect.void
    const settings = s.settings.settingsOf(computeOptions)
    const chosen = computeOptions?.ttl
    const ttl = typeof chosen === "function" ? chosen(value) : chosen
    const write = Effect.suspend(() => {
      // A write of this key made here meanwhile (ordered before this one) is newer than the computation.
      if (ticket.stale) return Effect.succeed(undefined)
      const sentAt = currentMillis()
      const plan = planWrite(
        stored,
        ttl ?? s.settings.defaultTtl,
        settings.grace,
        tags,
        settings.early,
        createdAt,
        sentAt
      )
      const l2 = leased === undefined
        ? Effect.as(s.remote.set(key, plan.stored, plan.l2Ttl), true)
        // A failure no step recovered is as a failed `set`: ignored.
        : Effect.orElseSucceed(leased(plan.stored, plan.l2Ttl), () => true)
      return Effect.map(l2, (kept) => ({ plan, sentAt, kept }))
    })
    return Effect.flatMap(s.chained([key], write), (written) => {
      if (written === undefined) return Effect.void
      s.tickets.markStale(key, ticket)
      if (!written.kept || ticket.stale || ticket.notInL1 || written.plan.meta === undefined) {
        s.l1.delete(key)
      } else {
        s.l1.put(key, stored, written.sentAt + s.settings.l1TtlMillis, written.plan.meta)
      }
      // A leased write refused stored nothing: there is nothing to undo, and the key holds a newer value.
      return written.kept
        ? Effect.andThen(s.publish("s", key), s.undoIfOvertaken(key, ticket))
        : s.publish("s", key)
    })
  })

/**
 * Runs `compute` as the computation of `group` (so that it cannot wait for itself), then writes it through: with
 * `leased`, the write of the lease or claim this process holds.
 */
export const computeAndWrite = <A, E, R, RV>(
  s: TieredState,
  key: string,
  ticket: Ticket,
  compute: Effect.Effect<A, E, R>,
  computeOptions: ComputeOptions<A> | undefined,
  view: View<A, RV> | undefined,
  group: Group,
  leased?: Lease.Write | undefined
): Effect.Effect<Outcome, E, R | RV> =>
  Effect.withFiber((fiber) => {
    Metric.updateWithFiberUnsafe(computesTotal, 1, fiber)
    const tags = computeOptions?.tags ?? []
    // Read once, here, for the stamp, the tag keys and the write; checked again, since the options object may
    // have changed since the call checked it (a tag with U+0000 would write another tag's hard key).
    const invalid = s.settings.checkTags("getOrCompute", tags)
    if (invalid !== undefined) return Effect.die(invalid)
    // Known from now on by the tags it will write (see `invalidateTagsHere`).
    s.flights.computes(group, tags)
    const computed = Effect.flatMap(
      computingGroups,
      (groups) => Effect.provideService(compute, computingGroups, new Set(groups).add(group))
    )
    // The computation reads its data after its stamp: after its tags' keys exist, and after every invalidation
    // this process made or saw, so that one made before it started covers it and none after.
    return Effect.flatMap(s.tags.stampAfterTags(tags), (createdAt) =>
      Effect.flatMap(
        computed,
        (value) =>
          Effect.flatMap(
            view === undefined ? Effect.succeed<unknown>(value) : view.encode(value),
            (stored) =>
              Effect.as(writeComputed(s, key, ticket, value, stored, computeOptions, tags, createdAt, leased), {
                stored,
                value,
                view,
                stale: false
              })
          )
      ))
  })
