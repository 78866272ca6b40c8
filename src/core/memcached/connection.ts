/**
 * One memcached connection: its socket, its reply parser and its queue of requests waiting for replies, in plain
 * TypeScript. A face (Effect's `internal/memcached`) gives it its error classes and awaits its requests.
 *
 * Pairing: meta replies come back in request order. Every request carries an opaque token (`O<n>`, unique on the
 * connection) and every reply that echoes one is checked against the request it is matched with, so a reply can
 * never be handed to the wrong caller: a mismatch closes the connection with a protocol error. A batch of quiet
 * requests (`q`: no reply on the common outcome) ends with `mn`, whose `MN` says every request before it is
 * answered; the replies inside it are placed by their tokens.
 *
 * @internal
 */
import { Buffer } from "node:buffer"
import { performance } from "node:perf_hooks"
import type { ConnectionSocket } from "../client/connection.js"
import { Fifo } from "../client/fifo.js"
import type { SocketInput } from "../client/socketInput.js"
import { encodeNoop, type MetaReply, type Opaque } from "./meta.js"
import { MetaParser, type MetaParserOptions } from "./parser.js"

/**
 * The errors a connection fails requests with, made by its face. `connection` errors of a request that was
 * written carry `outcomeUnknown: true`: the server may have run it.
 *
 * @internal
 */
export interface MetaConnectionErrors<E> {
  readonly connection: (fields: { readonly message: string; readonly outcomeUnknown?: boolean; cause?: unknown }) => E
  readonly timeout: (
    fields: { readonly message: string; readonly timeoutMillis: number; readonly outcomeUnknown?: boolean }
  ) => E
  readonly protocol: (fields: { readonly message: string }) => E
}

/**
 * What a connection is made with.
 *
 * @internal
 */
export interface MetaConnectionOptions<E, Resume = unknown> {
  /** `host:port`, for messages. */
  readonly where: string
  readonly commandTimeoutMillis: number
  /** The most requests written and not yet answered; past it requests wait, unwritten, in arrival order. */
  readonly maxInFlight: number
  readonly parser?: MetaParserOptions | undefined
  readonly errors: MetaConnectionErrors<E>
  /** Called once when the connection dies, whatever the reason. */
  readonly onClose: (connection: MetaConnection<E, Resume>, error: E) => void
}

/**
 * Makes one request's bytes with the opaque token the connection gives it.
 *
 * @internal
 */
export type Encode = (opaque: Opaque) => string | Uint8Array

/**
 * A request (or a batch of quiet ones ended by `mn`) on its way to its reply. It settles exactly once. Whoever
 * awaits it may go away: once written, its replies are still read in their place and dropped.
 *
 * @internal
 */
export class Exchange<E, Resume = unknown> {
  done = false
  /** The reply of a single request. */
  reply: MetaReply | undefined = undefined
  /** The replies of a batch, by position: `undefined` where the server said nothing (the quiet outcome). */
  replies: Array<MetaReply | undefined> | undefined = undefined
  error: E | undefined = undefined
  callback: ((exchange: Exchange<E, Resume>) => void) | undefined = undefined
  resume: Resume | undefined = undefined
  /** When it times out (monotonic clock), set when it is written or starts waiting for room; 0 until then. */
  deadline = 0
  /** Its bytes while it waits to be written. */
  pieces: Array<string | Uint8Array> | undefined = undefined
  /** Its awaiter went away before it was written: it is then never written. */
  cancelled = false
  /** Batches: the next position a token may answer, and the error lines not yet placed (see `onBatchReply`). */
  next = 0
  unplaced: Array<{ readonly from: number; readonly reply: MetaReply }> | undefined = undefined
  constructor(
    readonly command: string,
    /** A single request's token, or a batch's tokens in order. */
    readonly opaques: Opaque | ReadonlyArray<Opaque>,
    /** Requests it puts in flight (a batch counts its `mn`). */
    readonly size: number
  ) {}
}

