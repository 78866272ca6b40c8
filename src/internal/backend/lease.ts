/**
 * The leased read: a read that, on a miss, also tells this process whether it should compute the value or another
 * process already is (memcached's `mg … N<ttl>` win tokens). `MemcachedBackend` attaches it to the backends it
 * makes, under a symbol, so the public `RemoteCacheBackend` contract (and every backend written by hand) is
 * unchanged; `RemoteCache` forwards it under its default policy, and `TieredCache` uses it when asked to
 * (`distributedSingleFlight`).
 *
 * @internal
 */
import type * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import type { CacheError, Entry } from "../../RemoteCacheBackend.js"

/** The property a backend (or a `RemoteCache`) with a leased read carries. */
export const LeaseReadTypeId: unique symbol = Symbol.for("effect-remote-cache/internal/LeaseRead")

/**
 * What a leased read found: the entry (as `getWithTtl` returns it), `Won` (no value: this process holds the lease
 * and should compute and write it; a placeholder holds the others off for the lease) or `Lost` (no value: another
 * process holds the lease and is computing it).
 *
 * A read asked to claim the entry's refresh (`recacheSeconds`) also says, on a hit, who refreshes it: `"won"` (this
 * caller: the entry has less than `recacheSeconds` to live and nobody claimed it before), `"lost"` (another caller
 * claimed it and has not written since), or nothing (the entry is not due by the server's count, or never expires).
 */
export type LeaseOutcome =
  | {
    readonly _tag: "Hit"
    readonly entry: Entry
    readonly claim?: "won" | "lost" | undefined
    /** With a claim won: the write of the refreshed value, refused when another came first (see {@link Write}). */
    readonly write?: Write | undefined
  }
  | Won
  | { readonly _tag: "Lost" }

/**
 * The write of a value computed under a lease or a claim: it stores the value only while the key still holds what
 * the leased read saw (the placeholder, the stale value; memcached's `ms … C<cas>`), or nothing at all (the
 * placeholder expired), and answers `false`, storing nothing, when another write came first: that write is newer
 * than the computation, which read its data before it. A TTL that stores nothing removes the key, as `set` does.
 */
export type Write = (value: unknown, ttl: Duration.Input | undefined) => Effect.Effect<boolean, CacheError>

/**
 * The lease is this process's. `release` gives it up before its time (the computation failed): it removes the
 * placeholder if it is still there (never a value written meanwhile), so that the next reader wins at once. It
 * never fails.
 */
export interface Won {
  readonly _tag: "Won"
  readonly release: Effect.Effect<void>
  /** The write of the computed value (see {@link Write}); `undefined`: write it as any other. */
  readonly write?: Write | undefined
}

/** `Won` with nothing to release (no placeholder was made: a failed read, or a backend that made none). */
export const won: LeaseOutcome = { _tag: "Won", release: Effect.void }
export const lost: LeaseOutcome = { _tag: "Lost" }

/**
 * A read of `key` that, on a miss, takes (or reports taken) the lease on computing it, for `leaseMillis`; with
 * `recacheSeconds`, on a hit it also claims the entry's refresh when it has less than that to live (memcached's
 * `mg … R<secs>`: one claim per stored value, until a write replaces it).
 */
export type LeaseRead = (
  key: string,
  leaseMillis: number,
  recacheSeconds?: number
) => Effect.Effect<LeaseOutcome, CacheError>

/** `target` with `read` attached (the same object, so it stays the service value its maker returns). */
export const attach = <A extends object>(target: A, read: LeaseRead): A =>
  Object.defineProperty(target, LeaseReadTypeId, { value: read, enumerable: false })

/** The leased read of `target`, `undefined` when it has none (another backend, a policy's view of one). */
export const leaseReadOf = (target: object): LeaseRead | undefined =>
  (target as { readonly [LeaseReadTypeId]?: LeaseRead })[LeaseReadTypeId]
