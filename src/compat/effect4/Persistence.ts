/**
 * Effect 4's `BackingPersistence` (`effect/persistence`), the names the face uses, plus the neutral helpers
 * {@link makeBacking} (a store's operations written once for both majors: a read is an `Option`, a TTL a `Duration`
 * or `undefined`) and {@link backingError}, since the error is `PersistenceError` here and
 * `PersistenceBackingError` on Effect 3.
 *
 * @internal
 */
import type * as Arr from "effect/Array"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Persistence } from "effect/persistence"

/** Effect 4's service: a store per `storeId` (the shape of the service class `Persistence.BackingPersistence`). */
export type BackingPersistence = Persistence.BackingPersistence["Service"]
/** Neutral: the identifier of the service in a layer's type (Effect 4: the service class; Effect 3: the shape). */
export type BackingPersistenceId = Persistence.BackingPersistence
/** Effect 4's service tag. */
export const BackingPersistence: typeof Persistence.BackingPersistence = Persistence.BackingPersistence
/** Effect 4's store: `undefined` for a miss, a TTL as a `Duration` or `undefined`. */
export type BackingPersistenceStore = Persistence.BackingPersistenceStore

/** Neutral: the error of a store's operations (Effect 3: `PersistenceError`, a `PersistenceBackingError`). */
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
    make: (storeId) =>
      Effect.sync((): BackingPersistenceStore => {
        const store = storeOf(storeId)
        // Effect 4 types a stored value as `object` (what `Persistence.layer` writes: an encoded `Exit`); a value
        // is handed back as the backend read it.
        return {
          get: (key) => Effect.map(store.get(key), (found) => Option.getOrUndefined(found) as object | undefined),
          getMany: (keys) =>
            Effect.map(
              store.getMany(keys),
              (found) =>
                found.map((value) => Option.getOrUndefined(value) as object | undefined) as Arr.NonEmptyArray<
                  object | undefined
                >
            ),
          set: store.set,
          setMany: store.setMany,
          remove: store.remove,
          clear: store.clear
        }
      })
  })

/** Neutral: the error of a store's operation `method`, keeping `cause` (Effect 3: a `PersistenceBackingError`). */
export const backingError = (fields: {
  readonly method: string
  readonly message: string
  readonly cause?: unknown
}): BackingError =>
  new Persistence.PersistenceError({
    message: `${fields.method}: ${fields.message}`,
    ...(fields.cause === undefined ? {} : { cause: fields.cause })
  })
