import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  CorruptEntry,
  encodeHeader,
  encodeTagTime,
  escapePlain,
  hasMagic,
  type Invalid,
  readRecord,
  readStored,
  type StoredRecord,
  TAG_TIME,
  TagTime,
  tagTimeOf,
  TieredEntry,
  toEntry,
  validEntry,
  validTimes,
  VERSION
} from "../../src/core/tiered/entry.js"

const bytesOf = (result: Uint8Array | Invalid): Uint8Array => {
  if (!(result instanceof Uint8Array)) throw new Error(result.message)
  return result
}

const entryOf = (record: StoredRecord): { readonly entry: TieredEntry; readonly body: Uint8Array } => {
  if (record._tag !== "Entry") throw new Error(`expected an entry, got ${JSON.stringify(record)}`)
  return { entry: toEntry(record.header, "value"), body: record.header.body }
}

const body = Uint8Array.of(1, 2, 3)
const withFloat = (bytes: Uint8Array, at: number, value: number): Uint8Array => {
  const copy = bytes.slice()
  new DataView(copy.buffer).setFloat64(at, value)
  return copy
}

describe("entry header", () => {
  it("round-trips its times, tags and body", () => {
    const entry = new TieredEntry("value", 1000.5, 2000, Infinity, ["a", "é", ""])
    const bytes = bytesOf(encodeHeader(entry, body))
    expect(hasMagic(bytes)).toBe(true)
    expect(bytes[3]).toBe(VERSION)
    const back = entryOf(readRecord(bytes))
    expect([back.entry.createdAt, back.entry.freshUntil, back.entry.graceUntil, back.entry.tags]).toStrictEqual([
      1000.5,
      2000,
      Infinity,
      ["a", "é", ""]
    ])
    expect(Array.from(back.body)).toStrictEqual([1, 2, 3])
  })

  it("round-trips any valid times and tags", () => {
    const end = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(Infinity))
    fc.assert(
      fc.property(
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        end,
        end,
        fc.array(fc.string({ unit: "grapheme" }), { maxLength: 5 }),
        fc.uint8Array({ maxLength: 20 }),
        (createdAt, a, b, tags, value) => {
          const [freshUntil, graceUntil] = a <= b ? [a, b] : [b, a]
          const entry = new TieredEntry(undefined, createdAt, freshUntil, graceUntil, tags)
          const back = entryOf(readRecord(bytesOf(encodeHeader(entry, value))))
          expect([back.entry.createdAt, back.entry.freshUntil, back.entry.graceUntil]).toStrictEqual([
            createdAt,
            freshUntil,
            graceUntil
          ])
          expect(back.entry.tags).toStrictEqual(tags)
          expect(Array.from(back.body)).toStrictEqual(Array.from(value))
        }
      )
    )
  })

  it("refuses truncated bytes, wherever they are cut", () => {
    const bytes = bytesOf(encodeHeader(new TieredEntry("v", 1, 2, 3, ["tag", "other"]), new Uint8Array(0)))
    for (let length = 4; length < bytes.length; length++) {
      const record = readRecord(bytes.subarray(0, length))
      expect(record._tag, `cut at ${length}`).toBe("Invalid")
    }
    expect(readRecord(bytes)._tag).toBe("Entry")
  })

  it("refuses non-finite creation times, NaN ends, -Infinity ends and grace ending before freshness", () => {
    const good = bytesOf(encodeHeader(new TieredEntry("v", 10, 20, 30, []), body))
    const bad = [
      withFloat(good, 4, NaN),
      withFloat(good, 4, Infinity),
      withFloat(good, 4, -Infinity),
      withFloat(good, 12, NaN),
      withFloat(good, 12, -Infinity),
      withFloat(good, 20, NaN),
      withFloat(good, 20, -Infinity),
      withFloat(good, 20, 19.5)
    ]
    for (const bytes of bad) {
      expect(readRecord(bytes)).toStrictEqual({
        _tag: "Invalid",
        message: "tiered entry header holds invalid times (not a number, or grace ending before freshness)"
      })
    }
  })

  it("refuses tags that are not UTF-8, records of unknown versions, and never throws on any bytes", () => {
    const bytes = bytesOf(encodeHeader(new TieredEntry("v", 1, 2, 3, ["ab"]), new Uint8Array(0)))
    const broken = bytes.slice()
    broken[32] = 0xff
    expect(readRecord(broken)).toStrictEqual({ _tag: "Invalid", message: "tiered entry tag is not valid UTF-8" })
    const later = bytes.slice()
    later[3] = 2
    expect(readRecord(later)._tag).toBe("Invalid")
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 255 }), (rest, record) => {
        const hostile = Uint8Array.of(0xe7, 0x54, 0x43, record, ...rest)
        expect(["Plain", "Entry", "TagTime", "Invalid"]).toContain(readRecord(hostile)._tag)
      })
    )
  })

  it("refuses to encode more tags or longer tags than the header can count", () => {
    const many = new TieredEntry("v", 1, 2, 3, Array.from({ length: 0x10000 }, () => "t"))
    expect(encodeHeader(many, body)).toStrictEqual({
      _tag: "Invalid",
      message: "a tiered entry carries at most 65535 tags"
    })
    const long = new TieredEntry("v", 1, 2, 3, ["x".repeat(0x10000)])
    expect(encodeHeader(long, body)).toStrictEqual({
      _tag: "Invalid",
      message: "a tag is at most 65535 bytes of UTF-8"
    })
  })
})

