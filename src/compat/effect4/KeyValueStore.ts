/**
 * Effect 4's `KeyValueStore` (`effect/persistence`), the names the face uses, plus one neutral helper:
 * {@link storeError}, since the store's error is `KeyValueStoreError` here and `PlatformError` on Effect 3.
 *
 * @internal
 */
import { KeyValueStore as Kvs } from "effect/persistence"

/** Effect 4's service: `undefined` for a miss, failures as `KeyValueStoreError`. */
export type KeyValueStore = Kvs.KeyValueStore
/** Effect 4's service tag. */
export const KeyValueStore: typeof Kvs.KeyValueStore = Kvs.KeyValueStore
/** What {@link make} is given: the required operations, and any of the others to replace its defaults. */
export type MakeOptions = Kvs.MakeOptions
/** Effect 4's `make`: `has`, `isEmpty`, `modify`, `modifyUint8Array` and `clearPrefix` derived when not given. */
export const make: typeof Kvs.make = Kvs.make
/** Effect 4's error of a store. */
export type KeyValueStoreError = Kvs.KeyValueStoreError
/** Effect 4's error of a store. */
export const KeyValueStoreError: typeof Kvs.KeyValueStoreError = Kvs.KeyValueStoreError
/** Effect 4's `prefix`: a view of a store under a key prefix. */
export const prefix: typeof Kvs.prefix = Kvs.prefix
/** Effect 4's in-memory store. */
export const layerMemory: typeof Kvs.layerMemory = Kvs.layerMemory

/** Neutral: the error type of a store's operations (Effect 3: `PlatformError`). */
export type StoreError = Kvs.KeyValueStoreError

/**
 * Neutral: the error of a store's operation `method` on `key`, keeping `cause` (Effect 3: a `SystemError` of the
 * module `KeyValueStore`, reason `Unknown`, `key` as its `pathOrDescriptor`).
 */
export const storeError = (fields: {
  readonly method: string
  readonly key?: string | undefined
  readonly message: string
  readonly cause?: unknown
}): StoreError =>
  new Kvs.KeyValueStoreError({
    method: fields.method,
    message: fields.message,
    ...(fields.key === undefined ? {} : { key: fields.key }),
    ...(fields.cause === undefined ? {} : { cause: fields.cause })
  })
