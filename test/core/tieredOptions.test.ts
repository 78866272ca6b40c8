import { describe, expect, it } from "vitest"
import { checkMillis } from "../../src/core/options/millis.js"
import { checkFreshnessWith, isInvalidFreshness } from "../../src/core/tiered/options.js"

// Durations given as plain milliseconds: what a face hands over once it has decoded its own duration type.
const millis = (input: number, name: string) => checkMillis(input, name, { allowZero: true })
const check = (given: Parameters<typeof checkFreshnessWith<number>>[0]) => checkFreshnessWith(given, "T", millis)

describe("checkFreshnessWith", () => {
  it("answers the options in milliseconds, zero and Infinity included", () => {
    const checked = check({ grace: 0, graceBackoff: 5, timeout: Infinity, hardTimeout: 1, earlyRefresh: 0.5 })
    expect(isInvalidFreshness(checked)).toBe(false)
    expect(checked).toStrictEqual({ grace: 0, graceBackoff: 5, timeout: Infinity, hardTimeout: 1, earlyRefresh: 0.5 })
    expect(check({})).toStrictEqual({})
  })

  it("refuses NaN and negative durations, naming the first bad option", () => {
    expect(check({ grace: -1, timeout: NaN })).toStrictEqual({
      _tag: "Invalid",
      message: "T grace must not be negative"
    })
    expect(check({ timeout: NaN })).toStrictEqual({ _tag: "Invalid", message: "T timeout is NaN" })
  })

  it("refuses a hard timeout of zero", () => {
    expect(check({ hardTimeout: 0 })).toStrictEqual({
      _tag: "Invalid",
      message: "T hardTimeout must be a positive duration"
    })
  })

  it("takes an early refresh strictly between 0 and 1", () => {
    for (const early of [0, 1, -0.5, 1.5, NaN]) {
      const checked = check({ earlyRefresh: early })
      expect(isInvalidFreshness(checked) && checked.message).toBe(
        `T earlyRefresh must be a fraction between 0 and 1, got ${early}`
      )
    }
    expect(check({ earlyRefresh: Number.EPSILON })).toStrictEqual({ earlyRefresh: Number.EPSILON })
  })
})
