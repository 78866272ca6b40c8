import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Buffer } from "node:buffer"
import {
  encodeCommand,
  encodeCommands,
  ErrorReply,
  Parser,
  type ParserOptions,
  ProtocolError,
  RespMap,
  RespPush,
  RespSet,
  type RespValue,
  VerbatimString
} from "../src/Resp.js"
import { normalize, splitAt } from "./utils/RespPicture.js"
import { encodeValue } from "./utils/RespValues.js"

// -------------------------------------------------------------------------------------------------------------------
// helpers
// -------------------------------------------------------------------------------------------------------------------

// Latin-1 maps each char to one byte, so test streams can hold any byte.
const bytes = (s: string): Buffer => Buffer.from(s, "latin1")

interface Outcome {
  readonly values: Array<RespValue>
  readonly error: ProtocolError | undefined
}

const feedChunks = (chunks: ReadonlyArray<Uint8Array>, options?: ParserOptions): Outcome => {
  const parser = new Parser(options)
  const values: Array<RespValue> = []
  let error: ProtocolError | undefined
  for (const chunk of chunks) {
    error = parser.feed(chunk, (v) => values.push(v))
    if (error !== undefined) break
  }
  return { values, error }
}

const parse = (input: string | Uint8Array, options?: ParserOptions): Outcome =>
  feedChunks([typeof input === "string" ? bytes(input) : input], options)

const parseOne = (input: string | Uint8Array): RespValue => {
  const { error, values } = parse(input)
  expect(error).toBeUndefined()
  expect(values).toHaveLength(1)
  return values[0]!
}

const byteAtATime = (buf: Uint8Array): Array<Uint8Array> => Array.from(buf, (_, i) => buf.subarray(i, i + 1))

const picture = (o: Outcome) => ({ values: o.values.map(normalize), error: o.error?.message })

const expectProtocolError = (input: string | Uint8Array, options?: ParserOptions): ProtocolError => {
  const buf = typeof input === "string" ? bytes(input) : input
  const whole = parse(buf, options)
  expect(whole.error).toBeDefined()
  expect(whole.error!._tag).toBe("RespProtocolError")
  expect(whole.error).toBeInstanceOf(ProtocolError)
  // The same verdict, with the same message, however the bytes arrive.
  expect(picture(feedChunks(byteAtATime(buf), options))).toEqual(picture(whole))
  return whole.error!
}

// -------------------------------------------------------------------------------------------------------------------
// arbitraries
// -------------------------------------------------------------------------------------------------------------------

// Strings that survive UTF-8 (no lone surrogates).
const wellFormed = (s: string): boolean => Buffer.from(s, "utf8").toString("utf8") === s

const simpleStringArb = fc.string({ unit: "binary", maxLength: 24 }).map((s) => s.replace(/[\r\n]/g, "")).filter(
  wellFormed
)
const errorArb = fc.string({ unit: "binary", maxLength: 24 }).filter(wellFormed).map((s) => new ErrorReply(s))
const bulkArb = fc.uint8Array({ maxLength: 48 }).map((a) => Buffer.from(a) as Uint8Array)
const verbatimArb = fc
  .tuple(
    fc.oneof(
      fc.constantFrom("txt", "mkd"),
      fc.string({ unit: fc.nat(255).map((c) => String.fromCharCode(c)), minLength: 3, maxLength: 3 })
    ),
    bulkArb
  )
  .map(([format, value]) => new VerbatimString(format, value))

const leafArb: fc.Arbitrary<RespValue> = fc.oneof(
  simpleStringArb,
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER + 1, Number.MIN_VALUE),
  fc.bigInt(),
  fc.boolean(),
  fc.constant(null),
  bulkArb,
  errorArb,
  verbatimArb
)

const { value: valueArb } = fc.letrec<{ value: RespValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leafArb,
    fc.array(tie("value"), { maxLength: 5 }),
    fc.array(fc.tuple(tie("value"), tie("value")), { maxLength: 4 }).map((entries) => new RespMap(entries)),
    fc.array(tie("value"), { maxLength: 5 }).map((values) => new RespSet(values)),
    fc.array(tie("value"), { maxLength: 5 }).map((values) => new RespPush(values))
  )
}))

// -------------------------------------------------------------------------------------------------------------------
// parser: values
// -------------------------------------------------------------------------------------------------------------------

