/**
 * Tags of a `TieredCache` instance: the L2 keys that hold each tag's invalidation times, their creation before an
 * entry is tagged, reading them, and writing them so that a tag's time never moves backwards.
 *
 * @internal
 */
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Option from "#effect/Option"
import { TagFloors, type TagState, type TagWrite } from "../../core/tiered/tagFloors.js"
import type { RemoteCacheShape } from "../../RemoteCache.js"
import { currentClock, currentMillis, monoOf, stampsOf, wallMillisOf } from "./clock.js"
import * as Entry from "./entry.js"
import type { WriteOrder } from "./writeOrder.js"

/**
 * What the tags need of their cache.
 *
 * @internal
 */
export interface TagDeps {
  readonly remote: RemoteCacheShape
  readonly tagKeyPrefix: string
  /** Tags remembered at most (known tag keys, latest invalidations). */
  readonly capacity: number
  readonly writes: WriteOrder
  /** Runs `effect` in the background, in the cache's scope (nothing once it is closed). */
  readonly fork: (effect: Effect.Effect<void>) => Effect.Effect<void>
  /** The same, from outside any fiber (a bus message). */
  readonly forkFromOutside: (effect: Effect.Effect<void>) => void
}

/**
 * See the module's documentation.
 *
 * @internal
 */
export interface Tags {
  /** The L2 key (under the cache's prefix) of a tag's invalidation time. */
  readonly tagKey: (tag: string) => string
  /** The L2 key of a tag's last hard invalidation, which a later soft one must not overwrite. */
  readonly hardTagKey: (tag: string) => string
  /**
   * A creation stamp for an entry tagged with `tags`, taken once their keys exist: after every invalidation this
   * process made or saw, so that one made before covers nothing created after it.
   */
  readonly stampAfterTags: (tags: ReadonlyArray<string>) => Effect.Effect<number>
  /** The invalidation state of `tags` in L2, raised to the latest invalidations known here. */
  readonly readTags: (tags: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<TagState>>
  /** Writes an invalidation of `tags` made here at `at` (already noted), then knows the keys exist. */
  readonly writeInvalidation: (tags: ReadonlyArray<string>, at: number, hard: boolean) => Effect.Effect<void>
  /** An invalidation of `tags` at `at`, made here or heard of on the bus: remembered as the latest known. */
  readonly note: (tags: ReadonlyArray<string>, at: number, hard: boolean) => void
  /** Another instance's invalidation, heard of: checks the keys this instance may have overwritten with older times. */
  readonly heard: (tags: ReadonlyArray<string>, at: number) => void
  /** Forgets which tag keys exist (they may have been removed: a `clear`, or a delete of their prefix). */
  readonly forgetKeys: () => void
}

/**
 * The tag system of one cache instance (see the module's documentation).
 *
 * @internal
 */
export const make = (deps: TagDeps): Tags => new TagSystem(deps)

class TagSystem implements Tags {
  constructor(private readonly deps: TagDeps) {
    this.floors = new TagFloors(deps.capacity)
  }

  /** Tags whose time key this instance created or saw: a tagged write needs no `setIfAbsent` for them. */
  private readonly knownTags = new Set<string>()
  /** The creation of each tag key in flight here (see `ensureTags`). */
  private readonly creatingTags = new Map<string, Deferred.Deferred<void>>()
  /** The latest invalidation known of each tag, so that a tag's time never moves backwards (see `TagFloors`). */
  private readonly floors: TagFloors
  /** Tags whose keys a `writeTagTimes` started by a read or a message is rewriting (one at a time per tag). */
  private readonly repairing = new Set<string>()
  /**
   * Bumped each time the tag keys may have been removed (`forgetKeys`): a write that was in flight then, and may
   * have landed before the removal, proves nothing about the key's presence.
   */
  private generation = 0
  private readonly learnt = (tag: string, since: number) => {
    if (since !== this.generation) return
    if (this.knownTags.size >= this.deps.capacity) this.knownTags.clear()
    this.knownTags.add(tag)
  }

  readonly tagKey = (tag: string): string => this.deps.tagKeyPrefix + tag
  readonly hardTagKey = (tag: string): string => this.deps.tagKeyPrefix + tag + "\u0000hard"

  private readonly stampNow = () => {
    const clock = currentClock()
    return stampsOf(clock).next(wallMillisOf(clock))
  }

