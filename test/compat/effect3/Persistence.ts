/**
 * What the shared Persistence suite needs to drive Effect 3's `BackingPersistenceStore` (`@effect/experimental`: a
 * miss is an `Option`, a TTL an `Option`) in one form, its error, Effect's in-memory backing (the reference), and
 * an end-to-end run of Effect's own `PersistedCache` over a backing.
 */
import * as PersistedCache from "@effect/experimental/PersistedCache"
import * as Persistence from "@effect/experimental/Persistence"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PrimaryKey from "effect/PrimaryKey"
import * as Schema from "effect/Schema"

type Store = Persistence.BackingPersistenceStore
type Ttl = Duration.DurationInput | undefined

const ttlOf = (ttl: Ttl) => ttl === undefined ? Option.none() : Option.some(Duration.decode(ttl))

export const get = (store: Store, key: string): Effect.Effect<Option.Option<unknown>, unknown> => store.get(key)
export const getMany = (store: Store, keys: ReadonlyArray<string>) =>
  store.getMany([...keys]) as Effect.Effect<ReadonlyArray<Option.Option<unknown>>, unknown>
export const set = (store: Store, key: string, value: unknown, ttl?: Ttl): Effect.Effect<void, unknown> =>
  store.set(key, value, ttlOf(ttl))
export const setMany = (
  store: Store,
  entries: ReadonlyArray<readonly [string, unknown, Ttl]>
): Effect.Effect<void, unknown> => store.setMany(entries.map(([key, value, ttl]) => [key, value, ttlOf(ttl)]))

/** The store's error: its cause, `undefined` when `u` is not one. */
export const errorOf = (u: unknown): { readonly cause: unknown } | undefined =>
  u instanceof Persistence.PersistenceBackingError ? { cause: u.cause } : undefined

export const errorTag = "PersistenceError"

/** What the error says: on Effect 3 its message is always "BackingError", so the method and its cause's message. */
export const errorMessage = (u: unknown): string =>
  u instanceof Persistence.PersistenceBackingError
    ? `${u.method}: ${u.cause instanceof Error ? u.cause.message : String(u.cause)}`
    : String(u)

/** Effect's in-memory backing, the reference the shared suite compares against. */
export const layerMemory = Persistence.layerMemory
export const Tag = Persistence.BackingPersistence

// --- Effect's own PersistedCache, end to end --------------------------------------------------------------------

const User = Schema.Struct({ id: Schema.Number, name: Schema.String })
const UserNotFound = Schema.Struct({ _tag: Schema.Literal("UserNotFound"), id: Schema.Number })

class GetUser extends Schema.TaggedRequest<GetUser>()("GetUser", {
  failure: UserNotFound,
  success: User,
  payload: { id: Schema.Number }
}) {
  [PrimaryKey.symbol]() {
    return `GetUser:${this.id}`
  }
}

/**
 * Two `PersistedCache`s of the store `storeId`, one after the other, each with its own in-memory cache, over
 * Effect's `Persistence.layerResult` over `backing`: the second answers from the backing (`between` runs between
 * them; `timeToLive` is that of every result, default an hour). Answers what each got
 * for ids 1 and 0 (0 fails) and how many lookups ran.
 */
export const persistedCacheRun = <E, R, R2 = never>(
  backing: Layer.Layer<Persistence.BackingPersistence, E, R>,
  storeId: string,
  options: {
    readonly timeToLive?: Duration.DurationInput
    readonly between?: Effect.Effect<void, never, R2>
  } = {}
) =>
  Effect.gen(function*() {
    let lookups = 0
    const open = PersistedCache.make({
      storeId,
      lookup: (request: GetUser) =>
        Effect.suspend(() => {
          lookups++
          return request.id === 0
            ? Effect.fail({ _tag: "UserNotFound" as const, id: 0 })
            : Effect.succeed({ id: request.id, name: `user ${request.id}` })
        }),
      timeToLive: () => options.timeToLive ?? "1 hour"
    })
    const run = Effect.scoped(Effect.gen(function*() {
      const cache = yield* open
      return [
        yield* cache.get(new GetUser({ id: 1 })),
        yield* Effect.flip(cache.get(new GetUser({ id: 0 })))
      ]
    }))
    const first = yield* run
    if (options.between !== undefined) yield* options.between
    const second = yield* run
    return { first, second, lookups }
  }).pipe(Effect.provide(Persistence.layerResult.pipe(Layer.provide(backing))))

/**
 * `invalidate` of Effect's `PersistedCache` over `backing`: a cache gets id 1, invalidates it (`between` runs then,
 * to look at the backing), gets it again; then a second cache gets it. Answers the three names and the lookups.
 */
export const persistedCacheInvalidate = <E, R, R2 = never>(
  backing: Layer.Layer<Persistence.BackingPersistence, E, R>,
  storeId: string,
  between: Effect.Effect<void, never, R2>
) =>
  Effect.gen(function*() {
    let lookups = 0
    const open = PersistedCache.make({
      storeId,
      lookup: (request: GetUser) => Effect.sync(() => ({ id: request.id, name: `user ${request.id} #${++lookups}` })),
      timeToLive: () => "1 hour"
    })
    const names = yield* Effect.scoped(Effect.gen(function*() {
      const cache = yield* open
      const before = (yield* cache.get(new GetUser({ id: 1 }))).name
      yield* cache.invalidate(new GetUser({ id: 1 }))
      yield* between
      return [before, (yield* cache.get(new GetUser({ id: 1 }))).name]
    }))
    const other = yield* Effect.scoped(Effect.flatMap(open, (cache) => cache.get(new GetUser({ id: 1 }))))
    return { names: [...names, other.name], lookups }
  }).pipe(Effect.provide(Persistence.layerResult.pipe(Layer.provide(backing))))

/** The keys `persistedCacheRun` writes in its store (Effect's `PrimaryKey` of each request). */
export const persistedKeys = ["GetUser:0", "GetUser:1"]
