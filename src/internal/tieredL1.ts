/**
 * The in-process tier of `TieredCache`: a bounded LRU of entries with their freshness, and how an invalidation of
 * their tags lowers it.
 *
 * @internal
 */
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

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
    /** Epoch milliseconds on Effect's clock: gone from L1 after it (never later than `meta.graceUntil`). */
    public expiresAt: number,
    /** Freshness; its `freshUntil` is lowered when one of its tags is invalidated. */
    readonly meta: Meta
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
 * When an entry was created and until when it is fresh and kept (epoch milliseconds, `Infinity` for never), with
 * its tags. A plain value (no header) is fresh until its key expires, created at `-Infinity`, untagged.
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
 * period counted from then — without grace, gone.
 *
 * @internal
 */
export const invalidateAt = (meta: Meta, at: number): void => {
  if (at - 1 >= meta.freshUntil) return
  const grace = meta.graceUntil - meta.freshUntil
  meta.freshUntil = at - 1
  meta.graceUntil = Math.min(meta.graceUntil, at - 1 + (Number.isNaN(grace) ? 0 : grace))
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

  put(key: string, value: unknown, expiresAt: number, meta: Meta): void {
    const entry = new L1Entry(value, Math.min(expiresAt, meta.graceUntil), meta)
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
   * Entries carrying one of `tags` created at or before `at` turn stale at `at`. A scan of L1 (bounded by its
   * capacity, in memory): L2 is never scanned.
   */
  invalidateTags(tags: ReadonlySet<string>, at: number): void {
    for (const [key, entry] of this.entries) {
      const meta = entry.meta
      if (meta.tags.length === 0 || meta.createdAt > at) continue
      for (const tag of meta.tags) {
        if (tags.has(tag)) {
          invalidateAt(meta, at)
          if (meta.graceUntil < at) this.entries.delete(key)
          else entry.expiresAt = Math.min(entry.expiresAt, meta.graceUntil)
          break
        }
      }
    }
  }
}

/**
 * Lowers an entry's fresh period to the latest invalidation of its tags made at or after its creation: from that
 * millisecond on it is stale. A tag key that is missing, unreadable (a failure the policy turned into a miss) or
 * holds anything but a number counts as never invalidated.
 *
 * @internal
 */
export const applyTagTimes = (meta: Meta, times: ReadonlyArray<Option.Option<unknown>>): void => {
  for (const time of times) {
    if (Option.isSome(time) && typeof time.value === "number" && time.value >= meta.createdAt) {
      invalidateAt(meta, time.value)
    }
  }
}
