/**
 * The stored form of a tiered-cache entry that carries more than its value: when it was created, until when it is
 * fresh, until when it may still be served stale (grace), and its tags.
 *
 * ## Wire format, version 1
 *
 * Written by the serializer wrapper (`TieredCache.serializer(inner)`), all numbers big-endian:
 *
 * | bytes | content |
 * | --- | --- |
 * | 0-2 | magic `E7 54 43` (`0xE7` then `"TC"`: neither a v8 payload, which starts with `0xFF`, nor UTF-8 text) |
 * | 3 | format version, `01` |
 * | 4-11 | createdAt, float64 epoch milliseconds |
 * | 12-19 | fresh until, float64 epoch milliseconds (`Infinity`: never stale) |
 * | 20-27 | grace until, float64 epoch milliseconds (`Infinity`: kept forever) |
 * | 28-29 | number of tags, uint16 |
 * | then, per tag | uint16 byte length, then the tag in UTF-8 |
 * | rest | the value, as the inner serializer writes it |
 *
 * Bytes without the magic are a plain value (written by `RemoteCache.set`, or by a tiered cache before this format,
 * or for an entry that needs no header): decoded by the inner serializer alone and read as fresh until the key
 * expires.
 *
 * A backend whose serializer is not wrapped stores the entry through its own serializer as an object
 * `{ "~tiered": 1, c, f, g, t, v }` (fresh and grace ends as `null` for "never", which JSON can hold); a tiered
 * cache reads both forms.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Serializer from "../Serializer.js"
import { SerializationError } from "../Serializer.js"

/**
 * An entry with its header, as the tiered cache hands it to L2.
 *
 * @internal
 */
export class TieredEntry {
  // Own fields in the object form (see the module's doc), so that a serializer that does not know this class (v8
  // copies own properties, JSON too) still stores every part of the entry.
  readonly "~tiered" = 1
  readonly c: number
  readonly f: number | null
  readonly g: number | null
  readonly t: ReadonlyArray<string>
  readonly v: unknown
  constructor(
    value: unknown,
    /** Epoch milliseconds: when the data behind the value was read (a computation's start, a `set`'s call). */
    createdAt: number,
    /** Epoch milliseconds; `Infinity` when it never turns stale. */
    freshUntil: number,
    /** Epoch milliseconds; `Infinity` when it is kept forever. */
    graceUntil: number,
    tags: ReadonlyArray<string>
  ) {
    this.v = value
    this.c = createdAt
    this.f = freshUntil === Infinity ? null : freshUntil
    this.g = graceUntil === Infinity ? null : graceUntil
    this.t = tags
  }

  get value(): unknown {
    return this.v
  }
  get createdAt(): number {
    return this.c
  }
  get freshUntil(): number {
    return this.f === null ? Infinity : this.f
  }
  get graceUntil(): number {
    return this.g === null ? Infinity : this.g
  }
  get tags(): ReadonlyArray<string> {
    return this.t
  }
}

interface ObjectForm {
  readonly "~tiered": 1
  readonly c: number
  readonly f: number | null
  readonly g: number | null
  readonly t: ReadonlyArray<string>
  readonly v: unknown
}

const isObjectForm = (u: unknown): u is ObjectForm => {
  if (typeof u !== "object" || u === null || (u as Record<string, unknown>)["~tiered"] !== 1) return false
  const o = u as Record<string, unknown>
  const time = (u: unknown) => typeof u === "number" || u === null
  return typeof o["c"] === "number" && time(o["f"]) && time(o["g"]) &&
    Array.isArray(o["t"]) && o["t"].every((tag) => typeof tag === "string") && "v" in o
}

/**
 * The entry a stored value holds, or `undefined` for a plain value (no header).
 *
 * @internal
 */
export const fromStored = (stored: unknown): TieredEntry | undefined => {
  if (stored instanceof TieredEntry) return stored
  if (!isObjectForm(stored)) return undefined
  return new TieredEntry(
    stored.v,
    stored.c,
    stored.f ?? Infinity,
    stored.g ?? Infinity,
    stored.t
  )
}

/** @internal */
export const MAGIC_0 = 0xe7
/** @internal */
export const MAGIC_1 = 0x54
/** @internal */
export const MAGIC_2 = 0x43
/** @internal */
export const VERSION = 1

const FIXED_HEADER = 30
const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

const fail = (direction: "encode" | "decode", message: string) =>
  Either.left(new SerializationError({ direction, message }))

