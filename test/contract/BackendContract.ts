/**
 * The contract every `RemoteCacheBackend` implementation must meet, written once and run against each backend.
 *
 * A target describes how to build backends of one implementation: a layer of suite-wide resources (a
 * `redis-server`, say) built once for the whole suite, and a per-test session that yields backends sharing one
 * fresh, empty store. The suite assumes the target's backends use the default serializer, `Serializer.v8`: it
 * round-trips structured-clone values (`Uint8Array`s, nested objects, `undefined` inside arrays), and the raw
 * writes of the suite hold its bytes.
 *
 * @since 0.1.0
 */
import * as Context from "#effect/Context"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as Result from "#effect/Result"
import type * as Scope from "#effect/Scope"
import { expect, layer } from "#test-effect/vitest"
import { RemoteCacheBackend, type RemoteCacheBackendShape } from "../../src/RemoteCacheBackend.js"
import * as Serializer from "../../src/Serializer.js"

/**
 * What one test sees of a target. Every backend built from one session shares the same store (or server), which
 * starts empty. Any failure of these functions fails the test.
 *
 * @since 0.1.0
 * @category models
 */
export interface ContractSession {
  /** Builds a backend whose keys live under `prefix`; it is released with the test's scope. */
  readonly backend: (prefix: string) => Effect.Effect<RemoteCacheBackendShape, unknown, Scope.Scope>
  /**
   * Stores `bytes` unchanged under the full key (prefix included), as another program would: without expiry, or
   * expiring in `ttlMillis` (an integer, possibly beyond what the backend's own `set` keeps as an expiry).
   */
  readonly writeRaw: (fullKey: string, bytes: Uint8Array, ttlMillis?: number) => Effect.Effect<void, unknown>
  /**
   * Lets `millis` pass for the backend's TTLs: `TestClock.adjust` for a backend on Effect's clock, a real sleep
   * for one whose server keeps time (set `realClock` then).
   */
  readonly advance: (millis: number) => Effect.Effect<void, unknown>
}

/**
 * A backend implementation to run the contract against.
 *
 * @since 0.1.0
 * @category models
 */
export interface ContractTarget<R = never, E = never> {
  /** Names the `describe` block. */
  readonly name: string
  /**
   * Resources shared by the whole suite, built before the first test and released after the last (a scoped
   * `redis-server`); `Layer.empty` when there are none.
   */
  readonly layer: Layer.Layer<R, E>
  /** Runs once per test, in the test's scope: sets up a fresh, empty store and says how to reach it. */
  readonly session: Effect.Effect<ContractSession, unknown, R | Scope.Scope>
  /**
   * `true` when TTLs run on real time (a server's clock): the tests then run on the live clock and `advance`
   * must really wait, so keep it a sleep. `false` runs them under `TestClock`.
   */
  readonly realClock: boolean
  /**
   * What the target's store cannot do, each skipping the contract's tests that need it. Absent: nothing.
   *
   * - `"nestedPrefixes"`: a prefix that extends another is not inside its namespace (memcached clears each prefix by
   *   a generation of its own, so `"a:"` neither reads nor clears `"a:b"`'s keys).
   * - `"expiryPast2038"`: no expiry later than 2038-01-19T03:14:07Z (memcached's is a signed 32-bit Unix time), so
   *   neither a TTL of `Number.MAX_SAFE_INTEGER` ms nor one above 2^53 ms is kept as such.
   */
  readonly lacks?: ReadonlyArray<Capability> | undefined
}

/**
 * A capability of a store that some of the contract's tests need (see {@link ContractTarget.lacks}).
 *
 * @since 0.2.0
 * @category models
 */
export type Capability = "nestedPrefixes" | "expiryPast2038"

/**
 * Builds the backend of a layer in the current scope (released with the test), for a target whose backends are
 * layers, such as `RedisBackend.layer({ host, port, prefix })`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const backendFromLayer = <E, R>(
  backendLayer: Layer.Layer<RemoteCacheBackend, E, R>
): Effect.Effect<RemoteCacheBackendShape, E, R | Scope.Scope> =>
  Effect.map(Layer.build(backendLayer), Context.get(RemoteCacheBackend))

/**
 * A Redis-style glob matcher (`*`, `?`, `[...]` with `^` and ranges, `\` escapes), used only to prove that the
 * neighbouring prefixes of the `clear` tests really would be hit by an unescaped `SCAN MATCH prefix*`.
 *
 * @since 0.1.0
 * @category utils
 */
export const globMatches = (pattern: string, subject: string): boolean => {
  const literal = (char: string) => char.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&")
  let source = ""
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!
    if (char === "*") source += "[\\s\\S]*"
    else if (char === "?") source += "[\\s\\S]"
    else if (char === "\\" && i + 1 < pattern.length) source += literal(pattern[++i]!)
    else if (char === "[" && pattern.indexOf("]", i + 1) > i + 1) {
      const end = pattern.indexOf("]", i + 1)
      let body = pattern.slice(i + 1, end)
      const negated = body.startsWith("^")
      if (negated) body = body.slice(1)
      source += `[${negated ? "^" : ""}${Array.from(body, (c) => c === "-" ? "-" : literal(c)).join("")}]`
      i = end
    } else source += literal(char)
  }
  return new RegExp(`^${source}$`).test(subject)
}

const expectSome = (option: Option.Option<unknown>, expected: unknown) => {
  expect(Option.isSome(option), "expected a hit, got a miss").toBe(true)
  expect(Option.getOrThrow(option)).toStrictEqual(expected)
}