const settle = <E, R>(exchange: Exchange<E, R>, error: E | undefined): void => {
  if (exchange.done) return
  exchange.done = true
  exchange.error = error
  exchange.pieces = undefined
  const callback = exchange.callback
  if (callback !== undefined) {
    exchange.callback = undefined
    callback(exchange)
  }
}

/**
 * Tokens go up to 2^31 and wrap: a connection never has that many requests in flight, and memcached takes at most
 * 32 characters.
 */
const TOKEN_WRAP = 2 ** 31

/**
 * A connection on an open socket.
 *
 * @internal
 */
export class MetaConnection<E, Resume = unknown> {
  private readonly parser: MetaParser
  private readonly queue = new Fifo<Exchange<E, Resume>>()
  private readonly waiting = new Fifo<Exchange<E, Resume>>()
  /** Requests written or being written and not answered: counted against `maxInFlight`. */
  private inFlightRequests = 0
  private batch: Array<string | Uint8Array> = []
  /** Exchanges queued since the last flush: the ones it writes, at the tail of the queue. */
  private unflushed = 0
  private flushScheduled = false
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private closed = false
  private token = 0
  /** Replies read so far. */
  repliesReceived = 0

  constructor(
    readonly socket: ConnectionSocket,
    input: SocketInput,
    private readonly options: MetaConnectionOptions<E, Resume>
  ) {
    this.parser = new MetaParser(options.parser)
    socket.setNoDelay(true)
    socket.on("error", (cause: NodeJS.ErrnoException) => {
      this.destroy({ message: `connection error: ${cause.message}`, cause })
    })
    socket.on("close", () => {
      this.destroy({ message: "connection closed by the server" })
    })
    input.attach(this.onData)
  }

  get isOpen(): boolean {
    return !this.closed
  }

  /** Requests and batches waiting for their replies or for room. */
  get inFlight(): number {
    return this.queue.length + this.waiting.length
  }

  private nextToken(): Opaque {
    this.token = (this.token + 1) % TOKEN_WRAP
    return this.token.toString(36)
  }

  /** Queues one request, which gets exactly one reply. */
  submit(command: string, encode: Encode): Exchange<E, Resume> {
    const opaque = this.nextToken()
    const exchange = new Exchange<E, Resume>(command, opaque, 1)
    return this.enqueue(exchange, [encode(opaque)])
  }

  /**
   * Queues a batch of quiet requests followed by `mn`, written together or not at all. Its `replies` hold, by
   * position, what the server answered (`undefined` for the quiet outcome).
   */
  submitBatch(command: string, encodes: ReadonlyArray<Encode>): Exchange<E, Resume> {
    const opaques = new Array<Opaque>(encodes.length)
    const pieces = new Array<string | Uint8Array>(encodes.length + 1)
    for (let i = 0; i < encodes.length; i++) {
      opaques[i] = this.nextToken()
      pieces[i] = encodes[i]!(opaques[i]!)
    }
    pieces[encodes.length] = encodeNoop()
    const exchange = new Exchange<E, Resume>(command, opaques, encodes.length + 1)
    exchange.replies = new Array<MetaReply | undefined>(encodes.length)
    return this.enqueue(exchange, pieces)
  }

  private enqueue(exchange: Exchange<E, Resume>, pieces: Array<string | Uint8Array>): Exchange<E, Resume> {
    if (this.closed) {
      settle(exchange, this.options.errors.connection({ message: "connection is closed" }))
      return exchange
    }
    if (this.waiting.length > 0 || !this.fits(exchange.size)) {
      exchange.pieces = pieces
      exchange.deadline = performance.now() + this.options.commandTimeoutMillis
      this.waiting.push(exchange)
      if (this.timer === undefined) this.armTimer(this.options.commandTimeoutMillis)
      return exchange
    }
    this.write(exchange, pieces)
    return exchange
  }

  /** A batch larger than `maxInFlight` fits only an idle connection. */
  private fits(size: number): boolean {
    return this.inFlightRequests === 0 || this.inFlightRequests + size <= this.options.maxInFlight
  }

