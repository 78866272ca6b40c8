/**
 * The operations of the Memcached backend: each runs with the prefix's current generation (see `generation.ts`)
 * and the stored key `fullKey(prefix, generation, key)`, as one meta command (`mg`, `ms`, `md`) or, for the
 * batches, the client's pipelined `getMany` / `setMany` (one batch per server, the servers in parallel).
 *
 * @internal
 */
import * as Cause from "#effect/Cause"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Option from "#effect/Option"
import * as Result from "#effect/Result"
import * as Expiry from "../../../core/memcached/expiry.js"
import * as Item from "../../../core/memcached/item.js"
import { fullKey } from "../../../core/memcached/key.js"
import type {
  MemcachedClientShape,
  MetaGetFlags,
  MetaGetResult,
  MetaSetFlags,
  SetManyEntry
} from "../../../MemcachedClient.js"
import type { MemcachedError } from "../../../MemcachedError.js"
import {
  type CacheError,
  CacheInputError,
  type Entry,
  isCacheError,
  type Operation,
  withPartial
} from "../../../RemoteCacheBackend.js"
import { prepareGetFlags } from "../../memcached/flags.js"
import * as Backend from "../backend.js"
import * as Codec from "../codec.js"
import * as Lease from "../lease.js"
import { resolveTtl } from "../ttl.js"
import { toCacheError } from "./errors.js"
import type { GenerationCache } from "./generation.js"

/**
 * What every operation of one backend shares.
 *
 * @internal
 */
export interface MemcachedContext {
  readonly client: MemcachedClientShape
  readonly prefix: string
  readonly codec: Codec.ValueCodec
  readonly generation: GenerationCache
  /** The server's item size (`-I`) in bytes: a value that would not fit is refused before anything is sent. */
  readonly maxItemSize: number
}

/**
 * The input error of a value that does not fit in an item under its stored key, or `undefined` when it fits. Checked
 * before sending because memcached, refusing it, would also drop the item the key holds (see `core/memcached/item`).
 */
const tooLarge = (
  c: MemcachedContext,
  operation: Operation,
  key: string,
  stored: Uint8Array,
  bytes: Uint8Array
): Effect.Effect<never, CacheError> | undefined =>
  Item.fits(stored.byteLength, bytes.byteLength, c.maxItemSize) ? undefined : Effect.fail(
    new CacheInputError({
      operation,
      key,
      message: `A value of ${bytes.byteLength} bytes does not fit in an item of maxItemSize ${c.maxItemSize} bytes ` +
        `with its key and memcached's ${Item.itemOverhead} bytes of header`
    })
  )

/** How many `md`s of one `deleteMany` are in flight at once: pipelined on each server's connection. */
const deleteConcurrency = 64

/** Runs `f` with the generation when the effect runs (never when it is made), its errors as cache errors. */
const withGeneration = <A>(
  c: MemcachedContext,
  operation: Operation,
  key: string | undefined,
  f: (generation: bigint) => Effect.Effect<A, MemcachedError | CacheError>
): Effect.Effect<A, CacheError> =>
  Effect.suspend(() =>
    Effect.mapError(
      c.generation.use(f),
      (error) => isCacheError(error) ? error as CacheError : toCacheError(operation, key)(error as MemcachedError)
    )
  )

const client = <A>(operation: Operation, key: string | undefined, effect: Effect.Effect<A, MemcachedError>) =>
  Effect.mapError(effect, toCacheError(operation, key))

/**
 * The write of a TTL: the expiry to send (`0`: none), `"remove"`, or the caller's input error. Read when the
 * effect runs: an expiry over 30 days is a Unix time on the server's clock, so it is computed from the real clock
 * (`Date.now()`), never from Effect's, which a test may hold still.
 */
