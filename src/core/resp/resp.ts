/**
 * RESP2 / RESP3 values, their encoders, and an incremental, binary-safe parser: the implementation behind the
 * public `Resp` module, which adds only the Effect error class of a protocol violation.
 *
 * This module is pure (no I/O) and runs on the client's hot path, so it is plain, allocation-aware TypeScript:
 * the parser works on bytes, keeps only the reply that is still incomplete, and never throws.
 *
 * @internal
 */
import { Buffer, constants } from "node:buffer"

// -------------------------------------------------------------------------------------------------------------------
// models
// -------------------------------------------------------------------------------------------------------------------

/**
 * A value of the RESP2 / RESP3 protocol, as the {@link Parser} delivers it.
 *
 * - `string`: simple string (`+OK`)
 * - `number`: integer (`:`) within `Number.MAX_SAFE_INTEGER`, and double (`,`, including `inf`, `-inf`, `nan`)
 * - `bigint`: integer (`:`) outside the safe range, and big number (`(`)
 * - `boolean`: RESP3 boolean (`#t` / `#f`)
 * - `null`: RESP3 null (`_`), RESP2 null bulk string (`$-1`) and null array (`*-1`)
 * - `Uint8Array`: bulk string (`$`); the parser delivers a `Buffer` that owns its bytes, decoding is the caller's choice
 * - {@link ErrorReply}: simple error (`-`) and bulk error (`!`), a value and never thrown
 * - {@link VerbatimString}: verbatim string (`=`)
 * - {@link RespMap}, {@link RespSet}, {@link RespPush}: map (`%`), set (`~`), push (`>`)
 * - `ReadonlyArray<RespValue>`: array (`*`)
 *
 * @since 0.1.0
 * @category models
 */
export type RespValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | ErrorReply
  | VerbatimString
  | RespMap
  | RespSet
  | RespPush
  | ReadonlyArray<RespValue>

/**
 * An error reply (`-ERR unknown command` or a RESP3 bulk error `!`). A reply like any other: the parser delivers it
 * as a value, so the caller decides which command it belongs to and how to fail it.
 *
 * @since 0.1.0
 * @category models
 */
export class ErrorReply {
  constructor(
    /** The text after the `-`, e.g. `"ERR unknown command 'FOO'"`. */
    readonly message: string
  ) {}

  /**
   * The error code: the first word of the message (`"ERR"`, `"WRONGTYPE"`, `"NOAUTH"`, `"LOADING"`…).
   *
   * @since 0.1.0
   */
  get code(): string {
    const space = this.message.indexOf(" ")
    return space === -1 ? this.message : this.message.slice(0, space)
  }
}

/**
 * A RESP3 verbatim string: `=15\r\ntxt:Some string\r\n` has format `"txt"` and value `Some string` (as bytes).
 *
 * @since 0.1.0
 * @category models
 */
export class VerbatimString {
  constructor(
    /** The three-character format, e.g. `"txt"` or `"mkd"`. */
    readonly format: string,
    /** The text after the `fmt:` prefix. */
    readonly value: Uint8Array
  ) {}
}

/**
 * A RESP3 map (`%`). Entries keep the wire order; keys may be any {@link RespValue}, so this is a list of pairs
 * rather than a JavaScript `Map`.
 *
 * @since 0.1.0
 * @category models
 */
export class RespMap {
  constructor(readonly entries: ReadonlyArray<readonly [RespValue, RespValue]>) {}
}

/**
 * A RESP3 set (`~`), in wire order.
 *
 * @since 0.1.0
 * @category models
 */
export class RespSet {
  constructor(readonly values: ReadonlyArray<RespValue>) {}
}

/**
 * A RESP3 push (`>`): out-of-band data such as pub/sub messages and client-side caching invalidations. It is not
 * the reply to any command, so the client must route it elsewhere.
 *
 * @since 0.1.0
 * @category models
 */
export class RespPush {
  constructor(readonly values: ReadonlyArray<RespValue>) {}
}

/**
 * What a protocol violation carries: why, and the exception behind it when `onReply` threw. The public `Resp`
 * module turns it into its `ProtocolError`; `cause` is present only when there is one.
 *
 * @internal
 */
export interface ProtocolFailure {
  readonly message: string
  readonly cause?: unknown
}

const asFailure = (failure: ProtocolFailure): ProtocolFailure => failure

// -------------------------------------------------------------------------------------------------------------------
// parsing
// -------------------------------------------------------------------------------------------------------------------

/**
 * Bounds on what a {@link Parser} accepts. They keep a broken or hostile peer from making the parser hold unbounded
 * memory: a declared length over a limit is rejected as soon as it is read, before any of its payload is buffered.
 *
 * @since 0.1.0
 * @category parsing
 */
