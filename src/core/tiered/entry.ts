/**
 * The stored forms of what a tiered cache writes to L2 beyond a plain value: an entry that carries more than its value
 * (when it was created, until when it is fresh, until when it may still be served stale (grace), and its tags), and a
 * tag's invalidation time.
 *
 * ## Wire format
 *
 * Written by the serializer wrapper (`TieredCache.serializer(inner)`, the face's `internal/tiered/entry`), all numbers big-endian. Every record starts
 * with the magic `E7 54 43` (`0xE7` then `"TC"`: neither a v8 payload, which starts with `0xFF`, nor UTF-8 text, in
 * which `0xE7` must be followed by a byte of `80`-`BF`), then a byte that names the record and its version:
 *
 * | byte 3 | record | rest of the bytes |
 * | --- | --- | --- |
 * | `00` | escaped plain value | the value exactly as the inner serializer writes it |
 * | `01` | entry, version 1 | the header below, then the value as the inner serializer writes it |
 * | `81` | tag invalidation time, version 1 | float64 epoch milliseconds (finite, may be fractional), then a flag byte: `00` soft, `01` hard; 13 bytes in all |
 *
 * The entry header (version 1):
 *
 * | bytes | content |
 * | --- | --- |
 * | 4-11 | createdAt, float64 epoch milliseconds (finite) |
 * | 12-19 | fresh until, float64 epoch milliseconds (finite, or `Infinity`: never stale) |
 * | 20-27 | grace until, float64 epoch milliseconds (finite, or `Infinity`: kept forever; never before fresh until) |
 * | 28-29 | number of tags, uint16 |
 * | then, per tag | uint16 byte length, then the tag in UTF-8 |
 * | rest | the value, as the inner serializer writes it |
 *
 * A header or a tag time whose times break these rules (`NaN`, `-Infinity`, grace ending before freshness) fails to
 * decode, as any corrupt bytes do: the backend reports a serialization error and the key reads as a miss. An entry or
 * a tag time that breaks them fails to encode, so that nothing is written that no reader would accept.
 *
 * A plain value (written by `RemoteCache.set`, by a tiered cache before this format, or for an entry that needs no
 * header) is stored exactly as the inner serializer writes it, so other readers see the inner format, unless those
 * bytes themselves start with the magic and are at least 4 bytes long (only a serializer of raw bytes writes such
 * output: no v8 or JSON text does): it is then escaped with `E7 54 43 00` in front, so that it is not read as a
 * record. Bytes without the magic, or shorter than 4 bytes, are a plain value: decoded by the inner serializer alone
 * and read as fresh until the key expires.
 *
 * The record byte is where new versions go: a reader fails to decode (and so misses) a record byte it does not know,
 * rather than misreading it.
 *
 * A backend whose serializer is not wrapped stores these through its own serializer as objects: an entry as
 * `{ "~tiered": 1, c, f, g, t, v }` (fresh and grace ends as `null` for "never", which JSON can hold), a tag time as
 * `{ "~tieredTag": 1, a, h }`. A tiered cache reads both forms, with the same rules for the times: an object whose
 * own `"~tiered"` is a number but that is not a valid version 1 entry is a corrupt entry (a miss), never a plain value.
 * A tag key holding a plain finite number (what versions before the tag time record wrote) is read as a soft
 * invalidation at that time.
 *
 * @internal
 */

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

/**
 * A tag's invalidation time, as the tiered cache stores it under the tag's key: written by the serializer wrapper as
 * its own record (never through the inner serializer, so a value schema need not accept it), and by a serializer
 * that is not wrapped as the object `{ "~tieredTag": 1, a, h }`.
 *
 * @internal
 */
export class TagTime {
  // Own fields in the object form, as for `TieredEntry`.
  readonly "~tieredTag" = 1
  readonly a: number
  readonly h: boolean
  constructor(
    /** Epoch milliseconds, possibly fractional: entries of the tag created at or before it are invalidated. */
    at: number,
    /** A hard invalidation rather than a soft one: what each means is the cache's, this format only carries it. */
    hard: boolean
  ) {
    this.a = at
    this.h = hard
  }

