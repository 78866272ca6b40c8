import { describe, expect, it } from "vitest"
import { invalidationStamp, Stamps, STEP } from "../../src/core/tiered/stamps.js"

describe("Stamps", () => {
  it("follows the clock, and steps below the millisecond when it stands still or goes back", () => {
    const stamps = new Stamps()
    expect(stamps.next(1000)).toBe(1000)
    expect(stamps.next(1000)).toBe(1000 + STEP)
    expect(stamps.next(999)).toBe(1000 + 2 * STEP)
    expect(stamps.next(1001)).toBe(1001)
  })

  it("stays after every finite time observed, and ignores non-finite ones", () => {
    const stamps = new Stamps()
    stamps.observe(5000.5)
    expect(stamps.next(1000)).toBe(5000.5 + STEP)
    stamps.observe(NaN)
    stamps.observe(Infinity)
    stamps.observe(10)
    expect(stamps.next(1000)).toBe(5000.5 + 2 * STEP)
  })

  it("stays exact near today's epoch milliseconds", () => {
    const stamps = new Stamps()
    const now = 1_767_000_000_000
    const first = stamps.next(now)
    const second = stamps.next(now)
    expect(second - first).toBe(STEP)
  })
})

describe("invalidationStamp", () => {
  it("is the last instant of the millisecond, after every stamp made in it", () => {
    const stamps = new Stamps()
    const at = invalidationStamp(stamps, 1000.25)
    expect(at).toBe(1001 - STEP)
    // An entry created later in the same millisecond is newer than the invalidation.
    expect(stamps.next(1000.5)).toBeGreaterThan(at)
    // A second invalidation in that millisecond lies past its end, after the first.
    expect(invalidationStamp(stamps, 1000.75)).toBeGreaterThan(at)
  })
})
