/**
 * One socket, its parser and its queue of commands waiting for replies. Plain TypeScript: this is the hot path,
 * and Effect sits one level up (`reply.ts`, `RedisClient`) at the boundary of each command.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type * as Net from "node:net"
import { performance } from "node:perf_hooks"
import { RedisConnectionError, RedisInputError, RedisProtocolError, RedisTimeoutError } from "../../RedisError.js"
import type { RedisError } from "../../RedisError.js"
import * as Resp from "../../Resp.js"

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
  /**
   * The awaiting fiber's resume, for a `callback` that is one shared function rather than a closure per command
   * (see `reply.ts`).
   */
  resume: ((result: Effect.Effect<Resp.RespValue, RedisError>) => void) | undefined = undefined
  /**
   * When it times out, on the monotonic clock (`performance.now()`): set by the flush that writes it, or at
   * `submit` when it has to wait for room under `maxInFlight` (the wait counts against its timeout); 0 until then.
   */
  deadline = 0
  /** The arguments, kept only while the command waits to be written. */
  args: ReadonlyArray<string | Uint8Array> | undefined = undefined
  /** Its awaiter went away before it was written: it is then never written at all. */
  cancelled = false
  /** The batch it belongs to while waiting for room: a batch is written whole (or not at all, when cancelled). */
  group: ReadonlyArray<Pending> | undefined = undefined
  /**
   * Its longest argument in bytes when that is over `SERVER_MIN_BULK_LIMIT`, else 0: set by the flush that writes
   * it, only for such commands, so that a server's refusal can be pinned on it (see `ArgumentLimit`).
   */
  largestArgument = 0
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

/** A settled pending for commands that cannot be written at all. */
const failed = (command: string, error: RedisError): Pending => {
  const pending = new Pending(command)
  settle(pending, null, error)
  return pending
}

/**
 * @internal
 */
export interface ConnectionOptions {
  /** `host:port`, for messages. */
  readonly where: string
  readonly commandTimeoutMillis: number
  readonly maxInFlight: number
  readonly parser: Resp.ParserOptions
  /** Called once when the connection dies, whatever the reason. */
  readonly onClose: (connection: Connection, error: RedisError) => void
  /** Out-of-band messages (RESP3 pushes, or pub/sub messages on a subscriber connection). */
  readonly onPush?: ((value: Resp.RespValue) => void) | undefined
  /** What the client knows of the longest argument the server accepts; told when the server refuses one. */
  readonly argumentLimit?: ArgumentLimit | undefined
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
    // Releases the reference for the GC; the slot is never read again (`head` has moved past it).
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
  find(predicate: (item: Pending) => boolean): Pending | undefined {
    for (let i = this.head; i < this.items.length; i++) {
      if (predicate(this.items[i]!)) return this.items[i]
    }
    return undefined
  }
  /** The `k`-th command from the end (1 is the last). */
  fromEnd(k: number): Pending | undefined {
    return this.items[this.items.length - k]
  }
  drain(): Array<Pending> {
    const rest = this.items.slice(this.head)
    this.items = []
    this.head = 0
    return rest
  }
}

/** Size of a TCP connection's read buffer: what Node reads at most per system call by default. */
const READ_BUFFER_SIZE = 64 * 1024

/**
 * What a socket reads, on its way to the connection's parser. A TCP socket is opened with Node's `onread`: every
 * read lands in one buffer owned by the socket and reused, instead of a fresh buffer per read and a trip through
 * the stream machinery to a `data` event (per read, that was about a tenth of a sequential command's CPU time).
 * The parser copies whatever it keeps (bulk payloads, partial lines), so handing it the reused buffer is safe. A
 * TLS socket keeps its `data` events, which come here too.
 *
 * Bytes read before the connection takes over (a server at `maxclients` says so as soon as it accepts) are copied
 * and handed over when it does.
 *
 * @internal
 */
export class SocketInput {
  private target: ((chunk: Buffer) => void) | undefined = undefined
  private early: Array<Buffer> = []
  private readonly buffer = Buffer.allocUnsafe(READ_BUFFER_SIZE)

  /** For `net.connect`'s `onread` option. */
  readonly onread = {
    buffer: this.buffer,
    callback: (length: number): boolean => {
      this.receive(this.buffer.subarray(0, length))
      return true
    }
  }