  get at(): number {
    return this.a
  }
  get hard(): boolean {
    return this.h
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The rules for stored times, shared by both forms
// ---------------------------------------------------------------------------------------------------------------

/** `Infinity` stands for "never"; `NaN` and `-Infinity` mean nothing, and would keep a value in L1 forever. */
const isEnd = (time: number): boolean => time === Infinity || Number.isFinite(time)

/**
 * Whether an entry's times are ones this format may hold: createdAt finite, the ends finite or `Infinity`, and grace
 * never ending before freshness.
 *
 * @internal
 */
export const validTimes = (createdAt: number, freshUntil: number, graceUntil: number): boolean =>
  Number.isFinite(createdAt) && isEnd(freshUntil) && isEnd(graceUntil) && graceUntil >= freshUntil

/**
 * Whether an entry may be written or read: valid times (see {@link validTimes}) and an array of string tags.
 *
 * @internal
 */
export const validEntry = (entry: TieredEntry): boolean =>
  validTimes(entry.createdAt, entry.freshUntil, entry.graceUntil) && Array.isArray(entry.t) &&
  entry.t.every((tag) => typeof tag === "string")

/**
 * Whether a tag time may be written or read: a finite time and a boolean flag.
 *
 * @internal
 */
export const validTagTime = (time: TagTime): boolean => Number.isFinite(time.at) && typeof time.h === "boolean"

// ---------------------------------------------------------------------------------------------------------------
// The object forms
// ---------------------------------------------------------------------------------------------------------------

const hasOwn = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key)

/** An end in the object form: `null` for never; a number (v8 can carry `Infinity` too). */
const objectEnd = (u: unknown): number | undefined => u === null ? Infinity : typeof u === "number" ? u : undefined

/**
 * What {@link readStored} answers for a stored value that has the shape of an entry (an object whose own
 * `"~tiered"` is a number) but is not a valid one: an unknown version, a missing or mistyped field, or times that
 * break the format's rules. Such a value must be treated as a miss, never returned as a plain value.
 *
 * @internal
 */
export const CorruptEntry: unique symbol = Symbol("effect-remote-cache/TieredEntry/Corrupt")

/** @internal */
export type CorruptEntry = typeof CorruptEntry

const fromObjectForm = (o: Record<string, unknown>): TieredEntry | CorruptEntry => {
  if (o["~tiered"] !== 1 || typeof o["c"] !== "number" || !hasOwn(o, "v")) return CorruptEntry
  const freshUntil = objectEnd(o["f"])
  const graceUntil = objectEnd(o["g"])
  const tags = o["t"]
  if (freshUntil === undefined || graceUntil === undefined || !validTimes(o["c"], freshUntil, graceUntil)) {
    return CorruptEntry
  }
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === "string")) return CorruptEntry
  return new TieredEntry(o["v"], o["c"], freshUntil, graceUntil, tags)
}

/**
 * What a stored value holds: its entry (header and value), {@link CorruptEntry} for a value shaped like an entry that
 * is not a valid one (treat it as a miss), or `undefined` for a plain value (no header). Reads the wrapper's decoded
 * entries and the object form alike, under the same rules for the times.
 *
 * @internal
 */
export const readStored = (stored: unknown): TieredEntry | CorruptEntry | undefined => {
  if (stored instanceof TieredEntry) return validEntry(stored) ? stored : CorruptEntry
  if (typeof stored !== "object" || stored === null || Array.isArray(stored)) return undefined
  // Own properties only: decoders (v8, JSON) create nothing else, and an inherited key is no sign of an entry.
  if (!hasOwn(stored, "~tiered") || typeof (stored as Record<string, unknown>)["~tiered"] !== "number") {
    return undefined
  }
  return fromObjectForm(stored as Record<string, unknown>)
}

/**
 * The entry a stored value holds, or `undefined` for a plain value (no header) and for a corrupt entry alike. Cannot
 * tell those two apart: a caller that must not serve a corrupt entry as a value uses {@link readStored}.
 *
 * @internal
 */
export const fromStored = (stored: unknown): TieredEntry | undefined => {
  const read = readStored(stored)
  return read === CorruptEntry ? undefined : read
}

