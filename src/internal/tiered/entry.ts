/**
 * The serializer wrapper of a tiered cache: the stored forms of entries and tag times (their wire format, the rules
 * for their times, and the object forms), in `core/tiered/entry`, around an Effect serializer's own encoding and
 * decoding.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Core from "../../core/tiered/entry.js"
import { TagTime, TieredEntry } from "../../core/tiered/entry.js"
import type * as Serializer from "../../Serializer.js"
import { SerializationError } from "../../Serializer.js"

export {
  CorruptEntry,
  ESCAPED,
  fromStored,
  MAGIC_0,
  MAGIC_1,
  MAGIC_2,
  readStored,
  TAG_TIME,
  TagTime,
  tagTimeOf,
  TieredEntry,
  validTimes,
  VERSION
} from "../../core/tiered/entry.js"

type Result<A> = Either.Either<A, SerializationError>

const fail = (direction: "encode" | "decode", message: string): Result<never> =>
  Either.left(new SerializationError({ direction, message }))

/** An encoding of the core as an `Either`, failing with the face's `SerializationError`. */
const encoded = (bytes: Uint8Array | Core.Invalid): Result<Uint8Array> =>
  bytes instanceof Uint8Array ? Either.right(bytes) : fail("encode", bytes.message)

const encodeTagTime = (time: TagTime): Result<Uint8Array> => encoded(Core.encodeTagTime(time))

const invalidEntry = () => fail("encode", Core.invalidEntryMessage)

/**
 * Wraps a serializer so that entries carrying a header and tag times are written as the records of
 * `core/tiered/entry`, and every other value exactly as `inner` writes it (escaped only when those bytes start with the magic). Every value `inner`
 * round-trips round-trips through the wrapper too.
 *
 * @internal
 */
export const wrap = (inner: Serializer.SerializerShape): Serializer.SerializerShape => {
  const name = `tiered(${inner.name})`
  const { decodeSync, encodeSync } = inner
  if (encodeSync !== undefined && decodeSync !== undefined) {
    const encode = (value: unknown): Result<Uint8Array> => {
      if (value instanceof TagTime) return encodeTagTime(value)
      if (value instanceof TieredEntry) {
        if (!Core.validEntry(value)) return invalidEntry()
        return Either.flatMap(encodeSync(value.value), (body) => encoded(Core.encodeHeader(value, body)))
      }
      return Either.map(encodeSync(value), Core.escapePlain)
    }
    const decode = (bytes: Uint8Array): Result<unknown> => {
      if (!Core.hasMagic(bytes)) return decodeSync(bytes)
      const record = Core.readRecord(bytes)
      switch (record._tag) {
        case "Plain":
          return decodeSync(record.body)
        case "Entry":
          return Either.map(decodeSync(record.header.body), (value) => Core.toEntry(record.header, value))
        case "TagTime":
          return Either.right(record.time)
        case "Invalid":
          return fail("decode", record.message)
      }
    }
    return {
      name,
      encode: (value) => Effect.suspend(() => encode(value)),
      decode: (bytes) => Effect.suspend(() => decode(bytes)),
      encodeSync: encode,
      decodeSync: decode
    }
  }
  // An asynchronous inner serializer (a schema's): the same records around its Effects.
  return {
    name,
    encode: (value) => {
      if (value instanceof TagTime) return Effect.suspend(() => encodeTagTime(value))
      if (value instanceof TieredEntry) {
        if (!Core.validEntry(value)) return invalidEntry()
        return Effect.flatMap(inner.encode(value.value), (body) => encoded(Core.encodeHeader(value, body)))
      }
      return Effect.map(inner.encode(value), Core.escapePlain)
    },
    decode: (bytes) => {
      if (!Core.hasMagic(bytes)) return inner.decode(bytes)
      const record = Core.readRecord(bytes)
      switch (record._tag) {
        case "Plain":
          return inner.decode(record.body)
        case "Entry":
          return Effect.map(inner.decode(record.header.body), (value) => Core.toEntry(record.header, value))
        case "TagTime":
          return Either.right(record.time)
        case "Invalid":
          return fail("decode", record.message)
      }
    }
  }
}