export interface ParserOptions {
  /**
   * Largest bulk string / bulk error / verbatim string payload, in bytes. Default `512 * 1024 * 1024`, Redis's own
   * `proto-max-bulk-len` default (capped at the largest Buffer the runtime can allocate).
   */
  readonly maxBulkLength?: number
  /**
   * Largest declared element count of one array, set or push, or entry count (key-value pairs) of one map or
   * attribute. Default `1 << 24` (16,777,216): far above what a cache client receives, and because the parser
   * never pre-allocates from a declared count, memory still grows only with the bytes actually received.
   */
  readonly maxAggregateLength?: number
  /**
   * Largest content of a line that holds a number (integer, double, big number, or a length), in bytes, not
   * counting the type byte and the CRLF. Default `64 * 1024`. Simple strings and simple errors are text a server
   * may make as long as a bulk string (a Lua `redis.error_reply` of any length, an ACL error quoting a rule), so
   * they are bounded by `maxBulkLength` instead, as Redis bounds them; garbage without a CRLF is still cut off
   * there, and garbage that does not start with a RESP type byte at once.
   */
  readonly maxLineLength?: number
  /**
   * Largest number of aggregates (arrays, maps, sets, pushes, attributes) open at once. Default `64`: real
   * replies nest a handful of levels (XREAD is four), and the parser's stack is explicit, so this only bounds
   * memory, never the JavaScript call stack.
   */
  readonly maxDepth?: number
}

const DEFAULT_MAX_BULK_LENGTH = 512 * 1024 * 1024
const DEFAULT_MAX_AGGREGATE_LENGTH = 1 << 24
const DEFAULT_MAX_LINE_LENGTH = 64 * 1024
const DEFAULT_MAX_DEPTH = 64

// The ASCII table: every byte the codec reads or writes by value. Plain module constants rather than an object or a
// `const enum` (which `tsc` emits as an object under `isolatedModules`), so the hot loops read no property.
const LF = 10 // \n
const CR = 13 // \r
const BANG = 33 // !
const HASH = 35 // #
const DOLLAR = 36 // $
const PERCENT = 37 // %
const LEFT_PAREN = 40 // (
const STAR = 42 // *
const PLUS = 43 // +
const COMMA = 44 // ,
const MINUS = 45 // -
const DOT = 46 // .
const ZERO = 48 // 0
const ONE = 49 // 1
const COLON = 58 // :
const SEMICOLON = 59 // ;
const EQUALS = 61 // =
const GREATER = 62 // >
const QUESTION = 63 // ?
const UPPER_K = 75 // K
const UPPER_O = 79 // O
const UNDERSCORE = 95 // _
const LOWER_F = 102 // f
const LOWER_T = 116 // t
const PIPE = 124 // |
const TILDE = 126 // ~

// Type bytes.
const T_SIMPLE = PLUS
const T_ERROR = MINUS
const T_INTEGER = COLON
const T_BULK = DOLLAR
const T_ARRAY = STAR
const T_NULL = UNDERSCORE
const T_BOOLEAN = HASH
const T_DOUBLE = COMMA
const T_BIG_NUMBER = LEFT_PAREN
const T_BULK_ERROR = BANG
const T_VERBATIM = EQUALS
const T_MAP = PERCENT
const T_SET = TILDE
const T_PUSH = GREATER
const T_ATTRIBUTE = PIPE

// Size thresholds. Each was measured with Node 20 on x86-64 (2 cores under a shared load), timing the two ways of
// doing the job at lengths around the limit, median of seven 60 ms runs; the figures are per call and only their
// ratio matters.

/**
 * Simple strings up to this many bytes are decoded by a JavaScript loop, longer ones by `Buffer#toString`. The loop
 * took 30–110 ns up to 4 bytes and about 180–275 ns at 6–8, the runtime call 100–240 ns whatever the length; from
 * 10 bytes on the call won. `"OK"` has its own shortcut.
 */
const ASCII_DECODE_LIMIT = 8

/**
 * Bulk payloads up to this many bytes are copied out of the chunk by a loop, longer ones by `Uint8Array#set`. The
 * loop took 20–100 ns up to 16 bytes against 110–260 ns for the call; from 24 bytes on the call won.
 */
const SMALL_COPY_LIMIT = 16

/**
 * Command arguments up to this many UTF-16 units are copied by a `charCodeAt` loop that checks for ASCII as it
 * copies, longer ones by one `Buffer#write` (see `writeUtf8`). The loop took 15–75 ns up to 12 units against
 * 75–170 ns for the call; from 16 units on the call won or tied, on concatenated (`prefix + key`) and flat strings
 * alike.
 */
const ASCII_LOOP_LIMIT = 12

/**
 * Commands (and batches) whose size bound is at most this many bytes are written into one reused scratch buffer
 * and copied out at their exact size; larger ones get a buffer of their own. At 32–64 KiB both took about the same
 * (3–5 µs for a 64 KiB payload: one extra copy against one extra allocation), so the limit is set by memory: it is
 * the most the scratch ever keeps.
 */
const SCRATCH_LIMIT = 128 * 1024

/** The scratch buffer's first size: a batch of typical commands fits, so it rarely grows. */
const SCRATCH_INITIAL = 16 * 1024

/** The first buffer for a line that spans chunks: every number line of a real reply fits. */
const LINE_INITIAL = 64

/** At most this many characters of a bad line are quoted in an error message. */
const QUOTE_LIMIT = 32

