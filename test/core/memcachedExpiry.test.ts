import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { maxRelativeSeconds, maxUnixSeconds, remainingTtl, toExpiry } from "../../src/core/memcached/expiry.js"

const day = 86_400_000
const thirtyDays = 30 * day
// 2026-12-06T00:00:00Z, in milliseconds.
const now = 1_796_515_200_000

describe("core/memcached/expiry: TTLs to memcached expiry times", () => {
  it("no TTL is no expiry; NaN and infinities are rejected as values, not thrown", () => {
    expect(toExpiry(undefined, now)).toStrictEqual({ _tag: "Exptime", exptime: 0 })
    expect(toExpiry(NaN, now)).toStrictEqual({ _tag: "Invalid", reason: "TTL is NaN" })
    expect(toExpiry(Infinity, now)).toStrictEqual({ _tag: "Invalid", reason: "TTL is infinite" })
    expect(toExpiry(-Infinity, now)).toStrictEqual({ _tag: "Invalid", reason: "TTL is infinite" })
  })

  it("a TTL of 0 or less, or under 1 ms, removes", () => {
    for (const ttl of [0, -0, -1, -thirtyDays, 0.999, Number.MIN_VALUE, -Number.MAX_SAFE_INTEGER]) {
      expect(toExpiry(ttl, now)).toStrictEqual({ _tag: "Remove" })
    }
  })

  it("up to 30 days: seconds rounded up, never 0 for a positive TTL", () => {
    expect(toExpiry(1, now)).toStrictEqual({ _tag: "Exptime", exptime: 1 })
    expect(toExpiry(999, now)).toStrictEqual({ _tag: "Exptime", exptime: 1 })
    expect(toExpiry(1000, now)).toStrictEqual({ _tag: "Exptime", exptime: 1 })
    expect(toExpiry(1001, now)).toStrictEqual({ _tag: "Exptime", exptime: 2 })
    expect(toExpiry(1001.9, now)).toStrictEqual({ _tag: "Exptime", exptime: 2 })
    expect(toExpiry(3_600_000, now)).toStrictEqual({ _tag: "Exptime", exptime: 3600 })
    // Exactly 30 days is still read as a duration by memcached (it compares with "greater than").
    expect(toExpiry(thirtyDays, now)).toStrictEqual({ _tag: "Exptime", exptime: maxRelativeSeconds })
    expect(toExpiry(thirtyDays - 1, now)).toStrictEqual({ _tag: "Exptime", exptime: maxRelativeSeconds })
  })

  it("over 30 days: the Unix time now + TTL, in seconds rounded up", () => {
    expect(toExpiry(thirtyDays + 1, now)).toStrictEqual({
      _tag: "Exptime",
      exptime: Math.ceil((now + thirtyDays + 1) / 1000)
    })
    expect(toExpiry(thirtyDays + 1, now)).toStrictEqual({ _tag: "Exptime", exptime: 1_799_107_201 })
    expect(toExpiry(60 * day, now)).toStrictEqual({ _tag: "Exptime", exptime: 1_796_515_200 + 60 * 86_400 })
    expect(toExpiry(60 * day, now + 1)).toStrictEqual({ _tag: "Exptime", exptime: 1_796_515_200 + 60 * 86_400 + 1 })
    // A clock that is not a time cannot place it.
    for (const clock of [NaN, -1, Infinity]) expect(toExpiry(60 * day, clock)._tag).toBe("Invalid")
    // Under 30 days the clock is not read at all.
    expect(toExpiry(1000, NaN)).toStrictEqual({ _tag: "Exptime", exptime: 1 })
  })

  it("past 2038 memcached cannot go: capped at 2^31 - 1 (earlier, never later), refused once that is past", () => {
    expect(toExpiry(Number.MAX_SAFE_INTEGER, now)).toStrictEqual({ _tag: "Exptime", exptime: maxUnixSeconds })
    expect(toExpiry(1e300, now)).toStrictEqual({ _tag: "Exptime", exptime: maxUnixSeconds })
    const last = maxUnixSeconds * 1000
    expect(toExpiry(last - now, now)).toStrictEqual({ _tag: "Exptime", exptime: maxUnixSeconds })
    expect(toExpiry(last - now - 1000, now)).toStrictEqual({ _tag: "Exptime", exptime: maxUnixSeconds - 1 })
    expect(toExpiry(60 * day, last)._tag).toBe("Invalid")
    expect(toExpiry(60 * day, last - 1)).toStrictEqual({ _tag: "Exptime", exptime: maxUnixSeconds })
    // A short TTL is a duration and needs no date, so it still works after 2038.
    expect(toExpiry(day, last + day)).toStrictEqual({ _tag: "Exptime", exptime: 86_400 })
  })

  it("any finite positive TTL: an expiry memcached keeps, never before the TTL, never past it by more than 1 s", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: 2_000_000_000_000 }),
        (ttl, clock) => {
          const expiry = toExpiry(ttl, clock)
          if (expiry._tag !== "Exptime") throw new Error(`unexpected ${expiry._tag}`)
          expect(expiry.exptime).toBeGreaterThan(0)
          expect(expiry.exptime).toBeLessThanOrEqual(maxUnixSeconds)
          // When the expiry it means falls at or before 2038: at or after now + ttl, within the second.
          const end = expiry.exptime <= maxRelativeSeconds ? clock + expiry.exptime * 1000 : expiry.exptime * 1000
          if ((clock + ttl) / 1000 <= maxUnixSeconds) {
            expect(end).toBeGreaterThanOrEqual(clock + ttl)
            expect(end).toBeLessThan(clock + ttl + 1000)
          } else {
            expect(expiry.exptime).toBe(maxUnixSeconds)
          }
        }
      ),
      { numRuns: 2_000 }
    )
  })
})

describe("core/memcached/expiry: mg's remaining time back", () => {
  it("-1 is no expiry, whole seconds are milliseconds, anything else is rejected", () => {
    expect(remainingTtl(-1)).toStrictEqual({ _tag: "NoExpiry" })
    expect(remainingTtl("-1")).toStrictEqual({ _tag: "NoExpiry" })
    expect(remainingTtl(0)).toStrictEqual({ _tag: "Remaining", millis: 0 })
    expect(remainingTtl("3600")).toStrictEqual({ _tag: "Remaining", millis: 3_600_000 })
    expect(remainingTtl(2_592_000)).toStrictEqual({ _tag: "Remaining", millis: thirtyDays })
    for (const bad of [-2, 1.5, NaN, Infinity, "", "1e3", "12a", " 1", "99999999999999999999", "-"]) {
      expect(remainingTtl(bad)._tag).toBe("Invalid")
    }
  })
})
