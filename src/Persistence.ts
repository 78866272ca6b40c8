/**
 * Effect's own `BackingPersistence` service over a `RemoteCacheBackend` (Redis, a cluster, or in process), or over
 * a `RemoteCache` and its failure policy: Effect's persisted caches and result persistence (Effect 4's
 * `effect/persistence` `Persistence.layer` and `PersistedCache`; on Effect 3, `@effect/experimental`'s
 * `Persistence.layerResult` and `PersistedCache`, an optional peer of the 1.x line that only this module needs)
 * then keep their data in Redis.
 *
 * Import it from its own path, `effect-remote-cache/Persistence`: the package root does not load it, so the
 * Effect 3 line works without `@effect/experimental` installed.
 *
 * - **Keys**: the store of `storeId` keeps `key` under the backend's prefix, then {@link Options.prefix} (default
 *   `"persistence:"`), then the store id with `%` and `:` escaped (`%25`, `%3A`, as Effect's own backings do), then
 *   `":"`, then the key. The store id thus ends at its first `:`: two stores never share a key, and neither's
 *   namespace holds the other's (`"a"` and `"a:b"` included).
 * - **Values** are handed to the backend as they come (the JSON-able values Effect's persistence writes) and go
 *   through the backend's serializer.
 * - **TTL**: the TTL of `set` / `setMany` goes to the backend's write, with the backend's TTL semantics: none (or
 *   an infinite one) never expires, and one of 0 or less removes the key (Effect's `Persistence` layers never send
 *   one). `setMany` writes with the backend's `setMany`, one call per distinct TTL (the backend's batch carries one
 *   TTL), concurrently; of two entries for the same key the last one wins, as it would written in order.
 * - **Batches**: `getMany` and `setMany` are the backend's `getMany` and `setMany`: on a cluster the backend splits
 *   them by slot, so there is no `CROSSSLOT`.
 * - **`clear`** removes exactly the keys of the store, with the backend's key listing: on Redis `SCAN … MATCH
 *   <escaped namespace>*` over every primary, then `UNLINK`, never `KEYS`. A key written while it runs may or may
 *   not be removed. The `RemoteCacheBackend` contract has no listing: `RedisBackend` and `MemoryBackend` carry one
 *   of their own; over another backend `clear` fails.
 * - **Failures** are the interface's error: `PersistenceError` on Effect 4 (its message names the method),
 *   `PersistenceBackingError` on Effect 3 (with `method`), with the backend's `CacheError` as `cause`. The one
 *   failure of this module's own, `clear` over a backend that cannot list, has an `Error` saying so as its cause on
 *   Effect 3, whose error message is always `"BackingError"`.
 *
 * @since 0.2.0
 */
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Persistence from "#effect/Persistence"
import * as Listing from "./internal/backend/keys.js"
import { RemoteCache } from "./RemoteCache.js"
import { type CacheOps, RemoteCacheBackend, type RemoteCacheBackendShape } from "./RemoteCacheBackend.js"

/**
 * Effect's `BackingPersistence` service, the tag the layers of this module provide: Effect 4's from
 * `effect/persistence`, Effect 3's from `@effect/experimental/Persistence` (the same tag as Effect's own).
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { MemoryBackend } from "effect-remote-cache"
 * import * as Persistence from "effect-remote-cache/Persistence"
 *
 * const program = Effect.gen(function*() {
 *   const backing = yield* Persistence.BackingPersistence
 *   const store = yield* backing.make("users")
 *   // Effect 4: the value or `undefined`; Effect 3: an `Option`
 *   return yield* store.get("u1")
 * })
 *
 * Effect.runPromise(
 *   program.pipe(
 *     Effect.scoped,
 *     Effect.provide(Persistence.layerBackingPersistence().pipe(Layer.provide(MemoryBackend.layer())))
 *   )
 * )
 * ```
 *
 * @since 0.2.0
 * @category tags
 */
export const BackingPersistence: typeof Persistence.BackingPersistence = Persistence.BackingPersistence

/**
 * Effect's `BackingPersistence` interface: `make(storeId)` opens a store.
 *
 * @since 0.2.0
 * @category models
 */