const expiryOf = (
  operation: Operation,
  key: string | undefined,
  ttl: Duration.Input | undefined
): number | "remove" | Effect.Effect<never, CacheError> => {
  const resolved = resolveTtl(ttl)
  switch (resolved._tag) {
    case "Invalid":
      return Codec.invalidTtl(operation, key, resolved.reason)
    case "Expired":
      return "remove"
    case "Forever":
      return 0
    case "Millis": {
      const expiry = Expiry.toExpiry(resolved.millis, Date.now())
      if (expiry._tag === "Invalid") return Codec.invalidTtl(operation, key, expiry.reason)
      return expiry._tag === "Remove" ? "remove" : expiry.exptime
    }
  }
}

/**
 * Whether a hit is a lease's placeholder (see `leaseRead`): the empty item `mg … N` creates, which memcached
 * answers with a win token flag (`W` to its creator, `Z` to every other reader) until a value replaces it. It holds
 * no value: every read takes it for a miss. A stored value is never empty with such a flag: a write clears it.
 */
const isPlaceholder = (got: MetaGetResult): boolean =>
  got.kind === "hit" && (got.value === undefined || got.value.byteLength === 0) &&
  (got.flags.win || got.flags.alreadyWon)

// Prepared, so that the client checks and encodes them once (see `internal/memcached/flags.ts`), not on every read.
const valueFlags: MetaGetFlags = prepareGetFlags({ value: true })
const valueTtlFlags: MetaGetFlags = prepareGetFlags({ value: true, ttl: true })

/** `get`: `mg <key> b v`. */
export const get = (c: MemcachedContext, key: string): Effect.Effect<Option.Option<unknown>, CacheError> =>
  withGeneration(c, "get", key, (generation) =>
    Effect.flatMap(
      client("get", key, c.client.metaGet(fullKey(c.prefix, generation, key), valueFlags)),
      (got) =>
        got.kind === "hit" && got.value !== undefined && !isPlaceholder(got)
          ? c.codec.decode("get", key, got.value)
          : Effect.succeedNone
    ))

/**
 * The TTL an entry has left from `mg`'s `t`, in whole seconds of memcached's clock, which ticks once a second: an
 * item reported with `t` seconds left expires within the next `t`, and may expire after `t - 1` already. The lower
 * bound is returned, so that a copy kept elsewhere (a tiered cache's in-process tier) never outlives the item.
 */
const remainingOf = (t: number | undefined): Option.Option<Duration.Duration> | undefined => {
  if (t === undefined) return Option.none()
  const remaining = Expiry.remainingTtl(t)
  switch (remaining._tag) {
    case "NoExpiry":
      return Option.none()
    case "Remaining":
      return Option.some(Duration.millis(Math.max(0, remaining.millis - 1000)))
    case "Invalid":
      return undefined
  }
}

/** `getWithTtl`: `mg <key> b v t`, one round trip. */
export const getWithTtl = (c: MemcachedContext, key: string): Effect.Effect<Option.Option<Entry>, CacheError> =>
  withGeneration(c, "getWithTtl", key, (generation) =>
    Effect.flatMap(
      client("getWithTtl", key, c.client.metaGet(fullKey(c.prefix, generation, key), valueTtlFlags)),
      (got): Effect.Effect<Option.Option<Entry>, CacheError> => {
        if (got.kind !== "hit" || got.value === undefined || isPlaceholder(got)) return Effect.succeedNone
        const remainingTtl = remainingOf(got.flags.ttl) ?? Option.none()
        return c.codec.decodeAs("getWithTtl", key, got.value, (value): Entry => ({ value, remainingTtl }))
      }
    ))

/**
 * Gives a lease up: removes its placeholder only while its CAS is the one created with it, so a value written since
 * stays. It never fails.
 */
const giveUp = (c: MemcachedContext, stored: Uint8Array, cas: bigint): Effect.Effect<void> =>
  Effect.ignore(c.client.metaDelete(stored, { compareCas: cas }))

/** The longest lease, in seconds: 30 days (a longer expiry would be read by memcached as a Unix time). */
const maxLeaseSeconds = 2_592_000