  /** A chunk read; it may be overwritten as soon as this returns. */
  readonly receive = (chunk: Buffer): void => {
    if (this.target !== undefined) this.target(chunk)
    else this.early.push(Buffer.from(chunk))
  }

  /** Delivers every chunk from now on to `target`, starting with those read before. */
  attach(target: (chunk: Buffer) => void): void {
    this.target = target
    const early = this.early
    this.early = []
    for (const chunk of early) target(chunk)
  }
}

/**
 * Most bytes one flush copies into a single buffer. Larger batches are written in chunks of at most this size
 * (each argument over a quarter of it as its own write, without a copy). 64 MiB: well above any batch of keys and
 * ordinary values, so the common case stays one buffer and one write, and far below Node's 4 GiB buffer limit;
 * past a few MiB the chunk size makes no measurable difference to throughput. Mutable only so that a test can
 * exercise the chunked path without allocating gigabytes.
 *
 * @internal
 */
export const writeLimits = { maxChunkBytes: 64 * 1024 * 1024 }

// The most bytes an argument's header and trailing CRLF take ("$", 16 digits, CRLF, CRLF), and a command's.
const ARGUMENT_OVERHEAD = 21
const COMMAND_OVERHEAD = 19

/**
 * An upper bound on the bytes a batch encodes to, from lengths only (3 bytes per UTF-16 unit of a string): one
 * pass over the arguments, without reading any string.
 */
const batchBound = (batch: ReadonlyArray<ReadonlyArray<string | Uint8Array>>): number => {
  let bound = 0
  for (let c = 0; c < batch.length; c++) bound += commandBound(batch[c]!)
  return bound
}

const commandBound = (args: ReadonlyArray<string | Uint8Array>): number => {
  let bound = COMMAND_OVERHEAD
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    bound += ARGUMENT_OVERHEAD + (typeof arg === "string" ? arg.length * 3 : arg.byteLength)
  }
  return bound
}

/**
 * Writes a batch as chunks of at most `limit` bytes: runs of commands of at most a quarter of `limit` encoded
 * together, and each larger command piece by piece (see `writeLargeCommand`). The socket is corked by the caller.
 */
const writeChunked = (
  socket: Net.Socket,
  batch: ReadonlyArray<ReadonlyArray<string | Uint8Array>>,
  limit: number
): void => {
  const own = Math.floor(limit / 4)
  let run: Array<ReadonlyArray<string | Uint8Array>> = []
  let runBytes = 0
  const writeRun = () => {
    if (run.length === 0) return
    socket.write(run.length === 1 ? Resp.encodeCommand(run[0]!) : Resp.encodeCommands(run))
    run = []
    runBytes = 0
  }
  for (let c = 0; c < batch.length; c++) {
    const args = batch[c]!
    const bound = commandBound(args)
    if (bound <= own) {
      if (runBytes + bound > limit) writeRun()
      run.push(args)
      runBytes += bound
    } else {
      writeRun()
      writeLargeCommand(socket, args, limit, own)
    }
  }
  writeRun()
}

const CRLF = Buffer.from("\r\n")

/**
 * Writes one command larger than `own` bytes: its headers and small arguments gathered into buffers of at most
 * `limit` bytes, each byte argument over `own` as a view of the caller's own bytes (not copied: like every
 * argument, it must not change until the command is answered), each string argument over `own` as UTF-8 slices of
 * at most `limit` bytes.
 */
const writeLargeCommand = (
  socket: Net.Socket,
  args: ReadonlyArray<string | Uint8Array>,
  limit: number,
  own: number
): void => {
  let parts: Array<Buffer> = [Buffer.from(`*${args.length}\r\n`)]
  let partsBytes = parts[0]!.length
  const add = (part: Buffer) => {
    if (partsBytes + part.length > limit) writeParts()
    parts.push(part)
    partsBytes += part.length
  }
  const writeParts = () => {
    if (parts.length === 0) return
    socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts, partsBytes))
    parts = []
    partsBytes = 0
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (typeof arg !== "string" && arg.byteLength > own) {
      add(Buffer.from(`$${arg.byteLength}\r\n`))
      writeParts()
      socket.write(Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength))
    } else if (typeof arg === "string" && arg.length * 3 > own) {
      add(Buffer.from(`$${Buffer.byteLength(arg)}\r\n`))
      writeParts()
      writeStringSlices(socket, arg, Math.floor(limit / 3))
    } else {
      const bytes = typeof arg === "string" ? Buffer.from(arg) : Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength)
      add(Buffer.from(`$${bytes.length}\r\n`))
      add(bytes)
    }
    add(CRLF)
  }
  writeParts()
}

