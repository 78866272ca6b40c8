/**
 * The in-process tier of `TieredCache` on Effect's clocks: the store of `core/tiered/l1` (a bounded LRU of entries
 * with their freshness, and how an invalidation of their tags lowers it), read on the `Clock` of the running fiber,
 * and entries that keep the `Exit`s a hit answers with.
 *
 * @internal
 */
import * as Exit from "#effect/Exit"
import * as Option from "#effect/Option"
import type { Meta } from "../../core/tiered/freshness.js"
import * as Core from "../../core/tiered/l1.js"
import { currentClock, monoOf, wallMillisOf } from "./clock.js"

export { applyTagStates, invalidateAt, type Meta } from "../../core/tiered/freshness.js"

/**
 * An L1 entry. The answers of a hit are made once, on the first hit, and reused by every later one, so a hit
 * allocates nothing: `Exit`s are effects the runtime completes with in one step.
 *
 * @internal
 */
export class L1Entry extends Core.L1Entry {
  private some: Exit.Exit<Option.Option<unknown>> | undefined = undefined
  private exit: Exit.Exit<unknown> | undefined = undefined

  /** What `get` answers: `Some(value)`. */
  get someExit(): Exit.Exit<Option.Option<unknown>> {
    return this.some ??= Exit.succeed(Option.some(this.value))
  }

  /** What an untyped `getOrCompute` answers: the value. */
  get valueExit(): Exit.Exit<unknown> {
    return this.exit ??= Exit.succeed(this.value)
  }
}

const makeEntry = (value: unknown, expiresAt: number, meta: Meta, wall: Meta): L1Entry =>
  new L1Entry(value, expiresAt, meta, wall)

/**
 * The L1 store of `core/tiered/l1`, its times read on the fiber's `Clock` (see `currentClock`). Lookups take the
 * caller's monotonic time (`monoOf`), so a hit reads the clock once.
 *
 * @internal
 */
export class L1 extends Core.L1Store<L1Entry> {
  constructor(capacity: number) {
    super(capacity, makeEntry)
  }

  /**
   * Keeps `value` until `expiresAt` (wall milliseconds, never past `meta.graceUntil`). The times are moved onto the
   * monotonic clock now: from here on, only the time that passes counts.
   */
  put(key: string, value: unknown, expiresAt: number, meta: Meta): void {
    const clock = currentClock()
    const wallNow = wallMillisOf(clock)
    this.putAt(key, value, expiresAt, meta, wallNow, monoOf(clock))
  }

  /**
   * Entries carrying one of `tags` created at or before `at` (wall milliseconds, compared with their wall creation
   * time) turn stale at `at` — or gone, when `hard`. `covers` narrows it to the entries whose tags live where the
   * invalidation was made.
   */
  invalidateTags(tags: ReadonlySet<string>, at: number, hard: boolean, covers: (key: string) => boolean): void {
    const clock = currentClock()
    const wallNow = wallMillisOf(clock)
    this.invalidateTagsAt(tags, at, hard, covers, wallNow, monoOf(clock))
  }
}
