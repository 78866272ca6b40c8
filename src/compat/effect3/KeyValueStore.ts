/**
 * Effect 4's `KeyValueStore` names on Effect 3, whose store is `@effect/platform`'s (`@effect/platform/KeyValueStore`,
 * an optional peer of the Effect 3 line: only the `KeyValueStore` module of this package imports it). The face
 * writes a store as Effect 4 does: `undefined` for a miss, and `keys` / `clearPrefix` among the operations;
 * {@link make} turns that into `@effect/platform`'s store (`Option` for a miss), whose interface has no `keys` or
 * `clearPrefix` (they stay on the object, unused by Effect 3's types). Plus the neutral helper {@link storeError}.
 *
 * @internal
 */
import * as PlatformError from "@effect/platform/Error"
import * as Kvs from "@effect/platform/KeyValueStore"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** `@effect/platform`'s service: `Option` for a miss, failures as `PlatformError`. */
export type KeyValueStore = Kvs.KeyValueStore
/** `@effect/platform`'s service tag. */
export const KeyValueStore: typeof Kvs.KeyValueStore = Kvs.KeyValueStore

/** Neutral: the error type of a store's operations (Effect 4: `KeyValueStoreError`). */
export type StoreError = PlatformError.PlatformError

/** Effect 4's `MakeOptions`: a miss is `undefined`, and `keys` is required. */
export interface MakeOptions {
  readonly get: (key: string) => Effect.Effect<string | undefined, StoreError>
  readonly getUint8Array: (key: string) => Effect.Effect<Uint8Array | undefined, StoreError>
  readonly set: (key: string, value: string | Uint8Array) => Effect.Effect<void, StoreError>
  readonly remove: (key: string) => Effect.Effect<void, StoreError>
  readonly clear: Effect.Effect<void, StoreError>
  readonly size: Effect.Effect<number, StoreError>
  readonly keys: Effect.Effect<ReadonlyArray<string>, StoreError>
  readonly clearPrefix?: ((prefix: string) => Effect.Effect<void, StoreError>) | undefined
  readonly has?: ((key: string) => Effect.Effect<boolean, StoreError>) | undefined
  readonly isEmpty?: Effect.Effect<boolean, StoreError> | undefined
}

/**
 * Effect 4's `make` on Effect 3: `@effect/platform`'s `make` (which derives `has`, `isEmpty`, `modify`,
 * `modifyUint8Array` and `forSchema` the same way) over the given operations, a miss turned into `Option.none()`.
 */
export const make = (options: MakeOptions): KeyValueStore => {
  const impl = {
    get: (key: string) => Effect.map(options.get(key), Option.fromNullable),
    getUint8Array: (key: string) => Effect.map(options.getUint8Array(key), Option.fromNullable),
    set: options.set,
    remove: options.remove,
    clear: options.clear,
    size: options.size,
    ...(options.has === undefined ? {} : { has: options.has }),
    ...(options.isEmpty === undefined ? {} : { isEmpty: options.isEmpty }),
    // Not part of Effect 3's interface; kept on the object as Effect 4 has them.
    keys: options.keys,
    clearPrefix: options.clearPrefix ??
      ((prefix: string) =>
        prefix.length === 0 ?
          options.clear :
          Effect.flatMap(options.keys, (keys) =>
            Effect.forEach(keys, (key) =>
              key.startsWith(prefix) ? options.remove(key) : Effect.void, { discard: true })))
  }
  return Kvs.make(impl)
}

/** Effect 4's `prefix`: a view of a store under a key prefix. */
export const prefix: typeof Kvs.prefix = Kvs.prefix
/** `@effect/platform`'s in-memory store. */
export const layerMemory: typeof Kvs.layerMemory = Kvs.layerMemory

/**
 * Neutral: the error of a store's operation `method` on `key`, keeping `cause`: a `SystemError` of the module
 * `KeyValueStore`, reason `Unknown`, `key` as its `pathOrDescriptor` (Effect 4: a `KeyValueStoreError`).
 */
export const storeError = (fields: {
  readonly method: string
  readonly key?: string | undefined
  readonly message: string
  readonly cause?: unknown
}): StoreError =>
  new PlatformError.SystemError({
    reason: "Unknown",
    module: "KeyValueStore",
    method: fields.method,
    description: fields.message,
    ...(fields.key === undefined ? {} : { pathOrDescriptor: fields.key }),
    ...(fields.cause === undefined ? {} : { cause: fields.cause })
  })
