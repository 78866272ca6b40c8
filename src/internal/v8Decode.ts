/**
 * A JavaScript reader for the common subset of V8's serialization format (version 15, what `v8.serialize` writes
 * on Node 20 and 22): plain objects, arrays, strings, numbers, booleans, `null`, `undefined`, `Date` and repeated
 * references to them.
 *
 * Why: for the small records a cache holds, `v8.deserialize` spends most of its time crossing into C++ and
 * setting up a deserializer, not reading bytes (about 1.5 µs for a 100-byte object, where `JSON.parse` of the same
 * record takes 0.6 µs). This reader builds the same values in JavaScript, in about the time `JSON.parse` takes. For
 * larger values V8's own reader is faster again, so the serializer only uses this one up to about 1 KiB.
 *
 * It never guesses: on anything else (`Map`, `Set`, `BigInt`, typed arrays, an older or newer format version, a
 * malformed or truncated input, bytes after the value, nesting deeper than {@link MAX_DEPTH}) it returns
 * {@link UNSUPPORTED} having created nothing visible, and the caller decodes the bytes with V8 itself, which then
 * decides what they are (a value or an error). For the inputs it accepts, it builds what V8 builds: the same
 * properties in the same order, defined as own data properties (a `__proto__` key included) without running
 * setters, and holes where V8 leaves them.
 *
 * @internal
 */
import { Buffer } from "node:buffer"
import * as Os from "node:os"

/**
 * Returned when the bytes use anything this reader does not handle.
 *
 * @internal
 */
export const UNSUPPORTED: unique symbol = Symbol("v8Decode/unsupported")

// Deep enough for any record; deeper values go to V8, whose reader is not bounded by the JavaScript stack.
const MAX_DEPTH = 256

const VERSION = 0x0f

const LITTLE_ENDIAN = Os.endianness() === "LE"

// Tags (V8's SerializationTag).
const PADDING = 0x00
const VERIFY_OBJECT_COUNT = 0x3f // ?
const THE_HOLE = 0x2d // -
const UNDEFINED = 0x5f // _
const NULL = 0x30 // 0
const TRUE = 0x54 // T
const FALSE = 0x46 // F
const INT32 = 0x49 // I
const UINT32 = 0x55 // U
const DOUBLE = 0x4e // N
const ONE_BYTE_STRING = 0x22 // "
const TWO_BYTE_STRING = 0x63 // c
const OBJECT_REFERENCE = 0x5e // ^
const BEGIN_OBJECT = 0x6f // o
const END_OBJECT = 0x7b // {
const BEGIN_SPARSE_ARRAY = 0x61 // a
const END_SPARSE_ARRAY = 0x40 // @
const BEGIN_DENSE_ARRAY = 0x41 // A
const END_DENSE_ARRAY = 0x24 // $
const DATE = 0x44 // D

// Property names (only those: values vary too much to be worth it) up to MAX_CACHED_KEY bytes, by a hash of their
// bytes. A hit hands V8 the very string it has already internalized, which is what makes property stores cheap.
const KEY_CACHE_SIZE = 512
const MAX_CACHED_KEY = 32
const keyCache = new Array<string | undefined>(KEY_CACHE_SIZE).fill(undefined)

class Unsupported {}
// Thrown (one shared instance, no stack trace) to unwind the recursion; never escapes `decode`.
const unsupported = new Unsupported()

const arrayPrototype = Array.prototype

const hasOwn = Object.prototype.hasOwnProperty

// Defines a property as V8 does: an own data property, even for a key found on the prototype chain (`__proto__`,
// `toString`, or anything someone added there, perhaps with a setter); every other key can take the fast
// assignment. A key the target already has is a duplicate, which V8 rejects: those bytes are left to it.
const define = (target: object, key: string | number, value: unknown): void => {
  if (key in target) {
    if (hasOwn.call(target, key)) throw unsupported
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true })
  } else {
    ;(target as Record<string | number, unknown>)[key] = value
  }
}

