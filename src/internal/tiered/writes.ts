/**
 * Writes of a tiered cache: `set`, `delete`, `deleteMany`, `expire`, `invalidateTags` and `clear`. Each invalidates
 * the key here before it starts (a read or computation in flight stores nothing) and again once L2 has answered,
 * runs in the key's write order, and is published to the other instances.
 *
 * @internal
 */
import * as Cause from "#effect/Cause"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Option from "#effect/Option"
import type { InvalidateTagsOptions, SetOptions } from "./api.js"
import { currentClock, currentMillis, invalidationStamp, isLive, stampsOf, wallMillisOf } from "./clock.js"
import * as Entry from "./entry.js"
import { type Ticket, type TieredState } from "./state.js"
import { planWrite } from "./writePlan.js"

/** The fields of a duration written as an object (`{ minutes: 5 }`, an Effect 4 `Duration.Input`). */
const durationFields = ["weeks", "days", "hours", "minutes", "seconds", "milliseconds", "microseconds", "nanoseconds"]

/**
 * `true` for the options form of `set`'s third argument. Every other object a `Duration.Input` may be is a
 * Duration, a `[seconds, nanos]` pair, or (on Effect 4) an object of duration fields; an empty object is options.
 */
const isSetOptions = (u: Duration.Input | SetOptions | undefined): u is SetOptions =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !Duration.isDuration(u) &&
  !durationFields.some((field) => field in u)

// Writes invalidate before they start, so that a read or computation in flight (which may have read the old
// value) stores nothing, and again once L2 has answered, for the reads that started meanwhile.
export const set = (
  s: TieredState,
  key: string,
  value: unknown,
  ttlOrOptions?: Duration.Input | SetOptions
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const setOptions: SetOptions = isSetOptions(ttlOrOptions) ? ttlOrOptions : { ttl: ttlOrOptions }
    const tags = setOptions.tags ?? []
    const settings = s.settings.resolve(setOptions.grace === undefined ? undefined : { grace: setOptions.grace })
    const invalid = s.settings.checkKey("set", key) ?? s.settings.checkTags("set", tags)
    if (invalid !== undefined) return Effect.die(invalid)
    if (settings instanceof Cause.IllegalArgumentError) return Effect.die(settings)
    s.invalidateKey(key)
    // Stamped once its tags' keys exist, after every invalidation this process made or saw.
    const write = Effect.flatMap(s.tags.stampAfterTags(tags), (createdAt) => {
      const plan = planWrite(
        value,
        setOptions.ttl ?? s.settings.defaultTtl,
        settings.grace,
        tags,
        settings.early,
        createdAt,
        currentMillis()
      )
      return s.chained([key], s.remote.set(key, plan.stored, plan.l2Ttl))
    })
    return Effect.andThen(
      write,
      Effect.suspend(() => {
        s.invalidateKey(key)
        return s.publish("s", key)
      })
    )
  })

export const del = (
  s: TieredState,
  key: string
): Effect.Effect<void> =>
  Effect.suspend(() => {
    s.invalidateKey(key)
    return Effect.andThen(
      s.chained([key], s.remote.delete(key)),
      Effect.suspend(() => {
        s.invalidateKey(key)
        return s.publish("d", key)
      })
    )
  })

export const deleteMany = (
  s: TieredState,
  keys: Iterable<string>
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const all = Array.from(new Set(keys))
    if (all.length === 0) {
      return Effect.void
    }
    for (const key of all) {
      s.invalidateKey(key)
    }
    return Effect.andThen(
      s.chained(all, s.remote.deleteMany(all)),
      Effect.suspend(() => {
        for (const key of all) {
          s.invalidateKey(key)
        }
        return s.send({ t: "m", ks: all })
      })
    )
  })

/**
 * Rewrites the entry as stale from now on, under a ticket and in the key's write order: a `set` or `delete`
 * made meanwhile (here or elsewhere) wins, and a change from elsewhere that may have landed first is undone
 * by removing the key.
 */
export const expire = (
  s: TieredState,
  key: string
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const invalid = s.settings.checkKey("expire", key)
    if (invalid !== undefined) return Effect.die(invalid)
    return Effect.andThen(
      expireOnce(s, key, 0),
      // Published whether or not L2 held the key: another instance may still hold it in its L1.
      Effect.suspend(() => {
        s.invalidateKey(key)
        return s.publish("s", key)
      })
    )
  })

