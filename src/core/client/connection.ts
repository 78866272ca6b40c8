/**
 * One socket, its parser and its queue of commands waiting for replies: the connection's state machine, in plain
 * TypeScript. This is the hot path; a face (Effect's `internal/client/connection.ts`) gives it its error classes
 * and awaits its commands at the boundary of each one.
 *
 * @internal
 */
import { performance } from "node:perf_hooks"
import {
  encodeCommand,
  encodeCommands,
  ErrorReply,
  Parser,
  type ParserOptions,
  type ProtocolFailure,
  RespPush,
  type RespValue
} from "../resp/resp.js"
import { type ArgumentLimit, largestArgument, SERVER_MIN_BULK_LIMIT, SUSPECTED_LIMIT_MILLIS } from "./argumentLimit.js"
import type { ConnectionErrors, ErrorLike } from "./failure.js"
import { Fifo } from "./fifo.js"
import { failed, Pending, settle } from "./pending.js"
import type { SocketInput } from "./socketInput.js"
import { batchBound, type ChunkSink, writeChunked, writeLimits } from "./write.js"

/**
 * What a connection needs of its socket: a `net.Socket` or `tls.TLSSocket`, or a stand-in in tests.
 *
 * @internal
 */
export interface ConnectionSocket extends ChunkSink {
  setNoDelay(noDelay?: boolean): unknown
  on(event: "error", listener: (cause: NodeJS.ErrnoException) => void): unknown
  on(event: "close", listener: () => void): unknown
  cork(): void
  uncork(): void
  destroy(): unknown
}

/**
 * What a connection is made with. `E` is its face's error; `Resume`, what that face's awaiters keep in a `Pending`.
 *
 * @internal
 */
export interface ConnectionOptions<E extends ErrorLike, Resume = unknown> {
  /** `host:port`, for messages. */
  readonly where: string
  readonly commandTimeoutMillis: number
  readonly maxInFlight: number
  readonly parser: ParserOptions
  /** Called once when the connection dies, whatever the reason. */
  readonly onClose: (connection: Connection<E, Resume>, error: E) => void
  /** Out-of-band messages (RESP3 pushes, or pub/sub messages on a subscriber connection). */
  readonly onPush?: ((value: RespValue) => void) | undefined
  /** What the client knows of the longest argument the server accepts; told when the server refuses one. */
  readonly argumentLimit?: ArgumentLimit | undefined
}

/** The command a connection's loss is pinned on, and the error it fails with. */
interface Blamed<E, Resume> {
  readonly pending: Pending<E, Resume>
  readonly error: E
}

const plainParser = (options: ParserOptions): Parser<ProtocolFailure> => new Parser(options)

/**
 * A connection on an open socket: commands are queued for writing synchronously and matched with their replies
 * first-in first-out. It fails its commands with the errors `errors` makes.
 *
 * @internal
 */
export class Connection<E extends ErrorLike, Resume = unknown> {
  private readonly parser: Parser<ProtocolFailure>
  private readonly queue = new Fifo<Pending<E, Resume>>()
  private batch: Array<ReadonlyArray<string | Uint8Array>> = []
  private flushScheduled = false
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private closed = false
  /** Replies read so far. */
  repliesReceived = 0
  /**
   * Replies read so far that were not errors: a connection that dies before its first one counts as a failed
   * attempt (a server at `maxclients` answers each connection with an error and hangs up).
   */
  successfulReplies = 0
  /** Commands waiting for room under `maxInFlight`, in arrival order. */
  private readonly waiting = new Fifo<Pending<E, Resume>>()
  /** Subscriber connections receive pushes that answer no command. */
  subscriberMode = false

  constructor(
    readonly socket: ConnectionSocket,
    input: SocketInput,
    private readonly options: ConnectionOptions<E, Resume>,
    private readonly errors: ConnectionErrors<E>,
    /**
     * Makes the connection's parser: a face's own, whose violations become the protocol error's `cause` (the
     * Effect face's `Resp.Parser`); by default the core's, reporting plain `ProtocolFailure`s.
     */
    newParser: (options: ParserOptions) => Parser<ProtocolFailure> = plainParser
  ) {
    this.parser = newParser(options.parser)
    socket.setNoDelay(true)
    socket.on("error", (cause: NodeJS.ErrnoException) => {
      const reset = cause.syscall === "write" && (cause.code === "ECONNRESET" || cause.code === "EPIPE")
      this.destroy(
        this.errors.connection({ message: `connection error: ${cause.message}`, cause }),
        reset && !this.closed ? this.blameReset() : undefined
      )
    })
    socket.on("close", () => {
      this.destroy(this.errors.connection({ message: "connection closed by the server" }))
    })
    // Last: what was read before this connection existed may settle or destroy it.
    input.attach(this.onData)
  }

