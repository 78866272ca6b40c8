import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Buffer } from "node:buffer"
import {
  ErrorReply,
  Parser,
  type ParserOptions,
  RespMap,
  RespPush,
  RespSet,
  type RespValue,
  VerbatimString
} from "../src/Resp.js"
import { normalize, splitAt } from "./utils/RespPicture.js"
import { encodeValue } from "./utils/RespValues.js"

// Fuzzing the parser with arbitrary, RESP-shaped and mutated input (well over 100,000 inputs in all). Each input is
// parsed whole and in random chunks: neither may throw, both must terminate, and both must reach the same verdict,
// reply for reply and error message for error message. Memory held must stay within the limits.

const DEFAULT_LINE = 64 * 1024

const run = (chunks: ReadonlyArray<Uint8Array>, options: ParserOptions | undefined) => {
  const parser = new Parser(options)
  const values: Array<unknown> = []
  let error: string | undefined
  const bound = (options?.maxLineLength ?? DEFAULT_LINE) + 2 + (options?.maxBulkLength ?? 0)
  for (const chunk of chunks) {
    const e = parser.feed(chunk, (v) => values.push(normalize(v)))
    if (options?.maxBulkLength !== undefined && parser.bufferedBytes > bound) {
      throw new Error(`bufferedBytes ${parser.bufferedBytes} over ${bound}`)
    }
    if (e !== undefined) {
      if (e._tag !== "RespProtocolError") throw new Error("not a RespProtocolError")
      // feed turns any internal exception into a ProtocolError; here that would be a bug, not a verdict.
      if (e.cause !== undefined) throw new Error(`internal exception: ${e.message}`)
      error = e.message
      break
    }
  }
  return { values, error }
}

const check = (input: Uint8Array, points: ReadonlyArray<number>, options: ParserOptions | undefined): void => {
  const whole = run([input], options)
  expect(run(splitAt(input, points), options)).toEqual(whole)
}

// Small limits put the limit checks on the fuzzed paths too.
const optionsArb: fc.Arbitrary<ParserOptions | undefined> = fc.option(
  fc.record({
    maxLineLength: fc.integer({ min: 0, max: 10 }),
    maxBulkLength: fc.integer({ min: 0, max: 24 }),
    maxAggregateLength: fc.integer({ min: 0, max: 5 }),
    maxDepth: fc.integer({ min: 0, max: 4 })
  }),
  { nil: undefined }
)

const pointsArb = fc.array(fc.nat(), { maxLength: 8 })

// Mostly well-formed lines (type byte, plausible content, CRLF) with raw fragments in between, so the soup gets past
// the first line and into nested aggregates, bulk payloads and limits.
const lineArb = fc
  .tuple(
    fc.constantFrom(..."+-:$*%~>|_#,(!=?"),
    fc.constantFrom(
      "0",
      "1",
      "2",
      "3",
      "4",
      "-1",
      "t",
      "f",
      "inf",
      "-nan",
      "1.5e3",
      "OK",
      "txt:",
      "",
      "?",
      "99999999999"
    ),
    fc.constantFrom("\r\n", "\r\n", "\r\n", "\r\n", "\r", "\n", "")
  )
  .map(([type, content, end]) => type + content + end)
const fragmentArb = fc.constantFrom("\r\n", "\r", "\n", "ab", "txt:x", "\0", "\xff", " ", ".", ";", "9", "\r\n\r\n")
const respishArb = fc
  .array(fc.oneof({ weight: 5, arbitrary: lineArb }, { weight: 1, arbitrary: fragmentArb }), { maxLength: 24 })
  .map((parts) => Buffer.from(parts.join(""), "latin1"))

const leafArb: fc.Arbitrary<RespValue> = fc.oneof(
  fc.string({ maxLength: 8 }).map((s) => s.replace(/[\r\n]/g, "")),
  fc.integer(),
  fc.double(),
  fc.bigInt(),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 16 }),
  fc.string({ maxLength: 8 }).map((s) => new ErrorReply(s)),
  fc.uint8Array({ maxLength: 8 }).map((v) => new VerbatimString("txt", v))
)
const { value: valueArb } = fc.letrec<{ value: RespValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    leafArb,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.array(fc.tuple(tie("value"), tie("value")), { maxLength: 3 }).map((e) => new RespMap(e)),
    fc.array(tie("value"), { maxLength: 4 }).map((v) => new RespSet(v)),
    fc.array(tie("value"), { maxLength: 4 }).map((v) => new RespPush(v))
  )
}))

// Byte-level mutations of a valid stream: overwrite, insert, delete, truncate.
const mutationArb = fc.tuple(fc.nat(), fc.nat(255), fc.integer({ min: 0, max: 3 }))
const mutatedArb = fc
  .tuple(fc.array(valueArb, { minLength: 1, maxLength: 3 }), fc.array(mutationArb, { minLength: 1, maxLength: 4 }))
  .map(([values, mutations]) => {
    const bytes = Array.from(Buffer.concat(values.map(encodeValue)))
    for (const [at, byte, kind] of mutations) {
      const i = at % (bytes.length + 1)
      if (kind === 0 && i < bytes.length) bytes[i] = byte
      else if (kind === 1) bytes.splice(i, 0, byte)
      else if (kind === 2) bytes.splice(i, 1)
      else bytes.length = Math.max(0, Math.min(bytes.length, i + (byte & 7)))
    }
    return Buffer.from(bytes)
  })

// On a loaded machine these properties run for up to a minute together. Run synchronously they would hold the
// worker's event loop all that time, and vitest's worker, unable to read its own RPC replies, fails the run with
// "Timeout calling onTaskUpdate" though every test passed. Yielding a macrotask every few hundred inputs keeps it
// responsive; the inputs are the ones fc.property would generate.
const yielding = <Ts extends [unknown, ...Array<unknown>]>(predicate: (...args: Ts) => void) => {
  let runs = 0
  return async (...args: Ts): Promise<void> => {
    predicate(...args)
    if (++runs % 250 === 0) await new Promise<void>((resolve) => setImmediate(resolve))
  }
}

// Not a bound under test: 100,000 inputs take seconds on an idle machine and several times that on a busy one.
const fuzzTimeout = 180_000

describe("Parser fuzzing", () => {
  it("random bytes: never throws, same verdict for any chunking", () =>
    fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 48 }), pointsArb, optionsArb, yielding(check)),
      { numRuns: 30_000 }
    ), fuzzTimeout)

  it(
    "RESP-shaped token soup: never throws, same verdict for any chunking",
    () => fc.assert(fc.asyncProperty(respishArb, pointsArb, optionsArb, yielding(check)), { numRuns: 40_000 }),
    fuzzTimeout
  )

  it(
    "mutated valid streams: never throws, same verdict for any chunking",
    () => fc.assert(fc.asyncProperty(mutatedArb, pointsArb, optionsArb, yielding(check)), { numRuns: 35_000 }),
    fuzzTimeout
  )

  it("mutated valid streams one byte at a time", () =>
    fc.assert(
      fc.asyncProperty(
        mutatedArb,
        optionsArb,
        yielding((input, options) => {
          const byteWise = Array.from(input, (_, i) => input.subarray(i, i + 1))
          expect(run(byteWise, options)).toEqual(run([input], options))
        })
      ),
      { numRuns: 5_000 }
    ), fuzzTimeout)
})