// A lookup table is cheaper than a chain of comparisons on every reply.
const KNOWN_TYPE = new Uint8Array(256)
for (
  const t of [
    T_SIMPLE,
    T_ERROR,
    T_INTEGER,
    T_BULK,
    T_ARRAY,
    T_NULL,
    T_BOOLEAN,
    T_DOUBLE,
    T_BIG_NUMBER,
    T_BULK_ERROR,
    T_VERBATIM,
    T_MAP,
    T_SET,
    T_PUSH,
    T_ATTRIBUTE
  ]
) KNOWN_TYPE[t] = 1

// Results of a line scan that are not a CR position.
const NEED_MORE = -2
const FAILED = -1
// A declared length of "-1": the RESP2 null bulk string or null array.
const NULL_LENGTH = -1
// Result of a length parse that is not a length (or, from declaredLength, a failure already recorded).
const BAD_LENGTH = -2

const DOUBLE_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const BIG_NUMBER_RE = /^[+-]?\d+$/

const describeByte = (byte: number): string =>
  byte >= 0x20 && byte < 0x7f
    ? `"${String.fromCharCode(byte)}" (0x${byte.toString(16).padStart(2, "0")})`
    : `0x${byte.toString(16).padStart(2, "0")}`

/**
 * What a byte that starts no RESP value suggests about the peer, from that byte alone (nothing is buffered to look
 * further): the start of an HTTP response, a TLS record, an SSH banner, HTML or JSON.
 */
const peerHint = (byte: number): string => {
  switch (byte) {
    case 0x48: // "H": "HTTP/1.1 400 Bad Request"
      return ": not a Redis server (HTTP?)"
    case 0x15:
    case 0x16: // a TLS alert or handshake record
      return ": the server speaks TLS (use rediss:// or the tls option)"
    case 0x53: // "S": "SSH-2.0-…"
      return ": not a Redis server (SSH?)"
    case 0x3c: // "<": an HTML or XML page
      return ": not a Redis server (HTML?)"
    case 0x7b: // "{": a JSON body
      return ": not a Redis server (JSON?)"
    default:
      return ""
  }
}

const describeLine = (src: Buffer, start: number, stop: number): string =>
  JSON.stringify(
    src.toString("latin1", start, Math.min(stop, start + QUOTE_LIMIT)) + (stop - start > QUOTE_LIMIT ? "…" : "")
  )

// Simple strings are short and ASCII in practice ("OK", "QUEUED", "PONG"); decoding them in JavaScript avoids a
// call into the runtime per reply. Anything longer or non-ASCII is decoded as UTF-8 by the runtime.
const decodeSimple = (src: Buffer, start: number, stop: number): string => {
  const length = stop - start
  if (length === 2 && src[start] === UPPER_O && src[start + 1] === UPPER_K) return "OK"
  if (length <= ASCII_DECODE_LIMIT) {
    let s = ""
    for (let i = start; i < stop; i++) {
      const b = src[i]!
      if (b >= 0x80) return src.toString("utf8", start, stop)
      s += String.fromCharCode(b)
    }
    return s
  }
  return src.toString("utf8", start, stop)
}

// Parses an integer reply from bytes; `undefined` when it is not `[+-]?[0-9]+`.
const parseInteger = (src: Buffer, start: number, stop: number): number | bigint | undefined => {
  let i = start
  let negative = false
  if (i < stop) {
    const sign = src[i]
    if (sign === MINUS) {
      negative = true
      i++
    } else if (sign === PLUS) {
      i++
    }
  }
  if (i === stop) return undefined
  let n = 0
  for (; i < stop; i++) {
    const d = src[i]! - ZERO
    if (d < 0 || d > 9) return undefined
    // Exact while n stays within 2^53; beyond that the value is re-read as a bigint below, so rounding is harmless
    // (and monotonic, so it cannot bring n back under the bound).
    n = n * 10 + d
  }
  if (n <= Number.MAX_SAFE_INTEGER) return negative ? 0 - n : n
  return BigInt(src.toString("latin1", start, stop))
}

// Parses a declared length: a non-negative decimal, or exactly "-1". Values past 2^53 come out imprecise but still
// larger than any limit, which is all the caller needs.
const parseLength = (src: Buffer, start: number, stop: number): number => {
  if (start === stop) return BAD_LENGTH
  if (src[start] === MINUS) return stop - start === 2 && src[start + 1] === ONE ? NULL_LENGTH : BAD_LENGTH
  let n = 0
  for (let i = start; i < stop; i++) {
    const d = src[i]! - ZERO
    if (d < 0 || d > 9) return BAD_LENGTH
    n = n * 10 + d
  }
  return n
}

const parseDouble = (src: Buffer, start: number, stop: number): number | undefined => {
  const s = src.toString("latin1", start, stop)
  switch (s) {
    case "inf":
    case "+inf":
      return Infinity
    case "-inf":
      return -Infinity
    case "nan":
    case "-nan":
      return NaN
  }
  // Number() alone would accept "", " 1", "0x10" and "Infinity".
  return DOUBLE_RE.test(s) ? Number(s) : undefined
}

const toPairs = (flat: ReadonlyArray<RespValue>): Array<readonly [RespValue, RespValue]> => {
  const pairs = new Array<readonly [RespValue, RespValue]>(flat.length >> 1)
  for (let i = 0, j = 0; i < flat.length; i += 2, j++) pairs[j] = [flat[i]!, flat[i + 1]!]
  return pairs
}