describe("Parser", () => {
  describe("RESP2 types", () => {
    it("simple strings", () => {
      expect(parseOne("+OK\r\n")).toBe("OK")
      expect(parseOne("+\r\n")).toBe("")
      expect(parseOne("+QUEUED\r\n")).toBe("QUEUED")
      expect(parseOne(Buffer.from("+héllo wörld, a longer simple string\r\n", "utf8"))).toBe(
        "héllo wörld, a longer simple string"
      )
      expect(parseOne(Buffer.from("+é\r\n", "utf8"))).toBe("é")
    })

    it("errors are values, with a code", () => {
      const e = parseOne("-ERR unknown command 'foo'\r\n")
      expect(e).toBeInstanceOf(ErrorReply)
      expect((e as ErrorReply).message).toBe("ERR unknown command 'foo'")
      expect((e as ErrorReply).code).toBe("ERR")
      expect((parseOne("-WRONGTYPE Operation against a key\r\n") as ErrorReply).code).toBe("WRONGTYPE")
      expect((parseOne("-NOAUTH Authentication required.\r\n") as ErrorReply).code).toBe("NOAUTH")
      expect((parseOne("-LOADING\r\n") as ErrorReply).code).toBe("LOADING")
      expect((parseOne("-\r\n") as ErrorReply).code).toBe("")
    })

    it("integers, within and beyond the safe range", () => {
      expect(parseOne(":0\r\n")).toBe(0)
      expect(parseOne(":1000\r\n")).toBe(1000)
      expect(parseOne(":-42\r\n")).toBe(-42)
      expect(parseOne(":+7\r\n")).toBe(7)
      expect(Object.is(parseOne(":-0\r\n"), 0)).toBe(true)
      expect(parseOne(":007\r\n")).toBe(7)
      expect(parseOne(":9007199254740991\r\n")).toBe(Number.MAX_SAFE_INTEGER)
      expect(parseOne(":-9007199254740991\r\n")).toBe(-Number.MAX_SAFE_INTEGER)
      expect(parseOne(":9007199254740992\r\n")).toBe(9007199254740992n)
      expect(parseOne(":-9007199254740993\r\n")).toBe(-9007199254740993n)
      expect(parseOne(":18446744073709551615\r\n")).toBe(18446744073709551615n)
      expect(parseOne(":-9223372036854775808\r\n")).toBe(-9223372036854775808n)
    })

    it("bulk strings are bytes", () => {
      const v = parseOne("$5\r\nhello\r\n")
      expect(Buffer.isBuffer(v)).toBe(true)
      expect((v as Buffer).toString()).toBe("hello")
      expect(parseOne("$0\r\n\r\n")).toEqual(Buffer.alloc(0))
      // CRLF and NUL inside a payload are data.
      expect(parseOne("$6\r\n\r\n\0\r\n\0\r\n")).toEqual(bytes("\r\n\0\r\n\0"))
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
      expect(parseOne(Buffer.concat([bytes("$256\r\n"), all, bytes("\r\n")]))).toEqual(all)
    })

    it("null bulk string and null array", () => {
      expect(parseOne("$-1\r\n")).toBeNull()
      expect(parseOne("*-1\r\n")).toBeNull()
    })

    it("arrays, empty and nested", () => {
      expect(parseOne("*0\r\n")).toEqual([])
      expect(normalize(parseOne("*3\r\n:1\r\n$-1\r\n*2\r\n+a\r\n*0\r\n"))).toEqual(
        normalize([1, null, ["a", []]])
      )
      expect(normalize(parseOne("*2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n"))).toEqual(normalize([bytes("foo"), bytes("bar")]))
    })

    it("bulk strings own their bytes", () => {
      const chunk = Buffer.alloc(64 * 1024, 120)
      bytes("$5\r\nhello\r\n").copy(chunk)
      const parser = new Parser()
      const values: Array<RespValue> = []
      parser.feed(chunk.subarray(0, 11), (v) => values.push(v))
      const v = values[0] as Buffer
      chunk.fill(0, 0, 11)
      expect(v.toString()).toBe("hello")
      // A small value must not keep a large socket chunk alive.
      expect(v.buffer).not.toBe(chunk.buffer)
      expect(v.buffer.byteLength).toBeLessThan(64 * 1024)
    })

    it("accepts plain Uint8Array chunks, including views with an offset", () => {
      const backing = new Uint8Array(32)
      backing.set(bytes("xx+OK\r\n:5\r\n"), 0)
      const { error, values } = feedChunks([backing.subarray(2, 7), backing.subarray(7, 11)])
      expect(error).toBeUndefined()
      expect(values).toEqual(["OK", 5])
    })
  })

  describe("RESP3 types", () => {
    it("null and booleans", () => {
      expect(parseOne("_\r\n")).toBeNull()
      expect(parseOne("#t\r\n")).toBe(true)
      expect(parseOne("#f\r\n")).toBe(false)
    })

    it("doubles, including inf, -inf, nan and -0", () => {
      expect(parseOne(",1.23\r\n")).toBe(1.23)
      expect(parseOne(",10\r\n")).toBe(10)
      expect(parseOne(",-2.5\r\n")).toBe(-2.5)
      expect(parseOne(",.5\r\n")).toBe(0.5)
      expect(parseOne(",1.5e-7\r\n")).toBe(1.5e-7)
      expect(parseOne(",1E+21\r\n")).toBe(1e21)
      expect(parseOne(",1.0000000000000001e+23\r\n")).toBe(1.0000000000000001e23)
      expect(parseOne(",inf\r\n")).toBe(Infinity)
      expect(parseOne(",+inf\r\n")).toBe(Infinity)
      expect(parseOne(",-inf\r\n")).toBe(-Infinity)
      expect(parseOne(",nan\r\n")).toBeNaN()
      expect(Object.is(parseOne(",-0\r\n"), -0)).toBe(true)
    })

    it("big numbers are bigints", () => {
      expect(parseOne("(3492890328409238509324850943850943825024385\r\n")).toBe(
        3492890328409238509324850943850943825024385n
      )
      expect(parseOne("(-1\r\n")).toBe(-1n)
      expect(parseOne("(0\r\n")).toBe(0n)
    })

    it("bulk errors", () => {
      const e = parseOne("!21\r\nSYNTAX invalid syntax\r\n")
      expect(e).toBeInstanceOf(ErrorReply)
      expect((e as ErrorReply).code).toBe("SYNTAX")
      expect((parseOne("!5\r\nA\r\nBC\r\n") as ErrorReply).message).toBe("A\r\nBC")
    })

    it("verbatim strings", () => {
      const v = parseOne("=15\r\ntxt:Some string\r\n")
      expect(v).toBeInstanceOf(VerbatimString)
      expect((v as VerbatimString).format).toBe("txt")
      expect(Buffer.from((v as VerbatimString).value).toString()).toBe("Some string")
      expect(Buffer.from((parseOne("=4\r\nmkd:\r\n") as VerbatimString).value)).toHaveLength(0)
    })

    it("maps, sets and pushes", () => {
      const m = parseOne("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n")
      expect(m).toBeInstanceOf(RespMap)
      expect((m as RespMap).entries).toEqual([["first", 1], ["second", 2]])
      const s = parseOne("~3\r\n+a\r\n:1\r\n#f\r\n")
      expect(s).toBeInstanceOf(RespSet)
      expect((s as RespSet).values).toEqual(["a", 1, false])
      const p = parseOne(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n")
      expect(p).toBeInstanceOf(RespPush)
      expect(normalize(p)).toEqual(normalize(new RespPush([bytes("message"), bytes("ch"), bytes("hi")])))
      expect(parseOne("%0\r\n")).toEqual(new RespMap([]))
      expect(parseOne("~0\r\n")).toEqual(new RespSet([]))
      expect(parseOne(">0\r\n")).toEqual(new RespPush([]))
    })

    it("pushes arrive between replies, in order", () => {
      const { values } = parse("+OK\r\n>2\r\n+message\r\n+hi\r\n:1\r\n")
      expect(values.map(normalize)).toEqual([["simple", "OK"], normalize(new RespPush(["message", "hi"])), [
        "number",
        "1"
      ]])
    })

    it("drops attributes and delivers the value they annotate", () => {
      // The example of the RESP3 specification.
      const spec = "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n" +
        "*2\r\n:2039123\r\n:9543892\r\n"
      expect(parse(spec).values).toEqual([[2039123, 9543892]])
      // Inside an aggregate the attribute is not an element.
      expect(parse("*2\r\n:1\r\n|1\r\n+a\r\n+b\r\n:2\r\n").values).toEqual([[1, 2]])
      expect(parse("|0\r\n:5\r\n|1\r\n+a\r\n|1\r\n+x\r\n+y\r\n+b\r\n:6\r\n").values).toEqual([5, 6])
      expect(parse("|1\r\n+a\r\n+b\r\n").values).toEqual([])
    })

    it("attributes count against the limits", () => {
      expectProtocolError("|3\r\n", { maxAggregateLength: 2 })
      expectProtocolError("*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n", { maxDepth: 1 })
      expect(parse("|1\r\n+a\r\n+b\r\n*1\r\n:1\r\n", { maxDepth: 1 }).values).toEqual([[1]])
    })

    it("nested aggregates of every kind", () => {
      const value = new RespMap([
        [bytes("k"), new RespSet([1, new RespPush([null, true]), [2.5, 10n]])],
        [[], new ErrorReply("ERR x")],
        [new VerbatimString("txt", bytes("v")), new RespMap([])]
      ])
      expect(normalize(parseOne(encodeValue(value)))).toEqual(normalize(value))
    })
  })

  describe("chunking", () => {
    const stream = bytes(
      "+OK\r\n-ERR bad thing\r\n:42\r\n:-12345678901234567890\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n*-1\r\n" +
        "*3\r\n$3\r\nfoo\r\n:1\r\n*1\r\n_\r\n%1\r\n+k\r\n,3.5\r\n~2\r\n#t\r\n#f\r\n>2\r\n+pubsub\r\n(123\r\n" +
        "|1\r\n+ttl\r\n:10\r\n=9\r\ntxt:hello\r\n!3\r\nE x\r\n,-inf\r\n*0\r\n"
    )
    const expected = picture(parse(stream))

    it("parses the reference stream", () => {
      expect(expected).toEqual({
        values: [
          "OK",
          new ErrorReply("ERR bad thing"),
          42,
          -12345678901234567890n,
          bytes("hello"),
          bytes(""),
          null,
          null,
          [bytes("foo"), 1, [null]],
          new RespMap([["k", 3.5]]),
          new RespSet([true, false]),
          new RespPush(["pubsub", 123n]),
          new VerbatimString("txt", bytes("hello")),
          new ErrorReply("E x"),
          -Infinity,
          []
        ].map(normalize),
        error: undefined
      })
    })

    it("gives the same replies for every split point", () => {
      for (let i = 0; i <= stream.length; i++) {
        expect(picture(feedChunks(splitAt(stream, [i])))).toEqual(expected)
      }
    })

    it("gives the same replies for every pair of split points", () => {
      for (let i = 0; i <= stream.length; i++) {
        for (let j = i; j <= stream.length; j++) {
          const outcome = feedChunks(splitAt(stream, [i, j]))
          if (outcome.values.length !== expected.values.length || outcome.error !== undefined) {
            expect(picture(outcome)).toEqual(expected)
          }
        }
      }
      expect(picture(feedChunks(splitAt(stream, [17, 99])))).toEqual(expected)
    })

    it("gives the same replies one byte at a time", () => {
      expect(picture(feedChunks(byteAtATime(stream)))).toEqual(expected)
    })

    it("reports the bytes it holds", () => {
      const parser = new Parser()
      const values: Array<RespValue> = []
      expect(parser.feed(bytes("+PAR"), (v) => values.push(v))).toBeUndefined()
      expect(parser.bufferedBytes).toBe(4)
      parser.feed(bytes("TIAL\r\n$10\r\n0123"), (v) => values.push(v))
      expect(values).toEqual(["PARTIAL"])
      expect(parser.bufferedBytes).toBe(4)
      parser.feed(bytes("456789\r"), (v) => values.push(v))
      expect(parser.bufferedBytes).toBe(10)
      parser.feed(bytes("\n"), (v) => values.push(v))
      expect(parser.bufferedBytes).toBe(0)
      expect(values).toHaveLength(2)
    })

    it("takes a 16 MiB bulk string in 64 KiB chunks", () => {
      const size = 16 * 1024 * 1024
      const payload = Buffer.allocUnsafe(size)
      for (let i = 0; i < size; i += 4096) payload[i] = (i >> 12) & 0xff
      const wire = Buffer.concat([bytes(`$${size}\r\n`), payload, bytes("\r\n:7\r\n")])
      const parser = new Parser()
      const values: Array<RespValue> = []
      let maxBuffered = 0
      for (let i = 0; i < wire.length; i += 64 * 1024) {
        expect(parser.feed(wire.subarray(i, i + 64 * 1024), (v) => values.push(v))).toBeUndefined()
        maxBuffered = Math.max(maxBuffered, parser.bufferedBytes)
      }
      expect(values).toHaveLength(2)
      expect(Buffer.compare(values[0] as Buffer, payload)).toBe(0)
      expect(values[1]).toBe(7)
      expect(maxBuffered).toBeLessThanOrEqual(size)
    })

    it("builds a 10,000-value MGET reply arriving in small pieces", () => {
      const values = Array.from({ length: 10_000 }, (_, i) => Buffer.alloc(100, i & 0xff))
      const wire = encodeValue(values)
      for (const size of [1024, 7, 64 * 1024]) {
        const chunks: Array<Uint8Array> = []
        for (let i = 0; i < wire.length; i += size) chunks.push(wire.subarray(i, i + size))
        const outcome = feedChunks(chunks)
        expect(outcome.error).toBeUndefined()
        expect(outcome.values).toHaveLength(1)
        const reply = outcome.values[0] as ReadonlyArray<Buffer>
        expect(reply).toHaveLength(10_000)
        expect(reply[9_999]).toEqual(values[9_999])
      }
    })

    it("parses many small replies from one chunk", () => {
      const wire = Buffer.concat(Array.from({ length: 1000 }, (_, i) => bytes(`+OK\r\n:${i}\r\n$3\r\nabc\r\n`)))
      const { error, values } = parse(wire)
      expect(error).toBeUndefined()
      expect(values).toHaveLength(3000)
      expect(values[2998]).toBe(999)
    })

    it("no value aliases a fed chunk: a caller may overwrite it once feed returns, at any split", () => {
      // A socket read into one reused buffer does exactly that; a 40-byte payload takes the copy by call, a
      // 3-byte one the copy by loop.
      const wire = Buffer.concat([
        stream,
        bytes(`$40\r\n${"p".repeat(40)}\r\n$3\r\nabc\r\n*2\r\n$40\r\n${"q".repeat(40)}\r\n=8\r\ntxt:xyzw\r\n`)
      ])
      const reference = picture(parse(wire))
      for (let size = 1; size <= wire.length; size += size < 16 ? 1 : 7) {
        const parser = new Parser()
        const values: Array<RespValue> = []
        const reused = Buffer.alloc(size)
        for (let at = 0; at < wire.length; at += size) {
          const n = wire.copy(reused, 0, at, Math.min(wire.length, at + size))
          expect(parser.feed(reused.subarray(0, n), (v) => values.push(v))).toBeUndefined()
          reused.fill(0x21)
        }
        expect({ values: values.map(normalize), error: undefined }).toEqual(reference)
      }
    })
  })

  describe("protocol violations", () => {
    it("a peer that is not Redis is named from the first byte alone: HTTP, TLS, SSH", () => {
      expect(expectProtocolError("HTTP/1.1 400 Bad Request\r\n\r\n").message).toBe(
        "unknown RESP type byte \"H\" (0x48): not a Redis server (HTTP?)"
      )
      expect(expectProtocolError(new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32])).message).toContain(
        "the server speaks TLS"
      )
      expect(expectProtocolError("SSH-2.0-OpenSSH_9.6\r\n").message).toContain("(SSH?)")
      // Any other stranger byte: no guess.
      expect(expectProtocolError("Z\r\n").message).toBe("unknown RESP type byte \"Z\" (0x5a)")
    })

    const cases: ReadonlyArray<readonly [string, string, ParserOptions?]> = [
      ["unknown type byte", "x\r\n"],
      ["unknown type byte after a reply", "+OK\r\n@\r\n"],
      ["streamed type byte", "?\r\n"],
      ["streamed bulk string", "$?\r\n;4\r\nabcd\r\n;0\r\n"],
      ["streamed array", "*?\r\n:1\r\n.\r\n"],
      ["non-numeric bulk length", "$abc\r\n"],
      ["empty bulk length", "$\r\n"],
      ["non-numeric array length", "*1a\r\n"],
      ["signed length", "$+5\r\nhello\r\n"],
      ["negative bulk length", "$-2\r\n"],
      ["negative array length", "*-5\r\n"],
      ["null map", "%-1\r\n"],
      ["null set", "~-1\r\n"],
      ["null push", ">-1\r\n"],
      ["null attribute", "|-1\r\n"],
      ["null bulk error", "!-1\r\n"],
      ["null verbatim", "=-1\r\n"],
      ["bulk payload longer than declared", "$3\r\nabcd\r\n"],
      ["bulk payload followed by CR and junk", "$3\r\nabc\rX"],
      ["bulk payload without CR", "$3\r\nabc\n"],
      ["verbatim string too short", "=3\r\nabc\r\n"],
      ["verbatim string without a colon", "=5\r\ntxtab\r\n"],
      ["number line too long without CRLF", ":" + "1".repeat(65 * 1024)],
      ["simple string over maxBulkLength", "+aaaaaaaaaaa", { maxLineLength: 8, maxBulkLength: 10 }],
      ["error over maxBulkLength", "-ERRaaaaaaaa", { maxLineLength: 8, maxBulkLength: 10 }],
      ["integer line over a small limit", ":123456789", { maxLineLength: 8 }],
      ["length line over a small limit", "*123456789\r\n", { maxLineLength: 8 }],
      ["bulk over maxBulkLength", "$11\r\n", { maxBulkLength: 10 }],
      ["bulk over the default maxBulkLength", `$${512 * 1024 * 1024 + 1}\r\n`],
      ["absurd bulk length", "$99999999999999999999999999999\r\n"],
      ["array over maxAggregateLength", "*11\r\n", { maxAggregateLength: 10 }],
      ["map over maxAggregateLength", "%11\r\n", { maxAggregateLength: 10 }],
      ["set over maxAggregateLength", "~11\r\n", { maxAggregateLength: 10 }],
      ["push over maxAggregateLength", ">11\r\n", { maxAggregateLength: 10 }],
      ["depth over maxDepth", "*1\r\n*1\r\n*1\r\n:1\r\n", { maxDepth: 2 }],
      ["empty aggregate over maxDepth", "*1\r\n*1\r\n%0\r\n", { maxDepth: 2 }],
      ["depth over the default maxDepth", "*1\r\n".repeat(65)],
      ["bad boolean", "#x\r\n"],
      ["long boolean", "#tt\r\n"],
      ["empty boolean", "#\r\n"],
      ["bad double", ",abc\r\n"],
      ["empty double", ",\r\n"],
      ["double with two dots", ",1.2.3\r\n"],
      ["double with a space", ", 1\r\n"],
      ["hex double", ",0x10\r\n"],
      ["JavaScript Infinity", ",Infinity\r\n"],
      ["bad integer", ":abc\r\n"],
      ["empty integer", ":\r\n"],
      ["lone sign", ":-\r\n"],
      ["fractional integer", ":1.5\r\n"],
      ["integer with a space", ": 1\r\n"],
      ["bad big number", "(1.5\r\n"],
      ["empty big number", "(\r\n"],
      ["null with content", "_x\r\n"],
      ["LF without CR", "+OK\n"],
      ["CR without LF", "+O\rK\r\n"]
    ]

    for (const [name, input, options] of cases) {
      it(`rejects: ${name}`, () => {
        const error = expectProtocolError(input, options)
        expect(error.message.length).toBeGreaterThan(0)
      })
    }

    it("simple strings and errors longer than maxLineLength (a long Lua error, an ACL error quoting a rule)", () => {
      const long = "x".repeat(70_000)
      const input = `-ERR ${long}\r\n+${long}\r\n:1\r\n`
      for (const chunk of [input.length, 1000, 7]) {
        const parser = new Parser()
        const values: Array<RespValue> = []
        for (let i = 0; i < input.length; i += chunk) {
          expect(parser.feed(bytes(input.slice(i, i + chunk)), (value) => values.push(value))).toBeUndefined()
        }
        expect(values).toEqual([new ErrorReply(`ERR ${long}`), long, 1])
      }
    })

    it("names the limit a declared length exceeds", () => {
      expect(expectProtocolError("$11\r\n", { maxBulkLength: 10 }).message).toBe(
        "bulk length 11 exceeds maxBulkLength (10)"
      )
      expect(expectProtocolError("%11\r\n", { maxAggregateLength: 10 }).message).toBe(
        "aggregate length 11 exceeds maxAggregateLength (10)"
      )
    })

    it("accepts lines and bulks right at the limits", () => {
      const options = { maxLineLength: 8, maxBulkLength: 10, maxAggregateLength: 10, maxDepth: 2 }
      expect(parse("+aaaaaaaa\r\n", options).values).toEqual(["aaaaaaaa"])
      expect(parse("$10\r\n0123456789\r\n", options).error).toBeUndefined()
      expect(parse("*10\r\n" + ":1\r\n".repeat(10), options).values).toEqual([Array(10).fill(1)])
      expect(parse("*1\r\n*1\r\n:1\r\n", options).values).toEqual([[[1]]])
      expect(parse("+" + "a".repeat(64 * 1024) + "\r\n").error).toBeUndefined()
      expect(parse("*1\r\n".repeat(64) + ":1\r\n").error).toBeUndefined()
    })

    it("refuses limits that would disable a bound", () => {
      expect(() => new Parser({ maxLineLength: NaN })).toThrow(RangeError)
      expect(() => new Parser({ maxDepth: -1 })).toThrow(RangeError)
      expect(() => new Parser({ maxBulkLength: Infinity })).not.toThrow()
    })

    it("rejects a huge declared bulk length before buffering anything", () => {
      const parser = new Parser({ maxBulkLength: 1024 })
      const error = parser.feed(bytes("$1025\r\nabc"), () => {})
      expect(error?._tag).toBe("RespProtocolError")
      expect(parser.bufferedBytes).toBe(0)
    })

    it("delivers the replies before the violation", () => {
      const { error, values } = parse("+OK\r\n:1\r\n*2\r\n:2\r\nX")
      expect(values).toEqual(["OK", 1])
      expect(error?._tag).toBe("RespProtocolError")
    })

    it("is poisoned until reset", () => {
      const parser = new Parser()
      const values: Array<RespValue> = []
      const error = parser.feed(bytes("+OK\r\n:x\r\n+LOST\r\n"), (v) => values.push(v))
      expect(error?._tag).toBe("RespProtocolError")
      expect(parser.feed(bytes("+OK\r\n"), (v) => values.push(v))).toBe(error)
      expect(parser.feed(bytes(""), (v) => values.push(v))).toBe(error)
      expect(parser.bufferedBytes).toBe(0)
      expect(values).toEqual(["OK"])
      parser.reset()
      expect(parser.feed(bytes("+AGAIN\r\n"), (v) => values.push(v))).toBeUndefined()
      expect(values).toEqual(["OK", "AGAIN"])
    })

    it("reset forgets a partial reply", () => {
      const parser = new Parser()
      const values: Array<RespValue> = []
      parser.feed(bytes("*2\r\n:1\r\n$5\r\nab"), (v) => values.push(v))
      expect(parser.bufferedBytes).toBe(2)
      parser.reset()
      expect(parser.bufferedBytes).toBe(0)
      parser.feed(bytes(":3\r\n"), (v) => values.push(v))
      expect(values).toEqual([3])
    })

    it("an exception thrown by onReply becomes a ProtocolError, never an escape", () => {
      const parser = new Parser()
      const boom = new Error("boom")
      const error = parser.feed(bytes("+OK\r\n+NEXT\r\n"), () => {
        throw boom
      })
      expect(error?._tag).toBe("RespProtocolError")
      expect(error?.cause).toBe(boom)
      expect(parser.feed(bytes("+OK\r\n"), () => {})).toBe(error)
    })

    it("reset from inside onReply discards the rest of the chunk", () => {
      const parser = new Parser()
      const values: Array<RespValue> = []
      const error = parser.feed(bytes("+FIRST\r\n+SECOND\r\n"), (v) => {
        values.push(v)
        parser.reset()
      })
      expect(error).toBeUndefined()
      expect(values).toEqual(["FIRST"])
      expect(parser.bufferedBytes).toBe(0)
    })
  })
})

