import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as NodeV8 from "node:v8"
import * as V8Decode from "../../src/core/serializer/v8Decode.js"
import { UNSUPPORTED } from "../../src/core/serializer/v8Decode.js"

// Without a budget that matters: the budget has tests of its own.
const decode = (bytes: Uint8Array): unknown => V8Decode.decode(bytes, 2 ** 32)

// Structural equality as strict as the language allows: same prototypes, the same own keys in the same order with
// the same descriptors, holes where holes are, -0 and NaN told apart, and the same sharing (a reference seen twice
// on one side is seen twice, to the same counterpart, on the other), so cycles compare too.
const sameStructure = (a: unknown, b: unknown, pairs = new Map<object, object>()): boolean => {
  if (typeof a !== typeof b) return false
  if (typeof a !== "object" || a === null || b === null) return Object.is(a, b)
  const x = a as object
  const y = b as object
  const seen = pairs.get(x)
  if (seen !== undefined) return seen === y
  pairs.set(x, y)
  if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) return false
  if (x instanceof Date) return Object.is(x.getTime(), (y as Date).getTime())
  const keysX = Reflect.ownKeys(x)
  const keysY = Reflect.ownKeys(y)
  if (keysX.length !== keysY.length) return false
  for (let i = 0; i < keysX.length; i++) {
    if (keysX[i] !== keysY[i]) return false
    const dx = Object.getOwnPropertyDescriptor(x, keysX[i]!)!
    const dy = Object.getOwnPropertyDescriptor(y, keysY[i]!)!
    if (dx.enumerable !== dy.enumerable || dx.writable !== dy.writable || dx.configurable !== dy.configurable) {
      return false
    }
    if (!sameStructure(dx.value, dy.value, pairs)) return false
  }
  return true
}

// What V8 makes of the bytes, or undefined when it rejects them (or leaves bytes unread, as the serializer does).
const v8Reading = (bytes: Uint8Array): { readonly value: unknown } | undefined => {
  try {
    const deserializer = new NodeV8.DefaultDeserializer(bytes)
    deserializer.readHeader()
    const value: unknown = deserializer.readValue()
    if (deserializer.readRawBytes(0).byteOffset - bytes.byteOffset !== bytes.length) return undefined
    return { value }
  } catch {
    return undefined
  }
}

// The property every input must have: the fast reader declines, or agrees with V8 exactly.
const agreesWithV8 = (bytes: Uint8Array): void => {
  const fast = decode(bytes)
  if (fast === UNSUPPORTED) return
  const reference = v8Reading(bytes)
  expect(reference).toBeDefined()
  expect(sameStructure(fast, reference!.value)).toBe(true)
}

const readsLikeV8 = (value: unknown): unknown => {
  const bytes = NodeV8.serialize(value)
  const fast = decode(bytes)
  expect(fast).not.toBe(UNSUPPORTED)
  expect(sameStructure(fast, NodeV8.deserialize(bytes))).toBe(true)
  return fast
}

