/**
 * The work in flight per key of one cache instance: the single-flight groups later callers join, every group not
 * yet completed, the tags each computing group will write, the refresh running for each key and the keys backing
 * off after a failed refresh.
 *
 * Generic over the group and refresh types (Effect `Deferred`s in the Effect faces), so that the rules of which
 * work a change makes unjoinable are written once. Plain data, no effects.
 *
 * @internal
 */

/**
 * The work in flight of one cache instance.
 *
 * @internal
 */
export class Flights<G extends object, R> {
  /** The single-flight group each key's callers join. */
  readonly joinable = new Map<string, G>()
  /** Every group not yet completed, joinable or not, so closing the cache can end them all. */
  readonly pending = new Set<G>()
  /** The refresh in flight for each key (a stale value or an early refresh): one per key. */
  readonly refreshing = new Map<string, R>()
  /** Until when (monotonic milliseconds) each key's refreshes are not retried after a failure. */
  readonly backoffUntil = new Map<string, number>()
  /** The tags of what each group computes, once it computes (a group not in it is still reading L2). */
  private readonly computingTags = new WeakMap<G, ReadonlyArray<string>>()

  /** @param capacity beyond this many keys backing off, the expired ones are swept. */
  constructor(private readonly capacity: number) {}

  /** From now on `group` computes a value carrying `tags` (it no longer only reads L2). */
  computes(group: G, tags: ReadonlyArray<string>): void {
    this.computingTags.set(group, tags)
  }

  /** `key` changed: its work in flight may hold the old value, so nobody may join it, and its backoff ends. */
  forgetKey(key: string): void {
    this.joinable.delete(key)
    this.refreshing.delete(key)
    this.backoffUntil.delete(key)
  }

  /** Every key starting with `start` changed. */
  forgetStartingWith(start: string): void {
    for (const key of this.joinable.keys()) if (key.startsWith(start)) this.joinable.delete(key)
    for (const key of this.refreshing.keys()) if (key.startsWith(start)) this.refreshing.delete(key)
    for (const key of this.backoffUntil.keys()) if (key.startsWith(start)) this.backoffUntil.delete(key)
  }

  /** Every key changed. */
  forgetAll(): void {
    this.joinable.clear()
    this.refreshing.clear()
    this.backoffUntil.clear()
  }

  /**
   * `tags` were invalidated: a group in flight may hold a value the invalidation covers, so later callers start
   * their own rather than join it. A read may return a value with any tags (checked before this change); a
   * computation is covered when it writes one of these tags. Other computations stay joinable.
   */
  forgetCovering(tags: ReadonlySet<string>): void {
    for (const [key, group] of this.joinable) {
      const computed = this.computingTags.get(group)
      if (computed === undefined || computed.some((tag) => tags.has(tag))) this.joinable.delete(key)
    }
  }

  /** Stops retrying `key`'s refreshes until `now + backoff`. */
  startBackoff(key: string, now: number, backoff: number): void {
    this.backoffUntil.set(key, now + backoff)
    // Keys whose refresh failed and that nobody asked for again: swept once there are more than L1 holds.
    if (this.backoffUntil.size > this.capacity) {
      for (const [stuck, until] of this.backoffUntil) {
        if (until <= now) this.backoffUntil.delete(stuck)
      }
    }
  }
}
