/**
 * What a tiered cache stores for a write: the value alone, or an entry with its header, and its L2 TTL.
 *
 * @internal
 */
import type * as Duration from "#effect/Duration"
import { resolveTtl } from "../backend/ttl.js"
import * as Entry from "./entry.js"
import type { Meta } from "./l1.js"

/**
 * What to store for a write: the value alone when nothing but its TTL matters (the bytes are then exactly the
 * plain value's, readable by `RemoteCache` and by older versions), else a `TieredEntry` with its header. `meta`
 * is `undefined` when the write stores nothing (a TTL of 0 or less) or is refused (an invalid TTL, which the
 * backend reports as before).
 *
 * @internal
 */
export const planWrite = (
  stored: unknown,
  ttl: Duration.Input | undefined,
  grace: number,
  tags: ReadonlyArray<string>,
  early: number | undefined,
  createdAt: number,
  sentAt: number
): { readonly stored: unknown; readonly l2Ttl: Duration.Input | undefined; readonly meta?: Meta } => {
  const resolved = resolveTtl(ttl)
  if (resolved._tag === "Invalid" || resolved._tag === "Expired") {
    return { stored, l2Ttl: ttl }
  }
  const ttlMillis = resolved._tag === "Millis" ? resolved.millis : Infinity
  const graceMillis = ttlMillis === Infinity ? 0 : grace
  const freshUntil = sentAt + ttlMillis
  const graceUntil = freshUntil + graceMillis
  const header = graceMillis > 0 || tags.length > 0 || (early !== undefined && ttlMillis !== Infinity)
  return {
    stored: header ? new Entry.TieredEntry(stored, createdAt, freshUntil, graceUntil, tags) : stored,
    l2Ttl: ttlMillis === Infinity ? undefined : ttlMillis + graceMillis,
    meta: { createdAt: header ? createdAt : -Infinity, freshUntil, graceUntil, tags }
  }
}