describe("v8Decode", () => {
  it("reads the records a cache holds as V8 does", () => {
    readsLikeV8({ id: 1, name: "Ada", active: true, score: 12.5, tags: ["a", "b"], none: null, gone: undefined })
    readsLikeV8([1, -1, 0, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 53, -0, NaN, Infinity, -Infinity, 1e-300])
    readsLikeV8({ nested: { deeper: { deepest: [[], {}, [[{}]]] } } })
    readsLikeV8(["", "é", "日本語", "😀", "\ud800", "x".repeat(1000), "é".repeat(500)])
    readsLikeV8({ date: new Date(0), invalid: new Date(NaN), later: new Date(8.64e15) })
    readsLikeV8({ "0": "zero", "7": "seven", "4294967295": "not an index", "-1": "negative", "01": "padded" })
    readsLikeV8(true)
    readsLikeV8(null)
    readsLikeV8(undefined)
    readsLikeV8("top-level string")
  })

  it("keeps holes, sparse arrays and named properties on arrays", () => {
    // eslint-disable-next-line no-sparse-arrays
    readsLikeV8([1, , 3])
    const sparse: Array<number> = []
    sparse[1000] = 1
    readsLikeV8(sparse)
    const named = Object.assign([1, 2], { label: "x" })
    readsLikeV8(named)
    readsLikeV8(new Array(5))
  })

  it("keeps shared and cyclic references", () => {
    const shared = { a: 1 }
    const decoded = readsLikeV8({ x: shared, y: shared, list: [shared, shared] }) as Record<string, unknown>
    expect(decoded["x"]).toBe(decoded["y"])
    const cyclic: Record<string, unknown> = { name: "loop" }
    cyclic["self"] = cyclic
    const again = readsLikeV8(cyclic) as Record<string, unknown>
    expect(again["self"]).toBe(again)
  })

  it("defines keys of Object.prototype as own data properties without running setters", () => {
    const value = readsLikeV8(JSON.parse(`{"__proto__": {"polluted": true}, "toString": 1, "constructor": 2}`))
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
    expect(Object.keys(value as object)).toEqual(["__proto__", "toString", "constructor"])
    let called = 0
    Object.defineProperty(Object.prototype, "trap", {
      configurable: true,
      set: () => {
        called++
      }
    })
    Object.defineProperty(Array.prototype, "3", {
      configurable: true,
      set: () => {
        called++
      }
    })
    try {
      readsLikeV8({ trap: "own" })
      readsLikeV8([0, 1, 2, 3, 4])
      // eslint-disable-next-line no-sparse-arrays
      readsLikeV8([0, , 2, 3])
      expect(called).toBe(0)
    } finally {
      delete (Object.prototype as Record<string, unknown>)["trap"]
      delete (Array.prototype as unknown as Record<string, unknown>)["3"]
    }
  })

  it("declines what it does not handle, so V8 reads it", () => {
    const declined = [
      new Map([[1, 2]]),
      new Set([1]),
      10n,
      new Uint8Array([1, 2, 3]),
      Buffer.from("abc"),
      /re/g,
      new Error("e"),
      Object(1),
      { deep: new Map() }
    ]
    for (const value of declined) expect(decode(NodeV8.serialize(value))).toBe(UNSUPPORTED)
    let deep: unknown = 1
    for (let i = 0; i < 1000; i++) deep = [deep]
    expect(decode(NodeV8.serialize(deep))).toBe(UNSUPPORTED)
    const ok = NodeV8.serialize({ a: 1 })
    expect(decode(Buffer.concat([ok, Buffer.from([0x30])]))).toBe(UNSUPPORTED) // bytes after the value
    expect(decode(ok.subarray(0, ok.length - 1))).toBe(UNSUPPORTED) // truncated
    expect(decode(Buffer.from([0xff, 0x0d, 0x30]))).toBe(UNSUPPORTED) // an older version
    expect(decode(new Uint8Array(0))).toBe(UNSUPPORTED)
  })

  it("reads a plain Uint8Array and returns nothing that aliases it", () => {
    const bytes = new Uint8Array(NodeV8.serialize({ text: "x".repeat(100), short: "ab" }))
    const value = decode(bytes) as Record<string, string>
    bytes.fill(0)
    expect(value).toEqual({ text: "x".repeat(100), short: "ab" })
  })

  it("agrees with V8 on any value", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.anything({
          withBigInt: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withTypedArray: true,
          withSparseArray: true,
          withNullPrototype: true,
          withBoxedValues: true,
          withObjectString: true,
          withUnicodeString: true
        }),
        (value) => {
          let bytes: Buffer
          try {
            bytes = NodeV8.serialize(value)
          } catch {
            return
          }
          agreesWithV8(bytes)
        }
      ),
      { numRuns: 2000 }
    )
  })

  it("agrees with V8 on damaged bytes: it declines, or V8 reads the same value", () => {
    const values = [
      { id: 1, name: "n", list: [1, 2, { a: "b" }], when: new Date(5), ok: true },
      [1, , "x", [2, 3]], // eslint-disable-line no-sparse-arrays
      { "é": "日本", n: -0, big: 2 ** 40 }
    ]
    FastCheck.assert(
      FastCheck.property(
        FastCheck.constantFrom(...values.map((v) => NodeV8.serialize(v))),
        FastCheck.array(
          FastCheck.tuple(FastCheck.nat(), FastCheck.integer({ min: 0, max: 255 }), FastCheck.constantFrom(0, 1, 2)),
          { minLength: 1, maxLength: 4 }
        ),
        (original, edits) => {
          const bytes = Array.from(original)
          for (const [at, byte, kind] of edits) {
            const i = 2 + (at % Math.max(1, bytes.length - 2))
            if (kind === 0) bytes[i] = byte
            else if (kind === 1) bytes.splice(i, 0, byte)
            else bytes.splice(i, 1)
          }
          agreesWithV8(Buffer.from(bytes))
        }
      ),
      { numRuns: 5000 }
    )
  })

  it("declines a varint wider than 32 bits, which V8 truncates", () => {
    // A Uint32 key of 2^32: V8 keeps the low 32 bits and reads {0: 1}.
    const wide = Buffer.from("ff0f6f558080808010490 27b01".replace(/ /g, ""), "hex")
    expect(decode(wide)).toBe(UNSUPPORTED)
    expect(v8Reading(wide)?.value).toEqual({ 0: 1 })
    // The same key twice, once wide: V8 rejects the duplicate, so the reader must not accept it either.
    const duplicate = Buffer.from("ff0f6f55004902558080808010490 47b02".replace(/ /g, ""), "hex")
    expect(decode(duplicate)).toBe(UNSUPPORTED)
    expect(v8Reading(duplicate)).toBeUndefined()
    agreesWithV8(wide)
    agreesWithV8(duplicate)
  })

  it("keeps its back-references when Array.prototype and Object.prototype have index accessors", () => {
    const shared = { s: 1 }
    const bytes = NodeV8.serialize([{}, shared, shared, [shared]])
    const prototypes = [Array.prototype, Object.prototype]
    for (const prototype of prototypes) {
      for (const index of ["0", "1", "2", "3"]) {
        Object.defineProperty(prototype, index, { configurable: true, get: () => undefined, set: () => {} })
      }
    }
    let decoded: unknown
    try {
      decoded = decode(bytes)
    } finally {
      for (const prototype of prototypes) {
        for (const index of ["0", "1", "2", "3"]) delete (prototype as unknown as Record<string, unknown>)[index]
      }
    }
    expect(decoded).not.toBe(UNSUPPORTED)
    const [first, a, b, list] = decoded as [object, object, object, Array<object>]
    expect(first).toEqual({})
    expect(a).toEqual({ s: 1 })
    expect(b).toBe(a)
    expect(list[0]).toBe(a)
  })

  it("builds Dates of the real Date when the global Date is replaced", () => {
    const RealDate = Date
    class FakeDate extends RealDate {}
    globalThis.Date = FakeDate as DateConstructor
    let decoded: unknown
    try {
      decoded = decode(NodeV8.serialize({ at: new RealDate(5) }))
    } finally {
      globalThis.Date = RealDate
    }
    const at = (decoded as { at: Date }).at
    expect(Object.getPrototypeOf(at)).toBe(RealDate.prototype)
    expect(at.getTime()).toBe(5)
  })
})
