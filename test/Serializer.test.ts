import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as ChildProcess from "node:child_process"
import * as NodeV8 from "node:v8"
import { vi } from "vitest"
import * as Serializer from "../src/Serializer.js"

const SECRET = "s3cr3t-token-7f2c"

const roundTrip = (serializer: Serializer.SerializerShape, value: unknown) =>
  Effect.flatMap(serializer.encode(value), serializer.decode)

// Fails the test on a defect (Effect.flip lets those through), so each use also checks that nothing threw.
const expectError = (
  effect: Effect.Effect<unknown, Serializer.SerializationError>,
  direction: "encode" | "decode"
) =>
  Effect.map(Effect.flip(effect), (error) => {
    expect(error).toBeInstanceOf(Serializer.SerializationError)
    expect(error._tag).toBe("SerializationError")
    expect(error.direction).toBe(direction)
    expect(error.message).not.toContain(SECRET)
    expect(error.message.length).toBeLessThan(1000)
    return error
  })

// Success or a SerializationError, never a defect or any other failure.
const isWellBehaved = (exit: Exit.Exit<unknown, Serializer.SerializationError>): boolean =>
  Exit.isSuccess(exit) || (Cause.isFailType(exit.cause) && exit.cause.error._tag === "SerializationError")

// The serializers are synchronous: running each input directly keeps thousands of property runs cheap
// (it.effect.prop builds a test runtime per run).
const decodeNow = (serializer: Serializer.SerializerShape, input: Uint8Array) =>
  Effect.runSyncExit(serializer.decode(input))

// Thousands of decodes take tens of seconds on a loaded machine. Run synchronously they hold the worker's event loop,
// and vitest fails the run ("Timeout calling onTaskUpdate") once its worker has missed its RPC replies for a minute.
// Yielding a macrotask every few hundred inputs keeps it responsive; the inputs are the ones fc.property would make.
const assertYielding = <A>(arbitrary: FastCheck.Arbitrary<A>, predicate: (a: A) => boolean, numRuns: number) =>
  Effect.promise(() => {
    let runs = 0
    return FastCheck.assert(
      FastCheck.asyncProperty(arbitrary, async (a) => {
        const verdict = predicate(a)
        if (++runs % 250 === 0) await new Promise<void>((resolve) => setImmediate(resolve))
        return verdict
      }),
      { numRuns }
    )
  })

// Not a bound under test: these take seconds on an idle machine and were seen to take 26 s on a busy one.
const propertyTimeout = 180_000

const bytes = (...values: Array<number>) => new Uint8Array(values)
const ascii = (text: string) => new TextEncoder().encode(text)

