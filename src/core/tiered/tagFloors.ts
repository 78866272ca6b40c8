/**
 * The latest invalidation of each tag that one `TieredCache` instance made or heard of, and the tag times it put
 * in L2 itself: what keeps a tag's time from moving backwards.
 *
 * A tag key in L2 is overwritten by each invalidation. Two invalidations of one tag that overlap (two processes,
 * or a slow write and a fast one) can land in the opposite order of their times, and the older time left in the
 * key would make an entry created between them fresh again. No conditional write is needed to prevent it: every
 * instance keeps the latest time it knows per tag (its own invalidations, and the bus messages of the others),
 * reads a tag key as the later of the two, and writes the later one back when L2 is behind. The instance whose
 * own write may have overwritten a newer one (it hears of a later invalidation after its write) checks the key
 * again. Plain data, no effects: the cache decides when to read and write.
 *
 * @internal
 */

/**
 * A tag's time as stored in its key: when, and whether that invalidation was hard.
 *
 * @internal
 */
export interface TagTimeLike {
  readonly at: number
  readonly hard: boolean
}

/**
 * A tag's invalidation state as read from L2: its time key (`undefined` when missing or unreadable) and its hard
 * key (`undefined` when it was never hard-invalidated).
 *
 * @internal
 */
export interface TagState {
  readonly soft: TagTimeLike | undefined
  readonly hard: TagTimeLike | undefined
}

/**
 * The times one write puts in a tag's two keys.
 *
 * @internal
 */
export interface TagWrite {
  readonly soft: TagTimeLike
  readonly hard: TagTimeLike | undefined
}

interface Floor {
  soft: TagTimeLike
  hard: TagTimeLike | undefined
}

interface Written {
  readonly write: TagWrite
  /** Monotonic milliseconds when the write was answered. */
  readonly doneAt: number
}

/**
 * How long after its own write an instance checks the key again when it hears of a later invalidation: longer
 * than any bus delivery takes, short enough that a tag written once is not remembered for ever.
 */
const recentWindow = 60_000

const later = (a: TagTimeLike | undefined, b: TagTimeLike | undefined): TagTimeLike | undefined =>
  a === undefined ? b : b === undefined || a.at >= b.at ? a : b

const behind = (l2: TagTimeLike | undefined, known: TagTimeLike | undefined): boolean =>
  known !== undefined && (l2 === undefined || l2.at < known.at)

/**
 * See the module's documentation. Bounded by `capacity` tags: past it, what is known is dropped, and reads fall
 * back on L2 alone (as after a restart).
 *
 * @internal
 */
export class TagFloors {
  private readonly floors = new Map<string, Floor>()
  private readonly written = new Map<string, Written>()

  constructor(private readonly capacity: number) {}

  /** An invalidation of `tag` at `at`, made here or heard of. */
  note(tag: string, at: number, hard: boolean): void {
    const time = { at, hard }
    const floor = this.floors.get(tag)
    if (floor === undefined) {
      if (this.floors.size >= this.capacity) this.floors.clear()
      this.floors.set(tag, { soft: time, hard: hard ? time : undefined })
      return
    }
    floor.soft = later(floor.soft, time)!
    if (hard) floor.hard = later(floor.hard, time)
  }

  /**
   * The state to judge entries by: L2's, raised to what is known here (and what L2 holds is known from now on, so
   * that no later write of this instance puts an older time back). A missing time key stays missing (the entry is
   * gone, see `applyTagStates`). `behind`: L2 holds an older time than known, and should be rewritten.
   */
  merge(tag: string, l2: TagState): { readonly state: TagState; readonly behind: boolean } {
    if (l2.soft === undefined) return { state: l2, behind: false }
    this.note(tag, l2.soft.at, l2.soft.hard)
    if (l2.hard !== undefined) this.note(tag, l2.hard.at, true)
    const floor = this.floors.get(tag)!
    // A time key written with the hard flag (a hard invalidation, or the key's creation) is a hard time too.
    const l2Hard = later(l2.hard, l2.soft.hard ? l2.soft : undefined)
    const isBehind = behind(l2.soft, floor.soft) || behind(l2Hard, floor.hard)
    if (!isBehind) return { state: l2, behind: false }
    return { state: { soft: floor.soft, hard: later(l2.hard, floor.hard) }, behind: true }
  }

  /** What a write of `tag`'s keys puts there now: the latest time known (at least the one just noted). */
  toWrite(tag: string): TagWrite | undefined {
    const floor = this.floors.get(tag)
    return floor === undefined ? undefined : { soft: floor.soft, hard: floor.hard }
  }

  /**
   * Records a write of `tag` answered at `doneAt` (monotonic); `true` when a later invalidation became known
   * while it was in flight: it may have landed before this one, which then must be written again.
   */
  wrote(tag: string, write: TagWrite, doneAt: number): boolean {
    if (this.written.size >= this.capacity) this.written.clear()
    this.written.set(tag, { write, doneAt })
    const floor = this.floors.get(tag)
    return floor !== undefined && (behind(write.soft, floor.soft) || behind(write.hard, floor.hard))
  }

  /**
   * Heard of an invalidation of `tag` (already noted): `true` when this instance wrote the tag's key recently with
   * an older time, whose write may have landed after the one heard of and hidden it (the key must be checked).
   */
  heard(tag: string, at: number, now: number): boolean {
    const own = this.written.get(tag)
    if (own === undefined) return false
    if (now - own.doneAt > recentWindow) {
      this.written.delete(tag)
      return false
    }
    if (own.write.soft.at >= at) return false
    this.written.delete(tag)
    return true
  }
}