/**
 * A long string as UTF-8, `units` UTF-16 units at a time. A slice never ends between the two halves of a surrogate
 * pair, so the slices' bytes are exactly the whole string's (a lone surrogate becomes U+FFFD either way).
 */
const writeStringSlices = (socket: Net.Socket, s: string, units: number): void => {
  for (let from = 0; from < s.length;) {
    let to = Math.min(s.length, from + units)
    const last = s.charCodeAt(to - 1)
    if (to < s.length && to - 1 > from && last >= 0xd800 && last <= 0xdbff) to--
    socket.write(Buffer.from(s.slice(from, to), "utf8"))
    from = to
  }
}

/**
 * The smallest `proto-max-bulk-len` Redis accepts (`CONFIG SET` refuses less): a command whose arguments are all
 * within it is never refused for their length, so only longer ones are tracked.
 *
 * @internal
 */
export const SERVER_MIN_BULK_LIMIT = 1024 * 1024

/** How long a limit guessed from a reset (rather than read from the server) is kept. */
const SUSPECTED_LIMIT_MILLIS = 60_000

/**
 * The longest argument the client sends. `current`, which every command is checked against, is the least of
 * `maxArgumentLength`, the server's `proto-max-bulk-len` once read on the current connection, and one byte below
 * an argument the server refused. Until the server's limit is read on a connection it is taken as
 * `SERVER_MIN_BULK_LIMIT`, the least Redis allows: commands within it (nearly all) need nothing more, and the first
 * one past it makes the client ask the server (`CONFIG GET`, once per connection) before sending it, so nothing
 * is read at connect and no connection is slowed for the rare large value. A reconnection asks anew.
 *
 * Where the server does not say (`CONFIG` refused or renamed away), its refusal teaches the limit: Redis answers
 * "invalid bulk length" and closes the connection. What the server said holds until it tells its limit; a refusal
 * inferred from a reset (see `Connection`'s `blameReset`) only for `SUSPECTED_LIMIT_MILLIS`, since a server that
 * crashed or was killed mid-write resets the connection the same way.
 *
 * @internal
 */
export class ArgumentLimit {
  /** What every command is checked against. */
  current: number
  /** Whether the client asks servers for their limit; off once a connection was lost while asking (a proxy). */
  askServer = true
  private server: "unknown" | "known" | "unreadable" = "unknown"
  private serverLimit = Infinity
  private refused = Infinity
  private refusedUntil = Infinity
  constructor(readonly configured: number) {
    this.current = this.compute()
  }

  /** The server's limit was read on this connection: a reset is then not taken for a refusal. */
  get serverKnown(): boolean {
    return this.server === "known"
  }

  /** Asking the server could raise `current`. */
  get mayAsk(): boolean {
    return this.askServer && this.server === "unknown"
  }

  /** The limit without the server's part, which holds only on the connection it was read on. */
  get withoutServer(): number {
    return Math.min(this.configured, this.refused)
  }

  /** A connection was lost while asking: perhaps a proxy that hangs up on `CONFIG`, so the client stops asking. */
  stopAsking(): void {
    this.askServer = false
    this.current = this.compute()
  }

  /** A new connection: the server's limit is to be read again (the server may have changed). */
  newConnection(): void {
    this.server = "unknown"
    this.serverLimit = Infinity
    this.current = this.compute()
  }

  /** The server's `proto-max-bulk-len`, or `undefined` when it could not be read on this connection. */
  learnServer(value: number | undefined): void {
    this.server = value === undefined ? "unreadable" : "known"
    this.serverLimit = value ?? Infinity
    // The server's own word is better than what a refusal taught.
    if (value !== undefined) this.refused = Infinity
    this.current = this.compute()
  }

