/**
 * Batches of a tiered cache: `getOrComputeMany` reads the keys L1 misses in one `getMany` (and their tags in one
 * more), computes every missing or stale key in one call, and writes through with one `setMany` per TTL.
 *
 * @internal
 */
import * as Cause from "#effect/Cause"
import * as Clock from "#effect/Clock"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import type * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Metric from "#effect/Metric"
import * as Option from "#effect/Option"
import { resolveTtl } from "../backend/ttl.js"
import { forkChildExit, joinExit } from "../background.js"
import * as Metrics from "../telemetry/metrics.js"
import type { ComputeOptions } from "./api.js"
import { currentMillis } from "./clock.js"
import { closedDefect } from "./defects.js"
import * as Entry from "./entry.js"
import { countL1Hit, nowOf } from "./fiber.js"
import { applyTagStates, type Meta } from "./l1.js"
import { computesTotal, l2HitsTotal, missesTotal, staleServedTotal } from "./metrics.js"
import { cutShort } from "./refresh.js"
import { type StaleValue, type Ticket, type TieredState } from "./state.js"
import { planWrite } from "./writePlan.js"

export const getOrComputeMany = <A, E, R>(
  s: TieredState,
  keys: Iterable<string>,
  computeMissing: (missing: ReadonlyArray<string>) => Effect.Effect<Iterable<readonly [string, A]>, E, R>,
  computeOptions?: ComputeOptions<A>
): Effect.Effect<ReadonlyMap<string, A>, E, R> =>
  Effect.withFiber((fiber) => {
    const all = Array.from(new Set(keys))
    // Every key and option is checked before any work.
    let invalid = s.settings.checkCall("getOrComputeMany", "", computeOptions)
    for (let i = 0; invalid === undefined && i < all.length; i++) {
      invalid = s.settings.checkKey("getOrComputeMany", all[i]!)
    }
    if (invalid !== undefined) {
      return Effect.die(invalid)
    }
    const now = nowOf(fiber)
    const found = new Map<string, A>()
    const remaining: Array<string> = []
    for (const key of all) {
      const entry = s.l1.lookup(key, now)
      if (entry !== undefined && now <= entry.meta.freshUntil) {
        countL1Hit(fiber)
        found.set(key, entry.value as A)
      } else {
        remaining.push(key)
      }
    }
    // In the order asked for, whichever tier answered.
    const inOrder = (answered: ReadonlyMap<string, A>): ReadonlyMap<string, A> => {
      const ordered = new Map<string, A>()
      for (const key of all) if (answered.has(key)) ordered.set(key, answered.get(key)!)
      return ordered
    }
    if (remaining.length === 0) return Effect.succeed(inOrder(found))
    // As for getOrCompute: after the scope has closed, nothing may be read, computed or written.
    if (s.closed) return Effect.die(closedDefect())
    const ticketsByKey = remaining.map((key) => [key, s.tickets.open(key)] as const)
    // The tickets are held until the batch's writes are done: by the caller, or by a refresh it leaves running.
    const tickets = {
      handedOver: false,
      close: Effect.sync(() => {
        for (const [key, ticket] of ticketsByKey) s.tickets.close(key, ticket)
      })
    }
    const release = Effect.suspend(() => tickets.handedOver ? Effect.void : tickets.close)
    const body = Effect.flatMap(readMany(s, remaining, ticketsByKey), ({ missing, stale, hits }) => {
      for (const [key, value] of hits) found.set(key, value as A)
      Metric.updateWithFiberUnsafe(l2HitsTotal, hits.size, fiber)
      Metric.updateWithFiberUnsafe(missesTotal, missing.length, fiber)
      if (missing.length === 0) return Effect.succeed(found)
      return computeMany(
        s,
        missing,
        stale as ReadonlyMap<string, StaleValue<A>>,
        found,
        ticketsByKey,
        tickets,
        computeMissing,
        computeOptions
      )
    })
    return Effect.map(Effect.ensuring(body, release), inOrder)
  })

/**
 * One `getMany` of `keys` (and one of their tags' keys): the fresh hits (back-filled into L1 unless their
 * ticket went stale), the stale values within their grace, and every key to compute (missing or stale).
 */