// The TTL of the tests that read an entry before it expires. On a real clock the read must come within it, and a
// loaded two-core machine was seen to stall 800 ms between a write and the next read: 100 ms was not enough.
const liveTtlMillis = 2_000

const expectNone = (option: Option.Option<unknown>) => {
  expect(Option.isNone(option), `expected a miss, got ${String(Option.getOrUndefined(option))}`).toBe(true)
}

// The pairs of the `clear` tests: clearing the first prefix must not touch the second, which a naive
// `startsWith` slip or an unescaped glob (first prefix + "*") would remove.
const neighbourPrefixes: ReadonlyArray<readonly [cleared: string, neighbour: string]> = [
  ["a:b", "a:"],
  ["a:b", "ab:"],
  ["ab:", "a:"],
  ["a:", "ab:"],
  ["p*:", "px:"],
  ["q?:", "qx:"],
  ["r[x]:", "rx:"],
  ["s\\\\:", "s\\:"],
  ["s\\:", "s:"],
  ["t[^a]:", "tb:"]
]

// Invalid for v8 (0xfe is no serialization version) and for JSON (not UTF-8, and not JSON once decoded).
const foreignBytes = Uint8Array.from([0xff, 0xfe, ...new TextEncoder().encode("{not a value")])

const keysOfEveryKind = [
  "plain",
  "",
  "🔑 key with emoji 😀",
  "キャッシュのキー",
  "缓存键",
  "line\r\nbreak",
  "\r\n",
  "nul\u0000inside",
  "\u0000",
  "*",
  "?",
  "[a-z]",
  "\\",
  "$3\r\nSET\r\n",
  " leading and trailing spaces ",
  "x".repeat(10_000)
]

/**
 * Registers the contract's tests, in a `describe` block named after the target.
 *
 * @since 0.1.0
 * @category tests
 */
