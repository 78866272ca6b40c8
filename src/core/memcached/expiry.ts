/**
 * TTLs to memcached expiry times and back.
 *
 * memcached takes an expiry (`exptime`, the meta protocol's `T` flag) in whole seconds, and reads one over 30 days
 * (2,592,000 s) as a Unix time, not a duration: sent as is, a 60-day TTL would be a date in January 1970, an item
 * expired at once. `0` means no expiry. On memcached 1.6.18 the value is a signed 32-bit number: `T2147483647`
 * (2038-01-19) is the last date it keeps, `T2147483648` stores an item already expired and `T4294967296` one that
 * never expires (the number wraps). This module turns a TTL into what to send within those rules, and `mg`'s
 * remaining time (`t`) back into milliseconds. It reads no clock: the caller passes the current time.
 *
 * @internal
 */

/**
 * The longest expiry memcached reads as a duration, in seconds (30 days, `REALTIME_MAXDELTA`); above it a value is
 * a Unix time.
 *
 * @since 0.2.0
 * @category constants
 */
export const maxRelativeSeconds = 2_592_000

/**
 * The latest Unix time memcached keeps as an expiry (2^31 - 1, 2038-01-19T03:14:07Z): its expiry is a signed 32-bit
 * number, and a larger one wraps.
 *
 * @since 0.2.0
 * @category constants
 */
export const maxUnixSeconds = 2 ** 31 - 1

/**
 * What to do for a write with a TTL:
 *
 * - `Exptime`: store with `exptime` as the expiry to send (`0`: no expiry; 1 to {@link maxRelativeSeconds}: that many
 *   seconds from now; above: a Unix time).
 * - `Remove`: the TTL is 0 or less: remove the key, as every backend does, rather than store it.
 * - `Invalid`: the TTL (or the clock reading) is not a number to act on; `reason` says why. Returned, not thrown, so
 *   the caller fails the write with its own typed error.
 *
 * @since 0.2.0
 * @category models
 */
export type Expiry =
  | { readonly _tag: "Exptime"; readonly exptime: number }
  | { readonly _tag: "Remove" }
  | { readonly _tag: "Invalid"; readonly reason: string }

const never: Expiry = { _tag: "Exptime", exptime: 0 }
const remove: Expiry = { _tag: "Remove" }

/**
 * The expiry to send for a TTL of `ttlMillis` milliseconds (`undefined`: none), written at `nowMillis` (Unix
 * milliseconds, the caller's clock).
 *
 * - No TTL: `0`, no expiry.
 * - `NaN` or an infinite TTL: `Invalid`. (The backend's TTL resolution already turns an infinite duration into no
 *   TTL; an infinity reaching this function is a mistake, not a choice.)
 * - The milliseconds are truncated first, as the other backends do, so a TTL under 1 ms removes everywhere alike.
 *   0 or less: `Remove`.
 * - Up to 30 days: the seconds, rounded up, so a TTL under a second is 1 s and never 0 (which would mean no expiry),
 *   and an item never expires before its TTL because of rounding; exactly 30 days is 2,592,000, still a duration.
 * - Over 30 days: the Unix time `nowMillis + ttl`, in seconds rounded up. The server compares it with its own
 *   clock, so a clock difference between client and server shifts such an expiry by that difference (nothing next
 *   to a month). Past {@link maxUnixSeconds} it is that time: the item expires in January 2038, earlier than asked,
 *   which a cache may always do (memcached evicts early anyway), and never later than asked. When even that is not
 *   in the future (the clock is past 2038), the result is `Invalid`: memcached cannot keep such an item.
 *
 * @since 0.2.0
 * @category conversions
 */
export const toExpiry = (ttlMillis: number | undefined, nowMillis: number): Expiry => {
  if (ttlMillis === undefined) return never
  if (Number.isNaN(ttlMillis)) return { _tag: "Invalid", reason: "TTL is NaN" }
  if (!Number.isFinite(ttlMillis)) return { _tag: "Invalid", reason: "TTL is infinite" }
  const millis = Math.trunc(ttlMillis)
  if (millis <= 0) return remove
  const seconds = Math.ceil(millis / 1000)
  if (seconds <= maxRelativeSeconds) return { _tag: "Exptime", exptime: seconds }
  if (!Number.isFinite(nowMillis) || nowMillis < 0) {
    return { _tag: "Invalid", reason: `the current time ${String(nowMillis)} is not a Unix time in milliseconds` }
  }
  // A sum past 2^53 loses precision, but then it is far past maxUnixSeconds and capped anyway.
  const unixSeconds = Math.min(Math.ceil((nowMillis + millis) / 1000), maxUnixSeconds)
  if (unixSeconds * 1000 <= nowMillis) {
    return { _tag: "Invalid", reason: "memcached cannot keep an item past 2038-01-19T03:14:07Z (Unix time 2^31 - 1)" }
  }
  return { _tag: "Exptime", exptime: unixSeconds }
}

/**
 * An item's remaining time as `mg … t` reports it:
 *
 * - `NoExpiry`: `t-1`, the item never expires.
 * - `Remaining`: `millis` until it expires: the reported whole seconds × 1000, so accurate to a second (memcached's
 *   clock ticks once a second; `0` means it expires within the second).
 * - `Invalid`: not an integer of at least -1; `reason` says what was received.
 *
 * @since 0.2.0
 * @category models
 */
export type RemainingTtl =
  | { readonly _tag: "NoExpiry" }
  | { readonly _tag: "Remaining"; readonly millis: number }
  | { readonly _tag: "Invalid"; readonly reason: string }

const noExpiry: RemainingTtl = { _tag: "NoExpiry" }

/**
 * Reads the value of `mg`'s `t` flag, as its token's text (`"-1"`, `"3600"`) or a number already parsed.
 *
 * @since 0.2.0
 * @category conversions
 */
export const remainingTtl = (t: number | string): RemainingTtl => {
  const seconds = typeof t === "number" ? t : /^-?\d+$/.test(t) ? Number(t) : NaN
  if (seconds === -1) return noExpiry
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    return { _tag: "Invalid", reason: `a remaining time must be an integer of at least -1, not ${String(t)}` }
  }
  return { _tag: "Remaining", millis: seconds * 1000 }
}
