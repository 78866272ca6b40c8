import { describe, expect, it } from "vitest"
import { TagFloors } from "../../src/core/tiered/tagFloors.js"

describe("TagFloors", () => {
  it("keeps the latest soft and hard invalidation of each tag, whatever order they are noted in", () => {
    const floors = new TagFloors(10)
    floors.note("t", 20, true)
    floors.note("t", 30, false)
    floors.note("t", 10, false)
    expect(floors.toWrite("t")).toStrictEqual({ soft: { at: 30, hard: false }, hard: { at: 20, hard: true } })
    expect(floors.toWrite("u")).toBeUndefined()
  })

  it("raises what L2 holds to what is known, and says when L2 is behind; a missing key stays missing", () => {
    const floors = new TagFloors(10)
    floors.note("t", 30, false)
    expect(floors.merge("t", { soft: { at: 40, hard: false }, hard: undefined })).toStrictEqual({
      state: { soft: { at: 40, hard: false }, hard: undefined },
      behind: false
    })
    // What L2 held is known from then on.
    expect(floors.merge("t", { soft: { at: 20, hard: false }, hard: undefined })).toStrictEqual({
      state: { soft: { at: 40, hard: false }, hard: undefined },
      behind: true
    })
    expect(floors.merge("t", { soft: undefined, hard: undefined }).state.soft).toBeUndefined()
    floors.note("t", 35, true)
    expect(floors.merge("t", { soft: { at: 40, hard: false }, hard: { at: 1, hard: true } })).toStrictEqual({
      state: { soft: { at: 40, hard: false }, hard: { at: 35, hard: true } },
      behind: true
    })
  })

  it("never writes back a time older than one L2 held (a key recreated after clear, by its creation time)", () => {
    const floors = new TagFloors(10)
    floors.note("t", 10, true)
    // Created anew at 50: its time key carries the hard flag, which counts as a hard time; nothing is behind.
    expect(floors.merge("t", { soft: { at: 50, hard: true }, hard: undefined }).behind).toBe(false)
    expect(floors.toWrite("t")).toStrictEqual({ soft: { at: 50, hard: true }, hard: { at: 50, hard: true } })
  })

  it("a write is redone when a later invalidation became known while it was in flight", () => {
    const floors = new TagFloors(10)
    floors.note("t", 10, false)
    const write = floors.toWrite("t")!
    floors.note("t", 20, false)
    expect(floors.wrote("t", write, 0)).toBe(true)
    expect(floors.wrote("t", floors.toWrite("t")!, 1)).toBe(false)
  })

  it("hearing of a later invalidation after an own write asks for one check, within a recent window only", () => {
    const floors = new TagFloors(10)
    floors.note("t", 10, false)
    floors.wrote("t", floors.toWrite("t")!, 0)
    expect(floors.heard("t", 5, 1)).toBe(false)
    expect(floors.heard("t", 20, 1)).toBe(true)
    expect(floors.heard("t", 30, 2)).toBe(false)
    floors.wrote("t", floors.toWrite("t")!, 0)
    expect(floors.heard("t", 40, 120_000)).toBe(false)
  })

  it("is bounded: past its capacity it forgets, and reads fall back on L2 alone", () => {
    const floors = new TagFloors(2)
    floors.note("a", 1, false)
    floors.note("b", 1, false)
    floors.note("c", 1, false)
    expect(floors.toWrite("a")).toBeUndefined()
    expect(floors.merge("a", { soft: { at: 0, hard: false }, hard: undefined }).behind).toBe(false)
  })
})