const EMPTY_ITEMS: Array<RespValue> = []

const limit = (name: string, value: number | undefined, fallback: number): number => {
  if (value === undefined) return fallback
  if (typeof value !== "number" || !(value >= 0)) {
    throw new RangeError(`ParserOptions.${name} must be a non-negative number, got ${String(value)}`)
  }
  return value
}

/**
 * An incremental RESP2 / RESP3 parser for one connection's byte stream.
 *
 * Feed it the chunks as they arrive, split anywhere (inside a CRLF, a length, a payload); it delivers every complete
 * top-level reply, in order, and keeps only the reply still incomplete: a partial line, the payload of the bulk
 * string being received (allocated once its length is known, so a large value costs one copy), and a stack of the
 * aggregates being built (so a large array split over many chunks is never re-parsed).
 *
 * - Attributes (`|`) are parsed in full (they count against the limits) and dropped; the value that follows them
 *   is delivered in their place.
 * - RESP3 streamed strings and aggregates (`$?`, `*?`, `;`, `.`) are a protocol error: Redis never sends
 *   them.
 * - A simple string or error line may not contain a CR or LF, and every line must end in CRLF.
 * - Bulk strings are delivered as `Buffer`s that own their bytes: they never alias the fed chunk (small ones may
 *   share Node's allocation pool, like any `Buffer.allocUnsafe`).
 * - A bulk payload's buffer is allocated (uninitialised) as soon as its header is read, so `maxBulkLength` is also
 *   the most one header can make the parser allocate.
 *
 * @since 0.1.0
 * @category parsing
 */
export class Parser<E = ProtocolFailure> {
  private readonly maxBulkLength: number
  private readonly maxAggregateLength: number
  private readonly maxLineLength: number
  // Bound of simple strings and errors: the larger of the two limits.
  private readonly maxTextLength: number
  private readonly maxDepth: number

  private error: E | undefined = undefined
  // Bumped by reset(), so a reset from inside onReply stops the feed that called it.
  private generation = 0

  // A line whose CRLF has not arrived yet: type byte, content, and possibly its CR.
  private line: Buffer | undefined = undefined
  private lineLength = 0

  // The bulk string / bulk error / verbatim string being received; bulkLength is -1 when there is none.
  private bulkType = 0
  private bulkLength = -1
  // Payload bytes received, then one more for the CR of its CRLF.
  private bulkFilled = 0
  private bulk: Buffer | undefined = undefined

  // The aggregates being built, innermost last.
  private depth = 0
  private readonly kinds: Array<number> = []
  private readonly remaining: Array<number> = []
  private readonly items: Array<Array<RespValue>> = []

  /**
   * Throws a `RangeError` when a limit in `options` is not a non-negative number: a NaN limit would silently
   * disable the bound it stands for. `makeError` makes the value a violation is reported as (made once per
   * violation, off the hot path).
   */
  constructor(
    options?: ParserOptions,
    private readonly makeError: (failure: ProtocolFailure) => E = asFailure as (failure: ProtocolFailure) => E
  ) {
    this.maxBulkLength = Math.min(
      limit("maxBulkLength", options?.maxBulkLength, DEFAULT_MAX_BULK_LENGTH),
      constants.MAX_LENGTH
    )
    this.maxAggregateLength = limit("maxAggregateLength", options?.maxAggregateLength, DEFAULT_MAX_AGGREGATE_LENGTH)
    this.maxLineLength = limit("maxLineLength", options?.maxLineLength, DEFAULT_MAX_LINE_LENGTH)
    this.maxDepth = limit("maxDepth", options?.maxDepth, DEFAULT_MAX_DEPTH)
    this.maxTextLength = Math.max(this.maxLineLength, this.maxBulkLength)
  }

  /**
   * Bytes held waiting for the rest of their reply: the partial line plus the payload bytes received so far of the
   * bulk string in progress. Bounded by the limits in {@link ParserOptions}.
   *
   * @since 0.1.0
   */
  get bufferedBytes(): number {
    return this.lineLength + (this.bulkLength === -1 ? 0 : Math.min(this.bulkFilled, this.bulkLength))
  }

