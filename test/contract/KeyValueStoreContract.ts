/**
 * The KeyValueStore suite shared by every backend it runs over (MemoryBackend, a Redis server, a Redis Cluster), on
 * both majors: the expectations of Effect's own KeyValueStore suite (set / get / has / size / remove / clear /
 * modify / isEmpty, bytes, the schema store), each checked against Effect's in-memory store, the reference, then
 * hostile keys and values, prefix isolation, and values a store did not write.
 */
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Option from "#effect/Option"
import * as Schema from "#effect/Schema"
import * as Kv from "#test-effect/KeyValueStore"
import { expect } from "#test-effect/vitest"
import * as KeyValueStore from "../../src/KeyValueStore.js"
import type { RemoteCacheBackendShape } from "../../src/RemoteCacheBackend.js"

type Store = KeyValueStore.KeyValueStore

/** A fresh backend namespace per call, so tests on one server never meet. */
let namespaces = 0
export const freshPrefix = () => `t${++namespaces}:`

/** Runs `check` against the store under test and against Effect's in-memory store: both must agree. */
const withReference = <R>(
  store: Store,
  check: (store: Store) => Effect.Effect<unknown, unknown, R>
): Effect.Effect<void, unknown, R> =>
  Effect.gen(function*() {
    const ours = yield* check(store)
    const reference = yield* Effect.gen(function*() {
      return yield* check(yield* Kv.Tag)
    }).pipe(Effect.provide(Kv.layerMemory))
    expect(ours).toStrictEqual(reference)
  })

const hostileKeys = [
  "",
  "\r\n",
  "\u0000",
  "a\u0000b",
  "ключ🔑",
  "*",
  "?",
  "[a-z]",
  "\\",
  "kv:",
  " ",
  "x".repeat(10_000)
]
const hostileStrings = [
  "",
  "s",
  "b",
  "bAQID", // our bytes tag in front of valid base64: still this string
  "AQID", // valid base64: `getUint8Array` of it is its UTF-8, not [1, 2, 3]
  "\u0000\r\n",
  "\uD800", // a lone surrogate
  "\uDFFF\uD800",
  "🔑ключ",
  "x".repeat(100_000)
]
const hostileBytes = [
  new Uint8Array(0),
  new Uint8Array([0]),
  Uint8Array.from({ length: 256 }, (_, i) => i),
  new Uint8Array([0xff, 0xfe, 0xfd]), // not UTF-8
  new TextEncoder().encode("s-looking")
]