/**
 * The invalidation time a tag key holds: a {@link TagTime} (as the wrapper decodes it), its object form
 * `{ "~tieredTag": 1, a, h }`, or a plain finite number (what versions before `TagTime` wrote, read as a soft
 * invalidation). Anything else, a malformed or non-finite time included, is `undefined`: no invalidation known.
 *
 * @internal
 */
export const tagTimeOf = (stored: unknown): TagTime | undefined => {
  if (stored instanceof TagTime) return validTagTime(stored) ? stored : undefined
  if (typeof stored === "number") return Number.isFinite(stored) ? new TagTime(stored, false) : undefined
  if (typeof stored !== "object" || stored === null || !hasOwn(stored, "~tieredTag")) return undefined
  const o = stored as Record<string, unknown>
  if (o["~tieredTag"] !== 1 || typeof o["a"] !== "number" || !Number.isFinite(o["a"]) || typeof o["h"] !== "boolean") {
    return undefined
  }
  return new TagTime(o["a"], o["h"])
}

// ---------------------------------------------------------------------------------------------------------------
// The wrapper's binary records
// ---------------------------------------------------------------------------------------------------------------

/** @internal */
export const MAGIC_0 = 0xe7
/** @internal */
export const MAGIC_1 = 0x54
/** @internal */
export const MAGIC_2 = 0x43
/** The record byte of an escaped plain value. @internal */
export const ESCAPED = 0x00
/** The record byte of an entry (its format version). @internal */
export const VERSION = 1
/** The record byte of a tag invalidation time, version 1. @internal */
export const TAG_TIME = 0x81

const FIXED_HEADER = 30
const TAG_TIME_SIZE = 13
const ESCAPE_PREFIX = Uint8Array.of(MAGIC_0, MAGIC_1, MAGIC_2, ESCAPED)
const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

/**
 * Why bytes or an entry do not fit the format: the face turns it into its serialization error.
 *
 * @internal
 */
export interface Invalid {
  readonly _tag: "Invalid"
  readonly message: string
}

const invalid = (message: string): Invalid => ({ _tag: "Invalid", message })

const writeMagic = (bytes: Uint8Array, record: number): void => {
  bytes[0] = MAGIC_0
  bytes[1] = MAGIC_1
  bytes[2] = MAGIC_2
  bytes[3] = record
}

/**
 * The bytes of an entry record: its header, then `body` (its value as the inner serializer wrote it). The entry's
 * times are not checked here (see {@link validEntry}); its tags' counts and lengths are.
 *
 * @internal
 */
export const encodeHeader = (entry: TieredEntry, body: Uint8Array): Uint8Array | Invalid => {
  if (entry.tags.length > 0xffff) return invalid("a tiered entry carries at most 65535 tags")
  const tags = entry.tags.map((tag) => encoder.encode(tag))
  let size = FIXED_HEADER + body.length
  for (const tag of tags) {
    if (tag.length > 0xffff) return invalid("a tag is at most 65535 bytes of UTF-8")
    size += 2 + tag.length
  }
  const bytes = new Uint8Array(size)
  const view = new DataView(bytes.buffer)
  writeMagic(bytes, VERSION)
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
  return bytes
}

/**
 * The bytes of a tag time record, or why `time` cannot be stored.
 *
 * @internal
 */
export const encodeTagTime = (time: TagTime): Uint8Array | Invalid => {
  if (!validTagTime(time)) return invalid("a tag's invalidation time must be a finite number of milliseconds")
  const bytes = new Uint8Array(TAG_TIME_SIZE)
  writeMagic(bytes, TAG_TIME)
  new DataView(bytes.buffer).setFloat64(4, time.at)
  bytes[12] = time.hard ? 1 : 0
  return bytes
}

/**
 * A plain value's bytes as stored: `inner`'s own, escaped only when they would read as a record.
 *
 * @internal
 */
export const escapePlain = (body: Uint8Array): Uint8Array => {
  if (!hasMagic(body)) return body
  const bytes = new Uint8Array(ESCAPE_PREFIX.length + body.length)
  bytes.set(ESCAPE_PREFIX)
  bytes.set(body, ESCAPE_PREFIX.length)
  return bytes
}

