/**
 * The in-process tier of a tiered cache: a bounded LRU of entries with their freshness, and how an invalidation of
 * their tags lowers it.
 *
 * Entries keep two copies of their times: the wall-clock ones they were written with (`wall`, compared with tag
 * invalidation times, which instances share), and the same instants on the monotonic clock (`meta`), which decide
 * every lookup. A wall clock stepped back or forward moves neither an entry's expiry nor its fresh period here.
 *
 * The store reads no clock: its callers pass the times they read (`now`, `wallNow`, `monoNow`), so the face decides
 * which clock is current (Effect's `Clock` of the running fiber, in the Effect 3 face).
 *
 * @internal
 */
import { invalidateAt, type Meta } from "./freshness.js"

/** The last instant of a millisecond, as a fraction of it (exact in a float64 near today's epoch). */
const lastOfMillisecond = 1 - 1 / 1024

/**
 * An L1 entry: its value, its expiry, and its freshness on both clocks. A face may extend it with the answers it
 * makes of a hit (built once, reused by every later hit).
 *
 * @internal
 */
export class L1Entry {
  constructor(
    readonly value: unknown,
    /** Monotonic milliseconds: gone from L1 after it (never later than `meta.graceUntil`). */
    public expiresAt: number,
    /** Freshness on the monotonic clock (what lookups compare with); lowered by an invalidation of its tags. */
    readonly meta: Meta,
    /** The same freshness on the wall clock, as the entry's header has it. */
    readonly wall: Meta
  ) {}
}

/**
 * Makes the entry a store keeps (a face's subclass of {@link L1Entry}).
 *
 * @internal
 */
export type MakeL1Entry<E extends L1Entry> = (value: unknown, expiresAt: number, meta: Meta, wall: Meta) => E

/**
 * A Map kept in recency order (re-inserted on each hit) is an LRU with O(1) operations. The most recently used
 * entry is already last, so a hit on it moves nothing: a hot key costs one Map lookup.
 *
 * @internal
 */
export class L1Store<E extends L1Entry> {
  private readonly entries = new Map<string, E>()
  private newest: E | undefined = undefined
  // The eviction cursor: one iterator over the keys, kept from eviction to eviction. A new iterator would start
  // at the Map's first slot and step over every slot deleted since the table was last compacted (each eviction
  // and each hit leaves one): thousands per eviction in a full L1 that keeps taking new keys. Kept, it never
  // steps over a slot twice. It stays right because every key it has passed was evicted and a key is only ever
  // added at the end (`set` after `delete`), so the first key after it is the least recently used.
  private cursor: Iterator<string> | undefined = undefined
  constructor(private readonly capacity: number, private readonly makeEntry: MakeL1Entry<E>) {}

  /** Entries held (expired ones included until touched). */
  get size(): number {
    return this.entries.size
  }

  /** The entry of `key` alive at `now` (monotonic milliseconds), `undefined` when there is none. */
  lookup(key: string, now: number): E | undefined {
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
   * monotonic clock now (`wallNow` and `monoNow`, read together): from here on, only the time that passes counts.
   */
  putAt(key: string, value: unknown, expiresAt: number, meta: Meta, wallNow: number, monoNow: number): void {
    const offset = monoNow - wallNow
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
    const entry = this.makeEntry(value, Math.min(expiresAt, meta.graceUntil) + end, mono, wall)
    this.entries.delete(key)
    this.entries.set(key, entry)
    this.newest = entry
    if (this.entries.size > this.capacity) {
      // The first key in a Map is the least recently used.
      this.entries.delete(this.oldestKey())
    }
  }

  /** The least recently used key (the first in the Map); the store is not empty. */
  private oldestKey(): string {
    let next = this.cursor?.next()
    if (next === undefined || next.done === true) {
      this.cursor = this.entries.keys()
      next = this.cursor.next()
    }
    return next.value as string
  }

  /** Drops `key`. */
  delete(key: string): void {
    this.entries.delete(key)
  }

  /** Drops every key starting with `start` (a clear of an L2 prefix). */
  deleteStartingWith(start: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(start)) this.entries.delete(key)
  }

  /** Drops everything. */
  clear(): void {
    this.entries.clear()
    this.cursor = undefined
  }

  /**
   * Entries carrying one of `tags` created at or before `at` (wall milliseconds, compared with their wall creation
   * time) turn stale at `at` — or gone, when `hard`. A scan of L1 (bounded by its capacity, in memory): L2 is
   * never scanned. `covers` narrows it to the entries whose tags live where the invalidation was made. `wallNow`
   * and `monoNow` are the time now on both clocks, read together.
   */
  invalidateTagsAt(
    tags: ReadonlySet<string>,
    at: number,
    hard: boolean,
    covers: (key: string) => boolean,
    wallNow: number,
    monoNow: number
  ): void {
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
