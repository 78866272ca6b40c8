/**
 * Same-tick batching of reads, in plain TypeScript: the first read of a tick goes out at once, on its own, as it
 * would without batching; the reads that follow it in the same tick are collected and handed over together when
 * the tick ends (`process.nextTick`), in chunks of at most `maxSize`.
 *
 * Why the end of the tick: the connection writes what was queued in a tick in one socket write on the next tick
 * (`connection.ts`), and Effect's scheduler runs ready fibers in microtasks, which Node drains before the next-tick
 * queue. So every fiber that reads in response to the same event (the replies of one socket read, the start of an
 * `Effect.forEach`) has queued its read when the batch leaves, and the batch is queued before the connection's own
 * flush: a lone read waits for nothing, and a batch leaves in the same socket write as the first read of its tick.
 *
 * @internal
 */

/**
 * A collector of the reads of one kind (one backend's `get`s, say).
 *
 * @internal
 */
export class TickBatcher<A> {
  /** A read went out in this tick: those that follow are collected until the tick ends. */
  private open = false
  private items: Array<A> = []

  constructor(
    private readonly maxSize: number,
    /** Sends one chunk; called with at least one item, synchronously, outside of any fiber's own steps. */
    private readonly send: (items: ReadonlyArray<A>) => void
  ) {}

  /**
   * `true` when no other read was issued in this tick: the caller sends its read itself, now, as a lone read.
   * `false`: the caller must `add` its read, which leaves with the others when the tick ends.
   */
  first(): boolean {
    if (this.open) return false
    this.open = true
    process.nextTick(this.flush)
    return true
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
    this.open = false
    const items = this.items
    if (items.length === 0) return
    this.items = []
    this.send(items)
  }
}
