import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import * as Entry from "../../src/internal/tiered/entry.js"
import * as Serializer from "../../src/Serializer.js"

// A serializer of raw bytes: the only kind whose output may start with the magic (v8 starts with 0xFF, and no UTF-8
// text has 0x54 after 0xE7).
const bytesOnly = (value: unknown): Either.Either<Uint8Array, Serializer.SerializationError> =>
  value instanceof Uint8Array
    ? Either.right(Uint8Array.from(value))
    : Either.left(new Serializer.SerializationError({ direction: "encode", message: "bytes only" }))
const bytesSync = Serializer.make({
  name: "bytes",
  encodeSync: bytesOnly,
  decodeSync: (bytes) => Either.right(Uint8Array.from(bytes))
})
// The same without the synchronous forms, so that the wrapper takes its Effect path (as for a schema).
const bytesAsync: Serializer.SerializerShape = {
  name: "bytes-async",
  encode: (value) => Effect.suspend(() => bytesOnly(value)),
  decode: (bytes) => Effect.sync(() => Uint8Array.from(bytes))
}

const encode = (serializer: Serializer.SerializerShape, value: unknown) =>
  Effect.runSync(Effect.either(serializer.encode(value)))
const decode = (serializer: Serializer.SerializerShape, bytes: Uint8Array) =>
  Effect.runSync(Effect.either(serializer.decode(bytes)))
const roundTrip = (serializer: Serializer.SerializerShape, value: unknown) =>
  Either.flatMap(encode(serializer, value), (bytes) => decode(serializer, bytes))
const encoded = (serializer: Serializer.SerializerShape, value: unknown): Uint8Array =>
  Either.getOrThrow(encode(serializer, value))

const parts = (u: unknown) => {
  expect(u).toBeInstanceOf(Entry.TieredEntry)
  const e = u as Entry.TieredEntry
  return [e.value, e.createdAt, e.freshUntil, e.graceUntil, e.tags]
}

const wrappedSerializers = [
  ["v8 (sync path)", Entry.wrap(Serializer.v8)],
  ["schema (Effect path)", Entry.wrap(Serializer.schema(Schema.Unknown))]
] as const

/** The header of `bytes` (an encoded entry) with its three times replaced. */
const withTimes = (bytes: Uint8Array, c: number, f: number, g: number): Uint8Array => {
  const copy = Uint8Array.from(bytes)
  const view = new DataView(copy.buffer)
  view.setFloat64(4, c)
  view.setFloat64(12, f)
  view.setFloat64(20, g)
  return copy
}

const badTimes: ReadonlyArray<readonly [string, number, number, number]> = [
  ["createdAt NaN", NaN, 10, 20],
  ["createdAt Infinity", Infinity, 10, 20],
  ["createdAt -Infinity", -Infinity, 10, 20],
  ["freshUntil NaN", 5, NaN, 20],
  ["freshUntil -Infinity", 5, -Infinity, 20],
  ["graceUntil NaN", 5, 10, NaN],
  ["graceUntil -Infinity", 5, 10, -Infinity],
  ["grace ending before freshness", 5, 10, 9],
  ["finite grace after endless freshness", 5, Infinity, 20]
]