export const contractSuite = <R, E>(target: ContractTarget<R, E>): void =>
  layer(target.layer, { excludeTestServices: target.realClock })(
    `RemoteCacheBackend contract: ${target.name}`,
    (it) => {
      const test = (
        name: string,
        body: (session: ContractSession) => Effect.Effect<void, unknown, Scope.Scope>
      ) => it.effect(name, () => Effect.flatMap(target.session, body))
      // A test of what the target lacks is listed as skipped, so the report says what was not checked.
      const testNeeding = (
        capability: Capability,
        name: string,
        body: (session: ContractSession) => Effect.Effect<void, unknown, Scope.Scope>
      ) =>
        target.lacks?.includes(capability) === true
          ? it.effect.skip(name, () => Effect.flatMap(target.session, body))
          : test(name, body)

      test("get returns the value set under the key (hit)", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.set("k", { a: 1, b: ["x", null], c: new Date(0) })
          expectSome(yield* cache.get("k"), { a: 1, b: ["x", null], c: new Date(0) })
          yield* cache.set("falsy", 0)
          expectSome(yield* cache.get("falsy"), 0)
          yield* cache.set("null", null)
          expectSome(yield* cache.get("null"), null)
        }))

      test("getWithTtl returns the value with the TTL it has left, none when it never expires", ({ advance, backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          expectNone(yield* cache.getWithTtl("missing"))
          yield* cache.set("forever", { a: 1 })
          const forever = yield* cache.getWithTtl("forever")
          expect(Option.isSome(forever)).toBe(true)
          if (Option.isSome(forever)) {
            expect(forever.value.value).toStrictEqual({ a: 1 })
            expectNone(forever.value.remainingTtl)
          }
          // A minute, so that on a real clock even a long stall of a loaded machine leaves it far from expiring.
          yield* cache.set("short", "v", "60 seconds")
          yield* advance(100)
          const short = yield* cache.getWithTtl("short")
          expect(Option.isSome(short)).toBe(true)
          if (Option.isSome(short)) {
            expect(short.value.value).toBe("v")
            const left = Duration.toMillis(Option.getOrThrow(short.value.remainingTtl))
            expect(left).toBeLessThanOrEqual(59_900)
            expect(left).toBeGreaterThan(50_000)
          }
          yield* cache.set("gone", "v", 50)
          yield* advance(100)
          expectNone(yield* cache.getWithTtl("gone"))
        }))

      test("get of a key never set is a miss", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          expectNone(yield* cache.get("missing"))
          yield* cache.set("other", 1)
          expectNone(yield* cache.get("missing"))
        }))

      test("set overwrites the previous value", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.set("k", "first")
          yield* cache.set("k", { second: true })
          expectSome(yield* cache.get("k"), { second: true })
        }))

      test("an entry set with a TTL expires after it", ({ advance, backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.set("k", "v", Duration.millis(liveTtlMillis))
          yield* cache.set("n", "v", liveTtlMillis)
          yield* advance(50)
          expectSome(yield* cache.get("k"), "v")
          expectSome(yield* cache.get("n"), "v")
          yield* advance(liveTtlMillis)
          expectNone(yield* cache.get("k"))
          expectNone(yield* cache.get("n"))
        }))

      test("overwriting without a TTL removes the earlier TTL", ({ advance, backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.set("k", "short", 100)
          yield* cache.set("k", "kept")
          yield* advance(150)
          expectSome(yield* cache.get("k"), "kept")
        }))

      test("a TTL of 0, negative or under 1 ms stores nothing and removes the old value", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          const ttls: ReadonlyArray<Duration.Input> = [
            0,
            -1,
            -1000,
            0.4,
            -Infinity,
            Duration.zero,
            "0.4 millis"
          ]
          for (const [i, ttl] of ttls.entries()) {
            yield* cache.set(`k${i}`, "old")
            yield* cache.set(`k${i}`, "new", ttl)
            expectNone(yield* cache.get(`k${i}`))
            yield* cache.set(`fresh${i}`, "new", ttl)
            expectNone(yield* cache.get(`fresh${i}`))
          }
        }))

      test("a NaN TTL fails with CacheInputError and leaves the old value", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.set("k", "old")
          const error = yield* Effect.flip(cache.set("k", "new", NaN))
          expect(error._tag).toBe("CacheInputError")
          expect(error.operation).toBe("set")
          expect(error.key).toBe("k")
          expectSome(yield* cache.get("k"), "old")

          const many = yield* Effect.flip(cache.setMany([["k", "new"], ["other", 1]], NaN))
          expect(many._tag).toBe("CacheInputError")
          expect(many.operation).toBe("setMany")
          expectSome(yield* cache.get("k"), "old")
          expectNone(yield* cache.get("other"))
        }))

      test("no TTL and an infinite TTL never expire", ({ advance, backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.set("none", 1)
          yield* cache.set("infinity", 2, Infinity)
          yield* cache.set("duration", 3, Duration.infinity)
          yield* cache.setMany([["many", 4]], Infinity)
          yield* advance(250)
          expectSome(yield* cache.get("none"), 1)
          expectSome(yield* cache.get("infinity"), 2)
          expectSome(yield* cache.get("duration"), 3)
          expectSome(yield* cache.get("many"), 4)
        }))

      test("a TTL beyond what Redis can store (1e19 ms, Number.MAX_VALUE) means no expiry, in set and setMany", ({ advance, backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          // Every one is longer than Number.MAX_SAFE_INTEGER ms; the first two once made Redis answer
          // `ERR value is not an integer or out of range` (PX 1e+21) or `invalid expire time`.
          const huge: ReadonlyArray<Duration.Input> = [
            1e19,
            1e21,
            Number.MAX_VALUE,
            Number.MAX_SAFE_INTEGER + 2,
            Duration.millis(1e19),
            Duration.days(1e12),
            Duration.nanos(10n ** 30n),
            [1e17, 0]
          ]
          const expectForever = (key: string, value: unknown) =>
            Effect.map(cache.getWithTtl(key), (entry) => {
              expectSome(Option.map(entry, (e) => e.value), value)
              expectNone(Option.flatMap(entry, (e) => e.remainingTtl))
            })
          for (const [i, ttl] of huge.entries()) {
            // The earlier value and its TTL are replaced, not left in place by a failed write.
            yield* cache.set(`k${i}`, "old", 60_000)
            yield* cache.set(`k${i}`, `new ${i}`, ttl)
            yield* expectForever(`k${i}`, `new ${i}`)
          }
          yield* cache.setMany([["a", 1], ["b", 2]], 60_000)
          yield* cache.setMany([["a", 10], ["b", 20]], 1e19)
          yield* cache.setMany([["c", 30]], Number.MAX_VALUE)
          yield* advance(250)
          for (const [i] of huge.entries()) yield* expectForever(`k${i}`, `new ${i}`)
          yield* expectForever("a", 10)
          yield* expectForever("b", 20)
          yield* expectForever("c", 30)
        }))

      testNeeding(
        "expiryPast2038",
        "the longest TTL kept as an expiry is Number.MAX_SAFE_INTEGER ms, and getWithTtl returns it",
        ({ backend }) =>
          Effect.gen(function*() {
            const cache = yield* backend("t:")
            yield* cache.set("max", "v", Number.MAX_SAFE_INTEGER)
            yield* cache.setMany([["many", "w"]], Number.MAX_SAFE_INTEGER)
            for (const [key, value] of [["max", "v"], ["many", "w"]] as const) {
              const entry = Option.getOrThrow(yield* cache.getWithTtl(key))
              expect(entry.value).toBe(value)
              const left = Duration.toMillis(Option.getOrThrow(entry.remainingTtl))
              expect(left).toBeGreaterThan(Number.MAX_SAFE_INTEGER - 60_000)
              // A backend adding it to the current time may round by a few ms past 2^53.
              expect(left).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER + 4)
            }
          })
      )

      testNeeding(
        "expiryPast2038",
        "getWithTtl returns a remaining TTL above 2^53 ms that another program set",
        ({ backend, writeRaw }) =>
          Effect.gen(function*() {
            const cache = yield* backend("t:")
            yield* writeRaw("t:far", yield* Serializer.v8.encode({ far: true }), 1e16)
            const entry = Option.getOrThrow(yield* cache.getWithTtl("far"))
            expect(entry.value).toStrictEqual({ far: true })
            const left = Duration.toMillis(Option.getOrThrow(entry.remainingTtl))
            expect(left).toBeGreaterThan(1e16 - 60_000)
            expect(left).toBeLessThanOrEqual(1e16 + 4)
            expectSome(yield* cache.get("far"), { far: true })
          })
      )

      test("delete removes the key, and deleting a missing key succeeds", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.set("k", 1)
          yield* cache.set("other", 2)
          yield* cache.delete("k")
          expectNone(yield* cache.get("k"))
          expectSome(yield* cache.get("other"), 2)
          yield* cache.delete("k")
          yield* cache.delete("never-set")
        }))

      test("deleteMany removes exactly the keys given: missing keys, duplicates and an empty list are fine", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          const neighbour = yield* backend("u:")
          yield* cache.deleteMany([])
          yield* cache.setMany([["a", 1], ["b", 2], ["c", 3], ["d", 4]])
          yield* cache.set("ttl", 5, 60_000)
          yield* neighbour.setMany([["a", "u-a"], ["b", "u-b"]])
          yield* cache.deleteMany(["a", "missing", "a", "c", "ttl", "never", "c"])
          expect(yield* cache.getMany(["a", "b", "c", "d", "ttl"])).toStrictEqual([
            Option.none(),
            Option.some(2),
            Option.none(),
            Option.some(4),
            Option.none()
          ])
          // The same keys under another prefix are other keys.
          expect(yield* neighbour.getMany(["a", "b"])).toStrictEqual([Option.some("u-a"), Option.some("u-b")])
          // Only missing keys, and the empty list again: nothing to do, nothing fails.
          yield* cache.deleteMany(["missing", "missing"])
          yield* cache.deleteMany([])
          expect(yield* cache.getMany(["b", "d"])).toStrictEqual([Option.some(2), Option.some(4)])
        }))

      test("deleteMany removes keys of every kind, the empty key and glob characters taken literally", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* Effect.forEach(keysOfEveryKind, (key, i) => cache.set(key, { i }), { discard: true })
          // Every other key: "" and "*" among the removed, "[a-z]" and "\\" among the kept, so a key taken as a
          // pattern, or an empty key dropped, would show.
          const removed = keysOfEveryKind.filter((_, i) => i % 2 === 1)
          const kept = keysOfEveryKind.filter((_, i) => i % 2 === 0)
          expect(removed).toContain("")
          expect(removed).toContain("*")
          yield* cache.deleteMany(removed)
          for (const option of yield* cache.getMany(removed)) expectNone(option)
          expect(yield* cache.getMany(kept)).toStrictEqual(
            kept.map((key) => Option.some({ i: keysOfEveryKind.indexOf(key) }))
          )
        }))

      test("deleteMany of more keys than a batch, many sharing one hash tag, removes them all", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          // 2,500 keys over many slots and 1,500 in one slot (hash tag `{tag}`): more than the default batch of
          // 1,000 either way.
          const spread = Array.from({ length: 2_500 }, (_, i) => `spread:${i}`)
          const tagged = Array.from({ length: 1_500 }, (_, i) => `{tag}:${i}`)
          const keys = [...spread, ...tagged]
          for (let i = 0; i < keys.length; i += 500) {
            yield* cache.setMany(keys.slice(i, i + 500).map((key) => [key, 1] as const))
          }
          yield* cache.setMany([["kept", "k"], ["{tag}kept", "t"]])
          yield* cache.deleteMany(keys)
          for (const option of yield* cache.getMany(keys)) expectNone(option)
          expect(yield* cache.getMany(["kept", "{tag}kept"])).toStrictEqual([Option.some("k"), Option.some("t")])
        }))

      test("deleteMany reads its keys when called: changing the array afterwards changes nothing", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.setMany([["a", 1], ["b", 2]])
          const keys = ["a"]
          const deleting = cache.deleteMany(keys)
          keys[0] = "b"
          yield* deleting
          expect(yield* cache.getMany(["a", "b"])).toStrictEqual([Option.none(), Option.some(2)])
        }))

      test("setIfAbsent stores only when the key holds nothing, and answers whether it stored", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          expect(yield* cache.setIfAbsent("k", { first: true })).toBe(true)
          expectSome(yield* cache.get("k"), { first: true })
          expect(yield* cache.setIfAbsent("k", { second: true })).toBe(false)
          expectSome(yield* cache.get("k"), { first: true })
          // A falsy value is something: null, 0, false, "" are held values.
          for (const [i, value] of [null, 0, false, ""].entries()) {
            yield* cache.set(`falsy${i}`, value)
            expect(yield* cache.setIfAbsent(`falsy${i}`, "other")).toBe(false)
            expectSome(yield* cache.get(`falsy${i}`), value)
          }
          // After a delete the key holds nothing again.
          yield* cache.delete("k")
          expect(yield* cache.setIfAbsent("k", "again")).toBe(true)
          expectSome(yield* cache.get("k"), "again")
          // The same key under another prefix is another key.
          const other = yield* backend("u:")
          expect(yield* other.setIfAbsent("k", "u")).toBe(true)
          expectSome(yield* cache.get("k"), "again")
        }))

      test("setIfAbsent on a held key leaves its value and its TTL as they were", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.set("forever", "old")
          expect(yield* cache.setIfAbsent("forever", "new", 60_000)).toBe(false)
          const forever = Option.getOrThrow(yield* cache.getWithTtl("forever"))
          expect(forever.value).toBe("old")
          expectNone(forever.remainingTtl)

          yield* cache.set("timed", "old", 60_000)
          expect(yield* cache.setIfAbsent("timed", "new")).toBe(false)
          const timed = Option.getOrThrow(yield* cache.getWithTtl("timed"))
          expect(timed.value).toBe("old")
          expect(Duration.toMillis(Option.getOrThrow(timed.remainingTtl))).toBeGreaterThan(50_000)
        }))

      test("setIfAbsent applies its TTL, and an expired key holds nothing", ({ advance, backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          expect(yield* cache.setIfAbsent("timed", "v", 60_000)).toBe(true)
          const timed = Option.getOrThrow(yield* cache.getWithTtl("timed"))
          expect(timed.value).toBe("v")
          const left = Duration.toMillis(Option.getOrThrow(timed.remainingTtl))
          expect(left).toBeLessThanOrEqual(60_000)
          expect(left).toBeGreaterThan(50_000)

          yield* cache.set("short", "old", 50)
          expect(yield* cache.setIfAbsent("brief", "b", 50)).toBe(true)
          yield* advance(150)
          expectNone(yield* cache.get("brief"))
          expect(yield* cache.setIfAbsent("short", "new")).toBe(true)
          expect(yield* cache.setIfAbsent("brief", "again")).toBe(true)
          expectSome(yield* cache.get("short"), "new")
          expectSome(yield* cache.get("brief"), "again")
          // Stored without a TTL: no expiry.
          expectNone(Option.getOrThrow(yield* cache.getWithTtl("short")).remainingTtl)
        }))

      test("setIfAbsent with a TTL of 0, negative or under 1 ms stores nothing, removes nothing, answers false", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          const ttls: ReadonlyArray<Duration.Input> = [
            0,
            -1,
            -1000,
            0.4,
            -Infinity,
            Duration.zero,
            "0.4 millis"
          ]
          for (const [i, ttl] of ttls.entries()) {
            yield* cache.set(`held${i}`, "old")
            expect(yield* cache.setIfAbsent(`held${i}`, "new", ttl)).toBe(false)
            expectSome(yield* cache.get(`held${i}`), "old")
            expect(yield* cache.setIfAbsent(`fresh${i}`, "new", ttl)).toBe(false)
            expectNone(yield* cache.get(`fresh${i}`))
            // Not even serialized: a value no serializer takes changes nothing.
            expect(yield* cache.setIfAbsent(`fresh${i}`, () => 1, ttl)).toBe(false)
          }
        }))

      test("setIfAbsent with a NaN TTL fails with CacheInputError and stores nothing", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.set("held", "old")
          for (const ttl of [NaN, [NaN, 0] as const]) {
            for (const key of ["held", "fresh"]) {
              const error = yield* Effect.flip(cache.setIfAbsent(key, "new", ttl))
              expect(error._tag).toBe("CacheInputError")
              expect(error.operation).toBe("setIfAbsent")
              expect(error.key).toBe(key)
            }
          }
          expectSome(yield* cache.get("held"), "old")
          expectNone(yield* cache.get("fresh"))
        }))

      test("setIfAbsent with an infinite TTL, or one beyond Number.MAX_SAFE_INTEGER ms, stores without expiry", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          const huge: ReadonlyArray<Duration.Input> = [
            Infinity,
            Duration.infinity,
            1e19,
            1e21,
            Number.MAX_VALUE
          ]
          for (const [i, ttl] of huge.entries()) {
            expect(yield* cache.setIfAbsent(`k${i}`, i, ttl)).toBe(true)
            const entry = Option.getOrThrow(yield* cache.getWithTtl(`k${i}`))
            expect(entry.value).toBe(i)
            expectNone(entry.remainingTtl)
          }
          expect(yield* cache.setIfAbsent("max", "v", Number.MAX_SAFE_INTEGER)).toBe(true)
          const max = Option.getOrThrow(yield* cache.getWithTtl("max"))
          // A store without expiries past 2038 keeps the longest one it has, still an expiry.
          expect(Duration.toMillis(Option.getOrThrow(max.remainingTtl))).toBeGreaterThan(
            target.lacks?.includes("expiryPast2038") === true
              ? Date.UTC(2038, 0, 19, 3, 14, 7) - Date.now() - 60_000
              : Number.MAX_SAFE_INTEGER - 60_000
          )
        }))

      test("setIfAbsent of a value that cannot be serialized fails with CacheSerializationError, stores nothing", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.set("held", "old")
          for (const key of ["held", "fresh"]) {
            const error = yield* Effect.flip(cache.setIfAbsent(key, () => 1, 60_000))
            expect([error._tag, error.operation, error.key]).toStrictEqual([
              "CacheSerializationError",
              "setIfAbsent",
              key
            ])
          }
          expectSome(yield* cache.get("held"), "old")
          expectNone(yield* cache.get("fresh"))
        }))

      test("setIfAbsent works for keys of every kind, each its own key", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          for (const [i, key] of keysOfEveryKind.entries()) expect(yield* cache.setIfAbsent(key, { i })).toBe(true)
          for (const [i, key] of keysOfEveryKind.entries()) {
            expect(yield* cache.setIfAbsent(key, "other")).toBe(false)
            expectSome(yield* cache.get(key), { i })
          }
        }))

      test("concurrent setIfAbsent on one missing key: exactly one stores, and its value is the one kept", ({ backend }) =>
        Effect.gen(function*() {
          // An encoder that yields: every caller serializes before any checks the key, so a backend that checked
          // before serializing, or between its check and its write, would let several win.
          const yielding: Serializer.SerializerShape = {
            name: "v8, yielding",
            encode: (value) => Effect.andThen(Effect.yieldNow, Serializer.v8.encode(value)),
            decode: Serializer.v8.decode
          }
          const one = yield* Effect.provideService(backend("t:"), Serializer.Serializer, yielding)
          const two = yield* Effect.provideService(backend("t:"), Serializer.Serializer, yielding)
          for (let round = 0; round < 5; round++) {
            const key = `race${round}`
            const contenders = Array.from({ length: 40 }, (_, i) => i)
            const won = yield* Effect.forEach(
              contenders,
              (i) => (i % 2 === 0 ? one : two).setIfAbsent(key, { winner: i }, 60_000),
              { concurrency: "unbounded" }
            )
            const winners = contenders.filter((i) => won[i])
            expect(winners, `round ${round}`).toHaveLength(1)
            expectSome(yield* one.get(key), { winner: winners[0] })
          }
        }))

      test("clear removes every key of the backend, however many", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          const keys = Array.from({ length: 250 }, (_, i) => `k${i}`)
          yield* cache.setMany(keys.map((key) => [key, key]))
          yield* cache.set("", "empty key")
          yield* cache.set("ttl", 1, 60_000)
          yield* cache.clear
          for (const option of yield* cache.getMany([...keys, "", "ttl"])) expectNone(option)
          yield* cache.clear
          yield* cache.set("after", 1)
          expectSome(yield* cache.get("after"), 1)
        }))

      test("clear leaves a neighbouring prefix alone", ({ backend }) =>
        Effect.gen(function*() {
          for (const [cleared, neighbour] of neighbourPrefixes) {
            // The fixture is only meaningful if the neighbour is outside the prefix yet inside its unescaped glob.
            expect(`${neighbour}k`.startsWith(cleared), `${neighbour} is under ${cleared}`).toBe(false)
            const naive = cleared.includes("*") || cleared.includes("?") || cleared.includes("[") ||
              cleared.includes("\\")
            if (naive) {
              expect(globMatches(`${cleared}*`, `${neighbour}k`), `${cleared}* misses ${neighbour}k`).toBe(true)
            }

            const a = yield* backend(cleared)
            const b = yield* backend(neighbour)
            yield* a.setMany([["k", "a"], ["", "a-empty"], ["*", "a-star"]])
            yield* b.setMany([["k", "b"], ["", "b-empty"], ["*", "b-star"]])
            yield* a.clear
            for (const option of yield* a.getMany(["k", "", "*"])) expectNone(option)
            expect(yield* b.getMany(["k", "", "*"])).toStrictEqual([
              Option.some("b"),
              Option.some("b-empty"),
              Option.some("b-star")
            ])
            yield* b.clear
          }
        }))

      testNeeding(
        "nestedPrefixes",
        "a prefix nested in another is inside its namespace: clearing the outer one removes it",
        ({ backend }) =>
          Effect.gen(function*() {
            const outer = yield* backend("a:")
            const inner = yield* backend("a:b")
            yield* outer.set("x", 1)
            yield* inner.set("y", 2)
            // "a:b" + "y" is the full key "a:by", which the outer backend also reads as its key "by".
            expectSome(yield* outer.get("by"), 2)
            yield* outer.clear
            expectNone(yield* outer.get("x"))
            expectNone(yield* inner.get("y"))
          })
      )

      test("keys of every kind are distinct and round-trip: binary, Unicode, CRLF, NUL, 10,000 chars", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* Effect.forEach(keysOfEveryKind, (key, i) => cache.set(key, { i }), { discard: true })
          for (const [i, key] of keysOfEveryKind.entries()) expectSome(yield* cache.get(key), { i })
          expect(yield* cache.getMany(keysOfEveryKind)).toStrictEqual(keysOfEveryKind.map((_, i) => Option.some({ i })))
          yield* cache.delete("\r\n")
          expectNone(yield* cache.get("\r\n"))
          expectSome(yield* cache.get("line\r\nbreak"), { i: keysOfEveryKind.indexOf("line\r\nbreak") })
        }))

      test("the empty key is allowed: its full key is the prefix", ({ backend, writeRaw }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          expectNone(yield* cache.get(""))
          yield* cache.set("", "empty")
          expectSome(yield* cache.get(""), "empty")
          expectNone(yield* cache.get("x"))
          // The full key really is the prefix alone: foreign bytes there are what `get("")` reads.
          yield* writeRaw("t:", foreignBytes)
          expect((yield* Effect.flip(cache.get("")))._tag).toBe("CacheSerializationError")
          yield* cache.delete("")
          expectNone(yield* cache.get(""))
        }))

      test("large values round-trip: 1 MiB+ of bytes and a deeply nested object", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          const bytes = new Uint8Array(1024 * 1024 + 123)
          for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >> 8)) & 0xff
          yield* cache.set("bytes", bytes)
          const got = Option.getOrThrow(yield* cache.get("bytes"))
          expect(got).toBeInstanceOf(Uint8Array)
          expect(Buffer.from(got as Uint8Array).equals(Buffer.from(bytes)), "the bytes differ").toBe(true)

          let nested: Record<string, unknown> = { leaf: "end" }
          for (let depth = 0; depth < 200; depth++) nested = { depth, child: nested, list: [depth, `${depth}`] }
          const wide = { nested, rows: Array.from({ length: 20_000 }, (_, i) => ({ i, s: `row ${i}`, u: undefined })) }
          yield* cache.set("object", wide)
          expectSome(yield* cache.get("object"), wide)
        }))

      test("getMany returns values in order with misses in place; setMany stores every entry", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          expect(yield* cache.getMany([])).toStrictEqual([])
          yield* cache.setMany([])
          yield* cache.set("a", "old a")
          // Any iterable will do, not only arrays.
          yield* cache.setMany(new Map<string, unknown>([["a", 1], ["b", { two: 2 }], ["c", [3]]]))
          expect(yield* cache.getMany(["c", "missing", "a", "b", "missing too", "a"])).toStrictEqual([
            Option.some([3]),
            Option.none(),
            Option.some(1),
            Option.some({ two: 2 }),
            Option.none(),
            Option.some(1)
          ])
          expect(yield* cache.getMany(["nothing", "here"])).toStrictEqual([Option.none(), Option.none()])
        }))

      test("setMany applies its TTL to every entry", ({ advance, backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.setMany([["a", 1], ["b", 2]], liveTtlMillis)
          yield* advance(50)
          expect(yield* cache.getMany(["a", "b"])).toStrictEqual([Option.some(1), Option.some(2)])
          yield* advance(liveTtlMillis)
          expect(yield* cache.getMany(["a", "b"])).toStrictEqual([Option.none(), Option.none()])
          yield* cache.setMany([["a", 1], ["b", 2]])
          yield* cache.setMany([["a", 3]], 0)
          expect(yield* cache.getMany(["a", "b"])).toStrictEqual([Option.none(), Option.some(2)])
        }))

      test("1,000 concurrent sets then 1,000 concurrent gets each see their own key's value", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          const keys = Array.from({ length: 1000 }, (_, i) => `key-${i}`)
          yield* Effect.forEach(keys, (key, i) => cache.set(key, { key, i }), {
            concurrency: "unbounded",
            discard: true
          })
          const values = yield* Effect.forEach(keys, (key) => cache.get(key), { concurrency: "unbounded" })
          values.forEach((value, i) => expectSome(value, { key: keys[i], i }))
        }))

      test("a value that cannot be serialized fails set with CacheSerializationError and stores nothing", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          const unserializable: ReadonlyArray<unknown> = [() => 1, Symbol("s")]
          for (const value of unserializable) {
            yield* cache.set("k", "old")
            const error = yield* Effect.flip(cache.set("k", value))
            expect(error._tag).toBe("CacheSerializationError")
            expect(error.operation).toBe("set")
            expect(error.key).toBe("k")
            expectSome(yield* cache.get("k"), "old")

            yield* Effect.flip(cache.set("fresh", value))
            expectNone(yield* cache.get("fresh"))

            const many = yield* Effect.flip(cache.setMany([["k", "new"], ["bad", value], ["c", 3]]))
            expect(many._tag).toBe("CacheSerializationError")
            expect(many.operation).toBe("setMany")
            expect(yield* cache.getMany(["k", "bad", "c"])).toStrictEqual([
              Option.some("old"),
              Option.none(),
              Option.none()
            ])
          }
        }))

      test("foreign bytes under a key fail get with CacheSerializationError, not a defect", ({ backend, writeRaw }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* writeRaw("t:foreign", foreignBytes)
          // Effect.flip turns only a failure into a value: a defect would still end the test.
          const error = yield* Effect.flip(cache.get("foreign"))
          expect(error._tag).toBe("CacheSerializationError")
          expect(error.operation).toBe("get")
          expect(error.key).toBe("foreign")

          const many = yield* Effect.flip(cache.getMany(["missing", "foreign"]))
          expect(many._tag).toBe("CacheSerializationError")
          expect(many.operation).toBe("getMany")
          // The bad entry does not poison the rest of the store.
          yield* cache.set("good", 1)
          expectSome(yield* cache.get("good"), 1)
        }))

      test("concurrent reads of undecodable bytes fail only their own callers, with the error of a lone read", ({ backend, writeRaw }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.setMany([["a", 1], ["b", 2]])
          yield* cache.set("c", 3, 60_000)
          yield* writeRaw("t:foreign", foreignBytes)
          // Issued together, as a user's Effect.forEach issues them: a backend may read them in one batch.
          const keys = ["a", "foreign", "missing", "b", "foreign", "c"]
          const gets = yield* Effect.forEach(keys, (key) => Effect.result(cache.get(key)), { concurrency: "unbounded" })
          const entries = yield* Effect.forEach(keys, (key) => Effect.result(cache.getWithTtl(key)), {
            concurrency: "unbounded"
          })
          for (const [i, key] of keys.entries()) {
            const got = gets[i]!
            const entry = entries[i]!
            if (key === "foreign") {
              for (const [result, operation] of [[got, "get"], [entry, "getWithTtl"]] as const) {
                expect(Result.isFailure(result), `${operation} of foreign bytes succeeded`).toBe(true)
                if (Result.isFailure(result)) {
                  const error = Result.failureValue(result)
                  expect(error._tag).toBe("CacheSerializationError")
                  expect(error.operation).toBe(operation)
                  expect(error.key).toBe("foreign")
                }
              }
            } else if (key === "missing") {
              expectNone(Result.getOrThrow(got))
              expectNone(Result.getOrThrow(entry))
            } else {
              const expected = { a: 1, b: 2, c: 3 }[key]
              expectSome(Result.getOrThrow(got), expected)
              expectSome(Option.map(Result.getOrThrow(entry), (e) => e.value), expected)
              expect(Option.isSome(Option.flatMap(Result.getOrThrow(entry), (e) => e.remainingTtl))).toBe(key === "c")
            }
          }
        }))

      test("concurrent reads of one key, duplicates in one batch, each get a value of their own", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          yield* cache.set("k", { list: [1, 2] })
          yield* cache.set("other", "o")
          const keys = ["k", "k", "other", "k", "missing", "k"]
          const values = yield* Effect.forEach(keys, (key) => cache.get(key), { concurrency: "unbounded" })
          const copies: Array<{ list: Array<number> }> = []
          for (const [i, key] of keys.entries()) {
            const value = values[i]!
            if (key === "missing") expectNone(value)
            else if (key === "other") expectSome(value, "o")
            else {
              expectSome(value, { list: [1, 2] })
              copies.push(Option.getOrThrow(value) as { list: Array<number> })
            }
          }
          // Decoded once per caller: changing one caller's value changes no other's.
          copies[0]!.list.push(3)
          for (const copy of copies.slice(1)) expect(copy.list).toStrictEqual([1, 2])
        }))

      test("mutating a value after set, or after get, does not change the cached value", ({ backend }) =>
        Effect.gen(function*() {
          const cache = yield* backend("t:")
          const value = { list: [1, 2], nested: { n: 1 }, bytes: Uint8Array.from([1, 2, 3]) }
          yield* cache.set("k", value)
          value.list.push(3)
          value.nested.n = 2
          value.bytes[0] = 9
          const snapshot = { list: [1, 2], nested: { n: 1 }, bytes: Uint8Array.from([1, 2, 3]) }
          const got = Option.getOrThrow(yield* cache.get("k")) as typeof value
          expect(got).toStrictEqual(snapshot)
          got.list.push(4)
          got.nested.n = 3
          expectSome(yield* cache.get("k"), snapshot)

          yield* cache.setMany([["m", value]])
          value.list.length = 0
          expectSome(yield* cache.get("m"), { list: [1, 2, 3], nested: { n: 2 }, bytes: Uint8Array.from([9, 2, 3]) })
        }))

      test("a serializer's synchronous forms, when it has them, are what the backend calls", ({ backend }) =>
        Effect.gen(function*() {
          // A user-written serializer: its Effect forms die, so every success below went through the sync forms.
          const text = Serializer.make({
            name: "text",
            encodeSync: (value) =>
              typeof value === "string"
                ? Result.succeed(new TextEncoder().encode(value))
                : Result.fail(new Serializer.SerializationError({ direction: "encode", message: "strings only" })),
            decodeSync: (bytes) =>
              bytes.length === 0
                ? Result.fail(new Serializer.SerializationError({ direction: "decode", message: "empty" }))
                : Result.succeed(new TextDecoder().decode(bytes))
          })
          const syncOnly: Serializer.SerializerShape = {
            ...text,
            encode: () => Effect.die(new Error("the Effect form of encode ran")),
            decode: () => Effect.die(new Error("the Effect form of decode ran"))
          }
          const cache = yield* Effect.provideService(backend("t:"), Serializer.Serializer, syncOnly)
          yield* cache.set("a", "alpha")
          yield* cache.set("b", "beta", "1 minute")
          yield* cache.setMany([["c", "gamma"], ["d", "delta"]])
          yield* cache.setMany([["e", "epsilon"]], "1 minute")
          expectSome(yield* cache.get("a"), "alpha")
          expect(Option.map(yield* cache.getWithTtl("b"), (entry) => entry.value)).toStrictEqual(Option.some("beta"))
          expect(yield* cache.getMany(["a", "missing", "c", "d", "e"])).toStrictEqual(
            [Option.some("alpha"), Option.none(), Option.some("gamma"), Option.some("delta"), Option.some("epsilon")]
          )
          // A failure from a synchronous form is the backend's error, naming the operation and the key.
          const refused = yield* Effect.flip(cache.setMany([["f", "ok"], ["g", 42]]))
          expect([refused._tag, refused.operation, refused.key]).toStrictEqual([
            "CacheSerializationError",
            "setMany",
            "g"
          ])
          expectNone(yield* cache.get("f"))
          // Zero bytes under a key, which `text` refuses to decode.
          const empty = Serializer.make({
            name: "empty",
            encodeSync: () => Result.succeed(new Uint8Array(0)),
            decodeSync: text.decodeSync!
          })
          yield* Effect.flatMap(
            Effect.provideService(backend("t:"), Serializer.Serializer, empty),
            (writer) => writer.set("empty", "anything")
          )
          const unreadable = yield* Effect.flip(cache.getMany(["a", "empty"]))
          expect([unreadable._tag, unreadable.operation, unreadable.key]).toStrictEqual([
            "CacheSerializationError",
            "getMany",
            "empty"
          ])
        }))

      test("a serializer without synchronous forms is called through its Effects", ({ backend }) =>
        Effect.gen(function*() {
          const effectOnly: Serializer.SerializerShape = {
            name: "json through Effects",
            encode: Serializer.json.encode,
            decode: Serializer.json.decode
          }
          const cache = yield* Effect.provideService(backend("t:"), Serializer.Serializer, effectOnly)
          yield* cache.set("a", { n: 1 })
          yield* cache.setMany([["b", [2]]], "1 minute")
          expect(yield* cache.getMany(["a", "b", "missing"])).toStrictEqual([
            Option.some({ n: 1 }),
            Option.some([2]),
            Option.none()
          ])
          const refused = yield* Effect.flip(cache.set("c", 1n))
          expect([refused._tag, refused.operation, refused.key]).toStrictEqual(["CacheSerializationError", "set", "c"])
        }))
    }
  )
