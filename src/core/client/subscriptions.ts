/**
 * The bookkeeping of a subscriber connection: which channels are listened to, by which listeners, and where each
 * channel's `SUBSCRIBE` stands (written on which connection, confirmed on which). Plain state, no `effect`: the
 * face writes the commands, awaits the replies and calls the listeners. Connections and listeners are compared by
 * identity.
 *
 * @internal
 */

/**
 * A channel listened to, and where its `SUBSCRIBE` stands on the subscriber connection.
 *
 * @internal
 */
export interface Channel<C, L> {
  readonly name: string
  readonly listeners: Set<L>
  /** The connection its `SUBSCRIBE` was written on: any other (a newer one) still has to be told. */
  sentOn: C | undefined
  /** The connection that confirmed it: a listener added meanwhile is subscribed at once. */
  confirmedOn: C | undefined
}

/**
 * What adding a listener calls for: nothing yet (`Awaiting`: the confirmation to come tells it, or the next
 * connection subscribes), telling it at once (`Confirmed`), or writing a new channel's `SUBSCRIBE` on `conn`.
 *
 * @internal
 */
export type Added<C, L> =
  | { readonly _tag: "Awaiting" }
  | { readonly _tag: "Confirmed" }
  | { readonly _tag: "Subscribe"; readonly conn: C; readonly channel: Channel<C, L> }

const awaiting = { _tag: "Awaiting" } as const
const confirmed = { _tag: "Confirmed" } as const

/**
 * The channels of a subscriber connection and their listeners, and the connection while it is open.
 *
 * @internal
 */
export class Subscriptions<C, L> {
  private readonly byName = new Map<string, Channel<C, L>>()
  /** The subscriber connection while it is open. */
  private live: C | undefined = undefined

  /** The subscriber connection while it is open. */
  get current(): C | undefined {
    return this.live
  }

  /** A connection was opened: it is the current one, and every channel is to be subscribed on it. */
  connected(conn: C): void {
    this.live = conn
  }

  /** The session of `conn` (`undefined`: one that did not open) ended. A newer one may have its own already. */
  ended(conn: C | undefined): void {
    if (this.live === conn) this.live = undefined
  }

  /** Every channel listened to, in the order first listened to. */
  channels(): IterableIterator<Channel<C, L>> {
    return this.byName.values()
  }

  /** The listeners of `name`, if it is listened to. */
  listenersOf(name: string): ReadonlySet<L> | undefined {
    return this.byName.get(name)?.listeners
  }

  /** Whether `channel` is still the one listened to under its name: not when every listener left meanwhile. */
  isListened(channel: Channel<C, L>): boolean {
    return this.byName.get(channel.name) === channel
  }

  /** Adds a listener; a new channel is subscribed at once when the connection is up (else by the next session). */
  add(name: string, listener: L): Added<C, L> {
    const existing = this.byName.get(name)
    if (existing !== undefined) {
      existing.listeners.add(listener)
      // Confirmed on the live connection: subscribed as of now. Still in flight, or not yet written: the
      // confirmation, when it comes, tells this listener too.
      return this.live !== undefined && existing.confirmedOn === this.live ? confirmed : awaiting
    }
    const channel: Channel<C, L> = { name, listeners: new Set([listener]), sentOn: undefined, confirmedOn: undefined }
    this.byName.set(name, channel)
    if (this.live === undefined) return awaiting
    return { _tag: "Subscribe", conn: this.live, channel }
  }

  /**
   * Removes a listener. When it was its channel's last, the channel is forgotten, and the connection its
   * `UNSUBSCRIBE` is to be written on is returned (the current one, if the `SUBSCRIBE` was written there).
   */
  remove(name: string, listener: L): C | undefined {
    const channel = this.byName.get(name)
    channel?.listeners.delete(listener)
    if (channel === undefined || channel.listeners.size > 0) return undefined
    this.byName.delete(name)
    // Once the last subscription has gone, the loop has already closed the connection.
    return this.live !== undefined && channel.sentOn === this.live ? this.live : undefined
  }

  /** Records that `channel`'s `SUBSCRIBE` is written on `conn`: `false` when it already was, and need not be again. */
  send(channel: Channel<C, L>, conn: C): boolean {
    if (channel.sentOn === conn) return false
    channel.sentOn = conn
    return true
  }

  /** `conn` confirmed `channel`'s subscription: returns the listeners to tell, every one present by now. */
  confirm(channel: Channel<C, L>, conn: C): ReadonlySet<L> {
    channel.confirmedOn = conn
    return channel.listeners
  }
}
