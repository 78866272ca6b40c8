/**
 * Same-tick batching of reads, in plain TypeScript: the first reads of a tick go out at once, each on its own, as
 * they would without batching; the reads that follow them in the same tick are collected and handed over together
 * when the tick ends (`process.nextTick`), in chunks of at most `maxSize`.
 *
 * Why the end of the tick: the connection writes what was queued in a tick in one socket write on the next tick
 * (`connection.ts`), and Effect's scheduler runs ready fibers in microtasks, which Node drains before the next-tick
 * queue. So every fiber that reads in response to the same event (the replies of one socket read, the start of an
 * `Effect.forEach`) has queued its read when the batch leaves, and the batch is queued before the connection's own
 * flush: a lone read waits for nothing, and a batch leaves in the same socket write as the first reads of its tick.
 *
 * @internal
 */

/**
 * How many reads of a tick go out alone, as without batching, before the others are collected. A batch used to
 * cost a fiber of its own (forked to send it, when only the client's Effect API could send; still so over a
 * cluster client) and one more scheduling step before its callers resume; measured with `bench/batch.ts` on a loaded two-core machine, that only pays off for
 * large batches: with the first read alone and the rest batched, concurrency 4 took about a third more client CPU
 * per read than no batching, 16 some 15% more, 32 and 64 about as much, 256 some 10 to 15% less (and 20 to 30%
 * less server CPU). With the first 64 alone, 16 and 64 measured the same as without batching, and 256 kept most of
 * the gain.
 *
 * @internal
 */
export const defaultLoneReads = 64

/**
 * A collector of the reads of one kind (one backend's `get`s, say).
 *
 * @internal
 */
export class TickBatcher<A> {
  /** Reads issued in this tick so far. */
  private count = 0
  private items: Array<A> = []

  constructor(
    private readonly maxSize: number,
    /** Sends one chunk; called with at least one item, synchronously, outside of any fiber's own steps. */
    private readonly send: (items: ReadonlyArray<A>) => void,
    /** How many reads of a tick go out alone before the others are collected. */
    private readonly loneReads: number = defaultLoneReads
  ) {}

  /**
   * `true` for the first `loneReads` reads of a tick: the caller sends its read itself, now, as a lone read (so a
   * read that is alone in its tick waits for nothing).
   * `false`: the caller must `add` its read, which leaves with the others when the tick ends.
   */
  alone(): boolean {
    if (this.count === 0) process.nextTick(this.flush)
    return this.count++ < this.loneReads
  }

  /** Queues a read for the end of the tick; a chunk that reaches `maxSize` leaves at once. */
  add(item: A): void {
    const items = this.items
    items.push(item)
    if (items.length >= this.maxSize) {
      this.items = []
      this.send(items)
    }
  }

  private readonly flush = (): void => {
    this.count = 0
    const items = this.items
    if (items.length === 0) return
    this.items = []
    this.send(items)
  }
}

/**
 * Whether the readers of a batch that failed as a whole (an `MGET`, a pipeline of `GET` + `PTTL`, or one node's
 * share of a split `MGET`) are asked again, each alone, so that each gets what a lone read would. An error reply
 * (`NOPERM` for one key outside the user's key pattern, say) or a refused argument may belong to one key only; over
 * several cluster nodes so may a timeout or a lost connection (one node's). On one node a timeout or a lost
 * connection is every reader's own outcome: asking again would only double their wait.
 *
 * @internal
 */
export const askAloneAfter = (errorTag: string, spansNodes: boolean): boolean =>
  errorTag === "RedisReplyError" || errorTag === "RedisInputError" ||
  (spansNodes && (errorTag === "RedisTimeoutError" || errorTag === "RedisConnectionError"))

/**
 * Whether a full key may join a batch: an argument over `maxArgumentLength` fails its whole command, so such a key
 * is read alone (and fails alone, as a lone read does). O(1) but for keys within a factor 3 of the bound: a UTF-16
 * code unit takes at most 3 bytes in UTF-8.
 *
 * @internal
 */
export const fitsInBatch = (fullKey: string, maxArgumentLength: number): boolean =>
  fullKey.length * 3 <= maxArgumentLength || Buffer.byteLength(fullKey) <= maxArgumentLength