/**
 * The leased read: `mg <key> b v t c N<secs>`, one round trip. On a miss memcached creates an empty placeholder item
 * living `secs` (the lease rounded up to whole seconds, at least 1) and hands the win token (`W`) to this caller
 * alone: `Won`. Every other reader meanwhile gets the placeholder with `Z`: `Lost`. A value stored under the key
 * replaces the placeholder; when the lease ends first, the placeholder expires and the next leased read wins.
 * memcached's clock ticks once a second, so a placeholder may expire up to a second before its lease.
 *
 * With `recacheSeconds` the read also sends `R<secs>`: on a hit whose item has less than that to live, memcached
 * hands the first such reader `W` (the claim on refreshing it: `"won"`) and every later reader `Z` (`"lost"`), until
 * a write replaces the item.
 */
export const leaseRead = (
  c: MemcachedContext,
  key: string,
  leaseMillis: number,
  recacheSeconds?: number
): Effect.Effect<Lease.LeaseOutcome, CacheError> =>
  withGeneration(c, "getWithTtl", key, (generation) => {
    const seconds = Math.min(maxLeaseSeconds, Math.max(1, Math.ceil(leaseMillis / 1000)))
    const recache = recacheSeconds === undefined
      ? undefined
      : Math.min(maxLeaseSeconds, Math.max(1, Math.ceil(recacheSeconds)))
    const stored = fullKey(c.prefix, generation, key)
    const readAt = performance.now()
    // The lease won, with the CAS of its placeholder, which may expire on its own a second before its `secs`
    // (memcached's clock).
    const won = (cas: bigint | undefined): Lease.LeaseOutcome =>
      cas === undefined ? Lease.won : {
        _tag: "Won",
        release: giveUp(c, stored, cas),
        write: casWrite(c, key, stored, cas, readAt + (seconds - 1) * 1000, true)
      }
    return Effect.flatMap(
      client(
        "getWithTtl",
        key,
        c.client.metaGet(stored, { value: true, ttl: true, cas: true, vivify: seconds, recache })
      ),
      (got): Effect.Effect<Lease.LeaseOutcome, CacheError> => {
        if (got.kind === "miss") return Effect.succeed(got.flags.alreadyWon ? Lease.lost : won(got.flags.cas))
        if (isPlaceholder(got) || got.value === undefined) {
          return Effect.succeed(got.flags.win ? won(got.flags.cas) : Lease.lost)
        }
        const remainingTtl = remainingOf(got.flags.ttl) ?? Option.none()
        // `W` and `Z` on a value answer only a claim: without `R` a `Z` may be left from another reader's claim.
        const claim = recache === undefined
          ? undefined
          : got.flags.win
          ? "won"
          : got.flags.alreadyWon
          ? "lost"
          : undefined
        const ttl = got.flags.ttl
        const write = claim === "won" && got.flags.cas !== undefined
          ? casWrite(
            c,
            key,
            stored,
            got.flags.cas,
            ttl === undefined || ttl < 0 ? Infinity : readAt + (ttl - 1) * 1000,
            false
          )
          : undefined
        return Effect.map(
          c.codec.decode("getWithTtl", key, got.value),
          (value): Lease.LeaseOutcome =>
            Option.isSome(value)
              ? { _tag: "Hit", entry: { value: value.value, remainingTtl }, claim, write }
              : Lease.won
        )
      }
    )
  })

/**
 * The write of a value computed under a lease or a claim (see `Lease.Write`): `ms … C<cas>`, stored only while the
 * item is the one the leased read saw (`EX`: another write came first). When the item is gone (`NF`), an add
 * (`MA`, stored only while nothing else is) once it may have expired on its own (`expiresFrom`, monotonic
 * milliseconds: the placeholder's lease or the stale value's grace over, so that a computation longer than the lease
 * is still stored), and nothing before: gone earlier, it was deleted, and the deletion is newer than the
 * computation. A TTL that stores nothing removes the item only while it is the one read (`md … C<cas>`).
 *
 * A write that fails (the value too large, the server gone) gives a lease's placeholder up (`placeholder`), as a
 * failed computation does, so that the other processes do not wait out the lease; a claimed stale value stays.
 * `stored` is the key the leased read used, its generation included: after a `clear` the write goes to the old
 * generation, where nobody reads it any more.
 */
