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
 * How many reads of a tick go out alone, as without batching, before the others are collected. A batch costs a
 * fiber of its own (forked to send it) and one more scheduling step before its callers resume, some 5 to 10 µs
 * measured on a busy machine, while a read that joins a batch saves the client 1 to 2 µs (`bench/batch.ts`, at
 * concurrency 256): a batch of a handful of reads does not repay it (at concurrency 4 batching cost a third more
 * CPU per read). So a tick's first 8 reads go out at once, and only a tick with more reads than that batches the
 * rest; a burst of hundreds loses little by it.
 *
 * @internal
 */
export const defaultLoneReads = 8

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
