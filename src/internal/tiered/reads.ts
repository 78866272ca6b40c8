/**
 * Reads of a tiered cache: an L2 entry as the cache sees it (its header and tags checked), back-filled into L1
 * under the key's ticket, and `get`.
 *
 * @internal
 */
import * as Clock from "#effect/Clock"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Metric from "#effect/Metric"
import * as Option from "#effect/Option"
import type { Entry as BackendEntry } from "../../RemoteCacheBackend.js"
import * as Lease from "../backend/lease.js"
import { wallMillisOf } from "./clock.js"
import * as Entry from "./entry.js"
import { countL1Hit, nowOf } from "./fiber.js"
import { applyTagStates, type Meta } from "./l1.js"
import { l2HitsTotal, missesTotal } from "./metrics.js"
import { type Ticket, type TieredState } from "./state.js"

/** What a read of L2 found: the value, its meta (tags checked), the key's remaining TTL and when it was sent. */
export interface L2Read {
  readonly stored: unknown
  readonly meta: Meta
  readonly left: number
  readonly sentAt: number
}

/**
 * An L2 entry as this cache sees it, its tags checked (one `getMany` of their keys, none when untagged), back-filled
 * into L1 under `ticket`. Returned as it is when no tag needs reading (the usual case: no Effect step), else as the
 * effect reading them.
 */
const readFound = (
  s: TieredState,
  key: string,
  ticket: Ticket,
  found: BackendEntry,
  sentAt: number
): L2Read | undefined | Effect.Effect<L2Read | undefined> => {
  const left = Option.isSome(found.remainingTtl) ? Duration.toMillis(found.remainingTtl.value) : Infinity
  const entry = Entry.readStored(found.value)
  if (entry === Entry.CorruptEntry) {
    return undefined
  }
  if (entry === undefined) {
    // A plain value: fresh until its key expires.
    const until = sentAt + left
    const meta: Meta = { createdAt: -Infinity, freshUntil: until, graceUntil: until, tags: [] }
    backFill(s, key, ticket, sentAt, found.value, meta, left)
    return { stored: found.value, meta, left, sentAt }
  }
  const meta: Meta = {
    createdAt: entry.createdAt,
    freshUntil: entry.freshUntil,
    graceUntil: Math.min(entry.graceUntil, sentAt + left),
    tags: entry.tags
  }
  if (meta.tags.length === 0) {
    backFill(s, key, ticket, sentAt, entry.value, meta, left)
    return { stored: entry.value, meta, left, sentAt }
  }
  return Effect.map(s.tags.readTags(meta.tags), (states) => {
    applyTagStates(meta, states, sentAt)
    backFill(s, key, ticket, sentAt, entry.value, meta, left)
    return { stored: entry.value, meta, left, sentAt }
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

/**
 * Reads L2 under a ticket, the request sent at `sentAt` (wall milliseconds on the caller's clock, read just
 * before): the entry with its meta (tags checked), back-filled into L1, or `undefined`.
 */
const readL2At = (
  s: TieredState,
  key: string,
  ticket: Ticket,
  sentAt: number
): Effect.Effect<L2Read | undefined> =>
  Effect.flatMap(s.remote.getWithTtl(key), (found) => {
    if (Option.isNone(found)) {
      return Effect.succeed(undefined)
    }
    const read = readFound(s, key, ticket, found.value, sentAt)
    return read === undefined || !Effect.isEffect(read) ? Effect.succeed(read) : read
  })

/** The first and the longest wait between two leased reads of a key another process is computing. */
const firstPollMillis = 5
const maxPollMillis = 50

/**
 * Reads L2 under a ticket with a lease on computing the key (`distributedSingleFlight`): the entry as
 * {@link readL2} gives it, or `undefined` when this process should compute it: it holds the lease, or another
 * process held it for longer than the lease (plus a second of memcached's clock) without writing a value. A lease
 * won is handed to `onWon`, so that a computation that fails can give it up.
 * Meanwhile the key is read again, leased (so that the first read after a dead winner's lease takes it over), every
 * 5 ms doubling up to 50 ms. The waits are on Effect's clock, the deadline on the monotonic one.
 */
export const leasedReadL2 = (
  s: TieredState,
  key: string,
  ticket: Ticket,
  leaseRead: Lease.LeaseRead,
  leaseMillis: number,
  onWon: (won: Lease.Won) => void
): Effect.Effect<L2Read | undefined> =>
  Effect.withFiber((fiber) => {
    const attempt = (delay: number, deadline: number | undefined): Effect.Effect<L2Read | undefined> =>
      Effect.suspend(() => {
        const sentAt = wallMillisOf(Clock.fromFiberUnsafe(fiber))
        // `RemoteCache` recovers its failures already (to `Won`); one from elsewhere is recovered the same way.
        const read = Effect.catch(leaseRead(key, leaseMillis), () => Effect.succeed(Lease.won))
        return Effect.flatMap(read, (outcome) => {
          switch (outcome._tag) {
            case "Hit": {
              const read = readFound(s, key, ticket, outcome.entry, sentAt)
              return read === undefined || !Effect.isEffect(read) ? Effect.succeed(read) : read
            }
            case "Won":
              onWon(outcome)
              return Effect.succeed(undefined)
            case "Lost": {
              const now = performance.now()
              const until = deadline ?? now + Math.ceil(leaseMillis / 1000) * 1000 + 1000
              if (now >= until) return Effect.succeed(undefined)
              return Effect.andThen(
                Effect.sleep(Duration.millis(Math.min(delay, until - now))),
                attempt(Math.min(delay * 2, maxPollMillis), until)
              )
            }
          }
        })
      })
    return attempt(firstPollMillis, undefined)
  })

/** Reads L2 under a ticket: the entry with its meta (tags checked), back-filled into L1, or `undefined`. */
export const readL2 = (
  s: TieredState,
  key: string,
  ticket: Ticket
): Effect.Effect<L2Read | undefined> =>
  Effect.withFiber((fiber) => readL2At(s, key, ticket, wallMillisOf(Clock.fromFiberUnsafe(fiber))))

// The ticket of `get` is closed however the read ends, as `withTicket` would, but from the read's own handler (in
// an uninterruptible region, so an interrupted read closes it too): no finalizer effect, no step after it.
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
      Metric.updateWithFiberUnsafe(missesTotal, 1, fiber)
      return Effect.succeedNone
    }
    return Effect.uninterruptibleMask((restore) => {
      const ticket = s.tickets.open(key)
      const sentAt = wallMillisOf(Clock.fromFiberUnsafe(fiber))
      return Effect.matchCauseEffect(restore(readL2At(s, key, ticket, sentAt)), {
        onFailure: (cause) => {
          s.tickets.close(key, ticket)
          return Effect.failCause(cause)
        },
        onSuccess: (read) => {
          s.tickets.close(key, ticket)
          if (read === undefined || read.sentAt > read.meta.freshUntil) {
            Metric.updateWithFiberUnsafe(missesTotal, 1, fiber)
            return Effect.succeedNone
          }
          Metric.updateWithFiberUnsafe(l2HitsTotal, 1, fiber)
          return Effect.succeed(Option.some(read.stored))
        }
      })
    })
  })