  /**
   * Makes sure each tag has its time key in L2 before an entry tagged with it is created: a tagged entry whose
   * tag key is missing reads as gone (the key was evicted, and the invalidations it held with it). The key is
   * created with `setIfAbsent`, never overwriting an invalidation written meanwhile, and holds its creation time
   * as a hard invalidation: nothing tagged so before it can be trusted (it may predate an evicted invalidation).
   * When the key was there already (another writer created it), its time is read back and observed, so that
   * the entry, stamped after this returns, is newer than it: two writers creating a tag key at once never make
   * each other's entry look invalidated. One creation per tag is in flight in this process at a time.
   */
  private readonly ensureTags = (tags: ReadonlyArray<string>, stamped?: number, attempt = 0): Effect.Effect<void> => {
    const unknown = tags.filter((tag) => !this.knownTags.has(tag))
    // A creation in flight across a clear (which may have removed the key it made or found) proves nothing:
    // created again, a few times at most (then the entry reads as gone until a later write recreates the key).
    if (unknown.length === 0 || attempt === 3) return Effect.void
    return Effect.flatMap(
      Effect.forEach(unknown, (tag) => this.ensureTag(tag, stamped), { concurrency: "unbounded", discard: true }),
      () => this.ensureTags(unknown, stamped, attempt + 1)
    )
  }

  /** See `ensureTags`; `stamped`: the creation time to record, else a stamp taken when the creation starts. */
  private readonly ensureTag = (tag: string, stamped: number | undefined): Effect.Effect<void> =>
    Effect.suspend(() => {
      const running = this.creatingTags.get(tag)
      if (running !== undefined) return Deferred.await(running)
      const done = Deferred.makeUnsafe<void>()
      this.creatingTags.set(tag, done)
      const clock = currentClock()
      const since = this.generation
      const at = stamped ?? this.stampNow()
      const create = Effect.flatMap(
        this.deps.remote.setIfAbsent(this.tagKey(tag), new Entry.TagTime(at, true)),
        (created) =>
          created ? Effect.void : Effect.map(this.deps.remote.get(this.tagKey(tag)), (found) => {
            const time = Option.isSome(found) ? Entry.tagTimeOf(found.value) : undefined
            if (time !== undefined) stampsOf(clock).observe(time.at)
          })
      )
      return Effect.ensuring(
        Effect.map(create, () => {
          // Present now, or unknown after a failure the policy turned into a miss: either way known, so that
          // writes go on; an entry written while the key is missing reads as gone, and the first read that finds
          // it missing forgets the tag here.
          this.learnt(tag, since)
        }),
        Effect.sync(() => {
          if (this.creatingTags.get(tag) === done) this.creatingTags.delete(tag)
          Deferred.doneUnsafe(done, Exit.void)
        })
      )
    })

  readonly stampAfterTags = (tags: ReadonlyArray<string>): Effect.Effect<number> =>
    tags.length === 0 || tags.every((tag) => this.knownTags.has(tag))
      ? Effect.sync(this.stampNow)
      : Effect.map(this.ensureTags(tags), this.stampNow)

