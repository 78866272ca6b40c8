import * as Duration from "#effect/Duration"
import * as Option from "#effect/Option"

/**
 * What a caller's TTL means for a write: keep forever, store with a positive expiry in milliseconds, remove
 * (the TTL truncates to 0 ms or less), or reject (`NaN`, unparsable input). `millis` is a safe integer.
 *
 * @internal
 */
export type ResolvedTtl =
  | { readonly _tag: "Forever" }
  | { readonly _tag: "Millis"; readonly millis: number }
  | { readonly _tag: "Expired" }
  | { readonly _tag: "Invalid"; readonly reason: string }

const forever: ResolvedTtl = { _tag: "Forever" }
const expired: ResolvedTtl = { _tag: "Expired" }

/**
 * The longest TTL kept as an expiry, in milliseconds (`Number.MAX_SAFE_INTEGER`, about 285,000 years); a longer
 * finite one means no expiry, as an infinite one does.
 *
 * Redis refuses an expiry past 2^63 - 1 ms since the epoch (`ERR invalid expire time`), and from 1e21 on a number
 * prints in exponent form, which it cannot parse at all; either way the write would fail and leave the old value
 * in place. Rejecting instead would make `1e19` fail while `Infinity` succeeds, for TTLs that all outlive any
 * process. The bound is fixed (not Redis' moving `2^63 - 1 - now`) so that every backend draws the line at the
 * same place, and it keeps the milliseconds exact integers.
 *
 * @internal
 */
export const maxTtlMillis = Number.MAX_SAFE_INTEGER

const finite = (millis: number): ResolvedTtl => {
  const truncated = Math.trunc(millis)
  if (truncated <= 0) return expired
  return truncated > maxTtlMillis ? forever : { _tag: "Millis", millis: truncated }
}

/**
 * Resolves a TTL once per call, shared by every backend so they agree on edge cases.
 *
 * Effect 3's `Duration.decode` maps `NaN` to zero, which would silently delete; a cache must reject it instead, so
 * NaN is checked before decoding. Milliseconds are truncated (a fraction of a millisecond is dropped); beyond
 * {@link maxTtlMillis} a TTL means no expiry.
 *
 * @internal
 */
export const resolveTtl = (ttl: Duration.Input | undefined): ResolvedTtl => {
  if (ttl === undefined) return forever
  if (typeof ttl === "number") {
    if (Number.isNaN(ttl)) return { _tag: "Invalid", reason: "TTL is NaN" }
    return finite(ttl)
  }
  if (Array.isArray(ttl) && (Number.isNaN(ttl[0]) || Number.isNaN(ttl[1]))) {
    return { _tag: "Invalid", reason: "TTL is NaN" }
  }
  const duration = Duration.fromInput(ttl)
  if (Option.isNone(duration)) {
    return { _tag: "Invalid", reason: `TTL ${JSON.stringify(String(ttl))} is not a duration` }
  }
  const millis = Duration.toMillis(duration.value)
  if (Number.isNaN(millis)) return { _tag: "Invalid", reason: "TTL is NaN" }
  return finite(millis)
}