class Reader {
  pos = 2
  depth = 0
  readonly objects: Array<object> = []
  constructor(readonly buf: Buffer) {}

  varint(): number {
    const buf = this.buf
    let result = 0
    let shift = 0
    for (;;) {
      if (this.pos >= buf.length || shift > 28) throw unsupported
      const byte = buf[this.pos++]!
      result += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) return result
      shift += 7
    }
  }

  tag(): number {
    const buf = this.buf
    for (;;) {
      if (this.pos >= buf.length) throw unsupported
      const tag = buf[this.pos++]!
      if (tag !== PADDING) return tag
    }
  }

  peekTag(): number {
    const buf = this.buf
    while (this.pos < buf.length && buf[this.pos] === PADDING) this.pos++
    if (this.pos >= buf.length) throw unsupported
    return buf[this.pos]!
  }

  // A string's length without consuming it: a one-byte varint, or more than any cached key.
  peekLength(): number {
    const byte = this.pos < this.buf.length ? this.buf[this.pos]! : 0x80
    return byte < 0x80 ? byte : 0x80
  }

  double(): number {
    if (this.pos + 8 > this.buf.length) throw unsupported
    const value = this.buf.readDoubleLE(this.pos)
    this.pos += 8
    return value
  }

  string(tag: number): string {
    const length = this.varint()
    const start = this.pos
    const end = start + length
    if (end > this.buf.length) throw unsupported
    this.pos = end
    if (tag === ONE_BYTE_STRING) return this.buf.toString("latin1", start, end)
    // V8 writes two-byte strings in the machine's byte order.
    if ((length & 1) !== 0 || !LITTLE_ENDIAN) throw unsupported
    return this.buf.toString("utf16le", start, end)
  }

  value(): unknown {
    const tag = this.tag()
    switch (tag) {
      case UNDEFINED:
        return undefined
      case NULL:
        return null
      case TRUE:
        return true
      case FALSE:
        return false
      case INT32: {
        const n = this.varint()
        if (n > 0xffffffff) throw unsupported
        // Zigzag: 0, -1, 1, -2… as 0, 1, 2, 3…
        return n % 2 === 0 ? n / 2 : -(n + 1) / 2
      }
      case UINT32: {
        const n = this.varint()
        if (n > 0xffffffff) throw unsupported
        return n
      }
      case DOUBLE:
        return this.double()
      case ONE_BYTE_STRING:
      case TWO_BYTE_STRING:
        // Values are not cached: they vary far more than keys and would only push the keys out.
        return this.string(tag)
      case BEGIN_OBJECT:
        return this.object()
      case BEGIN_DENSE_ARRAY:
        return this.denseArray()
      case BEGIN_SPARSE_ARRAY:
        return this.sparseArray()
      case DATE: {
        const date = new Date(this.double())
        this.objects.push(date)
        return date
      }
      case OBJECT_REFERENCE: {
        const id = this.varint()
        if (id >= this.objects.length) throw unsupported
        return this.objects[id]
      }
      case VERIFY_OBJECT_COUNT:
        this.varint()
        return this.value()
      default:
        throw unsupported
    }
  }

  // A short one-byte key through a small cache: records repeat their keys, and handing V8 the same string again
  // spares it an allocation and a string-table lookup when the key is used.
  cachedKey(): string {
    const buf = this.buf
    const length = this.varint()
    const start = this.pos
    const end = start + length
    if (end > buf.length) throw unsupported
    this.pos = end
    let hash = length
    for (let i = start; i < end; i++) hash = (Math.imul(hash, 31) + buf[i]!) | 0
    const slot = (hash ^ (hash >>> 15)) & (KEY_CACHE_SIZE - 1)
    const cached = keyCache[slot]
    if (cached !== undefined && cached.length === length) {
      let i = 0
      while (i < length && cached.charCodeAt(i) === buf[start + i]) i++
      if (i === length) return cached
    }
    const key = buf.toString("latin1", start, end)
    keyCache[slot] = key
    return key
  }

  // A property key: a string, or an integer index written as a number.
  key(tag: number): string | number {
    switch (tag) {
      case ONE_BYTE_STRING:
        return this.peekLength() <= MAX_CACHED_KEY ? this.cachedKey() : this.string(tag)
      case TWO_BYTE_STRING:
        return this.string(tag)
      case INT32: {
        const n = this.varint()
        if (n > 0xffffffff) throw unsupported
        return n % 2 === 0 ? n / 2 : -(n + 1) / 2
      }
      case UINT32:
        return this.varint()
      case DOUBLE:
        return this.double()
      default:
        throw unsupported
    }
  }

  enter(): void {
    if (++this.depth > MAX_DEPTH) throw unsupported
  }

  object(): object {
    this.enter()
    const object: Record<string, unknown> = {}
    this.objects.push(object)
    let count = 0
    for (;;) {
      const tag = this.tag()
      if (tag === END_OBJECT) break
      const key = this.key(tag)
      define(object, key, this.value())
      count++
    }
    if (this.varint() !== count) throw unsupported
    this.depth--
    return object
  }

  // Named properties after an array's elements; an index or `length` among them would change the array's length,
  // which V8 then rejects, so those are left to V8.
  arrayProperties(array: Array<unknown>, end: number): number {
    let count = 0
    for (;;) {
      const tag = this.tag()
      if (tag === end) return count
      if (tag !== ONE_BYTE_STRING && tag !== TWO_BYTE_STRING) throw unsupported
      const key = this.key(tag) as string
      if (key === "length" || String(Number(key) >>> 0) === key) throw unsupported
      define(array, key, this.value())
      count++
    }
  }

  denseArray(): Array<unknown> {
    this.enter()
    const length = this.varint()
    if (length > this.buf.length - this.pos) throw unsupported // every element takes at least one byte
    const array = new Array<unknown>(length)
    this.objects.push(array)
    for (let i = 0; i < length; i++) {
      if (this.peekTag() === THE_HOLE) {
        this.pos++
        continue
      }
      // Indices are distinct here; only one found on Array.prototype needs defining.
      const element = this.value()
      if (i in arrayPrototype) define(array, i, element)
      else array[i] = element
    }
    const count = this.arrayProperties(array, END_DENSE_ARRAY)
    if (this.varint() !== count || this.varint() !== length) throw unsupported
    this.depth--
    return array
  }

  sparseArray(): Array<unknown> {
    this.enter()
    const length = this.varint()
    if (length > 0xffffffff) throw unsupported
    const array = new Array<unknown>(length)
    this.objects.push(array)
    let count = 0
    for (;;) {
      const tag = this.tag()
      if (tag === END_SPARSE_ARRAY) break
      const key = this.key(tag)
      // Only indices within the declared length: anything else is left to V8.
      if (typeof key !== "number" || !Number.isInteger(key) || key < 0 || key >= length) throw unsupported
      define(array, key, this.value())
      count++
    }
    if (this.varint() !== count || this.varint() !== length) throw unsupported
    this.depth--
    return array
  }
}

/**
 * Decodes `bytes` written by `v8.serialize` when they use only the subset above; {@link UNSUPPORTED} otherwise.
 * Never throws. The result shares no memory with `bytes`.
 *
 * @internal
 */
export const decode = (bytes: Uint8Array): unknown => {
  if (bytes.length < 3 || bytes[0] !== 0xff || bytes[1] !== VERSION) return UNSUPPORTED
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const reader = new Reader(buf)
  try {
    const value = reader.value()
    return reader.pos === buf.length ? value : UNSUPPORTED
  } catch (error) {
    if (error === unsupported) return UNSUPPORTED
    // A stack overflow or an out-of-memory: V8's own reader is better placed to handle (and report) the input.
    return UNSUPPORTED
  }
}
