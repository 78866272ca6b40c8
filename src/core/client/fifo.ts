/**
 * The queues of a connection: its commands waiting for their replies, and those waiting for room to be written.
 *
 * @internal
 */
/**
 * A FIFO of pending commands (`Pending`s); an array with a moving head, compacted now and then, because `Array.shift` is
 * O(n) once V8 gives up on its fast path for large arrays.
 *
 * @internal
 */
export class Fifo<P extends { deadline: number }> {
  private items: Array<P> = []
  private head = 0
  get length(): number {
    return this.items.length - this.head
  }
  push(item: P): void {
    this.items.push(item)
  }
  peek(): P | undefined {
    return this.items[this.head]
  }
  shift(): P | undefined {
    if (this.head >= this.items.length) return undefined
    const item = this.items[this.head]!
    // Releases the reference for the GC; the slot is never read again (`head` has moved past it).
    this.items[this.head] = undefined as unknown as P
    this.head++
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }
  /**
   * Gives a deadline to those of the last `count` commands that have none yet (the ones a flush writes are the last
   * in the queue), so the clock is read once per write instead of once per command. A command that waited for
   * room keeps the deadline it got when it was sent.
   */
  stampTail(count: number, deadline: number): void {
    const from = Math.max(this.head, this.items.length - count)
    for (let i = from; i < this.items.length; i++) {
      const item = this.items[i]!
      if (item.deadline === 0) item.deadline = deadline
    }
  }
  /** The first command still queued that matches, oldest first. */
  find(predicate: (item: P) => boolean): P | undefined {
    for (let i = this.head; i < this.items.length; i++) {
      if (predicate(this.items[i]!)) return this.items[i]
    }
    return undefined
  }
  /** The `k`-th command from the end (1 is the last). */
  fromEnd(k: number): P | undefined {
    return this.items[this.items.length - k]
  }
  drain(): Array<P> {
    const rest = this.items.slice(this.head)
    this.items = []
    this.head = 0
    return rest
  }
}
