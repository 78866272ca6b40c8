/**
 * An incremental parser of memcached's meta replies over socket chunks: a reply may be split anywhere across
 * chunks, and one chunk may hold several replies. It never throws and never waits for more than a bounded line:
 * anything that is not a meta reply is a protocol failure, after which the parser refuses every later chunk (the
 * connection is closed: its stream position is unknown).
 *
 * @internal
 */
import { Buffer } from "node:buffer"
import { type MetaReply, type MetaStatus, noFlags, type ReturnFlags } from "./meta.js"

/**
 * A violation of the protocol, with what was wrong.
 *
 * @internal
 */
export interface MetaProtocolFailure {
  readonly message: string
}

/**
 * Bounds on what the parser accepts, so a broken peer cannot make it hold unbounded memory.
 *
 * @internal
 */
export interface MetaParserOptions {
  /** The longest reply line, CRLF excluded (default 8 KiB: a meta line is a status and a few flags). */
  readonly maxLineLength?: number | undefined
  /** The largest value of a `VA` reply (default 1 GiB, memcached's own largest `-I`). */
  readonly maxValueLength?: number | undefined
}

const statuses: ReadonlySet<string> = new Set(["HD", "VA", "EN", "NF", "NS", "EX", "MN"])

const DIGITS = /^[0-9]+$/
const SIGNED = /^-?[0-9]+$/

/**
 * The flags of a reply line's tokens after its status (and size), or a failure.
 *
 * @internal
 */
export const parseReturnFlags = (tokens: ReadonlyArray<string>, from: number): ReturnFlags | string => {
  const flags = noFlags()
  for (let i = from; i < tokens.length; i++) {
    const token = tokens[i]!
    const letter = token.charCodeAt(0)
    const isLetter = (letter >= 65 && letter <= 90) || (letter >= 97 && letter <= 122)
    if (!isLetter) return `a return flag must start with a letter, got ${JSON.stringify(token.slice(0, 40))}`
    const rest = token.slice(1)
    switch (token[0]) {
      case "W":
        flags.win = true
        break
      case "Z":
        flags.alreadyWon = true
        break
      case "X":
        flags.stale = true
        break
      case "b":
        flags.base64 = true
        break
      case "t":
        if (!SIGNED.test(rest)) return `bad TTL flag ${JSON.stringify(token.slice(0, 40))}`
        flags.ttl = Number(rest)
        break
      case "c":
        if (!DIGITS.test(rest) || rest.length > 20) return `bad CAS flag ${JSON.stringify(token.slice(0, 40))}`
        flags.cas = BigInt(rest)
        break
      case "f":
        if (!DIGITS.test(rest) || rest.length > 10) return `bad client flags ${JSON.stringify(token.slice(0, 40))}`
        flags.clientFlags = Number(rest)
        break
      case "s":
        if (!DIGITS.test(rest) || rest.length > 15) return `bad size flag ${JSON.stringify(token.slice(0, 40))}`
        flags.size = Number(rest)
        break
      case "h":
        if (rest !== "0" && rest !== "1") return `bad hit flag ${JSON.stringify(token.slice(0, 40))}`
        flags.hit = rest === "1"
        break
      case "l":
        if (!DIGITS.test(rest) || rest.length > 15) return `bad last-access flag ${JSON.stringify(token.slice(0, 40))}`
        flags.lastAccess = Number(rest)
        break
      case "k":
        flags.key = rest
        break
      case "O":
        flags.opaque = rest
        break
      default:
        // A flag this client does not know (a newer server's): ignored, as the protocol intends.
        break
    }
  }
  return flags
}

/**
 * The parser. `feed` hands it each chunk as it is read; the chunk may be reused by the caller once `feed` returns
 * (whatever the parser keeps, it copies).
 *
 * @internal
 */
export class MetaParser {
  private readonly maxLineLength: number
  private readonly maxValueLength: number
  /** Bytes of a line whose LF has not arrived yet. */
  private partial: Buffer | undefined = undefined
  /** The `VA` reply whose data block is being received, and the block (value and its CRLF). */
  private header: { readonly flags: ReturnFlags } | undefined = undefined
  private block: Buffer | undefined = undefined
  private filled = 0
  private failure: MetaProtocolFailure | undefined = undefined

