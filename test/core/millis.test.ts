import { describe, expect, it } from "vitest"
import { checkMillis, maxTimerMillis } from "../../src/core/options/millis.js"

describe("checkMillis: one rule for every duration option", () => {
  it("refuses NaN and negative durations whatever the rule", () => {
    expect(checkMillis(NaN, "x", { allowZero: true })).toStrictEqual({ _tag: "Invalid", message: "x is NaN" })
    expect(checkMillis(-1, "x", { allowZero: true })).toStrictEqual({
      _tag: "Invalid",
      message: "x must not be negative"
    })
  })

  it("zero only when allowed, infinity unless finite is asked, capped for a timer", () => {
    expect(checkMillis(0, "x")._tag).toBe("Invalid")
    expect(checkMillis(0, "x", { allowZero: true })).toStrictEqual({ _tag: "Valid", millis: 0 })
    expect(checkMillis(Infinity, "x")).toStrictEqual({ _tag: "Valid", millis: Infinity })
    expect(checkMillis(Infinity, "x", { finite: true })).toStrictEqual({ _tag: "Invalid", message: "x must be finite" })
    expect(checkMillis(Infinity, "x", { timer: true })).toStrictEqual({ _tag: "Valid", millis: maxTimerMillis })
    expect(checkMillis(1.5, "x")).toStrictEqual({ _tag: "Valid", millis: 1.5 })
  })
})
