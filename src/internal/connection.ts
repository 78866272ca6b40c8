/**
 * One socket, its parser and its queue of commands waiting for replies. Plain TypeScript: this is the hot path,
 * and Effect sits one level up (RedisClient) at the boundary of each command.
 *
 * @internal
 */
import type * as Net from "node:net"
import { RedisConnectionError, RedisProtocolError, RedisTimeoutError } from "../RedisError.js"
import type { RedisError } from "../RedisError.js"
import * as Resp from "../Resp.js"

/**
 * A command written on a connection. It settles exactly once, with the reply read in its position of the FIFO
 * or with an error. Whoever awaits it may go away (fiber interrupted): the reply is then still read and
 * dropped, so the stream never desynchronises.
 *
 * @internal
 */
export class Pending {
  done = false
  value: Resp.RespValue = null
  error: RedisError | undefined = undefined
  callback: ((pending: Pending) => void) | undefined = undefined
  /** Set by the flush that writes it; 0 until then (the command may wait for room under `maxInFlight`). */
  deadline = 0
  /** The arguments, kept only while the command waits to be written. */
  args: ReadonlyArray<string | Uint8Array> | undefined = undefined
  /** Its awaiter went away before it was written: it is then never written at all. */
  cancelled = false
  constructor(readonly command: string) {}
}

const settle = (pending: Pending, value: Resp.RespValue, error: RedisError | undefined): void => {
  if (pending.done) return
  pending.done = true
  pending.value = value
  pending.error = error
  const callback = pending.callback
  if (callback !== undefined) {
    pending.callback = undefined
    callback(pending)
  }
}

/**
 * A settled pending for commands that cannot be written at all.
 *
 * @internal
 */
export const failed = (command: string, error: RedisError): Pending => {
  const pending = new Pending(command)
  settle(pending, null, error)
  return pending
}

/**
 * @internal
 */
export interface ConnectionOptions {
  readonly commandTimeoutMillis: number
  readonly maxInFlight: number
  readonly parser: Resp.ParserOptions
  /** Called once when the connection dies, whatever the reason. */
  readonly onClose: (connection: Connection, error: RedisError) => void
  /** Out-of-band messages (RESP3 pushes, or pub/sub messages on a subscriber connection). */
  readonly onPush?: ((value: Resp.RespValue) => void) | undefined
}

/**
 * A FIFO of pending commands; an array with a moving head, compacted now and then, because `Array.shift` is
 * O(n) once V8 gives up on its fast path for large arrays.
 */
class Fifo {
  private items: Array<Pending> = []
  private head = 0
  get length(): number {
    return this.items.length - this.head
  }
  push(item: Pending): void {
    this.items.push(item)
  }
  peek(): Pending | undefined {
    return this.items[this.head]
  }
  shift(): Pending | undefined {
    if (this.head >= this.items.length) return undefined
    const item = this.items[this.head]!
    this.items[this.head] = undefined as unknown as Pending
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
   * Gives a deadline to the commands at the tail that have none yet: exactly the ones the current flush writes, so
   * the clock is read once per write instead of once per command.
   */
  stampDeadlines(deadline: number): void {
    for (let i = this.items.length - 1; i >= this.head; i--) {
      const item = this.items[i]!
      if (item.deadline !== 0) return
      item.deadline = deadline
    }
  }
  drain(): Array<Pending> {
    const rest = this.items.slice(this.head)
    this.items = []
    this.head = 0
    return rest
  }
}

/**
 * @internal
 */
export class Connection {
  private readonly parser: Resp.Parser
  private readonly queue = new Fifo()
  private batch: Array<ReadonlyArray<string | Uint8Array>> = []
  private flushScheduled = false
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private closed = false
  /** Replies read so far: a connection that dies before its first reply counts as a failed attempt. */
  repliesReceived = 0
  /** Commands waiting for room under `maxInFlight`, in arrival order. */
  private readonly waiting = new Fifo()
  /** Subscriber connections receive pushes that answer no command. */
  subscriberMode = false

  constructor(readonly socket: Net.Socket, private readonly options: ConnectionOptions) {
    this.parser = new Resp.Parser(options.parser)
    socket.setNoDelay(true)
    socket.on("data", this.onData)
    socket.on("error", (cause) => {
      this.destroy(new RedisConnectionError({ message: `connection error: ${cause.message}`, cause }))
    })
    socket.on("close", () => {
      this.destroy(new RedisConnectionError({ message: "connection closed by the server" }))
    })
  }

  /** Commands waiting for their reply. */
  get inFlight(): number {
    return this.queue.length
  }

  get isOpen(): boolean {
    return !this.closed
  }

