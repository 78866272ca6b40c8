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
import { monoOf, wallMillisOf } from "./clock.js"
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
 * A leased read made for a refresh (see `claim.ts`): it also claims the entry's refresh across processes when the
 * entry has less than `recacheSeconds` to live in L2, and takes a value found only when it is the refreshed one.
 */
export interface RefreshClaim {
  /** Claim the refresh of an entry with less than this to live (memcached's `R`); `undefined`: claim nothing. */
  readonly recacheSeconds: number | undefined
  /** Whether a value found is the refreshed one (fresh, its early refresh not due): taken instead of computing. */
  readonly accept: (read: L2Read) => boolean
}

/**
 * Reads L2 under a ticket with a lease on computing the key (`distributedSingleFlight`): the entry as
 * {@link readL2} gives it, or `undefined` when this process should compute it: it holds the lease, or another
 * process held it for longer than the lease (plus a second of memcached's clock) without writing a value. A lease
 * won is handed to `onWon`, so that a computation that fails can give it up.
 * Meanwhile the key is read again, leased (so that the first read after a dead winner's lease takes it over), every
 * 5 ms doubling up to 50 ms. The waits and the deadline are on the caller's clock (its monotonic time), so that a
 * `TestClock` moves both.
 *
 * With a `claim` (a refresh), a value found is returned only when `claim.accept`s it. Else the key is read once
 * more, claiming its refresh (only then: a claim on a value just refreshed would take the win token that value's own
 * refresh needs later): the refresh is this process's (`undefined`) when it won the claim or the entry could not be
 * claimed, and when another process holds the claim the key is read again as above until the refreshed value
 * appears or the lease has passed.
 */
export const leasedReadL2 = (
  s: TieredState,
  key: string,
  ticket: Ticket,
  leaseRead: Lease.LeaseRead,
  leaseMillis: number,
  onWon: (won: Lease.Won) => void,
  claim?: RefreshClaim
): Effect.Effect<L2Read | undefined> =>
  Effect.withFiber((fiber) => {
    const attempt = (
      delay: number,
      deadline: number | undefined,
      claiming: boolean
    ): Effect.Effect<L2Read | undefined> =>
      Effect.suspend(() => {
        const sentAt = wallMillisOf(Clock.fromFiberUnsafe(fiber))
        // `RemoteCache` recovers its failures already (to `Won`); one from elsewhere is recovered the same way.
        const read = Effect.catch(
          leaseRead(key, leaseMillis, claiming ? claim?.recacheSeconds : undefined),
          () => Effect.succeed(Lease.won)
        )
        // Another process computes (or refreshes) the key: read again after `delay`, or compute past the deadline.
        const wait = (): Effect.Effect<L2Read | undefined> => {
          const now = monoOf(Clock.fromFiberUnsafe(fiber))
          const until = deadline ?? now + Math.ceil(leaseMillis / 1000) * 1000 + 1000
          if (now >= until) return Effect.succeed(undefined)
          return Effect.andThen(
            Effect.sleep(Duration.millis(Math.min(delay, until - now))),
            attempt(Math.min(delay * 2, maxPollMillis), until, false)
          )
        }
        return Effect.flatMap(read, (outcome) => {
          switch (outcome._tag) {
            case "Hit": {
              const found = readFound(s, key, ticket, outcome.entry, sentAt)
              if (claim === undefined) {
                return found === undefined || !Effect.isEffect(found) ? Effect.succeed(found) : found
              }
              const judge = (found: L2Read | undefined): Effect.Effect<L2Read | undefined> => {
                if (found !== undefined && claim.accept(found)) return Effect.succeed(found)
                // The claim's answer: another process refreshes (wait for it), or this one (won, or unclaimable).
                if (claiming) {
                  if (outcome.claim === "lost") return wait()
                  // Won: nothing to give back (the token goes with the next write), but the write is the claim's.
                  if (outcome.claim === "won") onWon({ _tag: "Won", release: Effect.void, write: outcome.write })
                  return Effect.succeed(undefined)
                }
                // Waiting for another process's value, which has not come yet.
                if (deadline !== undefined) return wait()
                return claim.recacheSeconds === undefined ? Effect.succeed(undefined) : attempt(delay, undefined, true)
              }
              return found === undefined || !Effect.isEffect(found) ? judge(found) : Effect.flatMap(found, judge)
            }
            case "Won":
              onWon(outcome)
              return Effect.succeed(undefined)
            case "Lost":
              return wait()
          }
        })
      })
    return attempt(firstPollMillis, undefined, false)
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
