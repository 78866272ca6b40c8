/**
 * Effect 4's `BackingPersistence` names on Effect 3, whose persistence is `@effect/experimental`'s
 * (`@effect/experimental/Persistence`, an optional peer of the Effect 3 line: only the `Persistence` module of this
 * package imports it). The face writes a store's operations in a neutral form ({@link StoreOptions}: a read is an
 * `Option`, so a stored `null` stays a hit on Effect 3, and a TTL is a `Duration` or `undefined`, as on Effect 4);
 * {@link makeBacking} turns them into `@effect/experimental`'s `BackingPersistence` (a TTL is an `Option` there).
 * Plus the neutral helper {@link backingError}.
 *
 * @internal
 */
import * as Persistence from "@effect/experimental/Persistence"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"

/** `@effect/experimental`'s service: a store per `storeId`. */
export type BackingPersistence = Persistence.BackingPersistence
/** Neutral: the identifier of the service in a layer's type (Effect 3: the shape; Effect 4: the service class). */
export type BackingPersistenceId = Persistence.BackingPersistence
/** `@effect/experimental`'s service tag. */
export const BackingPersistence: typeof Persistence.BackingPersistence = Persistence.BackingPersistence
/** `@effect/experimental`'s store: `Option` for a miss, a TTL as an `Option`. */
export type BackingPersistenceStore = Persistence.BackingPersistenceStore

/** Neutral: the error of a store's operations (Effect 4: `PersistenceError`). */
export type BackingError = Persistence.PersistenceError

/** Neutral: the operations of one store, as the face writes them. */
export interface StoreOptions {
  readonly get: (key: string) => Effect.Effect<Option.Option<unknown>, BackingError>
  readonly getMany: (keys: ReadonlyArray<string>) => Effect.Effect<Array<Option.Option<unknown>>, BackingError>
  readonly set: (key: string, value: unknown, ttl: Duration.Duration | undefined) => Effect.Effect<void, BackingError>
  readonly setMany: (
    entries: ReadonlyArray<readonly [key: string, value: unknown, ttl: Duration.Duration | undefined]>
  ) => Effect.Effect<void, BackingError>
  readonly remove: (key: string) => Effect.Effect<void, BackingError>
  readonly clear: Effect.Effect<void, BackingError>
}

/** Neutral: the `BackingPersistence` whose `make(storeId)` builds the store `storeOf(storeId)` describes. */
export const makeBacking = (storeOf: (storeId: string) => StoreOptions): BackingPersistence =>
  Persistence.BackingPersistence.of({
    [Persistence.BackingPersistenceTypeId]: Persistence.BackingPersistenceTypeId,
    make: (storeId): Effect.Effect<BackingPersistenceStore, never, Scope.Scope> =>
      Effect.sync(() => {
        const store = storeOf(storeId)
        return {
          get: store.get,
          getMany: store.getMany,
          set: (key, value, ttl) => store.set(key, value, Option.getOrUndefined(ttl)),
          setMany: (entries) =>
            store.setMany(entries.map(([key, value, ttl]) => [key, value, Option.getOrUndefined(ttl)] as const)),
          remove: store.remove,
          clear: store.clear
        }
      })
  })

/**
 * Neutral: the error of a store's operation `method`, keeping `cause`: a `PersistenceBackingError`, whose message is
 * always `"BackingError"` on Effect 3 (Effect 4's `PersistenceError` carries `message`). So that `message` is not
 * lost when there is no cause (a failure of this package's own, not the backend's), the cause is then an `Error`
 * with it.
 */
export const backingError = (fields: {
  readonly method: string
  readonly message: string
  readonly cause?: unknown
}): BackingError => Persistence.PersistenceBackingError.make(fields.method, fields.cause ?? new Error(fields.message))