describe("tag time record", () => {
  it("round-trips a fractional time and its flag", () => {
    const bytes = bytesOf(encodeTagTime(new TagTime(1234.5, true)))
    expect(bytes.length).toBe(13)
    expect(bytes[3]).toBe(TAG_TIME)
    const record = readRecord(bytes)
    expect(record._tag === "TagTime" && [record.time.at, record.time.hard]).toStrictEqual([1234.5, true])
  })

  it("refuses non-finite times, other sizes and unknown flags", () => {
    expect(encodeTagTime(new TagTime(NaN, false))).not.toBeInstanceOf(Uint8Array)
    expect(encodeTagTime(new TagTime(Infinity, false))).not.toBeInstanceOf(Uint8Array)
    const good = bytesOf(encodeTagTime(new TagTime(7, false)))
    expect(readRecord(withFloat(good, 4, NaN))._tag).toBe("Invalid")
    expect(readRecord(withFloat(good, 4, Infinity))._tag).toBe("Invalid")
    expect(readRecord(good.subarray(0, 12))._tag).toBe("Invalid")
    expect(readRecord(Uint8Array.of(...good, 0))._tag).toBe("Invalid")
    const flag = good.slice()
    flag[12] = 2
    expect(readRecord(flag)).toStrictEqual({ _tag: "Invalid", message: "tag time record has the unknown flag byte 2" })
  })
})

describe("plain values", () => {
  it("are stored as they are, unless they would read as a record", () => {
    const plain = Uint8Array.of(0xff, 0x0f, 0x22)
    expect(escapePlain(plain)).toBe(plain)
    // Shorter than any record: plain whatever it starts with.
    expect(hasMagic(Uint8Array.of(0xe7, 0x54, 0x43))).toBe(false)
    const looksLikeRecord = Uint8Array.of(0xe7, 0x54, 0x43, 0x01, 9)
    const escaped = escapePlain(looksLikeRecord)
    const record = readRecord(escaped)
    expect(record._tag === "Plain" && Array.from(record.body)).toStrictEqual(Array.from(looksLikeRecord))
  })
})

describe("rules for stored times and object forms", () => {
  it("validTimes: finite creation, ends finite or Infinity, grace not before freshness", () => {
    expect(validTimes(1, 2, 2)).toBe(true)
    expect(validTimes(1, Infinity, Infinity)).toBe(true)
    expect(validTimes(1, 3, 2)).toBe(false)
    expect(validTimes(Infinity, 2, 3)).toBe(false)
    expect(validTimes(1, NaN, 3)).toBe(false)
    expect(validTimes(1, -Infinity, 3)).toBe(false)
    expect(validEntry(new TieredEntry("v", 1, 2, 3, [1 as unknown as string]))).toBe(false)
  })

  it("reads the object form, calls a broken one corrupt and anything else plain", () => {
    const entry = readStored({ "~tiered": 1, c: 5, f: 10, g: null, t: ["a"], v: { x: 1 } })
    expect(entry instanceof TieredEntry && [entry.freshUntil, entry.graceUntil, entry.value]).toStrictEqual([
      10,
      Infinity,
      { x: 1 }
    ])
    for (const broken of [{ "~tiered": 2 }, { "~tiered": 1, c: 5, f: 10, g: 9, t: [], v: 1 }, { "~tiered": 1, c: 5 }]) {
      expect(readStored(broken)).toBe(CorruptEntry)
    }
    for (const plain of [1, "s", null, [1], { tiered: 1 }, Object.create({ "~tiered": 1 })]) {
      expect(readStored(plain)).toBeUndefined()
    }
  })

  it("reads tag times in every form, and refuses non-finite ones", () => {
    expect(tagTimeOf(42)?.at).toBe(42)
    expect(tagTimeOf(42)?.hard).toBe(false)
    expect(tagTimeOf({ "~tieredTag": 1, a: 3.5, h: true })?.hard).toBe(true)
    for (const bad of [NaN, Infinity, { "~tieredTag": 1, a: NaN, h: true }, { "~tieredTag": 1, a: 1, h: 1 }, "1"]) {
      expect(tagTimeOf(bad)).toBeUndefined()
    }
    expect(tagTimeOf(new TagTime(-Infinity, false))).toBeUndefined()
  })
})
