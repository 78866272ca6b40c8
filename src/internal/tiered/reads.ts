/**
 * Reads of a tiered cache: an L2 entry as the cache sees it (its header and tags checked), back-filled into L1
 * under the key's ticket, and `get`.
 *
 * @internal
 */
import * as Clock from "#effect/Clock"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Option from "#effect/Option"
import type { Entry as BackendEntry } from "../../RemoteCacheBackend.js"
import * as Metrics from "../telemetry/metrics.js"
import * as Entry from "./entry.js"
import { countL1Hit, nowOf } from "./fiber.js"
import { applyTagStates, type Meta } from "./l1.js"
import { l2HitsTotal, missesTotal } from "./metrics.js"
import { type Ticket, type TieredState } from "./state.js"

/** An L2 entry as this cache sees it, its tags checked (one `getMany` of their keys, none when untagged). */
const readMeta = (
  s: TieredState,
  found: BackendEntry,
  sentAt: number
): Effect.Effect<{ readonly stored: unknown; readonly meta: Meta; readonly left: number } | undefined> => {
  const left = Option.isSome(found.remainingTtl) ? Duration.toMillis(found.remainingTtl.value) : Infinity
  const entry = Entry.readStored(found.value)
  if (entry === Entry.CorruptEntry) {
    return Effect.succeed(undefined)
  }
  if (entry === undefined) {
    // A plain value: fresh until its key expires.
    const until = sentAt + left
    return Effect.succeed({
      stored: found.value,
      meta: { createdAt: -Infinity, freshUntil: until, graceUntil: until, tags: [] },
      left
    })
  }
  const meta: Meta = {
    createdAt: entry.createdAt,
    freshUntil: entry.freshUntil,
    graceUntil: Math.min(entry.graceUntil, sentAt + left),
    tags: entry.tags
  }
  if (meta.tags.length === 0) {
    return Effect.succeed({ stored: entry.value, meta, left })
  }
  return Effect.map(s.tags.readTags(meta.tags), (states) => {
    applyTagStates(meta, states, sentAt)
    return { stored: entry.value, meta, left }
  })
}

/** Back-fills L1 from an L2 hit, unless the key was invalidated since the request was sent at `sentAt`. */
const backFill = (
  s: TieredState,
  key: string,
  ticket: Ticket,
  sentAt: number,
  stored: unknown,
  meta: Meta,
  left: number
) => {
  if (ticket.stale || ticket.notInL1) {
    return
  }
  if (left > 0 && meta.graceUntil >= sentAt) {
    s.l1.put(key, stored, s.l1ExpiresAt(sentAt, left), meta)
  }
}

/** Reads L2 under a ticket: the entry with its meta (tags checked), back-filled into L1, or `undefined`. */
export const readL2 = (
  s: TieredState,
  key: string,
  ticket: Ticket
) =>
  Effect.flatMap(Clock.currentTimeMillis, (sentAt) =>
    Effect.flatMap(s.remote.getWithTtl(key), (found) => {
      if (Option.isNone(found)) {
        return Effect.succeed(undefined)
      }
      return Effect.map(readMeta(s, found.value, sentAt), (read) => {
        if (read === undefined) {
          return undefined
        }
        backFill(s, key, ticket, sentAt, read.stored, read.meta, read.left)
        return { ...read, sentAt }
      })
    }))

export const get = (
  s: TieredState,
  key: string
): Effect.Effect<Option.Option<unknown>> =>
  Effect.withFiber((fiber) => {
    const now = nowOf(fiber)
    const entry = s.l1.lookup(key, now)
    if (entry !== undefined) {
      if (now <= entry.meta.freshUntil) {
        countL1Hit(fiber)
        return entry.someExit
      }
      // Stale: kept in L1 for getOrCompute's grace, not an answer for get.
      return Effect.as(Metrics.increment(missesTotal), Option.none())
    }
    return s.withTicket(key, (ticket) =>
      Effect.flatMap(readL2(s, key, ticket), (read) => {
        if (read === undefined || read.sentAt > read.meta.freshUntil) {
          return Effect.as(Metrics.increment(missesTotal), Option.none())
        }
        return Effect.as(Metrics.increment(l2HitsTotal), Option.some(read.stored))
      }))
  })
