import { describe, expect, it } from "@effect/vitest"
import { deleteChunks, deleteChunksBySlot } from "../../src/internal/backend/backend.js"

const all = () => true

describe("deleteChunks", () => {
  it("keeps the order, in chunks of at most the bound; an empty list makes no chunk", () => {
    expect(deleteChunks([], 3, all)).toStrictEqual([])
    expect(deleteChunks(["a", "b", "c", "d", "a"], 2, all)).toStrictEqual([["a", "b"], ["c", "d"], ["a"]])
    expect(deleteChunks(["a", "b", "c"], 3, all)).toStrictEqual([["a", "b", "c"]])
  })

  it("puts a key that does not fit in a command of its own, leaving the others' chunks whole", () => {
    const fits = (key: string) => key !== "long"
    expect(deleteChunks(["a", "long", "b", "c"], 2, fits)).toStrictEqual([["long"], ["a", "b"], ["c"]])
  })
})

describe("deleteChunksBySlot", () => {
  // The slot is the key's first letter: a, b, c… each a slot.
  const slotOf = (key: string) => key.charCodeAt(0)

  it("packs whole slots into commands of at most the bound, each slot's keys in one command", () => {
    const keys = ["a1", "b1", "a2", "c1", "b2", "c2", "d1"]
    const chunks = deleteChunksBySlot(keys, 4, all, slotOf)
    expect(chunks).toStrictEqual([["a1", "a2", "b1", "b2"], ["c1", "c2", "d1"]])
    for (const slot of ["a", "b", "c", "d"]) {
      expect(chunks.filter((chunk) => chunk.some((key) => key.startsWith(slot)))).toHaveLength(1)
    }
  })

  it("splits only a slot holding more keys than the bound, never a command past it", () => {
    const big = Array.from({ length: 7 }, (_, i) => `b${i}`)
    const chunks = deleteChunksBySlot(["a1", ...big, "c1"], 3, all, slotOf)
    expect(chunks).toStrictEqual([["a1"], ["b0", "b1", "b2"], ["b3", "b4", "b5"], ["b6", "c1"]])
    expect(chunks.flat().sort()).toStrictEqual(["a1", ...big, "c1"].sort())
    // A slot of exactly the bound: one command.
    expect(deleteChunksBySlot(["b0", "b1", "b2"], 3, all, slotOf)).toStrictEqual([["b0", "b1", "b2"]])
  })

  it("keeps duplicates (harmless to UNLINK twice) and sends a key that does not fit alone", () => {
    const fits = (key: string) => key !== "a-long"
    expect(deleteChunksBySlot(["a1", "a1", "a-long", "b1"], 10, fits, slotOf)).toStrictEqual([
      ["a-long"],
      ["a1", "a1", "b1"]
    ])
  })
})