const encodeHeader = (entry: TieredEntry, body: Uint8Array): Either.Either<Uint8Array, SerializationError> => {
  if (entry.tags.length > 0xffff) return fail("encode", "a tiered entry carries at most 65535 tags")
  const tags = entry.tags.map((tag) => encoder.encode(tag))
  let size = FIXED_HEADER + body.length
  for (const tag of tags) {
    if (tag.length > 0xffff) return fail("encode", "a tag is at most 65535 bytes of UTF-8")
    size += 2 + tag.length
  }
  const bytes = new Uint8Array(size)
  const view = new DataView(bytes.buffer)
  bytes[0] = MAGIC_0
  bytes[1] = MAGIC_1
  bytes[2] = MAGIC_2
  bytes[3] = VERSION
  view.setFloat64(4, entry.createdAt)
  view.setFloat64(12, entry.freshUntil)
  view.setFloat64(20, entry.graceUntil)
  view.setUint16(28, tags.length)
  let at = FIXED_HEADER
  for (const tag of tags) {
    view.setUint16(at, tag.length)
    bytes.set(tag, at + 2)
    at += 2 + tag.length
  }
  bytes.set(body, at)
  return Either.right(bytes)
}

const hasMagic = (bytes: Uint8Array): boolean =>
  bytes.length >= 4 && bytes[0] === MAGIC_0 && bytes[1] === MAGIC_1 && bytes[2] === MAGIC_2

const decodeHeader = (
  bytes: Uint8Array,
  inner: (bytes: Uint8Array) => Either.Either<unknown, SerializationError>
): Either.Either<unknown, SerializationError> => {
  if (bytes[3] !== VERSION) {
    return fail("decode", `tiered entry of format version ${bytes[3]}: this version reads version ${VERSION}`)
  }
  if (bytes.length < FIXED_HEADER) return fail("decode", "tiered entry header is truncated")
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const createdAt = view.getFloat64(4)
  const freshUntil = view.getFloat64(12)
  const graceUntil = view.getFloat64(20)
  const count = view.getUint16(28)
  const tags: Array<string> = []
  let at = FIXED_HEADER
  for (let i = 0; i < count; i++) {
    if (at + 2 > bytes.length) return fail("decode", "tiered entry header is truncated")
    const length = view.getUint16(at)
    if (at + 2 + length > bytes.length) return fail("decode", "tiered entry header is truncated")
    try {
      tags.push(decoder.decode(bytes.subarray(at + 2, at + 2 + length)))
    } catch {
      return fail("decode", "tiered entry tag is not valid UTF-8")
    }
    at += 2 + length
  }
  return Either.map(
    inner(bytes.subarray(at)),
    (value) => new TieredEntry(value, createdAt, freshUntil, graceUntil, tags)
  )
}

/**
 * Wraps a serializer so that entries carrying a header are written in the format above, and every other value
 * exactly as `inner` writes it.
 *
 * @internal
 */
export const wrap = (inner: Serializer.SerializerShape): Serializer.SerializerShape => {
  const name = `tiered(${inner.name})`
  const { decodeSync, encodeSync } = inner
  if (encodeSync !== undefined && decodeSync !== undefined) {
    const encode = (value: unknown) =>
      value instanceof TieredEntry
        ? Either.flatMap(encodeSync(value.value), (body) => encodeHeader(value, body))
        : encodeSync(value)
    const decode = (bytes: Uint8Array) => hasMagic(bytes) ? decodeHeader(bytes, decodeSync) : decodeSync(bytes)
    return {
      name,
      encode: (value) => Effect.suspend(() => encode(value)),
      decode: (bytes) => Effect.suspend(() => decode(bytes)),
      encodeSync: encode,
      decodeSync: decode
    }
  }
  // An asynchronous inner serializer (a schema's): the header around its Effects.
  return {
    name,
    encode: (value) =>
      value instanceof TieredEntry
        ? Effect.flatMap(inner.encode(value.value), (body) => encodeHeader(value, body))
        : inner.encode(value),
    decode: (bytes) => {
      if (!hasMagic(bytes)) return inner.decode(bytes)
      let body: Uint8Array | undefined
      const header = decodeHeader(bytes, (rest) => {
        body = rest
        return Either.right(undefined)
      })
      if (Either.isLeft(header)) return header.left
      const entry = header.right as TieredEntry
      return Effect.map(
        inner.decode(body!),
        (value) => new TieredEntry(value, entry.createdAt, entry.freshUntil, entry.graceUntil, entry.tags)
      )
    }
  }
}
