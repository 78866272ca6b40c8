/**
 * An entry's freshness as a tiered cache judges it: when it was created, until when it is fresh and kept, how an
 * invalidation of its tags lowers those times, and the decisions taken on them (fresh, stale or gone; an early
 * refresh due; a refresh backing off). Plain numbers on whichever clock the caller compares them with: the wall
 * clock for what L2 holds, the monotonic one in L1.
 *
 * @internal
 */
import type { TagState } from "./tagFloors.js"

/**
 * When an entry was created and until when it is fresh and kept (milliseconds, `Infinity` for never), with its
 * tags. A plain value (no header) is fresh until its key expires, created at `-Infinity`, untagged.
 *
 * @internal
 */
export interface Meta {
  readonly createdAt: number
  freshUntil: number
  graceUntil: number
  readonly tags: ReadonlyArray<string>
}

/**
 * The entry was invalidated at `at` (one of its tags): stale from that millisecond on, and kept for its grace
 * period counted from then — without grace, or for a hard invalidation, gone.
 *
 * @internal
 */
export const invalidateAt = (meta: Meta, at: number, hard: boolean): void => {
  const grace = hard ? 0 : meta.graceUntil - meta.freshUntil
  if (at - 1 < meta.freshUntil) meta.freshUntil = at - 1
  const graceUntil = at - 1 + (Number.isFinite(grace) && grace > 0 ? grace : 0)
  if (graceUntil < meta.graceUntil) meta.graceUntil = graceUntil
}

/**
 * Lowers an entry's freshness by the invalidations of its tags made at or after its creation: from that
 * millisecond on it is stale (gone for a hard one), and from `now` (the read's time) at the latest. A tag key holds
 * only its latest invalidation: one made after an earlier one that covered the entry, or stamped past the end of
 * the millisecond it was made in, or by an instance whose clock is ahead, must not make the entry fresh again until
 * then. The grace after a tag invalidation therefore counts from the latest one read (never past the entry's own).
 * A tag whose time key is missing or unreadable makes the entry gone: every tagged write creates its tags' keys
 * first, so a missing one was evicted (or lost with a server), and whatever invalidation it held may have covered
 * the entry. Eviction can then cost misses, never resurrect a value.
 *
 * @internal
 */
export const applyTagStates = (meta: Meta, states: ReadonlyArray<TagState>, now: number): void => {
  for (const state of states) {
    if (state.soft === undefined) {
      invalidateAt(meta, Math.min(now, meta.createdAt), true)
      continue
    }
    if (state.soft.at >= meta.createdAt) invalidateAt(meta, Math.min(state.soft.at, now), state.soft.hard)
    if (state.hard !== undefined && state.hard.at >= meta.createdAt) {
      invalidateAt(meta, Math.min(state.hard.at, now), true)
    }
  }
}

/**
 * What an entry is at `now`: `"fresh"` through the last instant of its fresh period, then `"stale"` (served only
 * by `getOrCompute`, while it refreshes) through the last instant of its grace, then `"gone"`. The ends are
 * included, as Redis keeps a key through its last millisecond.
 *
 * @internal
 */
export type Freshness = "fresh" | "stale" | "gone"

/**
 * See {@link Freshness}.
 *
 * @internal
 */
export const freshnessAt = (meta: Meta, now: number): Freshness =>
  now <= meta.freshUntil ? "fresh" : now <= meta.graceUntil ? "stale" : "gone"

/**
 * Whether a fresh entry read at `now` is due for an early refresh: `early` (a fraction between 0 and 1, the
 * `earlyRefresh` option) of its fresh period has passed since its creation. Never for an entry fresh for ever, or
 * without the option; always for a plain value with a fresh period (its creation unknown, `-Infinity`).
 *
 * @internal
 */
export const earlyRefreshDue = (meta: Meta, now: number, early: number | undefined): boolean =>
  early !== undefined && meta.freshUntil !== Infinity &&
  // Written as "not before" so that the unknown creation's NaN point counts as passed.
  !(now < meta.createdAt + early * (meta.freshUntil - meta.createdAt))

/**
 * How long an entry still lives in L2 from the moment its refresh is due (its early-refresh point when that comes
 * first, else the end of its fresh period): a claim on refreshing it across processes (memcached's `R`) asks for
 * an entry with less than that to live. `undefined` when the entry never expires there, or leaves no such time.
 *
 * @internal
 */
export const refreshWindow = (meta: Meta, early: number | undefined): number | undefined => {
  if (!Number.isFinite(meta.freshUntil) || !Number.isFinite(meta.graceUntil)) return undefined
  const earlyPoint = early === undefined ? NaN : meta.createdAt + early * (meta.freshUntil - meta.createdAt)
  // A NaN point (no early refresh, or an unknown creation) is no earlier than the end of the fresh period.
  const due = earlyPoint < meta.freshUntil ? earlyPoint : meta.freshUntil
  const window = meta.graceUntil - due
  return window > 0 ? window : undefined
}

/**
 * Whether a key whose refresh failed is still backing off at `now`: refreshes wait until `until` (the failure's
 * time plus `graceBackoff`; `undefined` when none failed), serving the stale value meanwhile. Over from `until`
 * itself on.
 *
 * @internal
 */
export const backingOff = (until: number | undefined, now: number): boolean => until !== undefined && until > now
