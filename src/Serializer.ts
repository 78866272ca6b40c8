/**
 * Turns cached values into bytes and back. The backends call it on every `get` and `set`, so each serializer is
 * plain synchronous code behind a single Effect.
 *
 * ## Wire formats
 *
 * No serializer adds a header, a length or a checksum of its own: the bytes in the store are exactly what the
 * underlying format writes, so other tools (and other languages, for `json`) can read them.
 *
 * - `v8` (the default): the output of `v8.serialize`. It starts with the byte `0xFF` (V8's version tag) followed by
 *   the format version as a varint, `0x0F` (version 15) on Node 20; for example the string `"hi"` is
 *   `ff 0f 22 02 68 69`. A Node reads every version older than its own and rejects newer ones, so during a rolling
 *   upgrade across Node majors an old process may fail to decode (and so miss) a value written by a new one.
 * - `json`: `JSON.stringify` output as UTF-8, without a byte order mark.
 * - `schema(S)`: the JSON of the value encoded by `S` (its `Encoded` side), as UTF-8.
 *
 * ## Safety
 *
 * Decoding never runs code from the bytes (unlike pickle): V8's deserializer only creates plain data (objects,
 * arrays, primitives, `Date`, `RegExp`, `Map`, `Set`, `Error`, `ArrayBuffer`) and never calls constructors,
 * setters or `toJSON`; a `__proto__` key becomes an own property. Class instances come back as plain objects.
 * Decoding bytes of another format (a string set with `redis-cli`, say) fails with a {@link SerializationError},
 * never with a defect. Every v8 value is self-delimiting, so `v8` also rejects a truncated payload and one followed
 * by extra bytes (JSON cannot tell `123` from a truncated `12345`).
 *
 * @since 0.1.0
 */
import * as Context from "#effect/Context"
import * as Data from "#effect/Data"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Result from "#effect/Result"
import * as Schema from "#effect/Schema"
import { Buffer } from "node:buffer"
import * as NodeV8 from "node:v8"
import * as V8Decode from "./core/serializer/v8Decode.js"

/**
 * A value could not be encoded, or bytes could not be decoded.
 *
 * `message` never quotes the value: cached values may be secret or huge, and this error is logged. It may name
 * the value's type, and for schema mismatches the property path and the expected type. `cause` is the underlying
 * error only when its own text cannot quote the value either (V8's "could not be cloned" errors quote a
 * function's source, `JSON.parse` errors quote the input and parse errors print the actual value, so those are
 * dropped).
 *
 * @since 0.1.0
 * @category errors
 */