  /**
   * Consumes one chunk and calls `onReply` synchronously for every complete top-level reply, in order.
   *
   * Returns a protocol error when the bytes violate the protocol or a limit; the parser is then poisoned and
   * every later `feed` returns the same error until {@link Parser.reset}. Never throws and always terminates: if
   * `onReply` itself throws, that too poisons the parser and comes back as a protocol error (with the exception as
   * its `cause`), because the rest of the chunk was not consumed and the stream position is lost. Calling `reset()`
   * from inside `onReply` discards the rest of the chunk.
   *
   * @since 0.1.0
   */
  feed(chunk: Uint8Array, onReply: (value: RespValue) => void): E | undefined {
    if (this.error !== undefined) return this.error
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    const end = buf.length
    const generation = this.generation
    let pos = 0
    try {
      while (pos < end) {
        // Every step consumes at least one byte, so the loop terminates.
        if (this.bulkLength !== -1) pos = this.continueBulk(buf, pos, end, onReply)
        else if (this.lineLength !== 0) pos = this.continueLine(buf, pos, end, onReply)
        else pos = this.startValue(buf, pos, end, onReply)
        if (this.generation !== generation) return undefined
        if (pos < 0) return this.error
      }
      return undefined
    } catch (cause) {
      if (this.error === undefined) {
        this.fail(
          `RESP parser stopped by an exception: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause
        )
      }
      return this.error
    }
  }

  /**
   * Forgets everything buffered and any error: the parser is as new, ready for a fresh connection's stream.
   *
   * @since 0.1.0
   */
  reset(): void {
    this.generation++
    this.error = undefined
    this.clear()
  }

  private clear(): void {
    this.line = undefined
    this.lineLength = 0
    this.bulkLength = -1
    this.bulkFilled = 0
    this.bulk = undefined
    this.depth = 0
    this.kinds.length = 0
    this.remaining.length = 0
    this.items.length = 0
  }

  private fail(message: string, cause?: unknown): number {
    this.error = this.makeError(cause === undefined ? { message } : { message, cause })
    // Poisoned: nothing buffered will ever be used, so let it go.
    this.clear()
    return FAILED
  }

  // The most content bytes a line of this type may hold.
  private lineLimit(type: number): number {
    return type === T_SIMPLE || type === T_ERROR ? this.maxTextLength : this.maxLineLength
  }

  // Finds the CR that ends a line of `type` whose content starts at `from`, `already` content bytes having been
  // buffered before. Returns its index, NEED_MORE when the chunk ends first, or FAILED.
  private scanLine(type: number, buf: Buffer, from: number, end: number, already: number): number {
    // A CR may sit at most `max` content bytes after the start of the content.
    const max = this.lineLimit(type)
    const stop = from + (max - already) + 1
    const limit = stop < end ? stop : end
    for (let i = from; i < limit; i++) {
      const b = buf[i]
      if (b === CR) {
        if (i + 1 === end) return NEED_MORE
        if (buf[i + 1] !== LF) return this.fail(`expected LF after CR, got ${describeByte(buf[i + 1]!)}`)
        return i
      }
      if (b === LF) return this.fail("LF without CR in a line")
    }
    if (limit === stop) {
      return this.fail(
        max === this.maxLineLength
          ? `line longer than maxLineLength (${this.maxLineLength} bytes)`
          : `simple string or error longer than maxBulkLength (${max} bytes)`
      )
    }
    return NEED_MORE
  }

  private startValue(buf: Buffer, pos: number, end: number, onReply: (value: RespValue) => void): number {
    const type = buf[pos]!
    if (KNOWN_TYPE[type] === 0) {
      return this.fail(
        type === QUESTION || type === SEMICOLON || type === DOT
          ? `RESP3 streamed types are not supported (type byte ${describeByte(type)})`
          : `unknown RESP type byte ${describeByte(type)}${peerHint(type)}`
      )
    }
    const cr = this.scanLine(type, buf, pos + 1, end, 0)
    if (cr === FAILED) return FAILED
    if (cr === NEED_MORE) {
      this.appendLine(buf, pos, end)
      return end
    }
    return this.onLine(type, buf, pos + 1, cr, onReply) ? cr + 2 : FAILED
  }

  private continueLine(buf: Buffer, pos: number, end: number, onReply: (value: RespValue) => void): number {
    const line = this.line!
    const length = this.lineLength
    if (line[length - 1] === CR) {
      if (buf[pos] !== LF) return this.fail(`expected LF after CR, got ${describeByte(buf[pos]!)}`)
      this.lineLength = 0
      return this.onLine(line[0]!, line, 1, length - 1, onReply) ? pos + 1 : FAILED
    }
    const cr = this.scanLine(line[0]!, buf, pos, end, length - 1)
    if (cr === FAILED) return FAILED
    if (cr === NEED_MORE) {
      this.appendLine(buf, pos, end)
      return end
    }
    this.appendLine(buf, pos, cr)
    const full = this.line!
    const stop = this.lineLength
    this.lineLength = 0
    return this.onLine(full[0]!, full, 1, stop, onReply) ? cr + 2 : FAILED
  }

  private appendLine(buf: Buffer, start: number, stop: number): void {
    const needed = this.lineLength + (stop - start)
    let line = this.line
    if (line === undefined || line.length < needed) {
      // Doubling keeps a long line linear; the scan bounds it by its limit + 2 (type byte and CR).
      const grown = Buffer.allocUnsafe(Math.max(LINE_INITIAL, needed, line === undefined ? 0 : line.length * 2))
      if (line !== undefined) line.copy(grown, 0, 0, this.lineLength)
      this.line = line = grown
    }
    buf.copy(line, this.lineLength, start, stop)
    this.lineLength = needed
  }

  // Handles one complete line (content src[start, stop)). Returns false after a failure.
  private onLine(
    type: number,
    src: Buffer,
    start: number,
    stop: number,
    onReply: (value: RespValue) => void
  ): boolean {
    switch (type) {
      case T_SIMPLE:
        this.emit(decodeSimple(src, start, stop), onReply)
        return true
      case T_ERROR:
        this.emit(new ErrorReply(src.toString("utf8", start, stop)), onReply)
        return true
      case T_INTEGER: {
        const n = parseInteger(src, start, stop)
        if (n === undefined) return this.failLine("invalid integer", src, start, stop)
        this.emit(n, onReply)
        return true
      }
      case T_BULK:
      case T_BULK_ERROR:
      case T_VERBATIM:
        return this.onBulkHeader(type, src, start, stop, onReply)
      case T_ARRAY:
      case T_MAP:
      case T_SET:
      case T_PUSH:
      case T_ATTRIBUTE:
        return this.onAggregateHeader(type, src, start, stop, onReply)
      case T_NULL:
        if (stop !== start) return this.failLine("invalid null", src, start, stop)
        this.emit(null, onReply)
        return true
      case T_BOOLEAN: {
        const b = stop - start === 1 ? src[start] : 0
        if (b !== LOWER_T && b !== LOWER_F) return this.failLine("invalid boolean", src, start, stop)
        this.emit(b === LOWER_T, onReply)
        return true
      }
      case T_DOUBLE: {
        const d = parseDouble(src, start, stop)
        if (d === undefined) return this.failLine("invalid double", src, start, stop)
        this.emit(d, onReply)
        return true
      }
      case T_BIG_NUMBER: {
        const s = src.toString("latin1", start, stop)
        if (!BIG_NUMBER_RE.test(s)) return this.failLine("invalid big number", src, start, stop)
        this.emit(BigInt(s), onReply)
        return true
      }
    }
    // startValue only lets known types through.
    this.fail(`unknown RESP type byte ${describeByte(type)}`)
    return false
  }

  private failLine(what: string, src: Buffer, start: number, stop: number): false {
    this.fail(`${what}: ${describeLine(src, start, stop)}`)
    return false
  }

  private badLength(type: number, src: Buffer, start: number, stop: number): false {
    if (stop - start === 1 && src[start] === QUESTION) {
      this.fail(`RESP3 streamed types are not supported (${String.fromCharCode(type)}?)`)
      return false
    }
    return this.failLine(`invalid length for type ${describeByte(type)}`, src, start, stop)
  }

  // Reads the length a bulk or aggregate header declares (content src[start, stop)). Returns it, NULL_LENGTH for
  // the "-1" of a type that has a RESP2 null form (`nullable`), or BAD_LENGTH once the parser has failed: the
  // length is malformed, a "-1" the type has no null form for, or over `max` (so nothing of it is buffered).
  private declaredLength(
    type: number,
    src: Buffer,
    start: number,
    stop: number,
    nullable: boolean,
    kind: "bulk" | "aggregate",
    max: number
  ): number {
    const length = parseLength(src, start, stop)
    if (length === NULL_LENGTH && nullable) return NULL_LENGTH
    if (length < 0) {
      this.badLength(type, src, start, stop)
      return BAD_LENGTH
    }
    if (length > max) {
      const name = kind === "bulk" ? "maxBulkLength" : "maxAggregateLength"
      this.fail(`${kind} length ${src.toString("latin1", start, stop)} exceeds ${name} (${max})`)
      return BAD_LENGTH
    }
    return length
  }

  private onBulkHeader(
    type: number,
    src: Buffer,
    start: number,
    stop: number,
    onReply: (value: RespValue) => void
  ): boolean {
    const length = this.declaredLength(type, src, start, stop, type === T_BULK, "bulk", this.maxBulkLength)
    if (length === BAD_LENGTH) return false
    if (length === NULL_LENGTH) {
      this.emit(null, onReply)
      return true
    }
    // "txt:" is the least a verbatim string holds.
    if (type === T_VERBATIM && length < 4) return this.failLine("verbatim string too short", src, start, stop)
    this.bulkType = type
    this.bulkLength = length
    this.bulkFilled = 0
    this.bulk = undefined
    return true
  }

  private onAggregateHeader(
    type: number,
    src: Buffer,
    start: number,
    stop: number,
    onReply: (value: RespValue) => void
  ): boolean {
    const count = this.declaredLength(type, src, start, stop, type === T_ARRAY, "aggregate", this.maxAggregateLength)
    if (count === BAD_LENGTH) return false
    if (count === NULL_LENGTH) {
      this.emit(null, onReply)
      return true
    }
    if (this.depth >= this.maxDepth) {
      this.fail(`aggregates nested deeper than maxDepth (${this.maxDepth})`)
      return false
    }
    if (count === 0) {
      // An empty attribute annotates the value that follows with nothing, so it is simply dropped.
      switch (type) {
        case T_ARRAY:
          this.emit([], onReply)
          break
        case T_MAP:
          this.emit(new RespMap([]), onReply)
          break
        case T_SET:
          this.emit(new RespSet([]), onReply)
          break
        case T_PUSH:
          this.emit(new RespPush([]), onReply)
          break
      }
      return true
    }
    const d = this.depth++
    this.kinds[d] = type
    this.remaining[d] = type === T_MAP || type === T_ATTRIBUTE ? count * 2 : count
    this.items[d] = []
    return true
  }

  private continueBulk(buf: Buffer, pos: number, end: number, onReply: (value: RespValue) => void): number {
    const length = this.bulkLength
    let filled = this.bulkFilled
    // The common case: the whole payload and its CRLF are in this chunk; copy it out in one go.
    if (filled === 0 && end - pos >= length + 2) {
      const after = pos + length
      if (buf[after] !== CR) return this.fail(`expected CR after bulk payload, got ${describeByte(buf[after]!)}`)
      if (buf[after + 1] !== LF) {
        return this.fail(`expected LF after bulk payload, got ${describeByte(buf[after + 1]!)}`)
      }
      const payload = Buffer.allocUnsafe(length)
      if (length <= SMALL_COPY_LIMIT) {
        // Tiny values (counters, flags): a loop beats a call into the runtime.
        for (let i = 0; i < length; i++) payload[i] = buf[pos + i]!
      } else {
        // A plain Uint8Array view of the source: `buf.subarray` would construct a Buffer, which costs about as much
        // as the copy itself at a few hundred bytes.
        payload.set(new Uint8Array(buf.buffer, buf.byteOffset + pos, length))
      }
      this.bulkLength = -1
      return this.onBulk(payload, onReply) ? after + 2 : FAILED
    }
    if (filled < length) {
      let bulk = this.bulk
      if (bulk === undefined) this.bulk = bulk = Buffer.allocUnsafe(length)
      const n = Math.min(length - filled, end - pos)
      buf.copy(bulk, filled, pos, pos + n)
      filled += n
      pos += n
      this.bulkFilled = filled
      if (pos === end) return pos
    }
    if (filled === length) {
      if (buf[pos] !== CR) return this.fail(`expected CR after bulk payload, got ${describeByte(buf[pos]!)}`)
      this.bulkFilled = ++filled
      if (++pos === end) return pos
    }
    if (buf[pos] !== LF) return this.fail(`expected LF after bulk payload, got ${describeByte(buf[pos]!)}`)
    const payload = this.bulk ?? Buffer.allocUnsafe(0)
    this.bulk = undefined
    this.bulkLength = -1
    this.bulkFilled = 0
    return this.onBulk(payload, onReply) ? pos + 1 : FAILED
  }

  private onBulk(payload: Buffer, onReply: (value: RespValue) => void): boolean {
    switch (this.bulkType) {
      case T_BULK:
        this.emit(payload, onReply)
        return true
      case T_BULK_ERROR:
        this.emit(new ErrorReply(payload.toString("utf8")), onReply)
        return true
      default:
        if (payload[3] !== COLON) {
          this.fail(`verbatim string without "fmt:" prefix: ${describeLine(payload, 0, payload.length)}`)
          return false
        }
        this.emit(new VerbatimString(payload.toString("latin1", 0, 3), payload.subarray(4)), onReply)
        return true
    }
  }

  // Adds a complete value to the innermost open aggregate, closing every aggregate it completes; a value that
  // completes the top level goes to onReply.
  private emit(value: RespValue, onReply: (value: RespValue) => void): void {
    let v = value
    while (this.depth > 0) {
      const d = this.depth - 1
      const items = this.items[d]!
      items.push(v)
      if (--this.remaining[d]! > 0) return
      this.items[d] = EMPTY_ITEMS
      this.depth = d
      switch (this.kinds[d]) {
        case T_ARRAY:
          v = items
          break
        case T_MAP:
          v = new RespMap(toPairs(items))
          break
        case T_SET:
          v = new RespSet(items)
          break
        case T_PUSH:
          v = new RespPush(items)
          break
        default:
          // An attribute is complete: drop it; the value it annotates comes next, in its place.
          return
      }
    }
    onReply(v)
  }
}

// -------------------------------------------------------------------------------------------------------------------
// encoding
// -------------------------------------------------------------------------------------------------------------------

const digitCount = (n: number): number => {
  let digits = 1
  while (n >= 10) {
    n = Math.floor(n / 10)
    digits++
  }
  return digits
}

// Writes a non-negative integer in decimal and returns the position after it.
const writeDecimal = (out: Buffer, pos: number, n: number): number => {
  if (n < 10) {
    out[pos] = ZERO + n
    return pos + 1
  }
  const end = pos + digitCount(n)
  let i = end
  while (n >= 10) {
    const q = Math.floor(n / 10)
    out[--i] = ZERO + (n - q * 10)
    n = q
  }
  out[--i] = ZERO + n
  return end
}

// The most bytes a header takes: "*" or "$", the 16 digits of the largest safe integer, CRLF.
const HEADER_BOUND = 19
// The most bytes an argument takes besides its payload: its header and the payload's CRLF.
const ARGUMENT_OVERHEAD = HEADER_BOUND + 2
// The most UTF-8 bytes one UTF-16 unit becomes (a surrogate pair is two units and four bytes).
const UTF8_PER_UNIT = 3

// Commands are written by one writer, `writeCommand`, into one of two places. The common case (commands of keys
// and small values, batches of them) goes into a reused scratch buffer and is copied out at its exact size: the
// bound is then a cheap over-estimate (3 bytes per string unit), so no string is read before it is written.
// Anything whose cheap bound exceeds SCRATCH_LIMIT is bounded again with the strings' real UTF-8 lengths and
// written into a buffer of its own, which is returned as it is, so the scratch never grows past SCRATCH_LIMIT.
let scratch = Buffer.allocUnsafe(0)

// An upper bound on the bytes `args` encode to, read from lengths only: 3 bytes per UTF-16 unit of a string. NaN for
// an argument that is neither a string nor bytes, which makes the allocation throw.
const boundCommand = (args: ReadonlyArray<string | Uint8Array>): number => {
  let bound = HEADER_BOUND
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    bound += ARGUMENT_OVERHEAD + (typeof arg === "string" ? arg.length * UTF8_PER_UNIT : arg.length)
  }
  return bound
}

// The same bound with each string's real UTF-8 length, at the cost of one pass over it: for commands too large for
// the scratch buffer, whose own buffer should not be three times the size of their text.
const boundCommandMeasured = (args: ReadonlyArray<string | Uint8Array>): number => {
  let bound = HEADER_BOUND
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    bound += ARGUMENT_OVERHEAD + (typeof arg === "string" ? Buffer.byteLength(arg, "utf8") : arg.length)
  }
  return bound
}

const scratchFor = (bound: number): Buffer => {
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(Math.min(SCRATCH_LIMIT, Math.max(bound, SCRATCH_INITIAL)))
  return scratch
}

const copyOut = (src: Buffer, length: number): Buffer => {
  const out = Buffer.allocUnsafe(length)
  src.copy(out, 0, 0, length)
  return out
}

// Writes a string's header and payload as UTF-8, `pos` being just after the "$", in one pass over the string: the
// payload is written first, after room for a header as long as the string's UTF-16 length, and moved along by one
// byte in the rare case (non-ASCII text near a power of ten) where its byte length has a digit more.
const writeUtf8 = (out: Buffer, pos: number, s: string): number => {
  const guess = digitCount(s.length)
  const start = pos + guess + 2
  const length = out.write(s, start, "utf8")
  const digits = digitCount(length)
  if (digits !== guess) out.copyWithin(start + digits - guess, start, start + length)
  pos = writeDecimal(out, pos, length)
  out[pos++] = CR
  out[pos++] = LF
  return pos + length
}

// Writes one command at `pos` and returns the position after it. `out` must hold its bound from `boundCommand`.
const writeCommand = (out: Buffer, pos: number, args: ReadonlyArray<string | Uint8Array>): number => {
  const n = args.length
  out[pos++] = T_ARRAY
  pos = writeDecimal(out, pos, n)
  out[pos++] = CR
  out[pos++] = LF
  for (let i = 0; i < n; i++) {
    const arg = args[i]!
    out[pos++] = T_BULK
    if (typeof arg !== "string") {
      pos = writeDecimal(out, pos, arg.length)
      out[pos++] = CR
      out[pos++] = LF
      out.set(arg, pos)
      pos += arg.length
    } else if (arg.length <= ASCII_LOOP_LIMIT) {
      // Command names, numbers, short keys: copied and checked for ASCII in one loop. A string that is not ASCII
      // is written again, from its header, as UTF-8.
      const length = arg.length
      const header = pos
      pos = writeDecimal(out, pos, length)
      out[pos++] = CR
      out[pos++] = LF
      let j = 0
      for (; j < length; j++) {
        const c = arg.charCodeAt(j)
        if (c >= 0x80) break
        out[pos + j] = c
      }
      pos = j === length ? pos + length : writeUtf8(out, header, arg)
    } else {
      pos = writeUtf8(out, pos, arg)
    }
    out[pos++] = CR
    out[pos++] = LF
  }
  return pos
}

/**
 * A command as the client sends it: its name and arguments, each a string (sent as UTF-8) or bytes.
 *
 * @internal
 */
export type Command = ReadonlyArray<string | Uint8Array>

/**
 * Encodes one command as a RESP array of bulk strings. Strings are written as UTF-8 and every length is a byte
 * length; `Uint8Array` arguments are written as they are, so any bytes (CR, LF, NUL…) are safe.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeCommand = (args: ReadonlyArray<string | Uint8Array>): Buffer => {
  const bound = boundCommand(args)
  if (bound <= SCRATCH_LIMIT) {
    const out = scratchFor(bound)
    return copyOut(out, writeCommand(out, 0, args))
  }
  const out = Buffer.allocUnsafe(boundCommandMeasured(args))
  return out.subarray(0, writeCommand(out, 0, args))
}

/**
 * Encodes several commands into one buffer, so a pipelined batch goes out in a single socket write.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeCommands = (commands: ReadonlyArray<ReadonlyArray<string | Uint8Array>>): Buffer => {
  let bound = 0
  for (let c = 0; c < commands.length; c++) bound += boundCommand(commands[c]!)
  let out: Buffer
  if (bound <= SCRATCH_LIMIT) {
    out = scratchFor(bound)
  } else {
    bound = 0
    for (let c = 0; c < commands.length; c++) bound += boundCommandMeasured(commands[c]!)
    out = Buffer.allocUnsafe(bound)
  }
  let pos = 0
  for (let c = 0; c < commands.length; c++) pos = writeCommand(out, pos, commands[c]!)
  return out === scratch ? copyOut(out, pos) : out.subarray(0, pos)
}
