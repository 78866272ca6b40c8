import { describe, expect, it } from "vitest"
import { applyTagStates, invalidateAt, type Meta } from "../../src/core/tiered/freshness.js"

const meta = (createdAt: number, freshUntil: number, graceUntil: number): Meta => ({
  createdAt,
  freshUntil,
  graceUntil,
  tags: ["t"]
})

describe("invalidateAt", () => {
  it("makes the entry stale from the invalidation's millisecond, keeping its grace from then", () => {
    const m = meta(0, 100, 150)
    invalidateAt(m, 50, false)
    expect([m.freshUntil, m.graceUntil]).toStrictEqual([49, 99])
  })

  it("never raises the times, and a hard one leaves no grace", () => {
    const m = meta(0, 100, 150)
    invalidateAt(m, 200, false)
    expect([m.freshUntil, m.graceUntil]).toStrictEqual([100, 150])
    invalidateAt(m, 50, true)
    expect([m.freshUntil, m.graceUntil]).toStrictEqual([49, 49])
    const forever = meta(0, 100, Infinity)
    invalidateAt(forever, 50, false)
    expect([forever.freshUntil, forever.graceUntil]).toStrictEqual([49, 49])
  })
})

describe("applyTagStates", () => {
  it("applies invalidations made at or after the creation, from the read's time at the latest", () => {
    const before = meta(10, 100, 150)
    applyTagStates(before, [{ soft: { at: 9, hard: false }, hard: undefined }], 20)
    expect([before.freshUntil, before.graceUntil]).toStrictEqual([100, 150])
    const at = meta(10, 100, 150)
    applyTagStates(at, [{ soft: { at: 10, hard: false }, hard: undefined }], 20)
    expect([at.freshUntil, at.graceUntil]).toStrictEqual([9, 59])
    const ahead = meta(10, 100, 150)
    applyTagStates(ahead, [{ soft: { at: 500, hard: false }, hard: undefined }], 20)
    expect([ahead.freshUntil, ahead.graceUntil]).toStrictEqual([19, 69])
  })

  it("makes the entry gone for a hard invalidation, and for a missing tag key", () => {
    const hard = meta(10, 100, 150)
    applyTagStates(hard, [{ soft: { at: 5, hard: false }, hard: { at: 30, hard: true } }], 40)
    expect([hard.freshUntil, hard.graceUntil]).toStrictEqual([29, 29])
    const missing = meta(10, 100, 150)
    applyTagStates(missing, [{ soft: undefined, hard: undefined }], 40)
    expect([missing.freshUntil, missing.graceUntil]).toStrictEqual([9, 9])
  })
})