describe("entry header: invalid times", () => {
  for (const [label, serializer] of wrappedSerializers) {
    for (const [what, c, f, g] of badTimes) {
      it(`${label}: a binary header with ${what} fails to decode`, () => {
        const good = encoded(serializer, new Entry.TieredEntry("v", 5, 10, 20, ["t"]))
        expect(Either.isRight(decode(serializer, good))).toBe(true)
        const result = decode(serializer, withTimes(good, c, f, g))
        expect(Either.isLeft(result)).toBe(true)
        const error = Either.getLeft(result).pipe((o) => o._tag === "Some" ? o.value : undefined)
        expect(error).toBeInstanceOf(Serializer.SerializationError)
        expect(error?.direction).toBe("decode")
      })
    }
    it(`${label}: an entry with invalid times is refused when encoded, not written unreadable`, () => {
      for (const [, c, f, g] of badTimes) {
        const result = encode(serializer, new Entry.TieredEntry("v", c, f, g, []))
        expect(Either.isLeft(result) && result.left.direction === "encode").toBe(true)
      }
    })
  }

  it("the object form with invalid times is a corrupt entry, never a plain value", () => {
    // v8 carries NaN and -Infinity in the object form; JSON cannot, but its fields can be mistyped.
    for (const [, c, f, g] of badTimes) {
      const stored = Either.getOrThrow(roundTrip(Serializer.v8, new Entry.TieredEntry("v", c, f, g, [])))
      expect(Entry.fromStored(stored)).toBeUndefined()
      expect(Entry.readStored(stored)).toBe(Entry.CorruptEntry)
    }
    const bad: ReadonlyArray<unknown> = [
      { "~tiered": 1, c: 5, f: "soon", g: null, t: [], v: 1 },
      { "~tiered": 1, c: null, f: null, g: null, t: [], v: 1 },
      { "~tiered": 1, c: 5, f: 10, g: 9, t: [], v: 1 },
      { "~tiered": 1, c: 5, f: null, g: 20, t: [], v: 1 },
      { "~tiered": 1, c: 5, f: null, g: null, t: [1], v: 1 },
      { "~tiered": 1, c: 5, f: null, g: null, t: "t", v: 1 },
      { "~tiered": 1, c: 5, f: null, g: null, t: [] },
      { "~tiered": 2, c: 5, f: null, g: null, t: [], v: 1 }
    ]
    for (const stored of bad) expect(Entry.readStored(stored)).toBe(Entry.CorruptEntry)
  })

  it("the object form: valid entries are read, values without the marker stay plain", () => {
    const entry = Entry.readStored({ "~tiered": 1, c: 5, f: 10, g: null, t: ["a"], v: { x: 1 } })
    expect(parts(entry)).toStrictEqual([{ x: 1 }, 5, 10, Infinity, ["a"]])
    for (const plain of [1, "s", null, undefined, [1], { a: 1 }, { "~tiered": "1" }, Object.create({ "~tiered": 1 })]) {
      expect(Entry.readStored(plain)).toBeUndefined()
    }
  })
})

describe("tag times", () => {
  it("the wrapper writes a tag time without the inner serializer, so a value schema does not see it", () => {
    for (const inner of [Serializer.schema(Schema.Struct({ name: Schema.String })), bytesSync, bytesAsync]) {
      const wrapped = Entry.wrap(inner)
      const bytes = encoded(wrapped, new Entry.TagTime(1234.5, true))
      expect(Array.from(bytes)).toStrictEqual([0xe7, 0x54, 0x43, 0x81, 64, 147, 74, 0, 0, 0, 0, 0, 1])
      const back = Either.getOrThrow(decode(wrapped, bytes))
      expect(back).toBeInstanceOf(Entry.TagTime)
      expect([(back as Entry.TagTime).at, (back as Entry.TagTime).hard]).toStrictEqual([1234.5, true])
      expect(Entry.tagTimeOf(back)).toBe(back)
    }
  })

  it("a binary tag time with an invalid time, flag or length fails to decode", () => {
    const wrapped = Entry.wrap(Serializer.v8)
    const good = encoded(wrapped, new Entry.TagTime(7, false))
    const bad: Array<Uint8Array> = [good.subarray(0, 12), Uint8Array.of(...good, 0)]
    for (const at of [NaN, Infinity, -Infinity]) {
      const copy = Uint8Array.from(good)
      new DataView(copy.buffer).setFloat64(4, at)
      bad.push(copy)
    }
    const flag = Uint8Array.from(good)
    flag[12] = 2
    bad.push(flag)
    for (const bytes of bad) expect(Either.isLeft(decode(wrapped, bytes))).toBe(true)
    expect(Either.isLeft(encode(wrapped, new Entry.TagTime(NaN, false)))).toBe(true)
  })

  it("tagTimeOf reads the object form and a plain finite number, nothing else", () => {
    const viaJson = Either.getOrThrow(roundTrip(Serializer.json, new Entry.TagTime(99.25, true)))
    expect(viaJson).toStrictEqual({ "~tieredTag": 1, a: 99.25, h: true })
    const read = Entry.tagTimeOf(viaJson)
    expect([read?.at, read?.hard]).toStrictEqual([99.25, true])
    const old = Entry.tagTimeOf(42)
    expect([old?.at, old?.hard]).toStrictEqual([42, false])
    const none: ReadonlyArray<unknown> = [
      NaN,
      Infinity,
      -Infinity,
      "42",
      null,
      undefined,
      { "~tieredTag": 1, a: NaN, h: false },
      { "~tieredTag": 1, a: 1, h: "yes" },
      { "~tieredTag": 2, a: 1, h: false },
      { "~tieredTag": 1, h: false },
      new Entry.TagTime(NaN, false),
      Object.create({ "~tieredTag": 1, a: 1, h: false })
    ]
    for (const stored of none) expect(Entry.tagTimeOf(stored)).toBeUndefined()
  })
})