  /** Commands waiting for their reply. */
  get inFlight(): number {
    return this.queue.length
  }

  get isOpen(): boolean {
    return !this.closed
  }

  /**
   * Queues one command for the next write and for its reply. Commands queued in the same tick leave in one socket
   * write, and so do those queued in one turn of the event loop while others are in flight (see `write`). Past
   * `maxInFlight` the command waits, in arrival order, until replies make room: writes are synchronous, so their
   * order is the order of `submit` calls, with no lock to contend for.
   */
  submit(args: ReadonlyArray<string | Uint8Array>): Pending<E, Resume> {
    const command = commandName(args)
    if (this.closed) {
      return failed(command, this.errors.connection({ message: "connection is closed" }))
    }
    const pending = new Pending<E, Resume>(command)
    if (this.waiting.length > 0 || this.queue.length >= this.options.maxInFlight) {
      this.wait(pending, args, performance.now() + this.options.commandTimeoutMillis)
      return pending
    }
    this.write(pending, args)
    return pending
  }

  /**
   * Queues several commands as one batch: all of them are written in one go, or none. A batch that has to wait for
   * room waits whole, and is admitted whole once the commands in flight leave room for it (or none are in flight,
   * for a batch larger than `maxInFlight`); cancelling it before then writes none of it.
   */
  submitMany(commands: ReadonlyArray<ReadonlyArray<string | Uint8Array>>): Array<Pending<E, Resume>> {
    const n = commands.length
    const pendings = new Array<Pending<E, Resume>>(n)
    if (this.closed) {
      const error = this.errors.connection({ message: "connection is closed" })
      for (let i = 0; i < n; i++) pendings[i] = failed(commandName(commands[i]!), error)
      return pendings
    }
    for (let i = 0; i < n; i++) pendings[i] = new Pending<E, Resume>(commandName(commands[i]!))
    if (this.waiting.length === 0 && this.fits(n)) {
      for (let i = 0; i < n; i++) this.write(pendings[i]!, commands[i]!)
      return pendings
    }
    const deadline = performance.now() + this.options.commandTimeoutMillis
    for (let i = 0; i < n; i++) {
      pendings[i]!.group = pendings
      this.wait(pendings[i]!, commands[i]!, deadline)
    }
    return pendings
  }

  /** Room for `size` more commands in flight; a batch larger than `maxInFlight` fits only an empty queue. */
  private fits(size: number): boolean {
    return this.queue.length === 0 || this.queue.length + size <= this.options.maxInFlight
  }

  private wait(pending: Pending<E, Resume>, args: ReadonlyArray<string | Uint8Array>, deadline: number): void {
    pending.args = args
    pending.deadline = deadline
    this.waiting.push(pending)
    if (this.timer === undefined) this.armTimer(this.options.commandTimeoutMillis)
  }