  /** An argument of `bytes` bytes was refused (`certain`: the server said so), at `now` (`performance.now()`). */
  rejected(bytes: number, certain: boolean, now: number): void {
    if (bytes - 1 < this.refused) {
      this.refused = bytes - 1
      this.refusedUntil = certain ? Infinity : now + SUSPECTED_LIMIT_MILLIS
    } else if (certain) {
      this.refusedUntil = Infinity
    }
    this.current = this.compute()
  }

  /** Forgets a guessed refusal that has expired; `true` when it did. Only on a failed check. */
  refresh(now: number): boolean {
    if (this.refused === Infinity || now < this.refusedUntil) return false
    this.refused = Infinity
    this.refusedUntil = Infinity
    this.current = this.compute()
    return true
  }

  /** Which limit `limit` is, for messages. */
  readonly describe = (limit: number): string =>
    limit === this.configured
      ? `maxArgumentLength (${limit})`
      : limit === this.serverLimit
      ? `the server's proto-max-bulk-len (${limit})`
      : limit === this.refused
      ? `the server's proto-max-bulk-len, at most ${limit} since it refused an argument of ${limit + 1} bytes`
      : `${limit} bytes`

  private compute(): number {
    const server = this.server === "known"
      ? this.serverLimit
      : this.server === "unknown" && this.askServer
      ? SERVER_MIN_BULK_LIMIT
      : Infinity
    return Math.min(this.configured, this.refused, server)
  }
}

/** The byte length of a command's longest argument (a string's counted exactly only when it could matter). */
const largestArgument = (args: ReadonlyArray<string | Uint8Array>): number => {
  let largest = 0
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const bytes = typeof arg !== "string"
      ? arg.byteLength
      : arg.length * 3 > SERVER_MIN_BULK_LIMIT
      ? Buffer.byteLength(arg)
      : 0
    if (bytes > largest) largest = bytes
  }
  return largest
}

/** The command a connection's loss is pinned on, and the error it fails with. */
interface Blamed {
  readonly pending: Pending
  readonly error: RedisError
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
  /** Replies read so far. */
  repliesReceived = 0
  /**
   * Replies read so far that were not errors: a connection that dies before its first one counts as a failed
   * attempt (a server at `maxclients` answers each connection with an error and hangs up).
   */
  successfulReplies = 0
  /** Commands waiting for room under `maxInFlight`, in arrival order. */
  private readonly waiting = new Fifo()
  /** Subscriber connections receive pushes that answer no command. */
  subscriberMode = false

