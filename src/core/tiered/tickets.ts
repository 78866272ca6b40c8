/**
 * Key tickets: how a read or a computation in flight learns that its key changed meanwhile.
 *
 * Every read of L2 and every computation of a key holds a ticket while it runs. A change of the key (a write or a
 * delete here, a bus message from another instance, a clear) marks the tickets open on it: what they found may be
 * the value just replaced, so it must be stored neither in L1 nor (for a computation) in L2. Plain data, no
 * effects: the cache opens and closes tickets around its effects.
 *
 * @internal
 */

/**
 * One read or computation in flight for a key.
 *
 * @internal
 */
export interface Ticket {
  /** The key changed since the ticket was opened: what it found must store nothing. */
  stale: boolean
  /**
   * Set by a (re)subscription of the bus or a tag invalidation: messages may have been lost (or a tag checked
   * before the change), so what this read or computation found must not enter L1. Unlike `stale`, it does not
   * stop a computed value's L2 write: nothing is known to have changed.
   */
  notInL1: boolean
  /**
   * Set with `stale` when the change came from another instance: its L2 write is not ordered with this instance's
   * writes, so one in flight here may land after it and must be undone.
   */
  remote: boolean
}

/**
 * The tickets open on each key of one cache instance.
 *
 * @internal
 */
export class KeyTickets {
  private readonly byKey = new Map<string, Set<Ticket>>()

  /** Opens a ticket on `key`; close it with {@link close} when the read or computation is over. */
  open(key: string): Ticket {
    const ticket: Ticket = { stale: false, notInL1: false, remote: false }
    const set = this.byKey.get(key)
    if (set === undefined) this.byKey.set(key, new Set([ticket]))
    else set.add(ticket)
    return ticket
  }

  /** Closes a ticket opened with {@link open}; closing it twice is harmless. */
  close(key: string, ticket: Ticket): void {
    const set = this.byKey.get(key)
    if (set === undefined) return
    set.delete(ticket)
    if (set.size === 0) this.byKey.delete(key)
  }

  /** `key` changed: every ticket on it but `except` turns stale (and `remote` when the change came from elsewhere). */
  markStale(key: string, except?: Ticket, fromRemote = false): void {
    const set = this.byKey.get(key)
    if (set === undefined) return
    for (const ticket of set) {
      if (ticket !== except) mark(ticket, fromRemote)
    }
  }

  /** Every key starting with `start` changed (a clear of a prefix). */
  markStartingWith(start: string, fromRemote = false): void {
    for (const [key, set] of this.byKey) {
      if (key.startsWith(start)) { for (const ticket of set) mark(ticket, fromRemote) }
    }
  }

  /** Every key changed (a clear). */
  markAll(fromRemote = false): void {
    for (const set of this.byKey.values()) for (const ticket of set) mark(ticket, fromRemote)
  }

  /** Nothing found by a read or computation in flight may enter L1 (a lost bus message, a tag invalidation). */
  keepAllOutOfL1(): void {
    for (const set of this.byKey.values()) for (const ticket of set) ticket.notInL1 = true
  }

  /** The number of keys with a ticket open (for tests: none is left behind). */
  get size(): number {
    return this.byKey.size
  }
}

const mark = (ticket: Ticket, fromRemote: boolean): void => {
  ticket.stale = true
  if (fromRemote) ticket.remote = true
}