/**
 * Whether `bytes` are a record (to read with {@link readRecord}) rather than a plain value. No record is shorter
 * than 4 bytes, so shorter bytes are a plain value whatever they start with.
 *
 * @internal
 */
export const hasMagic = (bytes: Uint8Array): boolean =>
  bytes.length >= 4 && bytes[0] === MAGIC_0 && bytes[1] === MAGIC_1 && bytes[2] === MAGIC_2

/**
 * An entry's header, read up to the value's bytes (`body`, a view into `bytes`).
 *
 * @internal
 */
export interface Header {
  readonly createdAt: number
  readonly freshUntil: number
  readonly graceUntil: number
  readonly tags: ReadonlyArray<string>
  readonly body: Uint8Array
}

const decodeHeader = (bytes: Uint8Array): StoredRecord => {
  if (bytes.length < FIXED_HEADER) return invalid("tiered entry header is truncated")
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const createdAt = view.getFloat64(4)
  const freshUntil = view.getFloat64(12)
  const graceUntil = view.getFloat64(20)
  if (!validTimes(createdAt, freshUntil, graceUntil)) {
    return invalid("tiered entry header holds invalid times (not a number, or grace ending before freshness)")
  }
  const count = view.getUint16(28)
  const tags: Array<string> = []
  let at = FIXED_HEADER
  for (let i = 0; i < count; i++) {
    if (at + 2 > bytes.length) return invalid("tiered entry header is truncated")
    const length = view.getUint16(at)
    if (at + 2 + length > bytes.length) return invalid("tiered entry header is truncated")
    try {
      tags.push(decoder.decode(bytes.subarray(at + 2, at + 2 + length)))
    } catch {
      return invalid("tiered entry tag is not valid UTF-8")
    }
    at += 2 + length
  }
  return { _tag: "Entry", header: { createdAt, freshUntil, graceUntil, tags, body: bytes.subarray(at) } }
}

const decodeTagTime = (bytes: Uint8Array): StoredRecord => {
  if (bytes.length !== TAG_TIME_SIZE) return invalid(`tag time record is ${bytes.length} bytes, not 13`)
  const at = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(4)
  const flag = bytes[12]
  if (!Number.isFinite(at)) return invalid("tag time record holds an invalid time")
  if (flag !== 0 && flag !== 1) return invalid(`tag time record has the unknown flag byte ${flag}`)
  return { _tag: "TagTime", time: new TagTime(at, flag === 1) }
}

/**
 * What the record byte of bytes with the magic says to do: decode the inner bytes (`body`) as a plain value or as an
 * entry's value, take the tag time as it is, or fail (`Invalid`: corrupt bytes, or a record of a later version).
 *
 * @internal
 */
export type StoredRecord =
  | { readonly _tag: "Plain"; readonly body: Uint8Array }
  | { readonly _tag: "Entry"; readonly header: Header }
  | { readonly _tag: "TagTime"; readonly time: TagTime }
  | Invalid

/**
 * Reads the record in `bytes`, which start with the magic (see {@link hasMagic}).
 *
 * @internal
 */
export const readRecord = (bytes: Uint8Array): StoredRecord => {
  const record = bytes[3]
  switch (record) {
    case ESCAPED:
      return { _tag: "Plain", body: bytes.subarray(4) }
    case VERSION:
      return decodeHeader(bytes)
    case TAG_TIME:
      return decodeTagTime(bytes)
    default:
      return invalid(
        `tiered record of format version ${record}: this version reads 0 (plain value), ${VERSION} (entry) and ` +
          `${TAG_TIME} (tag time)`
      )
  }
}

/**
 * The entry a decoded header and its decoded value make.
 *
 * @internal
 */
export const toEntry = (header: Header, value: unknown): TieredEntry =>
  new TieredEntry(value, header.createdAt, header.freshUntil, header.graceUntil, header.tags)

/**
 * Why an entry that breaks the rules for times (see {@link validEntry}) is not written.
 *
 * @internal
 */
export const invalidEntryMessage =
  "a tiered entry's times must be finite (its ends may be Infinity), grace not ending before freshness"