  constructor(readonly socket: Net.Socket, input: SocketInput, private readonly options: ConnectionOptions) {
    this.parser = new Resp.Parser(options.parser)
    socket.setNoDelay(true)
    socket.on("error", (cause: NodeJS.ErrnoException) => {
      const reset = cause.syscall === "write" && (cause.code === "ECONNRESET" || cause.code === "EPIPE")
      this.destroy(
        new RedisConnectionError({ message: `connection error: ${cause.message}`, cause }),
        reset && !this.closed ? this.blameReset() : undefined
      )
    })
    socket.on("close", () => {
      this.destroy(new RedisConnectionError({ message: "connection closed by the server" }))
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
  submit(args: ReadonlyArray<string | Uint8Array>): Pending {
    const command = commandName(args)
    if (this.closed) {
      return failed(command, new RedisConnectionError({ message: "connection is closed" }))
    }
    const pending = new Pending(command)
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
  submitMany(commands: ReadonlyArray<ReadonlyArray<string | Uint8Array>>): Array<Pending> {
    const n = commands.length
    const pendings = new Array<Pending>(n)
    if (this.closed) {
      const error = new RedisConnectionError({ message: "connection is closed" })
      for (let i = 0; i < n; i++) pendings[i] = failed(commandName(commands[i]!), error)
      return pendings
    }
    for (let i = 0; i < n; i++) pendings[i] = new Pending(commandName(commands[i]!))
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

  private wait(pending: Pending, args: ReadonlyArray<string | Uint8Array>, deadline: number): void {
    pending.args = args
    pending.deadline = deadline
    this.waiting.push(pending)
    if (this.timer === undefined) this.armTimer(this.options.commandTimeoutMillis)
  }

  private write(pending: Pending, args: ReadonlyArray<string | Uint8Array>): void {
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
      this.socket.write(batch.length === 1 ? Resp.encodeCommand(batch[0]!) : Resp.encodeCommands(batch))
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
  private blameReset(): Blamed | undefined {
    const limit = this.options.argumentLimit
    if (limit === undefined || limit.serverKnown) return undefined
    const culprit = this.queue.find((pending) => pending.largestArgument > 0 && !pending.done)
    if (culprit === undefined) return undefined
    const bytes = culprit.largestArgument
    limit.rejected(bytes, false, performance.now())
    return {
      pending: culprit,
      error: new RedisInputError({
        message: `${this.options.where} reset the connection while an argument of ${bytes} bytes of ` +
          `${culprit.command.toUpperCase()} was being written, as Redis does with an argument over its ` +
          "proto-max-bulk-len (which it did not let the client read at connect); arguments of that length are " +
          `refused before sending for the next ${SUSPECTED_LIMIT_MILLIS / 1000} s`,
        command: culprit.command.toUpperCase()
      })
    }
  }

  /** An error reply: "invalid bulk length" to a command with a long argument is the server's limit, not a reply. */
  private rejectedReply(pending: Pending, value: Resp.ErrorReply): RedisInputError | undefined {
    const bytes = pending.largestArgument
    if (bytes === 0 || !value.message.includes("invalid bulk length")) return undefined
    this.options.argumentLimit?.rejected(bytes, true, performance.now())
    return new RedisInputError({
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
      this.destroy(new RedisProtocolError({ message: error.message, cause: error }))
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
      // A server at maxclients greets each connection with an error and hangs up: say what it said.
      this.destroy(
        value instanceof Resp.ErrorReply
          ? new RedisConnectionError({ message: `${this.options.where} refused the connection: ${value.message}` })
          : new RedisProtocolError({ message: "received a reply that no command was waiting for" })
      )
      return
    }
    if (!(value instanceof Resp.ErrorReply)) {
      this.successfulReplies++
      settle(pending, value, undefined)
    } else {
      const rejected = pending.largestArgument > 0 ? this.rejectedReply(pending, value) : undefined
      if (rejected === undefined) {
        settle(pending, value, undefined)
      } else {
        // Redis closes the connection after this answer: nothing sent on it from now on could be answered.
        this.destroy(
          new RedisConnectionError({
            message: `${this.options.where} closed the connection after refusing an argument over its ` +
              "proto-max-bulk-len"
          }),
          { pending, error: rejected }
        )
        return
      }
    }
    if (this.waiting.length > 0) this.admitWaiting()
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
        new RedisTimeoutError({
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
        new RedisTimeoutError({
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
        new RedisConnectionError({
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
  destroy(error: RedisError, blamed?: Blamed): void {
    if (this.closed) return
    this.closed = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.batch = []
    this.socket.destroy()
    // A command with a deadline was written (or admitted from the wait for room, about to be): the server may have
    // run it. One without was queued in this turn and never left.
    let written: RedisError | undefined
    for (const pending of this.queue.drain()) {
      if (pending === blamed?.pending) continue
      settle(pending, null, pending.deadline === 0 ? error : (written ??= writtenError(error)))
    }
    for (const pending of this.waiting.drain()) settle(pending, null, error)
    if (blamed !== undefined) settle(blamed.pending, null, blamed.error)
    this.options.onClose(this, error)
  }
}

const outcomeUnknownText = ": the command may have run; its outcome is unknown"

/** The error of a command written before its connection was lost: it says the command may have run. */
const writtenError = (error: RedisError): RedisError =>
  error._tag === "RedisConnectionError"
    ? new RedisConnectionError({
      message: error.message + outcomeUnknownText,
      cause: error.cause,
      outcomeUnknown: true
    })
    : error

const messageKind = Buffer.from("message")

const isPubSubMessage = (value: Resp.RespValue): boolean =>
  Array.isArray(value) && value.length === 3 && value[0] instanceof Uint8Array &&
  Buffer.compare(value[0], messageKind) === 0

/** Names of commands that do not get exactly one reply (or that undo the connection's handshake). */
const unsupported = new Set(
  ["SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE", "SSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR", "RESET"]
    .concat(["SYNC", "PSYNC"])
)

/**
 * Which (name length, initial letter) pairs an unsupported name has: a cheap filter that spares almost every
 * command the upper-casing and the lookup (`MGET` and `MSET` share `MONITOR`'s initial, not its length).
 */
const unsupportedShape = new Uint8Array(16 * 32)
for (const name of [...unsupported, "CLIENT"]) unsupportedShape[name.length * 32 + (name.charCodeAt(0) & 31)] = 1

const isUnsupported = (name: string, args: ReadonlyArray<string | Uint8Array>): boolean => {
  if (name.length >= 16 || unsupportedShape[name.length * 32 + (name.charCodeAt(0) & 31)] === 0) return false
  const upper = name.toUpperCase()
  if (upper === "CLIENT") {
    const sub = args[1]
    return sub !== undefined && argumentText(sub).toUpperCase() === "REPLY"
  }
  return unsupported.has(upper)
}

const argumentText = (arg: string | Uint8Array): string =>
  typeof arg === "string" ? arg : Buffer.from(arg.buffer, arg.byteOffset, Math.min(arg.byteLength, 64)).toString()

const describeValue = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : typeof value

/**
 * Why `args` cannot be sent, or `undefined` when it can: see `RedisInputError`. Runs on every command sent, before
 * anything of it is queued; it reads each argument's type and length once, and a command's name only when it is
 * one of the few lengths and initials of an unsupported command.
 *
 * @internal
 */
export const checkCommand = (
  args: ReadonlyArray<string | Uint8Array>,
  maxArgumentLength: number,
  describeLimit: (limit: number) => string = describeConfiguredLimit
): RedisInputError | undefined => {
  if (!Array.isArray(args)) {
    return new RedisInputError({ message: `a command must be an array, got ${describeValue(args)}`, command: "" })
  }
  const n = args.length
  if (n === 0) {
    return new RedisInputError({ message: "an empty command cannot be sent: Redis would not answer it", command: "" })
  }
  for (let i = 0; i < n; i++) {
    const arg: unknown = args[i]
    let length: number
    if (typeof arg === "string") {
      // A UTF-16 code unit takes 1 to 3 bytes in UTF-8: the exact count only matters near the limit.
      length = arg.length * 3 <= maxArgumentLength ? 0 : Buffer.byteLength(arg)
    } else if (arg instanceof Uint8Array) {
      length = arg.byteLength
    } else {
      return new RedisInputError({
        message: `argument ${i} of ${commandLabel(args)} is ${describeValue(arg)}: only strings and Uint8Arrays ` +
          "can be sent",
        command: commandLabel(args)
      })
    }
    if (length > maxArgumentLength) {
      return new RedisInputError({
        message: `argument ${i} of ${commandLabel(args)} is ${length} bytes, over ` +
          `${describeLimit(maxArgumentLength)}: the server would close the connection`,
        command: commandLabel(args)
      })
    }
  }
  const first = args[0]!
  if (isUnsupported(typeof first === "string" ? first : argumentText(first), args)) {
    const label = commandLabel(args)
    return new RedisInputError({
      message: `${label} is not supported by send or pipeline: ` + (label === "RESET"
        ? "it would undo the connection's handshake (AUTH, SELECT, CLIENT SETNAME) for every command after it"
        : "it does not get exactly one reply, so every later reply would reach the wrong command" +
          (label.includes("SUBSCRIBE") ? " (use subscribe)" : "")),
      command: label
    })
  }
  return undefined
}

const describeConfiguredLimit = (limit: number): string => `maxArgumentLength (${limit})`

/** The command's name for a message: upper-cased, with `CLIENT`'s subcommand, never an argument's value. */
const commandLabel = (args: ReadonlyArray<unknown>): string => {
  const first = args[0]
  const name = typeof first === "string" || first instanceof Uint8Array ? argumentText(first).slice(0, 32) : "?"
  const upper = name.toUpperCase()
  const sub = args[1]
  return upper === "CLIENT" && (typeof sub === "string" || sub instanceof Uint8Array)
    ? `CLIENT ${argumentText(sub).slice(0, 32).toUpperCase()}`
    : upper
}

const commandName = (args: ReadonlyArray<string | Uint8Array>): string => {
  const first = args[0]
  // Upper-cased only when an error message needs it: this runs for every command.
  return typeof first === "string" ? first : "COMMAND"
}