const casWrite = (
  c: MemcachedContext,
  key: string,
  stored: Uint8Array,
  cas: bigint,
  expiresFrom: number,
  placeholder: boolean
): Lease.Write =>
(value, ttl) => {
  const write = Effect.suspend((): Effect.Effect<boolean, CacheError> => {
    const expiry = expiryOf("set", key, ttl)
    if (typeof expiry === "object") return expiry
    if (expiry === "remove") {
      return Effect.map(
        client("set", key, c.client.metaDelete(stored, { compareCas: cas })),
        (result) => result.kind !== "exists"
      )
    }
    return c.codec.encode("set", key, value, (bytes) =>
      tooLarge(c, "set", key, stored, bytes) ?? Effect.flatMap(
        client("set", key, c.client.metaSet(stored, bytes, { ttl: expiry, compareCas: cas })),
        (result) => {
          if (result.kind !== "notFound") return Effect.succeed(result.kind === "stored")
          if (performance.now() < expiresFrom) return Effect.succeed(false)
          return Effect.map(
            client("set", key, c.client.metaSet(stored, bytes, { ttl: expiry, mode: "add" })),
            (added) => added.kind === "stored"
          )
        }
      ))
  })
  // A defect (a serializer that throws) gives the placeholder up too; an interruption leaves it to expire.
  return placeholder
    ? Effect.onExit(write, (exit) =>
      Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)
        ? giveUp(c, stored, cas)
        : Effect.void)
    : write
}

/**
 * `getMany`: the client's pipelined batch, one per server, the servers in parallel. When a server fails, the call
 * fails with its error, naming the first of its keys, and carrying what the other servers answered
 * (`CacheErrorFields.partial`): under `Policy.recoverToMiss` only the failed server's keys are misses.
 */