export type BackingPersistence = Persistence.BackingPersistence

/**
 * The identifier of the service in the type of a layer that provides it (Effect 4: the service class
 * `BackingPersistence`; Effect 3: its shape).
 *
 * @since 0.2.0
 * @category models
 */
export type BackingPersistenceId = Persistence.BackingPersistenceId

/**
 * Effect's `BackingPersistenceStore` (Effect 4: a miss is `undefined` and a TTL `Duration | undefined`; Effect 3:
 * `Option`s).
 *
 * @since 0.2.0
 * @category models
 */
export type BackingPersistenceStore = Persistence.BackingPersistenceStore

/**
 * The error of a store's operations: `PersistenceError` on Effect 4, `PersistenceError` (a
 * `PersistenceBackingError`) on Effect 3.
 *
 * @since 0.2.0
 * @category errors
 */
export type BackingError = Persistence.BackingError

/**
 * Options of every constructor of this module.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /**
   * Prepended to the namespace of every store, after the backend's own prefix. Default `"persistence:"`.
   */
  readonly prefix?: string | undefined
}

/**
 * The options of {@link fromCache}: {@link Options} and the backend whose listing `clear` uses.
 *
 * @since 0.2.0
 * @category models
 */
export interface FromCacheOptions extends Options {
  /**
   * The backend whose key listing `clear` uses, with the same prefix as the cache (typically the one under it).
   * Default: the cache itself, when it is a `RedisBackend` or a `MemoryBackend`; otherwise `clear` fails.
   */
  readonly backend?: RemoteCacheBackendShape | undefined
}

/**
 * The prefix of every store's namespace when none is given.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultPrefix: string = "persistence:"

/**
 * The namespace of the store `storeId` under `prefix`: the store id with `%` and `:` escaped, then `":"`.
 *
 * @since 0.2.0
 * @category utils
 */
export const storeNamespace = (prefix: string, storeId: string): string =>
  prefix + storeId.replace(/%/g, "%25").replace(/:/g, "%3A") + ":"

const cacheError = (method: string) => (error: unknown): BackingError =>
  Persistence.backingError({
    method,
    message: typeof error === "object" && error !== null && "_tag" in error && "message" in error
      ? `${String(error._tag)}: ${String(error.message)}`
      : `the cache failed: ${String(error)}`,
    cause: error
  })

/** The TTL's group in `setMany`: entries of equal TTLs share one write of the backend. */
const ttlGroup = (ttl: Duration.Duration | undefined): number | undefined =>
  ttl === undefined ? undefined : Duration.toMillis(ttl)