describe("Serializer", () => {
  describe("v8", () => {
    const v8 = Serializer.v8

    it.effect("round-trips structured-clone values", () =>
      Effect.gen(function*() {
        const value = {
          map: new Map<unknown, unknown>([["a", 1], [2, { b: [1, 2] }]]),
          set: new Set([1, "two", 3n]),
          date: new Date("2024-02-29T12:34:56.789Z"),
          big: -(2n ** 100n),
          regexp: /a+b/giu,
          bytes: new Uint8Array([0, 1, 254, 255]),
          floats: new Float64Array([1.5, -0, Infinity]),
          nested: { a: { b: { c: [1, [2, [3, { d: null, e: undefined }]]] } } },
          sparse: [1, , 3],
          boolean: false
        }
        const decoded = yield* roundTrip(v8, value)
        expect(decoded).toStrictEqual(value)
      }))

    it.effect("round-trips a cyclic object and shared references", () =>
      Effect.gen(function*() {
        const shared = { name: "shared" }
        const value: Record<string, unknown> = { left: shared, right: shared }
        value.self = value
        const decoded = (yield* roundTrip(v8, value)) as Record<string, unknown>
        expect(decoded.self).toBe(decoded)
        expect(decoded.left).toBe(decoded.right)
        expect(decoded.left).toStrictEqual(shared)
      }))

    it.effect("round-trips strings from every Unicode plane and special numbers", () =>
      Effect.gen(function*() {
        const strings = [
          "",
          "ascii",
          "latin-1 é ÿ",
          "BMP 漢字 € \uFFFD",
          "plane 1 𝄞 😀",
          "plane 2 𠀀",
          "plane 3 𰀀",
          "plane 14 \u{E0001}",
          "plane 15 \u{F0000}",
          "plane 16 \u{10FFFF}",
          "lone surrogates \uD800 \uDFFF",
          "nul \u0000 inside"
        ]
        expect(yield* roundTrip(v8, strings)).toStrictEqual(strings)
        expect(Object.is(yield* roundTrip(v8, -0), -0)).toBe(true)
        expect(Number.isNaN(yield* roundTrip(v8, NaN))).toBe(true)
        expect(yield* roundTrip(v8, undefined)).toBeUndefined()
      }))

    it.effect("writes exactly v8.serialize output, starting with 0xFF 0x0F", () =>
      Effect.gen(function*() {
        const encoded = yield* v8.encode("hi")
        expect(Array.from(encoded)).toStrictEqual([0xff, 0x0f, 0x22, 0x02, 0x68, 0x69])
        const value = { a: [1, 2, 3], b: new Map([[1, 2]]) }
        expect(Array.from(yield* v8.encode(value))).toStrictEqual(Array.from(NodeV8.serialize(value)))
        expect(yield* v8.decode(NodeV8.serialize(value))).toStrictEqual(value)
      }))

    it.effect("decodes from a view into a larger buffer", () =>
      Effect.gen(function*() {
        const payload = yield* v8.encode({ n: 1, data: new Uint8Array([7, 8, 9]) })
        const big = new Uint8Array(payload.length + 20).fill(0xaa)
        big.set(payload, 7)
        expect(yield* v8.decode(big.subarray(7, 7 + payload.length))).toStrictEqual({
          n: 1,
          data: new Uint8Array([7, 8, 9])
        })
      }))

    it.effect("decoded typed arrays do not share memory with the input", () =>
      Effect.gen(function*() {
        const value = {
          u8: new Uint8Array([1, 2, 3, 4]),
          f64: new Float64Array([1.5, 2.5]),
          buffer: Buffer.from("abc"),
          view: new DataView(new Uint8Array([5, 6]).buffer)
        }
        const input = yield* v8.encode(value)
        const decoded = (yield* v8.decode(input)) as typeof value
        expect(decoded.buffer).toBeInstanceOf(Buffer)
        expect(decoded.view).toBeInstanceOf(DataView)
        expect(decoded).toStrictEqual(value)
        // A reused read buffer must not change a value already handed out...
        input.fill(0, 2)
        expect(decoded).toStrictEqual(value)
        // ...and a caller writing into a decoded array must not change the stored bytes.
        const stored = yield* v8.encode(value)
        const first = (yield* v8.decode(stored)) as typeof value
        first.u8[0] = 99
        first.f64[0] = 99
        first.buffer[0] = 99
        expect(yield* v8.decode(stored)).toStrictEqual(value)
      }))

    it.effect("decodes plain data only: no prototypes, no pollution", () =>
      Effect.gen(function*() {
        class User {
          constructor(readonly name: string) {}
          greet() {
            return `hi ${this.name}`
          }
        }
        const user = (yield* roundTrip(v8, new User("ada"))) as object
        expect(Object.getPrototypeOf(user)).toBe(Object.prototype)
        expect(user).toStrictEqual({ name: "ada" })

        const hostile = JSON.parse("{\"__proto__\": {\"polluted\": true}}")
        const decoded = (yield* roundTrip(v8, hostile)) as object
        expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
        expect(Object.keys(decoded)).toStrictEqual(["__proto__"])
        expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      }))

    it.effect("fails to encode functions and symbols, without quoting them", () =>
      Effect.gen(function*() {
        const fn = () => SECRET
        const cases: Array<[unknown, string]> = [
          [fn, "function"],
          [{ user: { name: "ada", onSave: fn } }, "function"],
          [new Map([["key", fn]]), "function"],
          [Symbol(SECRET), "symbol"],
          [[1, new Set([Symbol(SECRET)])], "symbol"]
        ]
        for (const [value, found] of cases) {
          const error = yield* expectError(v8.encode(value), "encode")
          expect(error.message).toContain(`contains a ${found}`)
          expect(error.cause).toBeUndefined()
        }
      }))

    it.effect("fails to encode other uncloneable values with the cause", () =>
      Effect.gen(function*() {
        const error = yield* expectError(v8.encode({ cache: new WeakMap() }), "encode")
        expect(error.message).toContain("Object")
        expect(error.cause).toBeInstanceOf(Error)
      }))

    it.effect("fails to decode foreign bytes", () =>
      Effect.gen(function*() {
        const foreign = [
          ascii("hello"),
          ascii(`"${SECRET}"`),
          ascii("{\"a\":1}"),
          bytes(),
          bytes(0xff),
          bytes(0xff, 0x0f),
          bytes(0xff, 0x7f, 0x22, 0x00), // a version from the future
          bytes(0xff, 0x0f, 0x5c, 0x7f, 0x01, 0x00) // a host object of an unknown type
        ]
        for (const input of foreign) {
          yield* expectError(v8.decode(input), "decode")
        }
      }))

    it.effect("fails to decode every truncation of a payload", () =>
      Effect.gen(function*() {
        const payload = yield* v8.encode({
          token: SECRET,
          list: [1, 2, 3],
          map: new Map([["k", new Date(0)]]),
          bytes: new Uint8Array(16)
        })
        for (let length = 0; length < payload.length; length++) {
          yield* expectError(v8.decode(payload.subarray(0, length)), "decode")
        }
      }))

    it.effect("fails to decode a payload followed by more bytes", () =>
      Effect.gen(function*() {
        const payload = yield* v8.encode(SECRET)
        const withTrailer = new Uint8Array(payload.length + 3)
        withTrailer.set(payload)
        const error = yield* expectError(v8.decode(withTrailer), "decode")
        expect(error.message).toContain("3 bytes follow")
        // Two payloads back to back are not one value either.
        const twice = new Uint8Array(payload.length * 2)
        twice.set(payload)
        twice.set(payload, payload.length)
        yield* expectError(v8.decode(twice), "decode")
      }))

    it.effect("decodes random bytes to a value or a SerializationError, never a defect", () =>
      Effect.gen(function*() {
        yield* assertYielding(
          FastCheck.uint8Array({ maxLength: 64 }),
          (input) => isWellBehaved(decodeNow(v8, input)),
          5000
        )
        // Random bytes almost never start with a valid header; these reach V8's value parser.
        yield* assertYielding(FastCheck.uint8Array({ maxLength: 64 }), (tail) => {
          const input = new Uint8Array(tail.length + 2)
          input.set([0xff, 0x0f])
          input.set(tail, 2)
          return isWellBehaved(decodeNow(v8, input))
        }, 5000)
      }), propertyTimeout)

    // Corrupting bytes of a real payload explores the parser's paths (lengths, tags, host objects) more deeply.
    it.effect(
      "decodes corrupted payloads to a value or a SerializationError, never a defect",
      () =>
        Effect.gen(function*() {
          const payload = yield* v8.encode({
            s: "text",
            n: [1, 2.5, -3n],
            m: new Map([[1, new Set([2])]]),
            d: new Date(0),
            r: /x/g,
            u: new Uint16Array([1, 2]),
            b: Buffer.from("buf")
          })
          yield* assertYielding(
            FastCheck.array(FastCheck.tuple(FastCheck.nat(), FastCheck.integer({ min: 0, max: 255 })), {
              minLength: 1,
              maxLength: 3
            }),
            (edits) => {
              const corrupt = Uint8Array.from(payload)
              for (const [position, byte] of edits) corrupt[position % corrupt.length] = byte
              return isWellBehaved(decodeNow(v8, corrupt))
            },
            5000
          )
        }),
      propertyTimeout
    )
  })

  describe("v8 hardening", () => {
    it("decodes a Buffer without the deprecated Buffer() constructor, even under --throw-deprecation", () => {
      const child = ChildProcess.spawnSync(
        process.execPath,
        [
          "--throw-deprecation",
          "--pending-deprecation",
          "--import",
          "tsx",
          "test/fixtures/v8DecodeChild.ts",
          "buffer"
        ],
        { encoding: "utf8", timeout: 120_000 }
      )
      expect(child.stderr).not.toContain("DEP0005")
      expect(child.status).toBe(0)
      expect(child.stdout).toContain(`"buffer":"value"`)
    })

    it.effect("decodes Dates to the real Date whatever the size, with fake timers installed", () =>
      Effect.gen(function*() {
        const RealDate = Date
        const small = NodeV8.serialize({ at: new RealDate(7) })
        const large = NodeV8.serialize({ at: new RealDate(7), padding: "x".repeat(4000) })
        vi.useFakeTimers()
        try {
          expect(Date).not.toBe(RealDate)
          for (const bytes of [small, large]) {
            const decoded = (yield* Serializer.v8.decode(bytes)) as { at: Date }
            expect(Object.getPrototypeOf(decoded.at)).toBe(RealDate.prototype)
            expect(RealDate.prototype.getTime.call(decoded.at)).toBe(7)
          }
        } finally {
          vi.useRealTimers()
        }
      }))

    it.effect("refuses, typed, a value whose sparse arrays declare more than maxSparseArrayLength", () =>
      Effect.gen(function*() {
        const sparse = new Array(2000)
        sparse[3] = "x"
        const bytes = NodeV8.serialize({ sparse })
        const large = NodeV8.serialize({ sparse, padding: "y".repeat(4000) })
        expect(((yield* Serializer.v8.decode(bytes)) as { sparse: Array<unknown> }).sparse).toHaveLength(2000)
        const strict = Serializer.makeV8({ maxSparseArrayLength: 1999 })
        for (const input of [bytes, large]) {
          const error = yield* expectError(strict.decode(input), "decode")
          expect(error.message).toContain("maxSparseArrayLength")
        }
        const open = Serializer.makeV8({ maxSparseArrayLength: Infinity })
        expect(((yield* open.decode(large)) as { sparse: Array<unknown> }).sparse).toHaveLength(2000)
        expect(() => Serializer.makeV8({ maxSparseArrayLength: -1 })).toThrow(RangeError)
        expect(() => Serializer.makeV8({ maxSparseArrayLength: NaN })).toThrow(RangeError)
      }))

    it.effect("decodes what V8 decodes when a sparse array's length is written in six bytes", () =>
      Effect.gen(function*() {
        // 25 written as 0x99 0x80 0x80 0x80 0x80 0x00: V8 reads `new Array(25)`; the reader must not call it corrupt.
        const input = bytes(0xff, 0x0f, 0x61, 0x99, 0x80, 0x80, 0x80, 0x80, 0x00, 0x40, 0x00, 0x19)
        expect(NodeV8.deserialize(Buffer.from(input))).toHaveLength(25)
        expect(yield* Serializer.v8.decode(input)).toHaveLength(25)
      }))

    it.effect("refuses the legacy format version 0, whose arrays cannot be checked", () =>
      Effect.gen(function*() {
        yield* expectError(Serializer.v8.decode(bytes(0xff, 0x00, 0x30)), "decode")
        yield* expectError(Serializer.v8.decode(bytes(0xff, 0x80, 0x00, 0x30)), "decode")
      }))
  })

  describe("json", () => {
    const json = Serializer.json

    it.effect("round-trips plain data as UTF-8 JSON", () =>
      Effect.gen(function*() {
        const value = {
          string: "héllo 𝄞 \uD800",
          number: -12.5,
          integer: 9007199254740991,
          boolean: true,
          nothing: null,
          list: [1, "two", { three: [3] }],
          nested: { a: { b: { c: {} } } }
        }
        expect(yield* roundTrip(json, value)).toStrictEqual(value)
        expect(new TextDecoder().decode(yield* json.encode({ a: [1, "é"] }))).toBe("{\"a\":[1,\"é\"]}")
        // What redis-cli or another language stored is readable.
        expect(yield* json.decode(ascii("{\"a\": [1, true, null]}"))).toStrictEqual({ a: [1, true, null] })
        expect(yield* json.decode(ascii("\"hello\""))).toBe("hello")
      }))

    it.effect("fails to encode values JSON cannot represent", () =>
      Effect.gen(function*() {
        const cyclic: Record<string, unknown> = { token: SECRET }
        cyclic.self = cyclic
        const cases: Array<[unknown, string]> = [
          [() => SECRET, "function"],
          [Symbol(SECRET), "symbol"],
          [undefined, "undefined"],
          [{ token: SECRET, amount: 10n }, "BigInt"],
          [cyclic, "cycle"]
        ]
        for (const [value, mentioned] of cases) {
          const error = yield* expectError(json.encode(value), "encode")
          expect(error.message).toContain(mentioned)
        }
      }))

    it.effect("has JSON.stringify's semantics for what JSON cannot hold inside a value", () =>
      Effect.gen(function*() {
        const text = (value: unknown) => Effect.map(json.encode(value), (b) => new TextDecoder().decode(b))
        // Dropped from objects, null in arrays: functions, symbols and undefined.
        expect(yield* text({ f: () => 1, s: Symbol("s"), u: undefined, a: 1 })).toBe(`{"a":1}`)
        expect(yield* text([() => 1, Symbol("s"), undefined, 1])).toBe(`[null,null,null,1]`)
        expect(yield* text({ nested: { deeper: [{ f: () => 1 }] } })).toBe(`{"nested":{"deeper":[{}]}}`)
        // Non-finite numbers become null; -0 becomes 0.
        expect(yield* text([NaN, Infinity, -Infinity, -0])).toBe(`[null,null,null,0]`)
        // toJSON is called: a Date becomes its ISO string; a Map or a Set has no enumerable properties.
        expect(yield* text({ at: new Date(0), map: new Map([[1, 2]]), set: new Set([1]) })).toBe(
          `{"at":"1970-01-01T00:00:00.000Z","map":{},"set":{}}`
        )
        // Symbol-keyed properties are ignored.
        expect(yield* text({ [Symbol("k")]: 1, a: 2 })).toBe(`{"a":2}`)
        // A BigInt anywhere, or a cycle, fails; so does a value with no JSON text at all.
        yield* expectError(json.encode({ deep: [{ n: 1n }] }), "encode")
        yield* expectError(json.encode(() => 1), "encode")
      }))

    it.effect("fails to decode foreign bytes without quoting them", () =>
      Effect.gen(function*() {
        for (
          const input of [ascii("hello"), ascii(`{"token": "${SECRET}"`), ascii(SECRET), bytes(), bytes(0xc3, 0x28)]
        ) {
          const error = yield* expectError(json.decode(input), "decode")
          expect(String(error.cause ?? "")).not.toContain(SECRET)
        }
      }))

    it.effect("decodes random bytes to a value or a SerializationError, never a defect", () =>
      Effect.gen(function*() {
        yield* assertYielding(
          FastCheck.uint8Array({ maxLength: 64 }),
          (input) => isWellBehaved(decodeNow(json, input)),
          3000
        )
        // Printable text is more likely to be JSON, or nearly.
        yield* assertYielding(
          FastCheck.string({ unit: "binary", maxLength: 32 }),
          (text) => isWellBehaved(decodeNow(json, ascii(text))),
          3000
        )
      }), propertyTimeout)
  })

  describe("schema", () => {
    class Session extends Schema.Class<Session>("Session")({
      user: Schema.String,
      token: Schema.String,
      expires: Schema.Date,
      roles: Schema.Array(Schema.Literal("admin", "reader"))
    }) {}

    const SessionV1 = Schema.Struct({
      version: Schema.Literal(1),
      token: Schema.String,
      createdAt: Schema.Date
    })

    const SessionV2 = Schema.Struct({
      version: Schema.Literal(2),
      token: Schema.String,
      createdAt: Schema.Date,
      scopes: Schema.Array(Schema.String)
    })

    it.effect("round-trips a struct with a Date to the same classes", () =>
      Effect.gen(function*() {
        const serializer = Serializer.schema(SessionV1)
        expect(serializer.name).toMatch(/^schema\(/)
        const value = { version: 1 as const, token: SECRET, createdAt: new Date("2024-01-02T03:04:05.006Z") }
        const encoded = yield* serializer.encode(value)
        // The Encoded side, as JSON.
        expect(JSON.parse(new TextDecoder().decode(encoded))).toStrictEqual({
          version: 1,
          token: SECRET,
          createdAt: "2024-01-02T03:04:05.006Z"
        })
        const decoded = (yield* serializer.decode(encoded)) as typeof value
        expect(decoded.createdAt).toBeInstanceOf(Date)
        expect(decoded).toStrictEqual(value)

        const classes = Serializer.schema(Session)
        const session = new Session({ user: "ada", token: SECRET, expires: new Date(0), roles: ["admin"] })
        const back = yield* roundTrip(classes, session)
        expect(back).toBeInstanceOf(Session)
        expect(back).toStrictEqual(session)
      }))

    it.effect("fails to encode a value that does not match, without quoting it", () =>
      Effect.gen(function*() {
        const serializer = Serializer.schema(SessionV1)
        const error = yield* expectError(
          serializer.encode({ version: 1, token: SECRET, createdAt: SECRET }),
          "encode"
        )
        expect(error.message).toContain("[\"createdAt\"]")
        yield* expectError(serializer.encode({ version: 1, token: 42n, createdAt: new Date() }), "encode")
      }))

    it.effect("fails to decode bytes written with another version of the schema", () =>
      Effect.gen(function*() {
        const bytesV1 = yield* Serializer.schema(SessionV1).encode({
          version: 1,
          token: SECRET,
          createdAt: new Date(0)
        })
        const error = yield* expectError(Serializer.schema(SessionV2).decode(bytesV1), "decode")
        expect(error.message).toContain("[\"version\"]: expected 2")
        expect(error.message).toContain("[\"scopes\"]: is missing")
        expect(error.cause).toBeUndefined()
      }))

    it.effect("never quotes the actual value at the failing path", () =>
      Effect.gen(function*() {
        // TreeFormatter would print `actual "<the secret>"` here.
        const bytesV1 = yield* Serializer.json.encode({ token: SECRET })
        const error = yield* expectError(
          Serializer.schema(Schema.Struct({ token: Schema.Number })).decode(bytesV1),
          "decode"
        )
        expect(error.message).toContain("[\"token\"]: expected number")
        // A huge mismatching value gives a short message.
        const huge = yield* Serializer.json.encode(Array.from({ length: 10_000 }, (_, i) => ({ id: `${SECRET}-${i}` })))
        const hugeError = yield* expectError(
          Serializer.schema(Schema.Array(Schema.Struct({ id: Schema.Number }))).decode(huge),
          "decode"
        )
        expect(hugeError.message).toContain("and 9995 more")
      }))

    it.effect("ignores fields added by a newer writer", () =>
      Effect.gen(function*() {
        const written = yield* Serializer.json.encode({
          version: 1,
          token: "t",
          createdAt: "1970-01-01T00:00:00.000Z",
          x: 1
        })
        expect(yield* Serializer.schema(SessionV1).decode(written)).toStrictEqual({
          version: 1,
          token: "t",
          createdAt: new Date(0)
        })
      }))

    it.effect("fails to decode foreign bytes", () =>
      Effect.gen(function*() {
        const serializer = Serializer.schema(SessionV1)
        for (const input of [ascii("hello"), bytes(), ascii("{}"), NodeV8.serialize({ token: SECRET })]) {
          yield* expectError(serializer.decode(input), "decode")
        }
      }))
  })

  describe("make", () => {
    it.effect("derives the Effect forms from the synchronous ones, run anew on every run of the effect", () =>
      Effect.gen(function*() {
        let encodes = 0
        const counting = Serializer.make({
          name: "counting",
          encodeSync: (value) => {
            encodes++
            return typeof value === "number"
              ? Either.right(Uint8Array.of(value))
              : Either.left(new Serializer.SerializationError({ direction: "encode", message: "numbers only" }))
          },
          decodeSync: (bytes) => Either.right(bytes[0])
        })
        const encode = counting.encode(7)
        expect(encodes).toBe(0)
        expect(yield* Effect.flatMap(encode, counting.decode)).toBe(7)
        yield* encode
        expect(encodes).toBe(2)
        const error = yield* expectError(counting.encode("seven"), "encode")
        expect(error.message).toBe("numbers only")
        expect(counting.name).toBe("counting")
        expect(counting.encodeSync?.(7)).toStrictEqual(Either.right(Uint8Array.of(7)))
      }))

    it("v8 and json offer synchronous forms; schema, which may be asynchronous, does not", () => {
      for (const serializer of [Serializer.v8, Serializer.makeV8(), Serializer.json]) {
        expect(Either.getOrThrow(serializer.decodeSync!(Either.getOrThrow(serializer.encodeSync!({ a: [1] })))))
          .toStrictEqual({ a: [1] })
        expect(Either.isLeft(serializer.decodeSync!(new Uint8Array(0)))).toBe(true)
      }
      const schema = Serializer.schema(Schema.Struct({ a: Schema.Number }))
      expect(schema.encodeSync).toBeUndefined()
      expect(schema.decodeSync).toBeUndefined()
    })
  })

  describe("layers", () => {
    const nameOf = <E>(layer: Layer.Layer<Serializer.Serializer, E>) =>
      Effect.provide(Effect.map(Serializer.Serializer, (serializer) => serializer.name), layer)

    it.effect("provide the Serializer service, v8 by default", () =>
      Effect.gen(function*() {
        expect(yield* nameOf(Serializer.layer)).toBe("v8")
        expect(yield* nameOf(Serializer.layerV8)).toBe("v8")
        expect(yield* nameOf(Serializer.layerJson)).toBe("json")
        expect(yield* nameOf(Serializer.layerSchema(Schema.Struct({ a: Schema.Number })))).toMatch(/^schema\(/)
      }))
  })
})
