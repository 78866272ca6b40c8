import { describe, expect, it } from "vitest"
import {
  applyTagStates,
  backingOff,
  earlyRefreshDue,
  freshnessAt,
  invalidateAt,
  type Meta
} from "../../src/core/tiered/freshness.js"

const meta = (createdAt: number, freshUntil: number, graceUntil: number): Meta => ({
  createdAt,
  freshUntil,
  graceUntil,
  tags: ["t"]
})

describe("freshnessAt", () => {
  it("is fresh through the end of the fresh period, stale through the end of grace, then gone", () => {
    const m = meta(0, 100, 150)
    expect(freshnessAt(m, 0)).toBe("fresh")
    expect(freshnessAt(m, 100)).toBe("fresh")
    expect(freshnessAt(m, 100.5)).toBe("stale")
    expect(freshnessAt(m, 150)).toBe("stale")
    expect(freshnessAt(m, 150.001)).toBe("gone")
    expect(freshnessAt(meta(0, 100, 100), 100.001)).toBe("gone")
    expect(freshnessAt(meta(0, Infinity, Infinity), Number.MAX_VALUE)).toBe("fresh")
  })
})

describe("earlyRefreshDue", () => {
  it("is due once the fraction of the fresh period has passed, from that instant on", () => {
    const m = meta(1000, 2000, 2000)
    expect(earlyRefreshDue(m, 1799.999, 0.8)).toBe(false)
    expect(earlyRefreshDue(m, 1800, 0.8)).toBe(true)
    expect(earlyRefreshDue(m, 2000, 0.8)).toBe(true)
  })

  it("is never due without the option, or for an entry fresh for ever", () => {
    expect(earlyRefreshDue(meta(0, 100, 100), 99, undefined)).toBe(false)
    expect(earlyRefreshDue(meta(0, Infinity, Infinity), 1e15, 0.1)).toBe(false)
  })

  it("is always due for a plain value with a fresh period (its creation unknown)", () => {
    expect(earlyRefreshDue(meta(-Infinity, 100, 100), 0, 0.9)).toBe(true)
  })
})

describe("backingOff", () => {
  it("backs off until the instant the backoff ends", () => {
    expect(backingOff(undefined, 0)).toBe(false)
    expect(backingOff(100, 99.999)).toBe(true)
    expect(backingOff(100, 100)).toBe(false)
  })
})

describe("invalidateAt", () => {
  it("makes the entry stale from the invalidation's millisecond, keeping its grace from then", () => {
    const m = meta(0, 100, 150)
    invalidateAt(m, 50, false)
    expect([m.freshUntil, m.graceUntil]).toStrictEqual([49, 99])
    expect(freshnessAt(m, 49)).toBe("fresh")
    expect(freshnessAt(m, 50)).toBe("stale")
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
    expect(freshnessAt(missing, 10)).toBe("gone")
  })
})