const readMany = (
  s: TieredState,
  keys: ReadonlyArray<string>,
  ticketsByKey: ReadonlyArray<readonly [string, Ticket]>
) =>
  Effect.flatMap(Clock.currentTimeMillis, (sentAt) =>
    Effect.flatMap(s.remote.getMany(keys), (values) => {
      const reads = values.map((value, i) => {
        if (Option.isNone(value)) return undefined
        // getMany gives no TTL: a plain value is fresh while L2 has it, and stays out of L1, which must never
        // outlive L2 (an entry with a header knows when its key expires: at the end of its grace).
        const entry = Entry.readStored(value.value)
        if (entry === Entry.CorruptEntry) return undefined
        const meta: Meta = entry === undefined
          ? { createdAt: -Infinity, freshUntil: Infinity, graceUntil: Infinity, tags: [] }
          : {
            createdAt: entry.createdAt,
            freshUntil: entry.freshUntil,
            graceUntil: entry.graceUntil,
            tags: entry.tags
          }
        return {
          key: keys[i]!,
          stored: entry === undefined ? value.value : entry.value,
          meta,
          plain: entry === undefined
        }
      })
      const tags = Array.from(new Set(reads.flatMap((read) => read?.meta.tags ?? [])))
      const checked = tags.length === 0 ? Effect.void : Effect.map(s.tags.readTags(tags), (states) => {
        const byTag = new Map(tags.map((tag, i) => [tag, states[i]!] as const))
        for (const read of reads) {
          if (read !== undefined && read.meta.tags.length > 0) {
            applyTagStates(read.meta, read.meta.tags.map((tag) => byTag.get(tag)!), sentAt)
          }
        }
      })
      return Effect.map(checked, () => {
        const missing: Array<string> = []
        const stale = new Map<string, StaleValue<unknown>>()
        const hits = new Map<string, unknown>()
        reads.forEach((read, i) => {
          const key = keys[i]!
          const ticket = ticketsByKey[i]![1]
          if (read === undefined || sentAt > read.meta.graceUntil) {
            missing.push(key)
          } else if (sentAt > read.meta.freshUntil) {
            stale.set(key, { value: read.stored, graceUntil: read.meta.graceUntil })
            missing.push(key)
          } else {
            hits.set(key, read.stored)
            if (!ticket.stale && !ticket.notInL1 && !read.plain) {
              s.l1.put(key, read.stored, sentAt + s.settings.l1TtlMillis, read.meta)
            }
          }
        })
        return { missing, stale, hits }
      })
    }))

/**
 * The batch's computation for its missing keys, written through. When every missing key has a stale value it
 * is a refresh: the soft `timeout` answers the stale values while it goes on in the background, `hardTimeout`
 * interrupts it, and its failure answers them too. A stale value is answered only within its grace at that
 * moment; one whose grace ended meanwhile is left out of the answer. With a key that has nothing stale, the
 * computation is never cut short (as for getOrCompute).
 */
const computeMany = <A, E, R>(
  s: TieredState,
  missing: ReadonlyArray<string>,
  stale: ReadonlyMap<string, StaleValue<A>>,
  found: Map<string, A>,
  ticketsByKey: ReadonlyArray<readonly [string, Ticket]>,
  tickets: { handedOver: boolean; readonly close: Effect.Effect<void> },
  computeMissing: (missing: ReadonlyArray<string>) => Effect.Effect<Iterable<readonly [string, A]>, E, R>,
  computeOptions: ComputeOptions<A> | undefined
): Effect.Effect<ReadonlyMap<string, A>, E, R> =>
  Effect.suspend(() => {
    const settings = s.settings.settingsOf(computeOptions)
    const answerStale = Effect.sync(() => {
      const now = currentMillis()
      let served = 0
      for (const key of missing) {
        const held = stale.get(key)
        if (held !== undefined && now <= held.graceUntil) {
          found.set(key, held.value)
          served++
        }
      }
      return served
    }).pipe(
      Effect.flatMap((served) => Metric.update(staleServedTotal, served)),
      Effect.as(found as ReadonlyMap<string, A>)
    )
    const merge = (computed: ReadonlyMap<string, A>) => {
      for (const [key, value] of computed) found.set(key, value)
      return found as ReadonlyMap<string, A>
    }
    let computation: Fiber.Fiber<Exit.Exit<Iterable<readonly [string, A]>, E>> | undefined
    const cuttable = Effect.flatMap(forkChildExit(computeMissing(missing)), (fiber) => {
      computation = fiber
      return joinExit(fiber)
    })
    const work = Effect.andThen(
      Metrics.increment(computesTotal),
      computeAndWriteMany(s, missing, ticketsByKey, cuttable, computeOptions)
    )
    const refreshing = missing.every((key) => stale.has(key))
    if (!refreshing) return Effect.map(work, merge)
    const fallback = Effect.catchCause(
      work,
      (cause) => Cause.hasInterruptsOnly(cause) && s.closed ? Effect.failCause(cause) : answerStale
    )
    if (settings.timeout === undefined && settings.hardTimeout === undefined) {
      return Effect.flatMap(fallback, (computed) => Effect.succeed(merge(computed)))
    }
    if (s.closed) return Effect.die(closedDefect())
    // In the cache's scope: answered at the soft timeout, the refresh still writes through.
    tickets.handedOver = true
    const background = Effect.interruptible(Effect.ensuring(work, tickets.close))
    return Effect.flatMap(Effect.forkIn(Effect.exit(background), s.scope), (fiber) => {
      const joined = Effect.matchCauseEffect(joinExit(fiber), {
        onSuccess: (computed) => Effect.succeed(merge(computed)),
        onFailure: (cause) => Cause.hasInterruptsOnly(cause) && s.closed ? Effect.failCause(cause) : answerStale
      })
      const soft = settings.timeout === undefined ? Effect.never : Effect.sleep(settings.timeout)
      const hard = settings.hardTimeout === undefined
        ? Effect.never
        : Effect.andThen(
          Effect.sleep(settings.hardTimeout),
          Effect.suspend(() => cutShort(computation))
        )
      return Effect.raceFirst(joined, Effect.andThen(Effect.raceFirst(soft, hard), answerStale))
    })
  })