export class SerializationError extends Data.TaggedError("SerializationError")<{
  readonly direction: "encode" | "decode"
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The service: turns unknown values into bytes and back.
 *
 * `encode` and `decode` are required. A serializer whose work is plain synchronous code may also offer the same
 * work as `encodeSync` / `decodeSync`, returning a `Result` (an `Either` on Effect 3) instead of an Effect: the
 * backends then call those on their hot paths (a `get`, each entry of a `getMany`) instead of running an Effect per
 * value. When present they must never throw, must do exactly what `encode` / `decode` do, and must be the functions
 * the Effect forms run: build such a serializer with {@link make}, which derives the Effect forms from them. Every
 * serializer of this module offers them except {@link schema}, whose schema may be asynchronous.
 *
 * @since 0.1.0
 * @category models
 */
export interface SerializerShape {
  /**
   * `"v8"`, `"json"` or `"schema(...)"`: for logs and diagnostics.
   */
  readonly name: string
  /**
   * Encodes a value. The bytes may be a `Buffer`; callers must treat them as a plain `Uint8Array`.
   */
  readonly encode: (value: unknown) => Effect.Effect<Uint8Array, SerializationError>
  /**
   * Decodes bytes written by `encode` of the same serializer. The result never shares memory with `bytes`, so the
   * caller may reuse its buffer.
   */
  readonly decode: (bytes: Uint8Array) => Effect.Effect<unknown, SerializationError>
  /**
   * `encode` without an Effect around it, run when called; never throws. Optional: see {@link make}.
   *
   * @since 0.1.0
   */
  readonly encodeSync?: ((value: unknown) => Result.Result<Uint8Array, SerializationError>) | undefined
  /**
   * `decode` without an Effect around it, run when called; never throws. Optional: see {@link make}.
   *
   * @since 0.1.0
   */
  readonly decodeSync?: ((bytes: Uint8Array) => Result.Result<unknown, SerializationError>) | undefined
}

/**
 * What {@link make} builds a serializer from.
 *
 * @since 0.1.0
 * @category models
 */
export interface SyncSerializerOptions {
  /** For logs and diagnostics. */
  readonly name: string
  /** Encodes a value; returns a failure (`Result.fail`, `Either.left` on Effect 3) instead of throwing. */
  readonly encodeSync: (value: unknown) => Result.Result<Uint8Array, SerializationError>
  /**
   * Decodes bytes written by `encodeSync`; returns a failure instead of throwing. The result must not share memory
   * with `bytes`: a backend may reuse its buffer once this returns.
   */
  readonly decodeSync: (bytes: Uint8Array) => Result.Result<unknown, SerializationError>
}

/**
 * The service key of the serializer the backends use; {@link layer} provides the default, {@link v8}.
 *
 * @since 0.1.0
 * @category tags
 */
export class Serializer extends Context.Service<Serializer, SerializerShape>()("effect-remote-cache/Serializer") {}

/**
 * A serializer from a pair of synchronous functions that never throw (they return a failed `Result`, on Effect 3
 * a `Left`, for a value or bytes they reject). The Effect forms are derived from them, and the backends call them
 * directly on their hot paths, without an Effect per value. A function that throws anyway is a defect, not a
 * `SerializationError`.
 *
 * @example
 * ```ts
 * // Effect 4 only: on Effect 3, `Either` in place of `Result`, with `Either.right` and `Either.left` in place of
 * // `Result.succeed` and `Result.fail`.
 * import { Result } from "effect"
 * import { Serializer } from "effect-remote-cache"
 *
 * // Strings as UTF-8, nothing else.
 * const text = Serializer.make({
 *   name: "text",
 *   encodeSync: (value) =>
 *     typeof value === "string"
 *       ? Result.succeed(new TextEncoder().encode(value))
 *       : Result.fail(new Serializer.SerializationError({ direction: "encode", message: "text encodes strings only" })),
 *   decodeSync: (bytes) => Result.succeed(new TextDecoder().decode(bytes))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: SyncSerializerOptions): SerializerShape => {
  const { decodeSync, encodeSync, name } = options
  // `Effect.suspend` keeps `encode(value)` lazy: the work happens when the effect runs, and each run decodes a
  // fresh value.
  return {
    name,
    encode: (value) => Effect.suspend(() => fromResult(encodeSync(value))),
    decode: (bytes) => Effect.suspend(() => fromResult(decodeSync(bytes))),
    encodeSync,
    decodeSync
  }
}

// A `Result` as a finished Effect. (On Effect 3 an `Either` is an Effect already; on Effect 4 a `Result` is not.)
const fromResult = <A, E>(result: Result.Result<A, E>): Effect.Effect<A, E> =>
  Result.isSuccess(result) ? Effect.succeed(Result.successValue(result)) : Effect.fail(Result.failureValue(result))

const fromSync = (
  name: string,
  encodeSync: (value: unknown) => Result.Result<Uint8Array, SerializationError>,
  decodeSync: (bytes: Uint8Array) => Result.Result<unknown, SerializationError>
): SerializerShape => make({ name, encodeSync, decodeSync })

const fail = (
  direction: "encode" | "decode",
  message: string,
  cause?: unknown
): Result.Result<never, SerializationError> =>
  Result.fail(
    new SerializationError(cause === undefined ? { direction, message } : { direction, message, cause })
  )

// Names the type only: reading anything else off the value could put its content in a message.
const typeName = (value: unknown): string => {
  if (value === null) return "null"
  if (typeof value !== "object") return typeof value
  try {
    if (Array.isArray(value)) return "Array"
    const name: unknown = Object.getPrototypeOf(value)?.constructor?.name
    return typeof name === "string" && name !== "" ? name : "object"
  } catch {
    // A revoked proxy throws on every inspection.
    return "object"
  }
}

const truncate = (text: string, max: number): string => text.length <= max ? text : `${text.slice(0, max - 1)}…`

// -----------------------------------------------------------------------------
// v8
// -----------------------------------------------------------------------------

// Runs only after `v8.serialize` failed, to say what it could not clone. V8's own message can't be used: for a
// function it is the function's source and for a symbol its description. Iterative, so it survives the deep
// values that may have made V8 give up.
const findUncloneable = (value: unknown): "function" | "symbol" | undefined => {
  const seen = new Set<object>()
  const stack: Array<unknown> = [value]
  try {
    while (stack.length > 0) {
      const current = stack.pop()
      if (typeof current === "function") return "function"
      if (typeof current === "symbol") return "symbol"
      if (typeof current !== "object" || current === null || seen.has(current)) continue
      seen.add(current)
      if (ArrayBuffer.isView(current)) continue
      if (current instanceof Map) {
        for (const [key, entry] of current) stack.push(key, entry)
      } else if (current instanceof Set) {
        for (const entry of current) stack.push(entry)
      } else {
        // Structured clone skips symbol-keyed properties, so `Object.keys` sees what it saw.
        for (const key of Object.keys(current)) stack.push((current as Record<string, unknown>)[key])
      }
    }
  } catch {
    // A getter or proxy trap threw; there is nothing more to learn.
  }
  return undefined
}

const encodeV8 = (value: unknown): Result.Result<Uint8Array, SerializationError> => {
  try {
    // A Buffer is a Uint8Array over an ArrayBuffer of exactly its size: hand it over without copying.
    return Result.succeed(NodeV8.serialize(value))
  } catch (cause) {
    const found = findUncloneable(value)
    if (found !== undefined) {
      return fail(
        "encode",
        `v8 cannot encode a value of type ${
          typeName(value)
        }: it contains a ${found}, which structured clone cannot copy`
      )
    }
    return fail(
      "encode",
      cause instanceof RangeError
        ? `v8 cannot encode a value of type ${typeName(value)}: it is too large or too deeply nested`
        : `v8 cannot encode a value of type ${typeName(value)}: structured clone rejected it`,
      cause
    )
  }
}

// Node's typings omit `_readHostObject`, the documented hook a `DefaultDeserializer` subclass may call.
const defaultReadHostObject = (NodeV8.DefaultDeserializer.prototype as unknown as {
  readonly _readHostObject: (this: NodeV8.DefaultDeserializer) => ArrayBufferView
})._readHostObject

// How to rebuild each kind of view Node's deserializer returns over a private copy of its bytes, by prototype: not
// through the view's `constructor`, which for a `Buffer` is the deprecated `Buffer()` (DEP0005, fatal under
// `--throw-deprecation`).
const viewCopiers = new Map<object, (copy: ArrayBuffer, byteLength: number) => ArrayBufferView>([
  [Buffer.prototype, (copy) => Buffer.from(copy)],
  [DataView.prototype, (copy) => new DataView(copy)],
  ...[
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array
  ].map((Constructor) =>
    [
      Constructor.prototype,
      (copy: ArrayBuffer, byteLength: number) => new Constructor(copy, 0, byteLength / Constructor.BYTES_PER_ELEMENT)
    ] as const
  )
])

// Node's deserializer returns typed arrays and Buffers as views into the input bytes when they happen to be
// aligned. The input is often a connection's read buffer or an entry held by an in-memory store, so such a view
// would change when that buffer is reused, or would let a caller's writes corrupt the stored entry. This copies
// exactly those bytes, which also lets a small decoded array not pin a large input in memory.
class OwningDeserializer extends NodeV8.DefaultDeserializer {
  constructor(readonly input: Uint8Array) {
    super(input)
  }

  // Called by V8 for each host object; `DefaultDeserializer` only builds typed arrays, Buffers and DataViews
  // from a fixed list of constructors, so this runs no code chosen by the bytes either.
  _readHostObject(): ArrayBufferView {
    const view = defaultReadHostObject.call(this)
    if (view.buffer !== this.input.buffer) return view // Node already copied it to align it
    const copy = view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer
    const copier = viewCopiers.get(Object.getPrototypeOf(view))
    if (copier !== undefined) return copier(copy, view.byteLength)
    // A kind of view newer than this list (Float16Array): its own constructor is a plain typed array's.
    const Constructor = view.constructor as new(buffer: ArrayBuffer, offset: number, length: number) => ArrayBufferView
    const elementSize = "BYTES_PER_ELEMENT" in view ? view.BYTES_PER_ELEMENT as number : 1
    return new Constructor(copy, 0, view.byteLength / elementSize)
  }
}

const V8_VERSION_TAG = 0xff
const FAST_DECODE_MAX_BYTES = 1024

/**
 * Options of {@link makeV8}.
 *
 * @since 0.1.0
 * @category models
 */
export interface V8Options {
  /**
   * The total length the sparse arrays of one stored value may declare; a value declaring more fails to decode,
   * before anything is allocated for it. V8 gives a sparse array 8 bytes of memory for every slot of its declared
   * length, whatever it holds, so without this bound 11 bytes could cost 256 MiB (and a few more bytes abort the
   * process with an out-of-memory error that nothing can catch). Everything else the decoder allocates is
   * proportional to the size of the bytes. Default: 1,048,576 (8 MiB); `Infinity` turns the check off.
   */
  readonly maxSparseArrayLength?: number | undefined
}

const DEFAULT_MAX_SPARSE_ARRAY_LENGTH = 1_048_576

const makeDecodeV8 = (maxSparseArrayLength: number) => {
  const tooLarge = () =>
    fail(
      "decode",
      `v8 will not decode these bytes: their sparse arrays declare more than ${maxSparseArrayLength} slots in total ` +
        "(maxSparseArrayLength)"
    )
  const checked = Number.isFinite(maxSparseArrayLength)
  const budget = checked ? maxSparseArrayLength : Number.MAX_VALUE
  return (bytes: Uint8Array): Result.Result<unknown, SerializationError> => {
    // V8 would reject these too; checking first gives foreign data (a string set by hand, say) a clear message.
    if (bytes.length === 0) return fail("decode", "v8 cannot decode empty bytes")
    if (bytes[0] !== V8_VERSION_TAG) {
      return fail("decode", "v8 cannot decode these bytes: they do not start with the v8 version tag 0xFF")
    }
    // Small cached values are mostly plain records, which a JavaScript reader builds faster than a round trip through
    // V8's deserializer (whose setup dominates below about 1 KiB; above it, V8 reads faster). The reader declines
    // everything else (and anything doubtful), which V8 reads below.
    if (bytes.length <= FAST_DECODE_MAX_BYTES) {
      const fast = V8Decode.decode(bytes, budget)
      if (fast === V8Decode.TOO_LARGE) return tooLarge()
      if (fast !== V8Decode.UNSUPPORTED) return Result.succeed(fast)
    }
    // Version 0 selects V8's legacy format, which no V8 writes and whose arrays the check below cannot see.
    const version = V8Decode.formatVersion(bytes)
    if (version === undefined || version === 0) {
      return fail("decode", "v8 cannot decode these bytes: their format version is missing or invalid")
    }
    // What V8 would allocate is bounded before it reads anything: a cheap over-estimate first, and only when that
    // exceeds the budget, an exact scan.
    if (checked && V8Decode.mayExceed(bytes, budget)) {
      const verdict = V8Decode.checkSparseLength(bytes, budget)
      if (verdict === V8Decode.TOO_LARGE) return tooLarge()
      if (verdict !== undefined) return fail("decode", `v8 will not decode these bytes: ${verdict}`)
    }
    try {
      const deserializer = new OwningDeserializer(bytes)
      deserializer.readHeader()
      const value: unknown = deserializer.readValue()
      // V8 stops after one value and ignores what follows, so a valid payload followed by anything (or foreign bytes
      // that happen to start like one) would decode to a value. `readRawBytes(0)` is an empty view at the read
      // position: the only public way to learn how much was consumed.
      const end = deserializer.readRawBytes(0).byteOffset - bytes.byteOffset
      if (end !== bytes.length) {
        return fail("decode", `v8 cannot decode these bytes: ${bytes.length - end} bytes follow the encoded value`)
      }
      return Result.succeed(value)
    } catch (cause) {
      // V8's messages here are fixed texts ("Unable to deserialize cloned data"), so the cause is safe to keep.
      return fail(
        "decode",
        "v8 cannot decode these bytes: they are truncated, corrupt, or written by a newer version of V8",
        cause
      )
    }
  }
}

/**
 * Node's structured clone (`v8.serialize` / `v8.deserialize`), the default. Round-trips what structured clone
 * supports: primitives including `BigInt`, `-0`, `NaN` and `undefined`, plain objects and arrays (sparse too),
 * `Map`, `Set`, `Date`, `RegExp`, `Error`, `ArrayBuffer`, typed arrays, `Buffer`, `DataView`, shared and cyclic
 * references. Functions and symbols fail to encode; class instances decode as plain objects. See the module
 * documentation for the bytes.
 *
 * @since 0.1.0
 * @category serializers
 */
export const v8: SerializerShape = fromSync("v8", encodeV8, makeDecodeV8(DEFAULT_MAX_SPARSE_ARRAY_LENGTH))

/**
 * {@link v8} with other limits: see {@link V8Options}. Throws a `RangeError` for a limit that is not a non-negative
 * number.
 *
 * @since 0.1.0
 * @category serializers
 */
export const makeV8 = (options: V8Options = {}): SerializerShape => {
  const max = options.maxSparseArrayLength ?? DEFAULT_MAX_SPARSE_ARRAY_LENGTH
  if (typeof max !== "number" || Number.isNaN(max) || max < 0) {
    throw new RangeError(`Serializer.makeV8: maxSparseArrayLength must be a non-negative number, got ${String(max)}`)
  }
  return fromSync("v8", encodeV8, makeDecodeV8(max))
}

// -----------------------------------------------------------------------------
// json
// -----------------------------------------------------------------------------

const utf8Encoder = new TextEncoder()
// `fatal`: invalid UTF-8 is foreign data, not text to repair with U+FFFD.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true })

const encodeJsonText = (value: unknown, label: string): Result.Result<Uint8Array, SerializationError> => {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (cause) {
    // These TypeErrors name a constructor and property names at most, never a value.
    const reason = cause instanceof TypeError && /bigint/i.test(cause.message)
      ? ": it contains a BigInt"
      : cause instanceof TypeError && /circular/i.test(cause.message)
      ? ": it contains a cycle"
      : ""
    return fail("encode", `${label} cannot encode a value of type ${typeName(value)}${reason}`, cause)
  }
  // `undefined`, functions and symbols have no JSON text: `JSON.stringify` returns `undefined` instead of throwing.
  if (text === undefined) {
    return fail("encode", `${label} cannot encode a value of type ${typeName(value)}: JSON has no representation of it`)
  }
  // JSON.stringify escapes lone surrogates, so this encoding is lossless.
  return Result.succeed(utf8Encoder.encode(text))
}

const decodeJsonText = (bytes: Uint8Array, label: string): Result.Result<unknown, SerializationError> => {
  let text: string
  try {
    text = utf8Decoder.decode(bytes)
  } catch (cause) {
    return fail("decode", `${label} cannot decode these bytes: they are not valid UTF-8`, cause)
  }
  try {
    return Result.succeed(JSON.parse(text))
  } catch {
    // The SyntaxError quotes the input, so it is not kept as the cause.
    return fail("decode", `${label} cannot decode these bytes: they are not valid JSON (${bytes.length} bytes)`)
  }
}

/**
 * `JSON.stringify` / `JSON.parse` over UTF-8, readable by any language, with exactly `JSON.stringify`'s semantics
 * (no check of its own, so encoding costs what `JSON.stringify` costs): inside a value, functions, symbols and
 * `undefined` are dropped from objects and become `null` in arrays, `NaN` and `±Infinity` become `null`, symbol keys
 * are ignored, `toJSON` is called (a `Date` becomes its ISO string), and a `Map` or a `Set` becomes `{}`. A value
 * with no JSON text at all (`undefined`, a function or a symbol), a `BigInt` anywhere, or a cycle fails to encode.
 * Use {@link schema} to check values and get classes such as `Date` back.
 *
 * @since 0.1.0
 * @category serializers
 */
export const json: SerializerShape = fromSync(
  "json",
  (value) => encodeJsonText(value, "json"),
  (bytes) => decodeJsonText(bytes, "json")
)

// -----------------------------------------------------------------------------
// schema
// -----------------------------------------------------------------------------

const MAX_ISSUES = 5
const MAX_TYPE_LENGTH = 80

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((key) => `[${typeof key === "symbol" ? String(key) : JSON.stringify(key)}]`).join("")

// The default formatters print the actual value at a failing node ("Expected number, actual <the secret>") and
// custom messages may do the same, so this describes each failure by its path and the expected type only.
const formatIssue = (error: Schema.SchemaError): string => {
  const leaves = Schema.issueLeaves(error)
  const lines = leaves.slice(0, MAX_ISSUES).map((leaf) => {
    const what = leaf._tag === "Expected"
      ? `expected ${truncate(leaf.expected, MAX_TYPE_LENGTH)}`
      : leaf._tag === "Missing"
      ? "is missing"
      : leaf._tag === "Unexpected"
      ? "is unexpected"
      : leaf.reason
    return leaf.path.length === 0 ? what : `at ${formatPath(leaf.path)}: ${what}`
  })
  const omitted = leaves.length - lines.length
  return omitted === 0 ? lines.join("; ") : `${lines.join("; ")}; and ${omitted} more`
}

// "all" costs nothing on success and names every mismatch; excess properties are ignored so that a reader still on
// an older schema accepts values written with fields added later.
const parseOptions = { errors: "all", onExcessProperty: "ignore" } as const

/**
 * Validates and transforms with a `Schema`, stored as JSON: `encode` runs the schema's encoding and writes its
 * `Encoded` side as JSON, `decode` parses JSON and decodes it, so a `Schema.Date` field comes back as a `Date`.
 * Bytes that do not match the schema (written by another version of it, say) fail to decode with a message naming
 * the paths and expected types, never the values. Fields added since are ignored when decoding.
 *
 * Takes any schema without services. On Effect 4 the JSON is that of the schema's canonical JSON codec
 * (`Schema.toCodecJson`), so that types whose `Encoded` side is not JSON (a `Date`, a `BigInt`) round-trip too; on
 * Effect 3 it is the schema's own `Encoded` side.
 *
 * @since 0.1.0
 * @category serializers
 */
export const schema = <A, I>(schema: Schema.Codec<A, I>): SerializerShape => {
  const name = `schema(${truncate(Schema.typeDescription(schema), MAX_TYPE_LENGTH)})`
  const codec = Schema.toCodecJson(schema)
  const encodeUnknown = Schema.encodeUnknownEffect(codec)
  const decodeUnknown = Schema.decodeUnknownEffect(codec)
  // The Effect variants, not the synchronous ones, so that schemas with asynchronous transformations work too; for
  // the usual synchronous schema they finish without a fiber hop.
  return {
    name,
    encode: (value) =>
      Effect.suspend(() =>
        encodeUnknown(value, parseOptions).pipe(
          Effect.mapError((error) =>
            new SerializationError({
              direction: "encode",
              message: `${name} cannot encode a value of type ${typeName(value)}: ${formatIssue(error)}`
            })
          ),
          Effect.flatMap((encoded) => fromResult(encodeJsonText(encoded, name)))
        )
      ),
    decode: (bytes) =>
      Effect.suspend(() =>
        Effect.flatMap(
          fromResult(decodeJsonText(bytes, name)),
          (parsed) =>
            Effect.mapError(decodeUnknown(parsed, parseOptions), (error) =>
              new SerializationError({
                direction: "decode",
                message: `${name} cannot decode these bytes: ${formatIssue(error)}`
              }))
        )
      )
  }
}

// -----------------------------------------------------------------------------
// layers
// -----------------------------------------------------------------------------

/**
 * Provides {@link v8}, the default.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerV8: Layer.Layer<Serializer> = Layer.succeed(Serializer, v8)

/**
 * Provides {@link json}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerJson: Layer.Layer<Serializer> = Layer.succeed(Serializer, json)

/**
 * Provides {@link schema} for the given schema.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSchema = <A, I>(self: Schema.Codec<A, I>): Layer.Layer<Serializer> =>
  Layer.succeed(Serializer, schema(self))

/**
 * The default serializer, {@link v8}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Serializer> = layerV8
