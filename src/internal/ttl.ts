import * as Duration from "effect/Duration"

/**
 * What a caller's TTL means for a write: keep forever, store with a positive expiry in milliseconds, remove
 * (the TTL truncates to 0 ms or less), or reject (`NaN`, unparsable input).
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
 * Resolves a TTL once per call, shared by every backend so they agree on edge cases.
 *
 * `Duration.decode` maps `NaN` to zero, which would silently delete; a cache must reject it instead, so NaN is
 * checked before decoding. Milliseconds are truncated (as the seed did with `int(ttl * 1000)`).
 *
 * @internal
 */
export const resolveTtl = (ttl: Duration.DurationInput | undefined): ResolvedTtl => {
  if (ttl === undefined) return forever
  if (typeof ttl === "number") {
    if (Number.isNaN(ttl)) return { _tag: "Invalid", reason: "TTL is NaN" }
    if (ttl === Infinity) return forever
    const millis = Math.trunc(ttl)
    return millis > 0 ? { _tag: "Millis", millis } : expired
  }
  if (Array.isArray(ttl) && (Number.isNaN(ttl[0]) || Number.isNaN(ttl[1]))) {
    return { _tag: "Invalid", reason: "TTL is NaN" }
  }
  let duration: Duration.Duration
  try {
    duration = Duration.decode(ttl)
  } catch {
    return { _tag: "Invalid", reason: `TTL ${JSON.stringify(String(ttl))} is not a duration` }
  }
  const millis = Duration.toMillis(duration)
  if (millis === Infinity) return forever
  if (Number.isNaN(millis)) return { _tag: "Invalid", reason: "TTL is NaN" }
  const truncated = Math.trunc(millis)
  return truncated > 0 ? { _tag: "Millis", millis: truncated } : expired
}
