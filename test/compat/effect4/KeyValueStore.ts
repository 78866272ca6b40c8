/**
 * What the shared KeyValueStore suite needs to read Effect 4's store as Effect 3's (a miss is `undefined` here,
 * an `Option` there), and its error and schema store.
 */
import * as Effect from "effect/Effect"
import { KeyValueStore } from "effect/persistence"
import type * as Schema from "effect/Schema"

type Store = KeyValueStore.KeyValueStore

export const get = (store: Store, key: string): Effect.Effect<string | undefined, unknown> => store.get(key)
export const getUint8Array = (store: Store, key: string): Effect.Effect<Uint8Array | undefined, unknown> =>
  store.getUint8Array(key)
export const modify = (store: Store, key: string, f: (value: string) => string) => store.modify(key, f)
export const modifyUint8Array = (store: Store, key: string, f: (value: Uint8Array) => Uint8Array) =>
  store.modifyUint8Array(key, f)
export const keys = (store: Store): Effect.Effect<ReadonlyArray<string>, unknown> => store.keys
export const clearPrefix = (store: Store, prefix: string): Effect.Effect<void, unknown> => store.clearPrefix(prefix)

/** The store's error: its tag and fields, `undefined` when `u` is not one. */
export const storeErrorOf = (u: unknown):
  | { readonly method: string; readonly key: string | undefined; readonly cause: unknown }
  | undefined =>
  u instanceof KeyValueStore.KeyValueStoreError ? { method: u.method, key: u.key, cause: u.cause } : undefined

export const storeErrorTag = "KeyValueStoreError"

/** The schema view of a store (Effect 4: `toSchemaStore`). */
export const schemaStore = <S extends Schema.Top>(store: Store, schema: S) => {
  const view = KeyValueStore.toSchemaStore(store, schema as any)
  return {
    get: (key: string) => view.get(key) as Effect.Effect<import("effect/Option").Option<S["Type"]>, unknown>,
    set: (key: string, value: S["Type"]) => view.set(key, value) as Effect.Effect<void, unknown>,
    size: view.size as Effect.Effect<number, unknown>
  }
}

/** Effect 4's in-memory store, the reference the shared suite compares against. */
export const layerMemory = KeyValueStore.layerMemory
export const Tag = KeyValueStore.KeyValueStore