  private write(exchange: Exchange<E, Resume>, pieces: ReadonlyArray<string | Uint8Array>): void {
    this.queue.push(exchange)
    this.inFlightRequests += exchange.size
    this.unflushed++
    for (let i = 0; i < pieces.length; i++) this.batch.push(pieces[i]!)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      // As the Redis connection does: with nothing else in flight, at the end of this tick; with requests in
      // flight, after this turn's reads, so that the requests their callers send next leave in one write.
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
    const deadline = performance.now() + this.options.commandTimeoutMillis
    // Deadlines count from the write; an exchange that waited for room keeps the one it got then.
    this.queue.stampTail(this.unflushed, deadline)
    this.unflushed = 0
    let allText = true
    for (let i = 0; i < batch.length; i++) {
      if (typeof batch[i] !== "string") {
        allText = false
        break
      }
    }
    if (allText) {
      this.socket.write(Buffer.from((batch as Array<string>).join(""), "latin1"))
      return
    }
    this.socket.cork()
    let text = ""
    for (let i = 0; i < batch.length; i++) {
      const piece = batch[i]!
      if (typeof piece === "string") {
        text += piece
        continue
      }
      if (text.length > 0) this.socket.write(Buffer.from(text, "latin1"))
      text = ""
      this.socket.write(piece)
    }
    if (text.length > 0) this.socket.write(Buffer.from(text, "latin1"))
    this.socket.uncork()
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.closed) return
    const failure = this.parser.feed(chunk, this.onReply)
    if (failure !== undefined && !this.closed) {
      this.destroy({ message: `${this.options.where} broke the protocol: ${failure.message}` }, true)
    }
  }

  private readonly onReply = (reply: MetaReply): void => {
    if (this.closed) return
    this.repliesReceived++
    const head = this.queue.peek()
    if (head === undefined) {
      return this.mismatch(
        reply._tag === "Error"
          ? `${this.options.where} sent ${reply.kind} ${reply.message} with no request waiting`
          : "received a reply that no request was waiting for"
      )
    }
    const problem = typeof head.opaques === "string" ? this.onSingleReply(head, reply) : this.onBatchReply(head, reply)
    if (problem !== undefined) this.mismatch(problem)
  }

  /** The reply of a single request; error lines carry no token, every other reply must echo the request's. */
  private onSingleReply(head: Exchange<E, Resume>, reply: MetaReply): string | undefined {
    if (reply._tag === "Status" && reply.flags.opaque !== head.opaques) {
      return `a ${reply.status} reply with token ${String(reply.flags.opaque)} came for the request with token ` +
        `${String(head.opaques)}`
    }
    this.finish(head)
    head.reply = reply
    settle(head, undefined)
    return undefined
  }

  /**
   * A reply inside a batch: `MN` ends it, a reply with a token goes to the request of that token (which must come
   * after the last one answered), and an error line, which carries no token, belongs to one of the requests
   * between the last one answered and the next: every unanswered one of them fails with it, since which one it was
   * cannot be told (`placeErrors`).
   */
  private onBatchReply(head: Exchange<E, Resume>, reply: MetaReply): string | undefined {
    const opaques = head.opaques as ReadonlyArray<Opaque>
    const replies = head.replies!
    if (reply._tag === "Error") {
      ;(head.unplaced ??= []).push({ from: head.next, reply })
      return undefined
    }
    if (reply.status === "MN") {
      if (reply.flags.opaque !== undefined) return `an MN reply with a token ${reply.flags.opaque}`
      this.placeErrors(head, opaques.length)
      this.finish(head)
      settle(head, undefined)
      return undefined
    }
    const opaque = reply.flags.opaque
    let at = -1
    for (let i = head.next; i < opaques.length; i++) {
      if (opaques[i] === opaque) {
        at = i
        break
      }
    }
    if (at === -1) return `a ${reply.status} reply with token ${String(opaque)} matches no request of the batch`
    this.placeErrors(head, at)
    replies[at] = reply
    head.next = at + 1
    return undefined
  }

  private placeErrors(head: Exchange<E, Resume>, until: number): void {
    const unplaced = head.unplaced
    if (unplaced === undefined) return
    head.unplaced = undefined
    const replies = head.replies!
    for (const { from, reply } of unplaced) {
      for (let i = from; i < until; i++) if (replies[i] === undefined) replies[i] = reply
    }
  }

  /** `head` is answered: its room goes to the requests waiting for it before its awaiter is told. */
  private finish(head: Exchange<E, Resume>): void {
    this.queue.shift()
    this.inFlightRequests -= head.size
    if (this.waiting.length > 0) this.admitWaiting()
  }

  private mismatch(message: string): void {
    this.destroy({ message: `${this.options.where} broke the protocol: ${message}` }, true)
  }

  private admitWaiting(): void {
    for (let next = this.waiting.peek(); next !== undefined; next = this.waiting.peek()) {
      if (next.cancelled) {
        this.waiting.shift()
        continue
      }
      if (!this.fits(next.size)) return
      this.waiting.shift()
      const pieces = next.pieces!
      next.pieces = undefined
      // It keeps the deadline it got when it started waiting: the wait counts against its timeout.
      this.write(next, pieces)
    }
  }

  private armTimer(millis: number): void {
    this.timer = setTimeout(this.onTimer, Math.max(1, millis))
    this.timer.unref()
  }

  /** One timer per connection: replies come in order, so only the oldest request can be the first to time out. */
  private readonly onTimer = (): void => {
    this.timer = undefined
    if (this.closed) return
    const now = performance.now()
    const millis = this.options.commandTimeoutMillis
    for (let next = this.waiting.peek(); next !== undefined; next = this.waiting.peek()) {
      if (!next.cancelled && next.deadline > now) break
      this.waiting.shift()
      if (next.cancelled) continue
      settle(
        next,
        this.options.errors.timeout({
          message: `no reply to ${next.command} within ${millis} ms (it waited for room under maxInFlight ` +
            `${this.options.maxInFlight} and was never sent)`,
          timeoutMillis: millis
        })
      )
    }
    if (this.waiting.length > 0) this.admitWaiting()
    const head = this.queue.peek()
    if (head !== undefined && head.deadline !== 0 && head.deadline <= now) {
      // Its reply may still come: a connection whose stream position is unknown is never used again.
      this.queue.shift()
      settle(
        head,
        this.options.errors.timeout({
          message: `${this.options.where} did not answer ${head.command} within ${millis} ms; it may have run`,
          timeoutMillis: millis,
          outcomeUnknown: true
        })
      )
      this.destroy({
        message: `connection to ${this.options.where} dropped: an earlier ${head.command} timed out after ${millis} ms`
      })
      return
    }
    let next = Infinity
    if (head !== undefined) next = head.deadline === 0 ? now + millis : head.deadline
    const waiting = this.waiting.peek()
    if (waiting !== undefined && waiting.deadline < next) next = waiting.deadline
    if (next === Infinity) return
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.armTimer(Math.ceil(next - now))
  }

  /**
   * Closes the socket and fails every request still waiting, once, with a connection error of `fields`; a request
   * that was written gets one that says it may have run.
   */
  destroy(fields: { readonly message: string; readonly cause?: unknown }, protocol = false): void {
    if (this.closed) return
    this.closed = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.batch = []
    this.unflushed = 0
    this.socket.destroy()
    const errors = this.options.errors
    const error = protocol ? errors.protocol(fields) : errors.connection(fields)
    // A broken stream fails everything on it as the protocol error it is.
    let written: E | undefined = protocol ? error : undefined
    for (const exchange of this.queue.drain()) {
      // One with a deadline was written: the server may have run it.
      settle(
        exchange,
        exchange.deadline === 0 ? error : (written ??= errors.connection({
          message: `${fields.message}: the request may have run; its outcome is unknown`,
          cause: fields.cause,
          outcomeUnknown: true
        }))
      )
    }
    for (const exchange of this.waiting.drain()) settle(exchange, error)
    this.options.onClose(this, error)
  }
}
