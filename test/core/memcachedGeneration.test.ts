import { describe, expect, it } from "vitest"
import * as Generation from "../../src/core/memcached/generation.js"
import * as Item from "../../src/core/memcached/item.js"

describe("core/memcached/generation", () => {
  it("a fresh generation is random below 2^62: no two of 10,000 alike, none 0", () => {
    const seen = new Set<bigint>()
    for (let i = 0; i < 10_000; i++) {
      const value = Generation.fresh()
      expect(value >= 0n && value < Generation.freshBound).toBe(true)
      seen.add(value)
    }
    expect(seen.size).toBe(10_000)
    expect(seen.has(0n)).toBe(false)
  })

  it("parse reads memcached's decimal counters (padded after a decrement) and nothing else", () => {
    const bytes = (text: string) => new TextEncoder().encode(text)
    expect(Generation.parse(bytes("0"))).toBe(0n)
    expect(Generation.parse(bytes("18446744073709551615"))).toBe(2n ** 64n - 1n)
    expect(Generation.parse(bytes("42  "))).toBe(42n)
    for (const bad of ["", " 1", "-1", "1e3", "0x10", "18446744073709551616", "123456789012345678901", "one"]) {
      expect(Generation.parse(bytes(bad)), bad).toBeUndefined()
    }
  })
})

describe("core/memcached/item", () => {
  it("a value fits with its key and 59 bytes of memcached's header, as measured on 1.6.18", () => {
    // -I 1m, a key of 186 bytes: 1,048,331 bytes of value stored, one more refused.
    expect(Item.fits(186, 1_048_331, Item.defaultItemSize)).toBe(true)
    expect(Item.fits(186, 1_048_332, Item.defaultItemSize)).toBe(false)
    expect(Item.fits(1, 65_476, 64 * 1024)).toBe(true)
    expect(Item.fits(1, 65_477, 64 * 1024)).toBe(false)
  })
})