/**
 * Computes the missing keys and writes what was asked for through: one `setMany` per distinct L2 TTL, one
 * `deleteMany` for the keys whose TTL removes them, in each key's write order, tags' keys created first;
 * a key whose ticket went stale meanwhile is answered but not written. Returns the computed values asked for.
 */
const computeAndWriteMany = <A, E, R>(
  s: TieredState,
  missing: ReadonlyArray<string>,
  ticketsByKey: ReadonlyArray<readonly [string, Ticket]>,
  compute: Effect.Effect<Iterable<readonly [string, A]>, E, R>,
  computeOptions: ComputeOptions<A> | undefined
): Effect.Effect<ReadonlyMap<string, A>, E, R> =>
  Effect.suspend(() => {
    // Read once, here, for the stamp, the tag keys and the writes; checked again, since the options object may
    // have changed since the call checked it (a tag with U+0000 would write another tag's hard key).
    const tags = computeOptions?.tags ?? []
    const invalid = s.settings.checkTags("getOrComputeMany", tags)
    if (invalid !== undefined) return Effect.die(invalid)
    return Effect.flatMap(s.tags.stampAfterTags(tags), (createdAt) =>
      Effect.flatMap(compute, (entries) => {
        if (s.closed) return Effect.die(closedDefect())
        const asked = new Set(missing)
        const answer = new Map<string, A>()
        for (const [key, value] of entries) if (asked.has(key)) answer.set(key, value)
        if (answer.size === 0) return Effect.succeed(answer)
        return Effect.as(writeMany(s, answer, new Map(ticketsByKey), computeOptions, tags, createdAt), answer)
      }))
  })

/** The L2 writes of a batch's computed values, then L1, the bus and the undoing of overtaken writes. */
const writeMany = <A>(
  s: TieredState,
  values: ReadonlyMap<string, A>,
  ticketOf: ReadonlyMap<string, Ticket>,
  computeOptions: ComputeOptions<A> | undefined,
  tags: ReadonlyArray<string>,
  createdAt: number
): Effect.Effect<void> => {
  const keys = Array.from(values.keys())
  const write = Effect.suspend(() => {
    const settings = s.settings.settingsOf(computeOptions)
    const sentAt = currentMillis()
    const byTtl = new Map<
      string,
      { ttl: Duration.Input | undefined; entries: Array<readonly [string, unknown]> }
    >()
    const removed: Array<string> = []
    const written: Array<readonly [string, A, Meta | undefined]> = []
    for (const [key, value] of values) {
      // A write of this key made here meanwhile (ordered before this one) is newer than the computation.
      if (ticketOf.get(key)!.stale) continue
      const chosen = computeOptions?.ttl
      const ttl = (typeof chosen === "function" ? chosen(value) : chosen) ?? s.settings.defaultTtl
      const plan = planWrite(
        value,
        ttl,
        settings.grace,
        tags,
        settings.early,
        createdAt,
        sentAt
      )
      written.push([key, value, plan.meta])
      const resolved = resolveTtl(ttl)
      if (resolved._tag === "Expired") {
        removed.push(key)
        continue
      }
      // A TTL the backend refuses (NaN) is sent on its own, so that its refusal touches no other key.
      const group = resolved._tag === "Invalid"
        ? `invalid:${key}`
        : String(plan.l2Ttl === undefined ? "forever" : Duration.toMillis(plan.l2Ttl))
      const batch = byTtl.get(group) ?? { ttl: plan.l2Ttl, entries: [] }
      batch.entries.push([key, plan.stored])
      byTtl.set(group, batch)
    }
    const sets = Effect.forEach(byTtl.values(), (batch) => s.remote.setMany(batch.entries, batch.ttl), {
      discard: true
    })
    return Effect.as(removed.length === 0 ? sets : Effect.andThen(sets, s.remote.deleteMany(removed)), {
      written,
      sentAt
    })
  })
  return Effect.flatMap(s.chained(keys, write), ({ written, sentAt }) => {
    const overtaken: Array<readonly [string, Ticket]> = []
    for (const [key, value, meta] of written) {
      const ticket = ticketOf.get(key)!
      s.tickets.markStale(key, ticket)
      if (ticket.stale || ticket.notInL1 || meta === undefined) s.l1.delete(key)
      else s.l1.put(key, value, sentAt + s.settings.l1TtlMillis, meta)
      if (ticket.remote) overtaken.push([key, ticket])
    }
    if (written.length === 0) return Effect.void
    return Effect.andThen(
      s.send({ t: "m", ks: written.map(([key]) => key) }),
      Effect.forEach(overtaken, ([key, ticket]) => s.undoIfOvertaken(key, ticket), { discard: true })
    )
  })
}