  /**
   * Queues one command for the next write and for its reply. Commands queued in the same tick leave in one
   * socket write (see `flush`). Past `maxInFlight` the command waits, in arrival order, until replies make room:
   * writes are synchronous, so their order is the order of `submit` calls, with no lock to contend for.
   */
  submit(args: ReadonlyArray<string | Uint8Array>): Pending {
    const command = commandName(args)
    if (this.closed) {
      return failed(command, new RedisConnectionError({ message: "connection is closed" }))
    }
    const pending = new Pending(command)
    if (this.waiting.length > 0 || this.queue.length >= this.options.maxInFlight) {
      pending.args = args
      this.waiting.push(pending)
      return pending
    }
    this.write(pending, args)
    return pending
  }

  /** Queues several commands; `submit` is synchronous, so nothing can come between them. */
  submitMany(commands: ReadonlyArray<ReadonlyArray<string | Uint8Array>>): Array<Pending> {
    return commands.map((args) => this.submit(args))
  }

  private write(pending: Pending, args: ReadonlyArray<string | Uint8Array>): void {
    // Its deadline is set by the flush that writes it (see `flush`).
    this.queue.push(pending)
    this.batch.push(args)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      process.nextTick(this.flush)
    }
    if (this.timer === undefined) this.armTimer(this.options.commandTimeoutMillis)
  }

  private readonly flush = (): void => {
    this.flushScheduled = false
    if (this.closed || this.batch.length === 0) return
    const batch = this.batch
    this.batch = []
    // Counted from the write, never earlier: the timer only looks at the oldest command, which by the time it
    // fires (at least 1 ms after `write` armed it) has been through a flush.
    this.queue.stampDeadlines(Date.now() + this.options.commandTimeoutMillis)
    this.socket.write(batch.length === 1 ? Resp.encodeCommand(batch[0]!) : Resp.encodeCommands(batch))
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.closed) return
    const error = this.parser.feed(chunk, this.onReply)
    if (error !== undefined && !this.closed) {
      this.destroy(new RedisProtocolError({ message: error.message }))
    }
  }

  private readonly onReply = (value: Resp.RespValue): void => {
    if (this.closed) return
    // Out-of-band: RESP3 pushes, and on a subscriber connection the "message" arrays that answer no command
    // (subscription confirmations and PING replies do answer one, in order).
    if (value instanceof Resp.RespPush || (this.subscriberMode && isPubSubMessage(value))) {
      this.options.onPush?.(value)
      return
    }
    this.repliesReceived++
    const pending = this.queue.shift()
    if (pending === undefined) {
      this.destroy(new RedisProtocolError({ message: "received a reply that no command was waiting for" }))
      return
    }
    settle(pending, value, undefined)
    if (this.waiting.length > 0) this.admitWaiting()
  }

  private admitWaiting(): void {
    while (this.queue.length < this.options.maxInFlight) {
      const next = this.waiting.shift()
      if (next === undefined) return
      if (next.cancelled) continue
      const args = next.args!
      next.args = undefined
      this.write(next, args)
    }
  }

  /**
   * One timer per connection, not per command: replies come back in order, so only the oldest command can be
   * the first to time out. The timer is re-armed for the new oldest command when it fires early.
   */
  private armTimer(millis: number): void {
    this.timer = setTimeout(this.onTimer, Math.max(1, millis))
    this.timer.unref()
  }

  private readonly onTimer = (): void => {
    this.timer = undefined
    if (this.closed) return
    const head = this.queue.peek()
    if (head === undefined) return
    // No deadline yet: queued but not flushed. Cannot happen (a flush runs on the next tick, before any timer),
    // but a command must never time out before it was even written.
    if (head.deadline === 0) return this.armTimer(this.options.commandTimeoutMillis)
    const now = Date.now()
    if (head.deadline > now) return this.armTimer(head.deadline - now)
    // The reply of `head` may still arrive; a connection whose stream position is unknown is never reused.
    const millis = this.options.commandTimeoutMillis
    this.queue.shift()
    settle(
      head,
      null,
      new RedisTimeoutError({
        message: `no reply to ${head.command.toUpperCase()} within ${millis} ms`,
        phase: "reply",
        timeoutMillis: millis,
        command: head.command
      })
    )
    this.destroy(
      new RedisConnectionError({
        message: `connection dropped: an earlier ${head.command.toUpperCase()} timed out after ${millis} ms`
      })
    )
  }

  /** Closes the socket and fails every command still waiting, once. */
  destroy(error: RedisError): void {
    if (this.closed) return
    this.closed = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.batch = []
    this.socket.destroy()
    for (const pending of this.queue.drain()) settle(pending, null, error)
    for (const pending of this.waiting.drain()) settle(pending, null, error)
    this.options.onClose(this, error)
  }
}

const messageKind = Buffer.from("message")

const isPubSubMessage = (value: Resp.RespValue): boolean =>
  Array.isArray(value) && value.length === 3 && value[0] instanceof Uint8Array &&
  Buffer.compare(value[0], messageKind) === 0

const commandName = (args: ReadonlyArray<string | Uint8Array>): string => {
  const first = args[0]
  // Upper-cased only when an error message needs it: this runs for every command.
  return typeof first === "string" ? first : "COMMAND"
}