  private write(pending: Pending<E, Resume>, args: ReadonlyArray<string | Uint8Array>): void {
    // Its deadline is set by the flush that writes it (see `flush`).
    this.queue.push(pending)
    this.batch.push(args)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      // With other commands in flight, after the turn's I/O callbacks rather than after the current one: their
      // replies may arrive in several reads of this turn, and the commands their callers send next then leave in
      // one write instead of one per read (under load, a write per read fragments batches into ever more, ever
      // smaller writes). With nothing else in flight no reply can come in this turn, and the sooner, cheaper
      // next-tick flush sends every command of the current callback at once.
      if (this.queue.length === 1) process.nextTick(this.flush)
      else setImmediate(this.flush)
    }
    if (this.timer === undefined) this.armTimer(this.options.commandTimeoutMillis)
  }

  private readonly flush = (): void => {
    this.flushScheduled = false
    if (this.closed || this.batch.length === 0) return
    const batch = this.batch
    this.batch = []
    // Counted from the write (or from the send, for a command that waited for room): the timer only looks at the
    // oldest commands, which by the time it fires have almost always been through a flush (one queued in the
    // check phase after this flush waits for the next turn's; the timer then re-arms for it). A monotonic clock:
    // a wall clock stepped back would postpone every timeout.
    this.queue.stampTail(batch.length, performance.now() + this.options.commandTimeoutMillis)
    const bound = batchBound(batch)
    if (bound > SERVER_MIN_BULK_LIMIT) this.markLarge(batch)
    // The common case, a batch of keys and small values: one buffer, one write.
    if (bound <= writeLimits.maxChunkBytes) {
      this.socket.write(batch.length === 1 ? encodeCommand(batch[0]!) : encodeCommands(batch))
      return
    }
    // A batch that large could not be one buffer (Node's limit is 4 GiB; 33 SETs of 128 MiB crashed the process),
    // and copying it whole would double the memory it takes: it goes out in bounded chunks, corked so that the
    // socket hands them to the kernel together, large arguments as their own bytes.
    this.socket.cork()
    writeChunked(this.socket, batch, writeLimits.maxChunkBytes)
    this.socket.uncork()
  }

  /** Records the longest argument of each command of `batch` that has one over `SERVER_MIN_BULK_LIMIT`. */
  private markLarge(batch: ReadonlyArray<ReadonlyArray<string | Uint8Array>>): void {
    for (let c = 0; c < batch.length; c++) {
      const largest = largestArgument(batch[c]!)
      if (largest > SERVER_MIN_BULK_LIMIT) this.queue.fromEnd(batch.length - c)!.largestArgument = largest
    }
  }

  /**
   * The server reset the connection while we were still writing to it. Redis does that to a command with an
   * argument over its `proto-max-bulk-len`: it answers "invalid bulk length" and closes the connection on the rest
   * of the argument, and the reset makes the write fail before that answer can be read. When the server's limit
   * could not be read at connect and a command with an argument over the smallest limit Redis allows is still
   * unanswered, that command is taken for the cause: it fails with `RedisInputError`, and arguments as long are
   * refused before sending for a while, so that retrying it does not drop the connection again.
   */
  private blameReset(): Blamed<E, Resume> | undefined {
    const limit = this.options.argumentLimit
    if (limit === undefined || limit.serverKnown) return undefined
    const culprit = this.queue.find((pending) => pending.largestArgument > 0 && !pending.done)
    if (culprit === undefined) return undefined
    const bytes = culprit.largestArgument
    limit.rejected(bytes, false, performance.now())
    return {
      pending: culprit,
      error: this.errors.input({
        message: `${this.options.where} reset the connection while an argument of ${bytes} bytes of ` +
          `${culprit.command.toUpperCase()} was being written, as Redis does with an argument over its ` +
          "proto-max-bulk-len (which it did not let the client read at connect); arguments of that length are " +
          `refused before sending for the next ${SUSPECTED_LIMIT_MILLIS / 1000} s`,
        command: culprit.command.toUpperCase()
      })
    }
  }

  /** An error reply: "invalid bulk length" to a command with a long argument is the server's limit, not a reply. */
  private rejectedReply(pending: Pending<E, Resume>, value: ErrorReply): E | undefined {
    const bytes = pending.largestArgument
    if (bytes === 0 || !value.message.includes("invalid bulk length")) return undefined
    this.options.argumentLimit?.rejected(bytes, true, performance.now())
    return this.errors.input({
      message: `${this.options.where} refused an argument of ${bytes} bytes of ${pending.command.toUpperCase()} ` +
        `(${value.message}): it is over the server's proto-max-bulk-len, and the server closes the connection on ` +
        "such an argument; arguments of that length are now refused before sending",
      command: pending.command.toUpperCase()
    })
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.closed) return
    const error = this.parser.feed(chunk, this.onReply)
    if (error !== undefined && !this.closed) {
      this.destroy(this.errors.protocol({ message: error.message, cause: error }))
    }
  }

  private readonly onReply = (value: RespValue): void => {
    if (this.closed) return
    // Out-of-band: RESP3 pushes, and on a subscriber connection the "message" arrays that answer no command
    // (subscription confirmations and PING replies do answer one, in order).
    if (value instanceof RespPush || (this.subscriberMode && isPubSubMessage(value))) {
      this.options.onPush?.(value)
      return
    }
    this.repliesReceived++
    const pending = this.queue.shift()
    if (pending === undefined) {
      // A server at maxclients greets each connection with an error and hangs up: say what it said.
      this.destroy(
        value instanceof ErrorReply
          ? this.errors.connection({ message: `${this.options.where} refused the connection: ${value.message}` })
          : this.errors.protocol({ message: "received a reply that no command was waiting for" })
      )
      return
    }
    if (!(value instanceof ErrorReply)) {
      this.successfulReplies++
    } else if (pending.largestArgument > 0) {
      const rejected = this.rejectedReply(pending, value)
      if (rejected !== undefined) {
        // Redis closes the connection after this answer: nothing sent on it from now on could be answered.
        this.destroy(
          this.errors.connection({
            message: `${this.options.where} closed the connection after refusing an argument over its ` +
              "proto-max-bulk-len"
          }),
          { pending, error: rejected }
        )
        return
      }
    }
    // The room this reply makes is taken by the commands waiting for it before its awaiter is told: a face may run
    // that awaiter inside `settle` (Effect 4 resumes a fiber at once), and whatever it does next (interrupting a
    // batch that was waiting, say) must find that batch already admitted, as it would once the reply is read.
    if (this.waiting.length > 0) this.admitWaiting()
    settle(pending, value, undefined)
  }

  private admitWaiting(): void {
    for (;;) {
      const next = this.waiting.peek()
      if (next === undefined) return
      if (next.cancelled) {
        this.waiting.shift()
        continue
      }
      const size = next.group === undefined ? 1 : next.group.length
      if (!this.fits(size)) return
      for (let i = 0; i < size; i++) {
        const admitted = this.waiting.shift()!
        const args = admitted.args!
        admitted.args = undefined
        admitted.group = undefined
        this.write(admitted, args)
      }
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
    const now = performance.now()
    const millis = this.options.commandTimeoutMillis
    // Commands still waiting for room were never written: failing them costs the connection nothing. They wait in
    // arrival order with the same timeout, so the expired ones are at the front (a batch shares one deadline, so
    // it expires whole).
    for (let next = this.waiting.peek(); next !== undefined; next = this.waiting.peek()) {
      if (!next.cancelled && next.deadline > now) break
      this.waiting.shift()
      if (next.cancelled) continue
      next.args = undefined
      settle(
        next,
        null,
        this.errors.timeout({
          message: `no reply to ${next.command.toUpperCase()} within ${millis} ms (it waited for room under ` +
            `maxInFlight ${this.options.maxInFlight} and was never sent)`,
          phase: "reply",
          timeoutMillis: millis,
          command: next.command
        })
      )
    }
    // A batch that expired may have held back smaller commands that fit now.
    if (this.waiting.length > 0) this.admitWaiting()
    const head = this.queue.peek()
    // A head with no deadline yet is queued but not flushed (sent in the check phase after that turn's flush): a
    // command must never time out before it was even written.
    if (head !== undefined && head.deadline !== 0 && head.deadline <= now) {
      // The reply of `head` may still arrive; a connection whose stream position is unknown is never reused.
      this.queue.shift()
      settle(
        head,
        null,
        this.errors.timeout({
          message: this.repliesReceived === 0
            ? `${this.options.where} accepted the connection but did not answer ${head.command.toUpperCase()} ` +
              `within ${millis} ms`
            : `no reply to ${head.command.toUpperCase()} within ${millis} ms` + outcomeUnknownText,
          phase: "reply",
          timeoutMillis: millis,
          command: head.command,
          outcomeUnknown: true
        })
      )
      this.destroy(
        this.errors.connection({
          message: `connection dropped: an earlier ${head.command.toUpperCase()} timed out after ${millis} ms`
        })
      )
      return
    }
    let next = Infinity
    if (head !== undefined) next = head.deadline === 0 ? now + millis : head.deadline
    const waiting = this.waiting.peek()
    if (waiting !== undefined && waiting.deadline < next) next = waiting.deadline
    if (next === Infinity) return
    // Admitting commands above may have armed a timer already; one is enough.
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.armTimer(Math.ceil(next - now))
  }

  /**
   * Closes the socket and fails every command still waiting, once; `blamed`, the command that caused it, with its
   * own error (settled only once the connection is closed, so that nothing its caller sends next lands on it).
   */
  destroy(error: E, blamed?: Blamed<E, Resume>): void {
    if (this.closed) return
    this.closed = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.batch = []
    this.socket.destroy()
    // A command with a deadline was written (or admitted from the wait for room, about to be): the server may have
    // run it. One without was queued in this turn and never left.
    let written: E | undefined
    for (const pending of this.queue.drain()) {
      if (pending === blamed?.pending) continue
      settle(pending, null, pending.deadline === 0 ? error : (written ??= writtenError(this.errors, error)))
    }
    for (const pending of this.waiting.drain()) settle(pending, null, error)
    if (blamed !== undefined) settle(blamed.pending, null, blamed.error)
    this.options.onClose(this, error)
  }
}

/** What the message of a command that may have run ends with. */
export const outcomeUnknownText = ": the command may have run; its outcome is unknown"

/** The error of a command written before its connection was lost: it says the command may have run. */
const writtenError = <E extends ErrorLike>(errors: ConnectionErrors<E>, error: E): E =>
  error._tag === "RedisConnectionError"
    ? errors.connection({
      message: error.message + outcomeUnknownText,
      cause: error.cause,
      outcomeUnknown: true
    })
    : error

const messageKind = Buffer.from("message")

const isPubSubMessage = (value: RespValue): boolean =>
  Array.isArray(value) && value.length === 3 && value[0] instanceof Uint8Array &&
  Buffer.compare(value[0], messageKind) === 0

const commandName = (args: ReadonlyArray<string | Uint8Array>): string => {
  const first = args[0]
  // Upper-cased only when an error message needs it: this runs for every command.
  return typeof first === "string" ? first : "COMMAND"
}