/** The shared suite, over the backends `backendOf` makes (each call a new namespace of the same server or store). */
export const suite = (
  // The `it` of a describe block or of a layer's block, whose tests may need that layer's services.
  itFor: { readonly effect: (name: string, test: () => Effect.Effect<unknown, unknown, any>) => void },
  backendOf: (prefix: string) => Effect.Effect<RemoteCacheBackendShape, unknown, any>
) => {
  const storeOf = (options?: KeyValueStore.Options) =>
    Effect.map(backendOf(freshPrefix()), (backend) => KeyValueStore.fromCache(backend, options))

  itFor.effect("set / get / has / remove, as Effect's own store", () =>
    Effect.gen(function*() {
      const store = yield* storeOf()
      yield* withReference(store, (s) =>
        Effect.gen(function*() {
          const before = yield* Kv.get(s, "/foo/bar")
          const hadBefore = yield* s.has("/foo/bar")
          yield* s.set("/foo/bar", "bar")
          const after = yield* Kv.get(s, "/foo/bar")
          const hasAfter = yield* s.has("/foo/bar")
          yield* s.set("/foo/bar", "baz")
          const overwritten = yield* Kv.get(s, "/foo/bar")
          yield* s.remove("/foo/bar")
          yield* s.remove("/missing")
          return [before, hadBefore, after, hasAfter, overwritten, yield* Kv.get(s, "/foo/bar")]
        }))
      expect(yield* Kv.get(store, "/foo/bar")).toBeUndefined()
    }))

  itFor.effect("size / isEmpty / clear / keys, as Effect's own store", () =>
    Effect.gen(function*() {
      const store = yield* storeOf()
      yield* withReference(store, (s) =>
        Effect.gen(function*() {
          const empty = [yield* s.size, yield* s.isEmpty]
          yield* s.set("foo", "bar")
          yield* s.set("bar", "baz")
          yield* s.set("foo", "again")
          const two = [yield* s.size, yield* s.isEmpty]
          yield* s.clear
          return [empty, two, yield* s.size, yield* s.isEmpty]
        }))
      // `keys` (Effect 4's; Effect 3's interface has none, this store has it on both).
      yield* store.set("foo", "bar")
      yield* store.set("bar", "baz")
      expect([...(yield* Kv.keys(store))].sort()).toStrictEqual(["bar", "foo"])
      yield* store.clear
      expect(yield* Kv.keys(store)).toStrictEqual([])
    }))

  itFor.effect("modify and modifyUint8Array, as Effect's own store", () =>
    Effect.gen(function*() {
      const store = yield* storeOf()
      yield* withReference(store, (s) =>
        Effect.gen(function*() {
          const missing = yield* Kv.modify(s, "foo", (v) => v + "bar")
          const stillMissing = yield* s.has("foo")
          yield* s.set("foo", "bar")
          const modified = yield* Kv.modify(s, "foo", (v) => v + "bar")
          const read = yield* Kv.get(s, "foo")
          yield* s.set("bytes", new Uint8Array([1, 2, 3]))
          const bytes = yield* Kv.modifyUint8Array(s, "bytes", (v) => Uint8Array.from([...v, 4]))
          const missingBytes = yield* Kv.modifyUint8Array(s, "none", (v) => v)
          return [missing, stillMissing, modified, read, bytes, yield* Kv.getUint8Array(s, "bytes"), missingBytes]
        }))
    }))

  itFor.effect(
    "bytes: written bytes read back as the same bytes; bytes read as a string are base64, a string as bytes UTF-8",
    () =>
      Effect.gen(function*() {
        const store = yield* storeOf()
        yield* withReference(store, (s) =>
          Effect.gen(function*() {
            const out: Array<unknown> = []
            yield* s.set("bytes", new Uint8Array([1, 2, 3]))
            out.push(yield* Kv.getUint8Array(s, "bytes"))
            yield* s.set("text", "héllo")
            out.push(yield* Kv.getUint8Array(s, "text"), yield* Kv.get(s, "text"))
            yield* s.set("utf8", new TextEncoder().encode("héllo"))
            out.push(yield* Kv.get(s, "utf8")) // "aMOpbGxv"
            // A string that is valid base64 is a string, not bytes (unlike `makeStringOnly`).
            yield* s.set("b64", "AQID")
            out.push(yield* Kv.getUint8Array(s, "b64"))
            return out
          }))
        // A subarray is stored as its own bytes only.
        const big = Uint8Array.from([9, 9, 1, 2, 9])
        yield* store.set("view", big.subarray(2, 4))
        const view = yield* Kv.getUint8Array(store, "view")
        expect(view).toStrictEqual(new Uint8Array([1, 2]))
        expect(view?.constructor).toBe(Uint8Array)
      })
  )

  itFor.effect("schema store: values through a schema, as Effect's own store", () =>
    Effect.gen(function*() {
      const User = Schema.Struct({ name: Schema.String, age: Schema.Number })
      const store = yield* storeOf()
      yield* withReference(store, (s) =>
        Effect.gen(function*() {
          const users = Kv.schemaStore(s, User)
          const missing = yield* users.get("ada")
          yield* users.set("ada", { name: "Ada", age: 36 })
          return [missing, yield* users.get("ada"), yield* users.size, yield* Kv.get(s, "ada")]
        }))
      const users = Kv.schemaStore(store, User)
      yield* store.set("broken", "not json")
      const broken = yield* Effect.exit(users.get("broken"))
      expect(Exit.isFailure(broken)).toBe(true)
    }))

  itFor.effect("hostile keys: each is its own key, listed exactly, removed alone", () =>
    Effect.gen(function*() {
      const store = yield* storeOf()
      for (const [i, key] of hostileKeys.entries()) yield* store.set(key, `v${i}`)
      for (const [i, key] of hostileKeys.entries()) expect(yield* Kv.get(store, key)).toBe(`v${i}`)
      expect(yield* store.size).toBe(hostileKeys.length)
      expect([...(yield* Kv.keys(store))].sort()).toStrictEqual([...hostileKeys].sort())
      yield* store.remove("*")
      expect(yield* Kv.get(store, "")).toBe("v0")
      expect(yield* store.size).toBe(hostileKeys.length - 1)
      // clearPrefix is a literal prefix: "[a-z]" is no pattern, "*" no wildcard.
      yield* Kv.clearPrefix(store, "[a")
      expect(yield* store.has("[a-z]")).toBe(false)
      expect(yield* store.has("?")).toBe(true)
      yield* Kv.clearPrefix(store, "\\")
      expect(yield* store.has("\\")).toBe(false)
      expect(yield* store.size).toBe(hostileKeys.length - 3)
      yield* Kv.clearPrefix(store, "")
      expect(yield* store.isEmpty).toBe(true)
    }))

  itFor.effect(
    "hostile values: strings and bytes round-trip exactly, and never read as the other",
    () =>
      Effect.gen(function*() {
        const store = yield* storeOf()
        for (const [i, value] of hostileStrings.entries()) yield* store.set(`s${i}`, value)
        for (const [i, value] of hostileBytes.entries()) yield* store.set(`b${i}`, value)
        for (const [i, value] of hostileStrings.entries()) {
          expect(yield* Kv.get(store, `s${i}`)).toBe(value)
          // A string reads as bytes through UTF-8 (a lone surrogate as U+FFFD), never through base64.
          expect(yield* Kv.getUint8Array(store, `s${i}`)).toStrictEqual(new TextEncoder().encode(value))
        }
        for (const [i, value] of hostileBytes.entries()) {
          expect(yield* Kv.getUint8Array(store, `b${i}`)).toStrictEqual(value)
        }
      })
  )

  itFor.effect(
    "prefix isolation: stores under different prefixes neither see nor clear each other",
    () =>
      Effect.gen(function*() {
        const backend = yield* backendOf(freshPrefix())
        // "x*" would match "xy:…" as an unescaped glob; "a:" and "b:" share nothing.
        const [a, b, star, xy] = ["a:", "b:", "x*", "xy:"].map((prefix) => KeyValueStore.fromCache(backend, { prefix }))
        yield* a!.set("k", "a")
        yield* b!.set("k", "b")
        yield* b!.set("only-b", "b")
        yield* star!.set("k", "star")
        yield* xy!.set("k", "xy")
        expect([yield* Kv.get(a!, "k"), yield* Kv.get(b!, "k")]).toStrictEqual(["a", "b"])
        expect([yield* a!.size, yield* b!.size, yield* star!.size, yield* xy!.size]).toStrictEqual([1, 2, 1, 1])
        expect(yield* Kv.keys(b!)).toHaveLength(2)
        yield* a!.clear
        expect([yield* a!.isEmpty, yield* b!.size]).toStrictEqual([true, 2])
        yield* star!.clear
        expect([yield* star!.size, yield* Kv.get(xy!, "k")]).toStrictEqual([0, "xy"])
        yield* Kv.clearPrefix(b!, "only")
        expect(yield* Kv.keys(b!)).toStrictEqual(["k"])
        // Keys of the backend outside every store are untouched by every clear.
        yield* backend.set("plain", 1)
        yield* b!.clear
        yield* xy!.clear
        expect(yield* backend.get("plain")).toStrictEqual(Option.some(1))
      })
  )

  itFor.effect(
    "a value not written by a store fails the read with the store's error, naming the key",
    () =>
      Effect.gen(function*() {
        const backend = yield* backendOf(freshPrefix())
        const store = KeyValueStore.fromCache(backend, { prefix: "kv:" })
        yield* backend.set("kv:foreign", 42)
        yield* backend.set("kv:untagged", "hello")
        for (const key of ["foreign", "untagged"]) {
          const failure = yield* Effect.flip(Kv.get(store, key))
          expect(Kv.storeErrorOf(failure)).toMatchObject({ method: "get", key })
        }
        // It is counted all the same: it is under the store's prefix.
        expect(yield* store.size).toBe(2)
      })
  )
}