  /**
   * One `getMany` of the tags' time keys and hard keys, raised to the latest invalidations known here: a key an
   * older invalidation overwrote is rewritten, off the caller's path. A missing time key is forgotten as known,
   * so that the next tagged write creates it again.
   */
  readonly readTags = (tags: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<TagState>> =>
    Effect.flatMap(this.deps.remote.getMany([...tags.map(this.tagKey), ...tags.map(this.hardTagKey)]), (found) => {
      const stamps = stampsOf(currentClock())
      const missing: Array<string> = []
      const behind: Array<string> = []
      const states = tags.map((tag, i) => {
        const soft = Option.isSome(found[i]!) ? Entry.tagTimeOf(found[i]!.value) : undefined
        const hardFound = found[i + tags.length]!
        const hard = Option.isSome(hardFound) ? Entry.tagTimeOf(hardFound.value) : undefined
        if (soft === undefined) {
          this.knownTags.delete(tag)
          missing.push(tag)
        } else {
          stamps.observe(soft.at)
        }
        if (hard !== undefined) stamps.observe(hard.at)
        const merged = this.floors.merge(tag, { soft, hard })
        if (merged.behind && !this.repairing.has(tag)) behind.push(tag)
        return merged.state
      })
      const background: Array<Effect.Effect<void>> = []
      // Recreated at once, off the caller's path, so that entries written from now on (by any instance, which
      // may still believe the key exists) are readable again; everything tagged so before stays gone. Stamped
      // now: a write that follows this read in this process is created after the key.
      if (missing.length > 0) {
        background.push(this.ensureTags(missing, stamps.next(currentMillis())))
      }
      if (behind.length > 0) background.push(this.repairTagTimes(behind))
      return background.length === 0
        ? Effect.succeed(states)
        : Effect.as(this.deps.fork(Effect.all(background, { discard: true })), states)
    })

  /**
   * Writes the latest invalidation time known of each tag to its keys (and its hard key, once hard-invalidated),
   * in this instance's write order of those keys: an invalidation made here after another lands after it. When
   * a later invalidation became known while the write was in flight (another instance's, whose write may have
   * landed first), the keys are written again with it.
   */
  private readonly writeTagTimes = (tags: ReadonlyArray<string>, own?: TagWrite): Effect.Effect<void> => {
    const keys = tags.flatMap((tag) => [this.tagKey(tag), this.hardTagKey(tag)])
    const write = Effect.suspend(() => {
      const written: Array<readonly [string, TagWrite]> = []
      const entries: Array<readonly [string, unknown]> = []
      for (const tag of tags) {
        const times = this.floors.toWrite(tag) ?? own
        if (times === undefined) continue
        written.push([tag, times])
        entries.push([this.tagKey(tag), new Entry.TagTime(times.soft.at, times.soft.hard)])
        if (times.hard !== undefined) entries.push([this.hardTagKey(tag), new Entry.TagTime(times.hard.at, true)])
      }
      return Effect.map(this.deps.remote.setMany(entries), () => {
        const now = monoOf(currentClock())
        return written.filter(([tag, times]) => this.floors.wrote(tag, times, now)).map(([tag]) => tag)
      })
    })
    return Effect.flatMap(
      this.deps.writes.chained(keys, write),
      (grown) => grown.length === 0 ? Effect.void : this.writeTagTimes(grown)
    )
  }

  /** `writeTagTimes` started by a read that found tag keys behind: one per tag at a time. */
  private readonly repairTagTimes = (tags: ReadonlyArray<string>): Effect.Effect<void> =>
    Effect.suspend(() => {
      for (const tag of tags) this.repairing.add(tag)
      return Effect.ensuring(
        this.writeTagTimes(tags),
        Effect.sync(() => {
          for (const tag of tags) this.repairing.delete(tag)
        })
      )
    })

  // One key per tag, no expiry (it must outlive every entry it may cover); on a cluster each lands on its own slot:
  // no transaction is needed, since each key is read on its own. A hard invalidation also goes to the tag's hard
  // key, which a later soft one does not overwrite. What is written is the latest time known of the tag (this one,
  // unless a later one was heard of), so that an overlapping older write cannot win.
  readonly writeInvalidation = (tags: ReadonlyArray<string>, at: number, hard: boolean): Effect.Effect<void> => {
    const time = { at, hard }
    return Effect.suspend(() => {
      const since = this.generation
      return Effect.map(this.writeTagTimes(tags, { soft: time, hard: hard ? time : undefined }), () => {
        for (const tag of tags) this.learnt(tag, since)
      })
    })
  }

  readonly note = (tags: ReadonlyArray<string>, at: number, hard: boolean) => {
    for (const tag of tags) this.floors.note(tag, at, hard)
  }

  /**
   * Where this instance wrote one of `tags`' keys recently with an older time than `at`, that write may have
   * landed after the other instance's and hidden it, so the keys are read again (and rewritten if behind), off
   * the bus's path.
   */
  readonly heard = (tags: ReadonlyArray<string>, at: number) => {
    const now = monoOf(currentClock())
    const check = tags.filter((tag) => this.floors.heard(tag, at, now))
    if (check.length > 0) this.deps.forkFromOutside(Effect.asVoid(this.readTags(check)))
  }

  /** Forgets which tag keys exist (they may have been removed: a `clear`, or a delete of their prefix). */
  readonly forgetKeys = (): void => {
    this.generation++
    this.knownTags.clear()
  }
}
