/**
 * The in-process tier of `TieredCache`: a bounded LRU of entries with their freshness, and how an invalidation of
 * their tags lowers it.
 *
 * Entries keep two copies of their times: the wall-clock ones they were written with (`wall`, compared with tag
 * invalidation times, which instances share), and the same instants on the monotonic clock (`meta`), which decide
 * every lookup. A wall clock stepped back or forward moves neither an entry's expiry nor its fresh period here.
 *
 * @internal
 */
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { TagState } from "../../core/tiered/tagFloors.js"
import { currentClock, monoOf } from "./clock.js"

/** The last instant of a millisecond, as a fraction of it (exact in a float64 near today's epoch). */
const lastOfMillisecond = 1 - 1 / 1024

/**
 * An L1 entry. The answers of a hit are made once, on the first hit, and reused by every later one, so a hit
 * allocates nothing: `Exit`s are effects the runtime completes with in one step.
 *
 * @internal
 */
export class L1Entry {
  private some: Exit.Exit<Option.Option<unknown>> | undefined = undefined
  private exit: Exit.Exit<unknown> | undefined = undefined
  constructor(
    readonly value: unknown,
    /** Monotonic milliseconds: gone from L1 after it (never later than `meta.graceUntil`). */
    public expiresAt: number,
    /** Freshness on the monotonic clock (what lookups compare with); lowered by an invalidation of its tags. */
    readonly meta: Meta,
    /** The same freshness on the wall clock, as the entry's header has it. */
    readonly wall: Meta
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
 * When an entry was created and until when it is fresh and kept (milliseconds, `Infinity` for never), with its
 * tags. A plain value (no header) is fresh until its key expires, created at `-Infinity`, untagged. `home` is the
 * L2 prefix its tags belong to (the prefix of the cache that wrote it), `undefined` when it has no tags.
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
 * A Map kept in recency order (re-inserted on each hit) is an LRU with O(1) operations. The most recently used
 * entry is already last, so a hit on it moves nothing: a hot key costs one Map lookup.
 *
 * @internal
 */
export class L1 {
  private readonly entries = new Map<string, L1Entry>()
  private newest: L1Entry | undefined = undefined
  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.entries.size
  }

  /** The entry of `key` alive at `now` (monotonic milliseconds, see `monoOf`). */
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

  /**
   * Keeps `value` until `expiresAt` (wall milliseconds, never past `meta.graceUntil`). The times are moved onto the
   * monotonic clock now: from here on, only the time that passes counts.
   */
  put(key: string, value: unknown, expiresAt: number, meta: Meta): void {
    const clock = currentClock()
    const wallNow = clock.unsafeCurrentTimeMillis()
    const offset = monoOf(clock) - wallNow
    const wall: Meta = {
      createdAt: meta.createdAt,
      freshUntil: meta.freshUntil,
      graceUntil: meta.graceUntil,
      tags: meta.tags
    }
    // The wall times are whole milliseconds, each alive through its last one (an L2 read compares whole wall
    // milliseconds); the monotonic clock has fractions: the end of a period is the end of its millisecond, else L1
    // would call a value stale within the millisecond an L2 read still calls fresh.
    const end = offset + lastOfMillisecond
    const mono: Meta = {
      createdAt: meta.createdAt + offset,
      freshUntil: meta.freshUntil + end,
      graceUntil: meta.graceUntil + end,
      tags: meta.tags
    }
    const entry = new L1Entry(value, Math.min(expiresAt, meta.graceUntil) + end, mono, wall)
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

  /**
   * Entries carrying one of `tags` created at or before `at` (wall milliseconds, compared with their wall creation
   * time) turn stale at `at` — or gone, when `hard`. A scan of L1 (bounded by its capacity, in memory): L2 is
   * never scanned. `covers` narrows it to the entries whose tags live where the invalidation was made.
   */
  invalidateTags(tags: ReadonlySet<string>, at: number, hard: boolean, covers: (key: string) => boolean): void {
    const clock = currentClock()
    const wallNow = clock.unsafeCurrentTimeMillis()
    const monoNow = monoOf(clock)
    for (const [key, entry] of this.entries) {
      const wall = entry.wall
      if (wall.tags.length === 0 || wall.createdAt > at || !covers(key)) continue
      // Stale from now at the latest: a stamp can lie past the end of the millisecond it was made in (several
      // invalidations in one millisecond), and a reader in that millisecond must already see the entry stale.
      const from = Math.min(at, wallNow)
      for (const tag of wall.tags) {
        if (tags.has(tag)) {
          invalidateAt(wall, from, hard)
          invalidateAt(entry.meta, from + (monoNow - wallNow), hard)
          if (entry.meta.graceUntil < monoNow) this.entries.delete(key)
          else entry.expiresAt = Math.min(entry.expiresAt, entry.meta.graceUntil)
          break
        }
      }
    }
  }
}

/**
 * Lowers an entry's freshness by the invalidations of its tags made at or after its creation: from that
 * millisecond on it is stale (gone for a hard one), and from `now` (the read's time) at the latest. A tag key holds
 * only its latest invalidation: one made after an earlier one that covered the entry, or stamped past the end of
 * the millisecond it was made in, or by an instance whose clock is ahead, must not make the entry fresh again until
 * then. The grace after a tag invalidation therefore counts from the latest one read (never past the entry's own). A tag whose time key is missing or unreadable makes the entry
 * gone: every tagged write creates its tags' keys first, so a missing one was evicted (or lost with a server), and
 * whatever invalidation it held may have covered the entry. Eviction can then cost misses, never resurrect a value.
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