// -------------------------------------------------------------------------------------------------------------------
// encoders
// -------------------------------------------------------------------------------------------------------------------

const commandFromWire = (wire: Uint8Array): Array<Buffer> => {
  const v = parseOne(wire)
  expect(Array.isArray(v)).toBe(true)
  return v as Array<Buffer>
}

describe("encodeCommand", () => {
  it("writes an array of bulk strings", () => {
    expect(encodeCommand(["SET", "key", "value"]).toString("latin1")).toBe(
      "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
    )
    expect(encodeCommand(["PING"]).toString("latin1")).toBe("*1\r\n$4\r\nPING\r\n")
    expect(encodeCommand([]).toString("latin1")).toBe("*0\r\n")
    expect(encodeCommand([""]).toString("latin1")).toBe("*1\r\n$0\r\n\r\n")
  })

  it("writes binary arguments with every byte value", () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    const wire = encodeCommand(["SET", "k", all, new Uint8Array(all)])
    expect(wire.toString("latin1", 0, 30)).toBe("*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$256\r\n\x00\x01\x02\x03")
    expect(commandFromWire(wire)).toEqual([bytes("SET"), bytes("k"), all, all])
  })

  it("uses UTF-8 byte lengths for multi-byte strings", () => {
    const args = ["héllo", "日本語", "😀", "a\u0000b", "x\r\ny", "é".repeat(40), "a".repeat(31) + "€", "\ud800"]
    const wire = encodeCommand(args)
    expect(wire.toString("latin1", 0, 13)).toBe("*8\r\n$6\r\nh\xc3\xa9ll")
    expect(commandFromWire(wire)).toEqual(args.map((s) => Buffer.from(s, "utf8")))
  })

  it("keeps CRLF and NUL inside arguments as data", () => {
    expect(encodeCommand(["\r\n", "\0", "*1\r\n$1\r\n"]).toString("latin1")).toBe(
      "*3\r\n$2\r\n\r\n\r\n$1\r\n\0\r\n$8\r\n*1\r\n$1\r\n\r\n"
    )
  })

  it("handles long ASCII arguments and many arguments", () => {
    const long = "v".repeat(100_000)
    const many = Array.from({ length: 1000 }, (_, i) => `key:${i}`)
    expect(commandFromWire(encodeCommand(["SET", "k", long]))[2]!.toString()).toBe(long)
    expect(commandFromWire(encodeCommand(["MGET", ...many])).map(String)).toEqual(["MGET", ...many])
  })

  it("writes strings on each side of the ASCII loop's limit and at key lengths, ASCII or not", () => {
    const args = [11, 12, 13, 63, 64, 65].flatMap((
      n
    ) => ["a".repeat(n), "a".repeat(n - 1) + "é", "é" + "a".repeat(n - 1)])
    expect(commandFromWire(encodeCommand(args))).toEqual(args.map((s) => Buffer.from(s, "utf8")))
  })

  it("writes strings whose UTF-8 length has more digits than their UTF-16 length", () => {
    const args = ["é".repeat(5), "😀".repeat(3), "é".repeat(50), "€".repeat(40), "é".repeat(500), "€".repeat(4000)]
    const wire = encodeCommand(args)
    expect(wire.toString("latin1", 0, 8)).toBe("*6\r\n$10\r")
    expect(commandFromWire(wire)).toEqual(args.map((s) => Buffer.from(s, "utf8")))
  })

  it("writes commands past the scratch buffer's limit into a buffer of their own, exactly", () => {
    const big = Buffer.alloc(200 * 1024, 7)
    const text = "é".repeat(50_000) + "€"
    const args = ["SET", "k", big, text, "tail"]
    const wire = encodeCommand(args)
    const header = (s: string | Uint8Array) => `$${typeof s === "string" ? Buffer.byteLength(s) : s.length}\r\n`
    expect(wire.length).toBe(
      "*5\r\n".length + args.reduce((n, a) => n + header(a).length + Buffer.byteLength(a as string) + 2, 0)
    )
    expect(commandFromWire(wire)).toEqual([bytes("SET"), bytes("k"), big, Buffer.from(text, "utf8"), bytes("tail")])
    // The scratch buffer is still right for the small commands that follow.
    expect(encodeCommand(["GET", "k"]).toString("latin1")).toBe("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
  })

  it("round-trips any arguments", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ unit: "binary" }), fc.string(), fc.uint8Array({ maxLength: 80 })), {
          maxLength: 8
        }),
        (args) => {
          const wire = encodeCommand(args)
          expect(commandFromWire(wire)).toEqual(
            args.map((a) => typeof a === "string" ? Buffer.from(a, "utf8") : Buffer.from(a))
          )
        }
      ),
      { numRuns: 500 }
    )
  })
})

