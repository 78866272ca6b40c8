import { Duration } from "effect"
import { describe, expect, it } from "vitest"
import { durationMillis, rawMillis } from "../../src/internal/duration.js"
import { checkFreshness } from "../../src/internal/tiered/options.js"
import * as Policy from "../../src/Policy.js"
import * as RemoteCache from "../../src/RemoteCache.js"

describe("durationMillis: Effect's duration inputs, without Duration.decode's silent zeros", () => {
  it("sees NaN and negative inputs that Duration.decode turns into 0", () => {
    expect(Duration.toMillis(Duration.decode(NaN))).toBe(0)
    expect(rawMillis(NaN)).toBeNaN()
    expect(rawMillis(-5)).toBe(-5)
    expect(rawMillis("-5 seconds")).toBe(-5000)
    expect(rawMillis([1, NaN])).toBeNaN()
    expect(rawMillis([-1, 0])).toBe(-1000)
    expect(rawMillis(BigInt(2_000_000))).toBe(2)
    expect(rawMillis(Duration.seconds(3))).toBe(3000)
    expect(rawMillis("3 minutes")).toBe(180_000)
    expect(rawMillis(Duration.infinity)).toBe(Infinity)
    expect(rawMillis("soon")).toBeUndefined()
    expect(rawMillis({})).toBeUndefined()
    expect(rawMillis([1])).toBeUndefined()
  })

  it("names the option in every message", () => {
    expect(durationMillis("soon", "commandTimeout")).toStrictEqual({
      _tag: "Invalid",
      message: "commandTimeout is not a duration"
    })
    expect(durationMillis("-1 seconds", "grace", { allowZero: true })).toStrictEqual({
      _tag: "Invalid",
      message: "grace must not be negative"
    })
  })

  it("Policy.timeout and logOutages refuse a NaN, negative or unparsable duration when made", () => {
    expect(() => Policy.timeout(NaN)).toThrow("Policy.timeout duration is NaN")
    expect(() => Policy.timeout(-1)).toThrow("must not be negative")
    expect(() => Policy.timeout("soon" as Duration.DurationInput)).toThrow("is not a duration")
    expect(() => Policy.timeout(0)).not.toThrow()
    expect(() => Policy.timeout(Duration.infinity)).not.toThrow()
    expect(() => RemoteCache.logOutages({ minInterval: NaN })).toThrow("logOutages minInterval is NaN")
  })

  it("the tiered cache's freshness options: NaN and negative ones refused, zero and infinity kept", () => {
    const grace = checkFreshness({ grace: -1 }, "TieredCache")
    expect(grace._tag === "Left" && grace.left.message).toBe("TieredCache grace must not be negative")
    const timeout = checkFreshness({ timeout: NaN }, "TieredCache call")
    expect(timeout._tag === "Left" && timeout.left.message).toBe("TieredCache call timeout is NaN")
    const kept = checkFreshness({ timeout: 0, grace: Duration.infinity }, "TieredCache")
    expect(kept._tag === "Right" && kept.right).toEqual({ timeout: 0, grace: Infinity })
  })
})
