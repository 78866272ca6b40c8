/**
 * What the shared KeyValueStore suite needs to read Effect 3's store (`@effect/platform`'s: a miss is an `Option`)
 * as Effect 4's, and its error and schema store.
 */
import * as PlatformError from "@effect/platform/Error"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"

type Store = KeyValueStore.KeyValueStore
// Effect 4's operations that Effect 3's interface lacks; the store of this package keeps them on the object.
type Extra = {
  readonly keys: Effect.Effect<ReadonlyArray<string>, unknown>
  readonly clearPrefix: (prefix: string) => Effect.Effect<void, unknown>
}

export const get = (store: Store, key: string): Effect.Effect<string | undefined, unknown> =>
  Effect.map(store.get(key), Option.getOrUndefined)
export const getUint8Array = (store: Store, key: string): Effect.Effect<Uint8Array | undefined, unknown> =>
  Effect.map(store.getUint8Array(key), Option.getOrUndefined)
export const modify = (store: Store, key: string, f: (value: string) => string) =>
  Effect.map(store.modify(key, f), Option.getOrUndefined)
export const modifyUint8Array = (store: Store, key: string, f: (value: Uint8Array) => Uint8Array) =>
  Effect.map(store.modifyUint8Array(key, f), Option.getOrUndefined)
export const keys = (store: Store): Effect.Effect<ReadonlyArray<string>, unknown> => (store as Store & Extra).keys
export const clearPrefix = (store: Store, prefix: string): Effect.Effect<void, unknown> =>
  (store as Store & Extra).clearPrefix(prefix)

/** The store's error: its fields, `undefined` when `u` is not one. */
export const storeErrorOf = (u: unknown):
  | { readonly method: string; readonly key: string | undefined; readonly cause: unknown }
  | undefined =>
  u instanceof PlatformError.SystemError && u.module === "KeyValueStore"
    ? { method: u.method, key: typeof u.pathOrDescriptor === "string" ? u.pathOrDescriptor : undefined, cause: u.cause }
    : undefined

export const storeErrorTag = "SystemError"

/** The schema view of a store (Effect 3: `forSchema`). */
export const schemaStore = <A, I>(store: Store, schema: Schema.Schema<A, I>) => {
  const view = store.forSchema(schema)
  return {
    get: (key: string) => view.get(key) as Effect.Effect<Option.Option<A>, unknown>,
    set: (key: string, value: A) => view.set(key, value) as Effect.Effect<void, unknown>,
    size: view.size as Effect.Effect<number, unknown>
  }
}

/** `@effect/platform`'s in-memory store, the reference the shared suite compares against. */
export const layerMemory = KeyValueStore.layerMemory
export const Tag = KeyValueStore.KeyValueStore
