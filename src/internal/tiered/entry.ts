/**
 * The serializer wrapper of a tiered cache: the stored forms of entries and tag times (their wire format, the rules
 * for their times, and the object forms), in `core/tiered/entry`, around an Effect serializer's own encoding and
 * decoding.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import * as Result from "#effect/Result"
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

type Outcome<A> = Result.Result<A, SerializationError>

const fail = (direction: "encode" | "decode", message: string): Outcome<never> =>
  Result.fail(new SerializationError({ direction, message }))

/** An encoding of the core as a `Result`, failing with the face's `SerializationError`. */
const encoded = (bytes: Uint8Array | Core.Invalid): Outcome<Uint8Array> =>
  bytes instanceof Uint8Array ? Result.succeed(bytes) : fail("encode", bytes.message)

const encodeTagTime = (time: TagTime): Outcome<Uint8Array> => encoded(Core.encodeTagTime(time))

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
    const encode = (value: unknown): Outcome<Uint8Array> => {
      if (value instanceof TagTime) return encodeTagTime(value)
      if (value instanceof TieredEntry) {
        if (!Core.validEntry(value)) return invalidEntry()
        return Result.flatMap(encodeSync(value.value), (body) => encoded(Core.encodeHeader(value, body)))
      }
      return Result.map(encodeSync(value), Core.escapePlain)
    }
    const decode = (bytes: Uint8Array): Outcome<unknown> => {
      if (!Core.hasMagic(bytes)) return decodeSync(bytes)
      const record = Core.readRecord(bytes)
      switch (record._tag) {
        case "Plain":
          return decodeSync(record.body)
        case "Entry":
          return Result.map(decodeSync(record.header.body), (value) => Core.toEntry(record.header, value))
        case "TagTime":
          return Result.succeed(record.time)
        case "Invalid":
          return fail("decode", record.message)
      }
    }
    return {
      name,
      encode: (value) => Effect.suspend(() => Effect.fromResult(encode(value))),
      decode: (bytes) => Effect.suspend(() => Effect.fromResult(decode(bytes))),
      encodeSync: encode,
      decodeSync: decode
    }
  }
  // An asynchronous inner serializer (a schema's): the same records around its Effects.
  return {
    name,
    encode: (value) => {
      if (value instanceof TagTime) return Effect.suspend(() => Effect.fromResult(encodeTagTime(value)))
      if (value instanceof TieredEntry) {
        if (!Core.validEntry(value)) return Effect.fromResult(invalidEntry())
        return Effect.flatMap(
          inner.encode(value.value),
          (body) => Effect.fromResult(encoded(Core.encodeHeader(value, body)))
        )
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
          return Effect.succeed(record.time)
        case "Invalid":
          return Effect.fromResult(fail("decode", record.message))
      }
    }
  }
}