describe("encodeCommands", () => {
  it("writes a batch as the concatenation of its commands", () => {
    const commands = [["SET", "a", "1"], ["GET", "é".repeat(70)], [], [Buffer.from([0, 13, 10])], ["PING"]]
    expect(encodeCommands(commands)).toEqual(Buffer.concat(commands.map(encodeCommand)))
    expect(encodeCommands([])).toHaveLength(0)
    const many = Array.from({ length: 300 }, (_, i) => ["SET", `k${i}`, "v".repeat(i)])
    expect(encodeCommands(many)).toEqual(Buffer.concat(many.map(encodeCommand)))
    // Over the scratch buffer's limit: written into a buffer of its own.
    const large = Array.from({ length: 100 }, (_, i) => ["SET", `k${i}`, "é".repeat(1000 + i)])
    expect(encodeCommands(large).equals(Buffer.concat(large.map(encodeCommand)))).toBe(true)
  })
})

describe("encodeValue", () => {
  it("writes the RESP3 wire form", () => {
    const wire = (v: RespValue) => encodeValue(v).toString("latin1")
    expect(wire("OK")).toBe("+OK\r\n")
    expect(wire(42)).toBe(":42\r\n")
    expect(wire(-7)).toBe(":-7\r\n")
    expect(wire(1.5)).toBe(",1.5\r\n")
    expect(wire(-0)).toBe(",-0\r\n")
    expect(wire(NaN)).toBe(",nan\r\n")
    expect(wire(Infinity)).toBe(",inf\r\n")
    expect(wire(-Infinity)).toBe(",-inf\r\n")
    expect(wire(2 ** 60)).toBe(",1152921504606847000\r\n")
    expect(wire(12n)).toBe("(12\r\n")
    expect(wire(true)).toBe("#t\r\n")
    expect(wire(null)).toBe("_\r\n")
    expect(wire(bytes("a\r\nb"))).toBe("$4\r\na\r\nb\r\n")
    expect(wire(new ErrorReply("ERR x"))).toBe("-ERR x\r\n")
    expect(wire(new ErrorReply("ERR\r\nx"))).toBe("!6\r\nERR\r\nx\r\n")
    expect(wire(new VerbatimString("txt", bytes("hi")))).toBe("=6\r\ntxt:hi\r\n")
    expect(wire(new RespMap([["a", 1]]))).toBe("%1\r\n+a\r\n:1\r\n")
    expect(wire(new RespSet([]))).toBe("~0\r\n")
    expect(wire(new RespPush([true]))).toBe(">1\r\n#t\r\n")
    expect(wire([[], "x"])).toBe("*2\r\n*0\r\n+x\r\n")
  })

  it("refuses values with no wire form", () => {
    expect(() => encodeValue("a\r\nb")).toThrow(TypeError)
    expect(() => encodeValue(["a\nb"])).toThrow(TypeError)
    expect(() => encodeValue(new VerbatimString("text", bytes("x")))).toThrow(TypeError)
    expect(() => encodeValue(new VerbatimString("日本語", bytes("x")))).toThrow(TypeError)
  })
})

// -------------------------------------------------------------------------------------------------------------------
// properties
// -------------------------------------------------------------------------------------------------------------------

describe("properties", () => {
  it("encodeValue then Parser gives back the value", () => {
    fc.assert(
      fc.property(valueArb, (value) => {
        expect(normalize(parseOne(encodeValue(value)))).toEqual(normalize(value))
      }),
      { numRuns: 2000 }
    )
  })

  it("every chunking of a stream gives the same replies", () => {
    const streamArb = fc.array(valueArb, { minLength: 1, maxLength: 6 }).chain((values) => {
      const wire = Buffer.concat(values.map(encodeValue))
      return fc.tuple(
        fc.constant(values),
        fc.constant(wire),
        fc.uniqueArray(fc.integer({ min: 0, max: wire.length }), { maxLength: 12 })
      )
    })
    fc.assert(
      fc.property(streamArb, ([values, wire, points]) => {
        const expected = values.map(normalize)
        expect(picture(feedChunks(splitAt(wire, points)))).toEqual({ values: expected, error: undefined })
        expect(picture(feedChunks(byteAtATime(wire)))).toEqual({ values: expected, error: undefined })
      }),
      { numRuns: 500 }
    )
  })
})