  constructor(options?: MetaParserOptions) {
    this.maxLineLength = options?.maxLineLength ?? 8192
    this.maxValueLength = options?.maxValueLength ?? 1024 * 1024 * 1024
  }

  /** Bytes held waiting for the rest of their reply. */
  get bufferedBytes(): number {
    return (this.partial?.length ?? 0) + this.filled
  }

  /**
   * Consumes a chunk, calling `onReply` for every complete reply in order. Returns the failure when the bytes are
   * not meta replies (then and on every later call, without calling `onReply` again).
   */
  feed(chunk: Uint8Array, onReply: (reply: MetaReply) => void): MetaProtocolFailure | undefined {
    if (this.failure !== undefined) return this.failure
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    let pos = 0
    if (this.partial !== undefined && this.block === undefined) {
      data = Buffer.concat([this.partial, data])
      this.partial = undefined
    }
    while (pos < data.length) {
      if (this.block !== undefined) {
        pos = this.fillBlock(data, pos, onReply)
        if (this.failure !== undefined) return this.failure
        continue
      }
      const lf = data.indexOf(10, pos)
      if (lf === -1) {
        if (data.length - pos > this.maxLineLength + 1) return this.fail("a reply line is longer than the limit")
        this.partial = Buffer.from(data.subarray(pos))
        return undefined
      }
      if (lf === pos || data[lf - 1] !== 13) return this.fail("a reply line does not end with CRLF")
      if (lf - 1 - pos > this.maxLineLength) return this.fail("a reply line is longer than the limit")
      const line = data.toString("latin1", pos, lf - 1)
      pos = lf + 1
      this.onLine(line, onReply)
      if (this.failure !== undefined) return this.failure
    }
    return undefined
  }

  private fillBlock(data: Buffer, pos: number, onReply: (reply: MetaReply) => void): number {
    const block = this.block!
    const take = Math.min(block.length - this.filled, data.length - pos)
    data.copy(block, this.filled, pos, pos + take)
    this.filled += take
    if (this.filled < block.length) return pos + take
    const size = block.length - 2
    if (block[size] !== 13 || block[size + 1] !== 10) {
      this.fail("a value's data block does not end with CRLF")
      return data.length
    }
    const flags = this.header!.flags
    this.block = undefined
    this.header = undefined
    this.filled = 0
    onReply({ _tag: "Status", status: "VA", flags, value: block.subarray(0, size) })
    return pos + take
  }

  private onLine(line: string, onReply: (reply: MetaReply) => void): void {
    const space = line.indexOf(" ")
    const word = space === -1 ? line : line.slice(0, space)
    if (word === "CLIENT_ERROR" || word === "SERVER_ERROR" || word === "ERROR") {
      onReply({ _tag: "Error", kind: word, message: space === -1 ? "" : line.slice(space + 1) })
      return
    }
    if (!statuses.has(word)) {
      this.fail(`not a meta reply: ${JSON.stringify(line.slice(0, 60))}`)
      return
    }
    const tokens = line.split(" ")
    if (tokens.some((token) => token.length === 0)) {
      this.fail(`an empty token in ${JSON.stringify(line.slice(0, 60))}`)
      return
    }
    if (word === "VA") {
      const sizeText = tokens[1]
      if (sizeText === undefined || !DIGITS.test(sizeText) || sizeText.length > 12) {
        this.fail(`a VA reply without a valid size: ${JSON.stringify(line.slice(0, 60))}`)
        return
      }
      const size = Number(sizeText)
      if (size > this.maxValueLength) {
        this.fail(`a value of ${size} bytes is over the limit of ${this.maxValueLength}`)
        return
      }
      const flags = parseReturnFlags(tokens, 2)
      if (typeof flags === "string") {
        this.fail(flags)
        return
      }
      this.header = { flags }
      this.block = Buffer.allocUnsafe(size + 2)
      this.filled = 0
      return
    }
    const flags = parseReturnFlags(tokens, 1)
    if (typeof flags === "string") {
      this.fail(flags)
      return
    }
    onReply({ _tag: "Status", status: word as MetaStatus, flags })
  }

  private fail(message: string): MetaProtocolFailure {
    this.failure = { message }
    this.partial = undefined
    this.block = undefined
    this.header = undefined
    this.filled = 0
    return this.failure
  }
}
