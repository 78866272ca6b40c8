/**
 * Key listing: what `KeyValueStore`'s `keys`, `size` and `clear` need and the `RemoteCacheBackend` contract does
 * not offer. `RedisBackend` and `MemoryBackend` attach it to the backends they make, under a symbol, so the
 * public contract (and every backend written by hand, and every policy) is unchanged: a backend without it simply
 * cannot be listed.
 *
 * @internal
 */
import type * as Effect from "#effect/Effect"
import type { CacheError } from "../../RemoteCacheBackend.js"

/** The property a listable backend carries. */
export const ListingTypeId: unique symbol = Symbol.for("effect-remote-cache/internal/Listing")

/** Listing of the keys under a part of a backend's namespace. */
export interface Listing {
  /**
   * Every live key of the backend (without the backend's prefix) that starts with `under`, each once, in no
   * particular order. On Redis a `SCAN … MATCH` over every primary, never `KEYS`: a key written or removed while it
   * runs may or may not be listed. Its failure is a `CacheError` of the operation `clear`, whose scan it shares.
   */
  readonly keys: (under: string) => Effect.Effect<ReadonlyArray<string>, CacheError>
  /** Removes every key of the backend that starts with `under` (as `clear` does for `under = ""`). */
  readonly clear: (under: string) => Effect.Effect<void, CacheError>
}

/** `backend` with `listing` attached (the same object, so it stays the service value its maker returns). */
export const attach = <A extends object>(backend: A, listing: Listing): A =>
  Object.defineProperty(backend, ListingTypeId, { value: listing, enumerable: false })

/** The listing of `backend`, `undefined` when it has none (a backend made by hand, or a policy's view of one). */
export const listingOf = (backend: object): Listing | undefined =>
  (backend as { readonly [ListingTypeId]?: Listing })[ListingTypeId]
