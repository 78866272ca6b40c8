import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as ChildProcess from "node:child_process"
import * as NodeV8 from "node:v8"
import * as V8Decode from "../../src/core/serializer/v8Decode.js"
import { sparse } from "../utils/V8Bytes.js"

const payload = (...body: Array<number>) => Buffer.from([0xff, 0x0f, ...body])

// Runs the fixture in a process of its own with the given Node flags; its exit code and its one line of output.
const runChild = (
  flags: Array<string>,
  scenario: string
): { status: number | null; results: Record<string, string> } => {
  const child = ChildProcess.spawnSync(
    process.execPath,
    [...flags, "--import", "tsx", "test/fixtures/v8DecodeChild.ts", scenario],
    { encoding: "utf8", timeout: 120_000 }
  )
  const line = child.stdout.trim().split("\n").pop() ?? ""
  return { status: child.status, results: line.startsWith("{") ? JSON.parse(line) : {} }
}

describe("v8Decode budget", () => {
  it("refuses sparse arrays declaring more than the budget, in total", () => {
    expect(V8Decode.decode(payload(...sparse(100)), 100)).toHaveLength(100)
    expect(V8Decode.decode(payload(...sparse(101)), 100)).toBe(V8Decode.TOO_LARGE)
    const two = payload(0x41, 2, ...sparse(60), ...sparse(60), 0x24, 0, 2)
    expect(V8Decode.decode(two, 120)).toHaveLength(2)
    expect(V8Decode.decode(two, 119)).toBe(V8Decode.TOO_LARGE)
  })

  it("the exact scan agrees with the fast reader, and the estimate never undercounts", () => {
    const cases: Array<[Buffer, number]> = [
      [payload(...sparse(2 ** 25 - 1)), 2 ** 25 - 1],
      [payload(0x41, 2, ...sparse(60), ...sparse(60), 0x24, 0, 2), 120],
      [NodeV8.serialize({ a: [1, , 3], b: new Map([["aaa", Object.assign(new Array(70000), { 5: 1 })]]) }), 70003], // eslint-disable-line no-sparse-arrays
      [NodeV8.serialize([new Uint8Array([0x61, 0xff, 0xff, 0xff, 0x0f]), new Error("a", { cause: [, 1] })]), 2] // eslint-disable-line no-sparse-arrays
    ]
    for (const [bytes, total] of cases) {
      expect(V8Decode.checkSparseLength(bytes, total)).toBeUndefined()
      expect(V8Decode.checkSparseLength(bytes, total - 1)).toBe(V8Decode.TOO_LARGE)
      expect(V8Decode.mayExceed(bytes, total - 1)).toBe(true)
    }
    // The estimate stays under the budget for ordinary records, so they are never scanned twice.
    const record = NodeV8.serialize({ name: "alpha", tags: ["banana", "papaya"], data: "a".repeat(5000) })
    expect(V8Decode.mayExceed(record, 1_048_576)).toBe(false)
  })

  it("the exact scan accepts everything v8.serialize writes", () => {
    const values: Array<unknown> = [
      { map: new Map<unknown, unknown>([[1, { a: 1 }]]), set: new Set(["a"]), big: -(2n ** 100n), re: /a+/giu },
      [new Date(0), Object(1), Object("s"), Object(true), Object(false), Object(3n), new ArrayBuffer(4)],
      [new Uint16Array([1, 2]), new Float64Array([1.5]), Buffer.from("x"), new DataView(new ArrayBuffer(3))],
      [new RangeError("r"), new TypeError("t", { cause: { nested: [1] } }), new Error("")],
      ["é", "日本", "\u0000", -0, NaN, 2 ** 53, undefined, null]
    ]
    const shared = { s: 1 }
    values.push([shared, shared, new Map([[shared, shared]])])
    for (const value of values) {
      expect(V8Decode.checkSparseLength(NodeV8.serialize(value), 0)).toBeUndefined()
    }
  })

  it("reads an over-long length varint as V8 does: six bytes whose last is zero, no more", () => {
    // 0x99 0x80 0x80 0x80 0x80 0x00 is 25 written in six bytes: V8 reads it as `new Array(25)`. A sixth byte that
    // is not zero, or a seventh, V8 refuses.
    const sixBytes = payload(0x61, 0x99, 0x80, 0x80, 0x80, 0x80, 0x00, 0x40, 0x00, 0x19)
    expect(NodeV8.deserialize(sixBytes)).toHaveLength(25)
    expect(V8Decode.checkSparseLength(sixBytes, 100)).toBeUndefined()
    expect(V8Decode.checkSparseLength(sixBytes, 24)).toBe(V8Decode.TOO_LARGE)
    for (
      const refused of [
        payload(0x61, 0x99, 0x80, 0x80, 0x80, 0x80, 0x01, 0x40, 0x00, 0x19),
        payload(0x61, 0x99, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x40, 0x00, 0x19)
      ]
    ) {
      expect(() => NodeV8.deserialize(refused)).toThrow()
      expect(V8Decode.checkSparseLength(refused, 100)).toBe("they are truncated or corrupt")
    }
  })

  it("a handful of bytes cannot exhaust the heap, through either reader", () => {
    // Before the budget, each of these aborted a process with a 128 MiB heap (V8's own reader included).
    const { results, status } = runChild(["--max-old-space-size=128"], "hostile")
    expect(status).toBe(0)
    expect(results.v8).toMatch(/error: .*maxSparseArrayLength/)
    expect(results.large).toMatch(/error: .*maxSparseArrayLength/)
    expect(results.fast).toBe("unsupported")
  })
})

describe("v8Decode budget, on any value", () => {
  it("the exact scan accepts what v8.serialize writes, and counts what the fast reader counts", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.anything({
          withBigInt: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withTypedArray: true,
          withSparseArray: true,
          withBoxedValues: true,
          withUnicodeString: true
        }),
        (value) => {
          let bytes: Buffer
          try {
            bytes = NodeV8.serialize(value)
          } catch {
            return
          }
          expect(V8Decode.checkSparseLength(bytes, 2 ** 40)).toBeUndefined()
          const fast = V8Decode.decode(bytes, 0)
          if (fast === V8Decode.TOO_LARGE) expect(V8Decode.checkSparseLength(bytes, 0)).toBe(V8Decode.TOO_LARGE)
        }
      ),
      { numRuns: 1000 }
    )
  })
})
