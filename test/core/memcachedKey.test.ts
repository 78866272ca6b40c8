import * as fc from "fast-check"
import { createHash } from "node:crypto"
import { describe, expect, it } from "vitest"
import { base64Key, fullKey, generationKey, keyBytes, maxKeyBytes, maxKeyLength } from "../../src/core/memcached/key.js"

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")

// Keys a user may pass: any code points (lone surrogates included), the characters memcached refuses in a plain key,
// and long ones sharing long beginnings, so that digest forms with equal heads are compared.
const piece = fc.constantFrom("\r\n", "\0", " ", "\t", "", "\uD800", "\uDC00", "\uDBFF", "é", "🙂", "a", ":", "1", "ÿ")
const anyKey = fc.oneof(
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.array(piece, { maxLength: 200 }).map((parts) => parts.join("")),
  fc.string({ unit: "binary", maxLength: 20 }).map((tail) => "x".repeat(180) + tail),
  fc.string({ unit: "binary", maxLength: 20 }).map((tail) => "é".repeat(120) + tail)
)
const generation = fc.oneof(fc.integer({ min: 0, max: 20 }), fc.maxSafeNat())

describe("core/memcached/key: keys memcached accepts, one stored key per key", () => {
  it("keyBytes is UTF-8 for well-formed text and one-to-one on lone surrogates", () => {
    expect(hex(keyBytes("ключ 🙂"))).toBe(Buffer.from("ключ 🙂", "utf8").toString("hex"))
    // Buffer.from writes U+FFFD for both: keyBytes keeps them apart.
    expect(hex(keyBytes("\uD800"))).toBe("eda080")
    expect(hex(keyBytes("\uDBFF"))).toBe("edafbf")
    expect(hex(keyBytes("a\uDC00b"))).toBe("61edb08062")
    expect(hex(keyBytes("\uD83D\uDE42\uD800"))).toBe("f09f9982eda080")
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (a, b) => {
        if (a !== b) expect(hex(keyBytes(a))).not.toBe(hex(keyBytes(b)))
        // Never the digest mark.
        expect(keyBytes(a).includes(0xff)).toBe(false)
      }),
      { numRuns: 2_000 }
    )
  })

  it("the plain form when it fits: prefix, generation, ':', key", () => {
    expect(text(fullKey("ac:", 0, "user:1"))).toBe("ac:0:user:1")
    expect(text(fullKey("", 12, ""))).toBe("12:")
    expect(hex(fullKey("p", 3n, "a\r\n\0 b"))).toBe(Buffer.from("p3:a\r\n\0 b", "latin1").toString("hex"))
    const fits = "k".repeat(maxKeyBytes - "ac:0:".length)
    expect(text(fullKey("ac:", 0, fits))).toBe("ac:0:" + fits)
    expect(fullKey("ac:", 0, fits + "k").length).toBe(maxKeyBytes)
    expect(fullKey("ac:", 0, fits + "k").includes(0xff)).toBe(true)
  })

  it("the digest form: a readable head cut at a character boundary, 0xFF, SHA-256 of the whole plain form", () => {
    const long = "user:" + "é".repeat(200)
    const stored = fullKey("ac:", 7, long)
    const plain = Buffer.from("ac:7:" + long, "utf8")
    const mark = stored.indexOf(0xff)
    // 153 bytes of head would split an "é": cut to 152.
    expect(mark).toBe(152)
    expect(Buffer.from(stored.subarray(0, mark)).toString("utf8")).toBe(plain.subarray(0, 152).toString("utf8"))
    expect(hex(stored.subarray(mark + 1))).toBe(createHash("sha256").update(plain).digest("hex"))
    expect(stored.length).toBe(152 + 1 + 32)
    // Pinned, so that a change to the scheme, which would orphan every long key already stored, is seen.
    expect(hex(fullKey("ac:", 0, "k".repeat(300)))).toBe(
      Buffer.from("ac:0:" + "k".repeat(148), "latin1").toString("hex") + "ff" +
        "416376b493b254da6dd8268e95fa9719d7e22b2691b44876e4a77ebd39a473b4"
    )
  })

  it("every stored key is 1 to 186 bytes, its base64 at most 250 characters, the same every time", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), generation, anyKey, (prefix, g, key) => {
        const stored = fullKey(prefix, g, key)
        expect(stored.length).toBeGreaterThan(0)
        expect(stored.length).toBeLessThanOrEqual(maxKeyBytes)
        expect(base64Key(stored).length).toBeLessThanOrEqual(maxKeyLength)
        expect(Buffer.from(base64Key(stored), "base64").equals(Buffer.from(stored))).toBe(true)
        expect(hex(fullKey(prefix, g, key))).toBe(hex(stored))
      }),
      { numRuns: 2_000 }
    )
    // A prefix too long to fit at all still gives a bounded key.
    expect(fullKey("p".repeat(1_000), 0, "k").length).toBe(maxKeyBytes)
    expect(generationKey("p".repeat(1_000)).length).toBe(maxKeyBytes)
  })

  it("different keys or generations never share a stored key under one prefix", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 30 }),
        fc.uniqueArray(fc.tuple(generation, anyKey), {
          minLength: 2,
          maxLength: 40,
          selector: ([g, key]) => `${g}|${hex(keyBytes(key))}`
        }),
        (prefix, pairs) => {
          const stored = new Set(pairs.map(([g, key]) => hex(fullKey(prefix, g, key))))
          expect(stored.size).toBe(pairs.length)
          expect(stored.has(hex(generationKey(prefix)))).toBe(false)
        }
      ),
      { numRuns: 500 }
    )
    // Keys that differ only past the head of the digest form.
    const a = fullKey("ac:", 0, "x".repeat(300) + "a")
    const b = fullKey("ac:", 0, "x".repeat(300) + "b")
    expect(hex(a.subarray(0, 154))).toBe(hex(b.subarray(0, 154)))
    expect(hex(a)).not.toBe(hex(b))
  })

  it("the generation counter's key: prefix then !generation, apart from every item key", () => {
    expect(text(generationKey("ac:"))).toBe("ac:!generation")
    expect(text(generationKey(""))).toBe("!generation")
    // The item key that reads most like it is still another key.
    expect(text(fullKey("ac:", 0, "!generation"))).toBe("ac:0:!generation")
  })

  it("a generation that is not a non-negative integer is the caller's bug: RangeError", () => {
    for (const bad of [-1, 1.5, NaN, Infinity, Number.MAX_SAFE_INTEGER + 1]) {
      expect(() => fullKey("ac:", bad, "k")).toThrow(RangeError)
    }
    expect(() => fullKey("ac:", -1n, "k")).toThrow(RangeError)
    expect(text(fullKey("ac:", 18446744073709551615n, "k"))).toBe("ac:18446744073709551615:k")
  })
})