describe("plain values that start with the magic", () => {
  const lookalikes = [
    Uint8Array.of(0xe7, 0x54, 0x43, 0x01, ...new Array(40).fill(0)),
    Uint8Array.of(0xe7, 0x54, 0x43, 0x00, 9, 9),
    Uint8Array.of(0xe7, 0x54, 0x43, 0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    Uint8Array.of(0xe7, 0x54, 0x43, 0x05)
  ]
  for (const inner of [bytesSync, bytesAsync]) {
    it(`${inner.name}: round-trip through the wrapper, escaped`, () => {
      const wrapped = Entry.wrap(inner)
      for (const value of lookalikes) {
        const bytes = encoded(wrapped, value)
        expect(Array.from(bytes)).toStrictEqual([0xe7, 0x54, 0x43, 0x00, ...value])
        expect(Either.getOrThrow(decode(wrapped, bytes))).toStrictEqual(value)
      }
    })
    it(`${inner.name}: other plain values are stored byte for byte as the inner serializer writes them`, () => {
      const wrapped = Entry.wrap(inner)
      for (const value of [Uint8Array.of(), Uint8Array.of(0xe7, 0x54, 0x43), Uint8Array.of(0xe7, 0x54, 0x44, 1)]) {
        expect(encoded(wrapped, value)).toStrictEqual(value)
        expect(Either.getOrThrow(decode(wrapped, value))).toStrictEqual(value)
      }
    })
  }
})

// ---------------------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------------------

const finite = fc.double({ noNaN: true, noDefaultInfinity: true })
const end = fc.oneof(finite, fc.constant(Infinity))
const times = fc.tuple(finite, end, end).map(([c, a, b]) => [c, Math.min(a, b), Math.max(a, b)] as const)
// Well-formed strings only: a lone surrogate has no UTF-8 form, so such a tag comes back as U+FFFD.
const tags = fc.array(fc.string({ unit: "grapheme" }), { maxLength: 5 })
const noNegativeZero = (x: number) => x === 0 ? 0 : x

describe("encode then decode is the identity for every record", () => {
  it("any bytes through a bytes serializer, sync and Effect paths; unescaped ones byte for byte", () => {
    const sync = Entry.wrap(bytesSync)
    const async = Entry.wrap(bytesAsync)
    // Biased towards the magic, which a uniform generator would almost never produce.
    const magic = fc.uint8Array().map((rest) => Uint8Array.of(0xe7, 0x54, 0x43, ...rest))
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array(), magic), (value) => {
        for (const wrapped of [sync, async]) {
          const bytes = encoded(wrapped, value)
          expect(Either.getOrThrow(decode(wrapped, bytes))).toStrictEqual(value)
          const escaped = value.length >= 4 && value[0] === 0xe7 && value[1] === 0x54 && value[2] === 0x43
          if (!escaped) expect(bytes).toStrictEqual(value)
        }
      }),
      { numRuns: 500 }
    )
  })

  it("any JSON value through json and schema: as the inner serializer alone, byte for byte", () => {
    for (const inner of [Serializer.json, Serializer.schema(Schema.Unknown)]) {
      const wrapped = Entry.wrap(inner)
      fc.assert(
        fc.property(fc.jsonValue(), (value) => {
          const bytes = encoded(wrapped, value)
          expect(bytes).toStrictEqual(encoded(inner, value))
          expect(decode(wrapped, bytes)).toStrictEqual(roundTrip(inner, value))
        }),
        { numRuns: 300 }
      )
    }
  })

  it("entries with any valid header, through every kind of inner serializer", () => {
    const cases = [
      [Entry.wrap(Serializer.v8), fc.jsonValue()],
      [Entry.wrap(Serializer.json), fc.jsonValue()],
      [Entry.wrap(Serializer.schema(Schema.Unknown)), fc.jsonValue()],
      [Entry.wrap(bytesSync), fc.uint8Array()],
      [Entry.wrap(bytesAsync), fc.uint8Array()]
    ] as const
    for (const [wrapped, values] of cases) {
      fc.assert(
        fc.property(values, times, tags, (value, [c, f, g], tags) => {
          // The value as the inner serializer alone gives it back (JSON turns -0 into 0).
          const expected = Either.getOrThrow(roundTrip(wrapped, value))
          const back = Either.getOrThrow(roundTrip(wrapped, new Entry.TieredEntry(value, c, f, g, tags)))
          const got = parts(back)
          expect(got).toStrictEqual([expected, c, f, g, tags])
          expect(Entry.readStored(back)).toBe(back)
        }),
        { numRuns: 200 }
      )
    }
  })

  it("tag times with any finite time, through every kind of inner serializer", () => {
    const inners = [Serializer.v8, Serializer.json, Serializer.schema(Schema.Never), bytesSync, bytesAsync]
    for (const inner of inners) {
      const wrapped = Entry.wrap(inner)
      fc.assert(
        fc.property(finite, fc.boolean(), (at, hard) => {
          const back = Entry.tagTimeOf(Either.getOrThrow(roundTrip(wrapped, new Entry.TagTime(at, hard))))
          expect(back).toBeInstanceOf(Entry.TagTime)
          expect(Object.is(back!.at, at) && back!.hard === hard).toBe(true)
        }),
        { numRuns: 200 }
      )
    }
  })

  it("the object forms through v8 and json, not wrapped", () => {
    fc.assert(
      fc.property(fc.jsonValue(), times, tags, finite, fc.boolean(), (value, [c, f, g], tags, at, hard) => {
        const viaV8 = Either.getOrThrow(roundTrip(Serializer.v8, new Entry.TieredEntry(value, c, f, g, tags)))
        const v8Value = Either.getOrThrow(roundTrip(Serializer.v8, value))
        expect(parts(Entry.readStored(viaV8))).toStrictEqual([v8Value, c, f, g, tags])
        const [jc, jf, jg] = [c, f, g].map(noNegativeZero)
        const viaJson = Either.getOrThrow(roundTrip(Serializer.json, new Entry.TieredEntry(value, c, f, g, tags)))
        const jsonValue = Either.getOrThrow(roundTrip(Serializer.json, value))
        expect(parts(Entry.readStored(viaJson))).toStrictEqual([jsonValue, jc, jf, jg, tags])
        for (const inner of [Serializer.v8, Serializer.json]) {
          const time = Entry.tagTimeOf(Either.getOrThrow(roundTrip(inner, new Entry.TagTime(at, hard))))
          const expected = inner === Serializer.json ? noNegativeZero(at) : at
          expect(Object.is(time?.at, expected) && time?.hard === hard).toBe(true)
        }
      }),
      { numRuns: 200 }
    )
  })

  it("hostile bytes after the magic: decoding never throws, and any entry it yields has valid times", () => {
    const wrapped = Entry.wrap(Serializer.v8)
    const record = fc.oneof(fc.constantFrom(0x00, 0x01, 0x81), fc.integer({ min: 0, max: 255 }))
    const anyTime = fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity))
    fc.assert(
      fc.property(record, anyTime, anyTime, anyTime, fc.uint8Array({ maxLength: 64 }), (kind, c, f, g, rest) => {
        const bytes = new Uint8Array(28 + rest.length)
        bytes.set([0xe7, 0x54, 0x43, kind])
        const view = new DataView(bytes.buffer)
        view.setFloat64(4, c)
        view.setFloat64(12, f)
        view.setFloat64(20, g)
        bytes.set(rest, 28)
        const result = decode(wrapped, bytes)
        if (Either.isRight(result) && result.right instanceof Entry.TieredEntry) {
          const e = result.right
          expect(Entry.validTimes(e.createdAt, e.freshUntil, e.graceUntil)).toBe(true)
        }
        if (kind === 0x01 && !Entry.validTimes(c, f, g)) expect(Either.isLeft(result)).toBe(true)
      }),
      { numRuns: 1000 }
    )
  })
})