/**
 * A `BackingPersistence` over `cache`: a `RemoteCacheBackend`, or any view of one with the same operations (the
 * `RemoteCache` service, or `RemoteCache.fromBackend(backend, policy)`). Reads and writes go through `cache`, so a
 * policy's timeouts, retries and recovery apply to them (a failure the policy recovers to a miss reads as a miss,
 * and a write it recovers is not reported). `clear` uses the key listing of `options.backend` (default: `cache`
 * itself), outside any policy. See the module's description for the key layout and the semantics.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MemoryBackend } from "effect-remote-cache"
 * import * as Persistence from "effect-remote-cache/Persistence"
 *
 * const program = Effect.gen(function*() {
 *   const backend = yield* MemoryBackend.make({ prefix: "app:" })
 *   const backing = Persistence.fromCache(backend, { prefix: "results:" })
 *   const store = yield* backing.make("users") // keys under "app:results:users:"
 *   yield* store.clear
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromCache = <E>(cache: CacheOps<E>, options: FromCacheOptions = {}): BackingPersistence => {
  const prefix = options.prefix ?? defaultPrefix
  const listing = Listing.listingOf(options.backend ?? cache)
  return Persistence.makeBacking((storeId) => {
    const namespace = storeNamespace(prefix, storeId)
    return {
      get: (key) => Effect.mapError(cache.get(namespace + key), cacheError("get")),
      getMany: (keys) =>
        keys.length === 0
          ? Effect.succeed([])
          : Effect.map(
            Effect.mapError(cache.getMany(keys.map((key) => namespace + key)), cacheError("getMany")),
            (found) => [...found]
          ),
      set: (key, value, ttl) => Effect.mapError(cache.set(namespace + key, value, ttl), cacheError("set")),
      setMany: (entries) =>
        Effect.suspend(() => {
          // The last entry of a key wins; then one backend write per distinct TTL, on disjoint keys.
          const last = new Map<string, readonly [unknown, Duration.Duration | undefined]>()
          for (const [key, value, ttl] of entries) {
            last.delete(key)
            last.set(key, [value, ttl])
          }
          const groups = new Map<
            number | undefined,
            { readonly ttl: Duration.Duration | undefined; readonly entries: Array<readonly [string, unknown]> }
          >()
          for (const [key, [value, ttl]] of last) {
            const group = ttlGroup(ttl)
            let batch = groups.get(group)
            if (batch === undefined) {
              batch = { ttl, entries: [] }
              groups.set(group, batch)
            }
            batch.entries.push([namespace + key, value])
          }
          return Effect.mapError(
            Effect.forEach(groups.values(), (batch) => cache.setMany(batch.entries, batch.ttl), {
              concurrency: "unbounded",
              discard: true
            }),
            cacheError("setMany")
          )
        }),
      remove: (key) => Effect.mapError(cache.delete(namespace + key), cacheError("remove")),
      clear: listing === undefined
        ? Effect.fail(Persistence.backingError({
          method: "clear",
          message: "this cache cannot list its keys (a RedisBackend or a MemoryBackend can): " +
            "clear needs the keys of the store"
        }))
        : Effect.mapError(listing.clear(namespace), cacheError("clear"))
    }
  })
}

/**
 * A `BackingPersistence` over the `RemoteCacheBackend` in context (see {@link fromCache}).
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeBackingPersistence = (
  options?: Options
): Effect.Effect<BackingPersistence, never, RemoteCacheBackend> =>
  Effect.map(RemoteCacheBackend, (backend) => fromCache(backend, options))

/**
 * Effect's `BackingPersistence` service over the `RemoteCacheBackend` in context: provide it to Effect's
 * `Persistence.layer` (Effect 4) or `Persistence.layerResult` (Effect 3, `@effect/experimental`).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { RedisBackend } from "effect-remote-cache"
 * import * as Persistence from "effect-remote-cache/Persistence"
 *
 * // Effect's BackingPersistence, kept in Redis under "app:persistence:<storeId>:<key>".
 * const Backing = Persistence.layerBackingPersistence().pipe(Layer.provide(RedisBackend.layer({ prefix: "app:" })))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerBackingPersistence = (
  options?: Options
): Layer.Layer<BackingPersistenceId, never, RemoteCacheBackend> =>
  Layer.effect(BackingPersistence, makeBackingPersistence(options))

/**
 * A `BackingPersistence` over the `RemoteCache` in context, its policy applying to reads and writes, and the
 * `RemoteCacheBackend` in context (the one under it) for `clear` (see {@link fromCache}).
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeBackingPersistenceRemoteCache = (
  options?: Options
): Effect.Effect<BackingPersistence, never, RemoteCache | RemoteCacheBackend> =>
  Effect.flatMap(
    RemoteCache,
    (cache) => Effect.map(RemoteCacheBackend, (backend) => fromCache(cache, { ...options, backend }))
  )

/**
 * Effect's `BackingPersistence` service over the `RemoteCache` in context (see
 * {@link makeBackingPersistenceRemoteCache}).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { MemoryBackend, RemoteCache } from "effect-remote-cache"
 * import * as Persistence from "effect-remote-cache/Persistence"
 *
 * // The policy's recovery applies to reads and writes; the backend lists the keys `clear` removes.
 * const Backing = Persistence.layerBackingPersistenceRemoteCache().pipe(
 *   Layer.provide(RemoteCache.layerDefault),
 *   Layer.provideMerge(MemoryBackend.layer())
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerBackingPersistenceRemoteCache = (
  options?: Options
): Layer.Layer<BackingPersistenceId, never, RemoteCache | RemoteCacheBackend> =>
  Layer.effect(BackingPersistence, makeBackingPersistenceRemoteCache(options))