/** One attempt of `expire`: read the key, then write it back stale (or remove it), in its write order. */
const expireOnce = (
  s: TieredState,
  key: string,
  attempt: number
): Effect.Effect<void> =>
  Effect.suspend(() => {
    // Once: another attempt must not make a concurrent expire's read look overtaken in turn.
    if (attempt === 0) s.invalidateKey(key)
    const rewrite = (ticket: Ticket) =>
      Effect.flatMap(s.remote.getWithTtl(key), (found): Effect.Effect<boolean> => {
        if (Option.isNone(found)) return Effect.succeed(false)
        // The key changed while it was read (a set, a delete, another expire): rewriting what was read could
        // restore an older value, and skipping could leave what the other change did not remove (two expires
        // at once each saw the other's change). Expired again, after that change: a fresh read, a few times,
        // then removed (which never restores anything).
        if (ticket.stale) return Effect.succeed(true)
        const clock = currentClock()
        const now = wallMillisOf(clock)
        const entry = Entry.readStored(found.value.value)
        const left = Option.isSome(found.value.remainingTtl)
          ? Duration.toMillis(found.value.remainingTtl.value)
          : Infinity
        // Already stale (an earlier expire, its TTL): left as it is. Rewritten "stale from now", it would be fresh
        // again through the millisecond before now for a read sent before this write lands.
        if (entry !== undefined && entry !== Entry.CorruptEntry && entry.freshUntil < now) {
          return Effect.succeed(false)
        }
        // Stale from now on (fresh through the millisecond before), kept for its grace period counted from now.
        const grace = entry === undefined || entry === Entry.CorruptEntry || entry.freshUntil === Infinity
          ? 0
          : entry.graceUntil - entry.freshUntil
        const graceUntil = Math.min(now + grace, now + left)
        const write = entry === undefined || entry === Entry.CorruptEntry || graceUntil <= now
          ? s.remote.delete(key)
          : s.remote.set(
            key,
            new Entry.TieredEntry(entry.value, entry.createdAt, now - 1, graceUntil, entry.tags),
            graceUntil === Infinity ? undefined : graceUntil - now
          )
        return Effect.as(write, false)
      })
    // The undo (a write of the key itself) comes after the rewrite's turn in the key's write order, not in it;
    // so does another attempt.
    const once = s.withTicket(
      key,
      (ticket) => Effect.tap(s.chained([key], rewrite(ticket)), s.undoIfOvertaken(key, ticket))
    )
    return Effect.flatMap(once, (again) =>
      !again
        ? Effect.void
        : attempt < 3
        ? expireOnce(s, key, attempt + 1)
        : Effect.asVoid(s.chained([key], s.remote.delete(key))))
  })

export const invalidateTags = (
  s: TieredState,
  tags: Iterable<string>,
  tagOptions?: InvalidateTagsOptions
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const all = Array.from(new Set(tags))
    const invalid = s.settings.checkTags("invalidateTags", all)
    if (invalid !== undefined) return Effect.die(invalid)
    if (all.length === 0) return Effect.void
    const hard = tagOptions?.hard === true
    const clock = currentClock()
    const now = wallMillisOf(clock)
    const at = invalidationStamp(stampsOf(clock), now)
    s.invalidateTagsHere(all, at, hard, s.prefix)
    return Effect.andThen(
      s.tags.writeInvalidation(all, at, hard),
      Effect.suspend(() => {
        s.invalidateTagsHere(all, at, hard, s.prefix)
        return Effect.andThen(s.send({ t: "g", g: all, a: at, h: hard ? 1 : 0 }), untilAfter(at))
      })
    )
  })

/**
 * Waits until the live clock has left the millisecond of `at` (usually at once: the L2 write took longer), so
 * that a write issued after `invalidateTags` returned, on any instance whose clock agrees, is created after
 * it. A `TestClock` is not waited on: within one process, stamps already order writes after invalidations.
 */
const untilAfter = (at: number): Effect.Effect<void> =>
  Effect.suspend(function loop(): Effect.Effect<void> {
    if (!isLive(currentClock()) || Date.now() > Math.floor(at)) return Effect.void
    return Effect.flatMap(Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 1))), loop)
  })

export const clear = (s: TieredState): Effect.Effect<void> =>
  Effect.suspend(() => {
    s.invalidateAll()
    return Effect.andThen(
      Effect.andThen(s.writes.afterAll, s.remote.clear),
      Effect.suspend(() => {
        s.invalidateAll()
        return s.send({ t: "c" })
      })
    )
  })
