import { describe, expect, it } from "vitest"
import { formatDuration, OutageTracker } from "../../src/core/outage.js"

const tracker = (threshold = 2, repeatEveryMillis = 300_000) => new OutageTracker({ threshold, repeatEveryMillis })

describe("core/outage", () => {
  it("one failure between successes is a blip, not an outage; the threshold's failure starts one", () => {
    const t = tracker()
    expect(t.failure(0)).toBeUndefined()
    expect(t.success(200)).toBeUndefined()
    expect(t.inOutage).toBe(false)
    expect(t.failure(1000)).toBeUndefined()
    expect(t.failure(1100)).toStrictEqual({ _tag: "Started", failures: 2, elapsedMillis: 100 })
    expect(t.inOutage).toBe(true)
  })

  it("a blip then a real outage a moment later: the real one is said, and its end with its duration", () => {
    const t = tracker()
    // The blip, long enough to be an outage of its own: said, ended.
    expect(t.failure(0)?._tag).toBeUndefined()
    expect(t.failure(50)?._tag).toBe("Started")
    expect(t.success(200)).toStrictEqual({ _tag: "Ended", failures: 2, durationMillis: 200 })
    // One second later the real one: said again at once, nothing held back.
    t.failure(1200)
    expect(t.failure(1300)?._tag).toBe("Started")
    for (let i = 0; i < 10; i++) expect(t.failure(1400 + i * 100)).toBeUndefined()
    expect(t.success(5200)).toStrictEqual({ _tag: "Ended", failures: 12, durationMillis: 4000 })
  })

  it("a long outage is said again every repeatEvery, on failures or on ticks, and not more often", () => {
    const t = tracker(2, 1000)
    t.failure(0)
    expect(t.failure(10)?._tag).toBe("Started")
    expect(t.failure(500)).toBeUndefined()
    expect(t.tick(900)).toBeUndefined()
    expect(t.failure(1010)).toStrictEqual({ _tag: "Continuing", failures: 4, elapsedMillis: 1010 })
    expect(t.failure(1500)).toBeUndefined()
    expect(t.tick(2010)).toStrictEqual({ _tag: "Continuing", failures: 5, elapsedMillis: 2010 })
    expect(t.tick(2011)).toBeUndefined()
    expect(t.success(2500)?._tag).toBe("Ended")
    // No outage: ticks say nothing.
    expect(t.tick(10_000)).toBeUndefined()
  })

  it("threshold 1 makes every first failure an outage; a success with no outage says nothing", () => {
    const t = tracker(1)
    expect(t.success(0)).toBeUndefined()
    expect(t.failure(5)).toStrictEqual({ _tag: "Started", failures: 1, elapsedMillis: 0 })
    expect(t.success(5)).toStrictEqual({ _tag: "Ended", failures: 1, durationMillis: 0 })
  })

  it("a clock that goes back is read as standing still", () => {
    const t = tracker()
    t.failure(1000)
    expect(t.failure(900)).toStrictEqual({ _tag: "Started", failures: 2, elapsedMillis: 0 })
    expect(t.success(800)).toStrictEqual({ _tag: "Ended", failures: 2, durationMillis: 0 })
  })

  it("durations for humans", () => {
    expect([0, 850, 4230, 59_999, 60_000, 192_000, 3_600_000, 7_500_000].map(formatDuration)).toStrictEqual([
      "0 ms",
      "850 ms",
      "4.2 s",
      "59.9 s",
      "1 min",
      "3 min 12 s",
      "1 h",
      "2 h 5 min"
    ])
  })
})