export const getMany = (
  c: MemcachedContext,
  keys: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<Option.Option<unknown>>, CacheError> => {
  if (keys.length === 0) return Effect.succeed([])
  const list = Array.from(keys)
  return withGeneration(c, "getMany", list[0], (generation) =>
    Effect.flatMap(
      client("getMany", list[0], c.client.getMany(list.map((key) => fullKey(c.prefix, generation, key)))),
      (results) => {
        const items = new Array<Uint8Array | undefined>(results.length)
        let failed: CacheError | undefined = undefined
        for (let i = 0; i < results.length; i++) {
          const result = results[i]!
          if (result.kind === "error") {
            failed ??= toCacheError("getMany", list[i])(result.error)
            continue
          }
          items[i] = result.kind === "hit" && !isPlaceholder(result) ? result.value : undefined
        }
        const decoded = c.codec.decodeAll("getMany", list, items)
        if (failed === undefined) return decoded
        const error = failed
        return Effect.flatMap(decoded, (partial) => Effect.fail(withPartial(error, partial)))
      }
    ))
}

/** `set`: `ms <key> <size> b T<expiry>`; a TTL that stores nothing removes the key. */
export const set = (
  c: MemcachedContext,
  key: string,
  value: unknown,
  ttl?: Duration.Input
): Effect.Effect<void, CacheError> =>
  Effect.suspend(() => {
    const expiry = expiryOf("set", key, ttl)
    if (typeof expiry === "object") return expiry
    // A write that stores nothing removes any earlier value, which would otherwise be served stale.
    if (expiry === "remove") return remove(c, "set", key)
    return withGeneration(c, "set", key, (generation) =>
      c.codec.encode("set", key, value, (bytes) => {
        const stored = fullKey(c.prefix, generation, key)
        return tooLarge(c, "set", key, stored, bytes) ??
          client("set", key, c.client.metaSet(stored, bytes, { ttl: expiry }))
      }))
  })

/**
 * `setMany`: every value serialized first (a failure sends nothing), then the client's pipelined batch. An entry
 * that fails (its server down, its value over the server's item size) fails the call, naming its key, once every
 * server has answered; the other entries are stored.
 */
export const setMany = (
  c: MemcachedContext,
  entries: Iterable<readonly [key: string, value: unknown]>,
  ttl?: Duration.Input
): Effect.Effect<void, CacheError> => {
  const list = Backend.entriesOf(entries)
  const first = list[0]?.[0]
  return Effect.suspend(() => {
    const expiry = expiryOf("setMany", first, ttl)
    if (typeof expiry === "object") return expiry
    if (list.length === 0) return Effect.void
    if (expiry === "remove") return removeAll(c, "setMany", list.map(([key]) => key))
    const flags: MetaSetFlags = { ttl: expiry }
    return Effect.flatMap(
      c.codec.encodeAll("setMany", list),
      (encoded) =>
        withGeneration(c, "setMany", first, (generation) => {
          // Every entry is checked before anything is sent, so a value that does not fit leaves the server untouched.
          const batch = new Array<SetManyEntry>(list.length)
          for (let i = 0; i < list.length; i++) {
            const stored = fullKey(c.prefix, generation, list[i]![0])
            const refused = tooLarge(c, "setMany", list[i]![0], stored, encoded[i]!)
            if (refused !== undefined) return refused
            batch[i] = { key: stored, value: encoded[i]!, flags }
          }
          return Effect.flatMap(
            client("setMany", first, c.client.setMany(batch)),
            (results) => {
              for (let i = 0; i < results.length; i++) {
                const result = results[i]!
                if (result.kind === "error") return Effect.fail(toCacheError("setMany", list[i]![0])(result.error))
              }
              return Effect.void
            }
          )
        })
    )
  })
}

/**
 * `setIfAbsent`: `ms <key> <size> b MA T<expiry>` (add mode), which memcached checks and stores in one step: of
 * concurrent calls on a missing key exactly one stores.
 */
export const setIfAbsent = (
  c: MemcachedContext,
  key: string,
  value: unknown,
  ttl?: Duration.Input
): Effect.Effect<boolean, CacheError> =>
  Effect.suspend(() => {
    const expiry = expiryOf("setIfAbsent", key, ttl)
    if (typeof expiry === "object") return expiry
    // Stores nothing and, unlike `set`, removes nothing: whatever the key holds is not this call's to drop.
    if (expiry === "remove") return Effect.succeed(false)
    return withGeneration(c, "setIfAbsent", key, (generation) =>
      c.codec.encode("setIfAbsent", key, value, (bytes) => {
        const stored = fullKey(c.prefix, generation, key)
        return tooLarge(c, "setIfAbsent", key, stored, bytes) ?? Effect.map(
          client("setIfAbsent", key, c.client.metaSet(stored, bytes, { ttl: expiry, mode: "add" })),
          (result) => result.kind === "stored"
        )
      }))
  })

/** `md <key> b`: a missing key is not an error. */
export const remove = (c: MemcachedContext, operation: Operation, key: string): Effect.Effect<void, CacheError> =>
  withGeneration(
    c,
    operation,
    key,
    (generation) => Effect.asVoid(client(operation, key, c.client.metaDelete(fullKey(c.prefix, generation, key))))
  )

/**
 * One `md` per key, pipelined on each server's connection, a bounded number in flight. Every key is attempted,
 * whatever another's outcome; the first failure (in the keys' order) is reported once all have ended.
 */
export const removeAll = (
  c: MemcachedContext,
  operation: Operation,
  keys: ReadonlyArray<string>
): Effect.Effect<void, CacheError> => {
  if (keys.length === 0) return Effect.void
  const list = Array.from(keys)
  return withGeneration(c, operation, list[0], (generation) =>
    Effect.flatMap(
      Effect.forEach(
        list,
        (key) => Effect.result(client(operation, key, c.client.metaDelete(fullKey(c.prefix, generation, key)))),
        { concurrency: deleteConcurrency }
      ),
      (outcomes) => {
        for (const outcome of outcomes) if (Result.isFailure(outcome)) return Effect.fail(Result.failureValue(outcome))
        return Effect.void
      }
    ))
}

/** `clear`: the generation's increment (see `generation.ts`). */
export const clear = (c: MemcachedContext): Effect.Effect<void, CacheError> =>
  client("clear", undefined, c.generation.clear)
