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
 * malformed or truncated input, bytes after the value, a varint V8 would truncate, nesting deeper than
 * {@link MAX_DEPTH}) it returns {@link UNSUPPORTED} having created nothing visible, and the caller decodes the bytes
 * with V8 itself, which then decides what they are (a value or an error). For the inputs it accepts, it builds what
 * V8 builds: the same properties in the same order, defined as own data properties (a `__proto__` key included)
 * without running setters, holes where V8 leaves them, and `Date`s of the realm's own `Date` even when the global
 * one has been replaced (fake timers). Nothing it relies on can be intercepted by an accessor someone defined on
 * `Array.prototype` or `Object.prototype`.
 *
 * Everything it allocates is proportional to the input's size, except the length a sparse array declares: V8 gives
 * such an array room for every declared slot (8 bytes each), whatever it holds. The caller passes a budget for the
 * total; a payload declaring more is refused with {@link TOO_LARGE} before anything of that size is allocated.
 * {@link mayExceed} and {@link checkSparseLength} apply the same limit to the bytes V8 will read.
 *
 * @internal
 */
import { Buffer } from "node:buffer"
import * as Os from "node:os"
import * as NodeV8 from "node:v8"

/**
 * Returned when the bytes use anything this reader does not handle.
 *
 * @internal
 */
export const UNSUPPORTED: unique symbol = Symbol("v8Decode/unsupported")

/**
 * Returned when the sparse arrays of the input declare more slots in total than the budget allows.
 *
 * @internal
 */
export const TOO_LARGE: unique symbol = Symbol("v8Decode/tooLarge")

// Deep enough for any record; deeper values go to V8, whose reader is not bounded by the JavaScript stack.
const MAX_DEPTH = 256

const VERSION = 0x0f

const LITTLE_ENDIAN = Os.endianness() === "LE"

// V8 builds dates with the realm's own `Date`, whatever the global `Date` is by now (fake timers and MockDate replace
// it). A date V8 has just built leads back to that constructor; if even that has been tampered with, dates are left
// to V8.
const realDatePrototype: object = Object.getPrototypeOf(NodeV8.deserialize(NodeV8.serialize(new Date(0))))
const RealDate: DateConstructor | undefined = (() => {
  const candidate: unknown = (realDatePrototype as { constructor?: unknown }).constructor
  try {
    if (
      typeof candidate === "function" &&
      Object.getPrototypeOf(new (candidate as DateConstructor)(0)) === realDatePrototype
    ) {
      return candidate as DateConstructor
    }
  } catch {
    // not a constructor after all
  }
  return undefined
})()

// An array whose reads and writes no accessor on a prototype can intercept: it has no prototype.
const bareArray = <A>(length: number, fill: A): Array<A> => {
  const array = new Array<A>(length)
  Object.setPrototypeOf(array, null)
  for (let i = 0; i < length; i++) array[i] = fill
  return array
}

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
const keyCache = bareArray<string | undefined>(KEY_CACHE_SIZE, undefined)

class Unsupported {}
// Thrown (one shared instance, no stack trace) to unwind the recursion; never escapes `decode`.
const unsupported = new Unsupported()
const tooLarge = new Unsupported()

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

// The objects a payload may refer back to, by id. Kept in one array with no prototype, so that an index accessor
// on `Array.prototype` (a polyfill, a test double) can neither swallow an entry nor return one of its own; it is
// reused by every decode (decoding is synchronous and runs no user code) and emptied after each.
let objects: Array<object | undefined> = bareArray<object | undefined>(16, undefined)

class Reader {
  pos = 2
  depth = 0
  count = 0
  constructor(readonly buf: Buffer, public budget: number) {}

  remember(object: object): void {
    if (this.count === objects.length) {
      const grown = bareArray<object | undefined>(objects.length * 2, undefined)
      for (let i = 0; i < this.count; i++) grown[i] = objects[i]
      objects = grown
    }
    objects[this.count++] = object
  }

  // V8 reads a uint32 varint of up to five bytes and drops any bit above the 32nd; such encodings (which V8 never
  // writes) are left to it, so that this reader never reads a different number.
  varint(): number {
    const buf = this.buf
    let result = 0
    let shift = 0
    for (;;) {
      if (this.pos >= buf.length || shift > 28) throw unsupported
      const byte = buf[this.pos++]!
      result += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) {
        if (result > 0xffffffff) throw unsupported
        return result
      }
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
        // Zigzag: 0, -1, 1, -2… as 0, 1, 2, 3…
        return n % 2 === 0 ? n / 2 : -(n + 1) / 2
      }
      case UINT32:
        return this.varint()
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
        if (RealDate === undefined) throw unsupported
        const date = new RealDate(this.double())
        this.remember(date)
        return date
      }
      case OBJECT_REFERENCE: {
        const id = this.varint()
        if (id >= this.count) throw unsupported
        return objects[id]
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
    this.remember(object)
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
    this.remember(array)
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

  // The declared length is charged to the budget first, and set last: the room V8 would give every declared slot is
  // only taken once the whole array has been read, never for a payload that is then refused or left to V8.
  sparseArray(): Array<unknown> {
    this.enter()
    const length = this.varint()
    this.budget -= length
    if (this.budget < 0) throw tooLarge
    const array: Array<unknown> = []
    this.remember(array)
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
    array.length = length
    this.depth--
    return array
  }
}

// Once a decode is over, the table lets go of what it held, and of its size after an unusually large value.
const release = (count: number): void => {
  if (objects.length > 1024) objects = bareArray<object | undefined>(16, undefined)
  else for (let i = 0; i < count; i++) objects[i] = undefined
}

/**
 * Decodes `bytes` written by `v8.serialize` when they use only the subset above; {@link UNSUPPORTED} otherwise, and
 * {@link TOO_LARGE} when its sparse arrays declare more than `budget` slots in total. Never throws. The result
 * shares no memory with `bytes`.
 *
 * @internal
 */
export const decode = (bytes: Uint8Array, budget: number): unknown => {
  if (bytes.length < 3 || bytes[0] !== 0xff || bytes[1] !== VERSION) return UNSUPPORTED
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const reader = new Reader(buf, budget)
  try {
    const value = reader.value()
    return reader.pos === buf.length ? value : UNSUPPORTED
  } catch (error) {
    if (error === tooLarge) return TOO_LARGE
    // `unsupported`, or a stack overflow or an out-of-memory: V8's own reader is better placed to handle (and
    // report) the input.
    return UNSUPPORTED
  } finally {
    release(reader.count)
  }
}

// -----------------------------------------------------------------------------
// The budget, for the bytes V8 reads
// -----------------------------------------------------------------------------

const SPARSE_TAG = BEGIN_SPARSE_ARRAY

// The number a varint at `pos` denotes when read as V8 reads a uint32 (at most five bytes), or more than any budget
// when it runs off the end.
const varintAt = (buf: Uint8Array, pos: number): number => {
  let result = 0
  let shift = 0
  const end = Math.min(buf.length, pos + 5)
  for (; pos < end; pos++) {
    const byte = buf[pos]!
    result += (byte & 0x7f) * 2 ** shift
    if (byte < 0x80) return result
    shift += 7
  }
  return 2 ** 35
}

/**
 * Whether the sparse arrays in `bytes` might declare more than `budget` slots in total, found without parsing: every
 * sparse array V8 reads is a byte `a` followed by its length, so the lengths that could follow each `a` in the input
 * add up to at least the real total. Records rarely come close (an `a` in text is followed by another character),
 * and four bytes are examined at a time, so the check costs a few percent of V8's own reading time.
 *
 * @internal
 */
export const mayExceed = (bytes: Uint8Array, budget: number): boolean => {
  const n = bytes.length
  let sum = 0
  let i = 0
  const offset = bytes.byteOffset
  const head = Math.min(n, (4 - (offset & 3)) & 3)
  for (; i < head; i++) if (bytes[i] === SPARSE_TAG) sum += varintAt(bytes, i + 1)
  const words = (n - i) >>> 2
  if (words > 0) {
    const view = new Int32Array(bytes.buffer, offset + i, words)
    for (let w = 0; w < words; w++) {
      // Non-zero when one of the word's four bytes is `a` (the classic has-zero-byte test, on the word xor `aaaa`).
      const x = view[w]! ^ 0x61616161
      if (((x - 0x01010101) & ~x & 0x80808080) !== 0) {
        const p = i + 4 * w
        if (bytes[p] === SPARSE_TAG) sum += varintAt(bytes, p + 1)
        if (bytes[p + 1] === SPARSE_TAG) sum += varintAt(bytes, p + 2)
        if (bytes[p + 2] === SPARSE_TAG) sum += varintAt(bytes, p + 3)
        if (bytes[p + 3] === SPARSE_TAG) sum += varintAt(bytes, p + 4)
        if (sum > budget) return true
      }
    }
    i += 4 * words
  }
  for (; i < n; i++) if (bytes[i] === SPARSE_TAG) sum += varintAt(bytes, i + 1)
  return sum > budget
}

// Tags only the scan below needs.
const BIG_INT = 0x5a // Z
const UTF8_STRING = 0x53 // S
const TRUE_OBJECT = 0x79 // y
const FALSE_OBJECT = 0x78 // x
const NUMBER_OBJECT = 0x6e // n
const BIG_INT_OBJECT = 0x7a // z
const STRING_OBJECT = 0x73 // s
const REGEXP = 0x52 // R
const BEGIN_MAP = 0x3b // ;
const END_MAP = 0x3a // :
const BEGIN_SET = 0x27 // '
const END_SET = 0x2c // ,
const ARRAY_BUFFER = 0x42 // B
const RESIZABLE_ARRAY_BUFFER = 0x7e // ~
const ARRAY_BUFFER_VIEW = 0x56 // V
const ERROR = 0x72 // r
const HOST_OBJECT = 0x5c // \

// What a value read by the scan is, as far as what follows it depends on it.
const OTHER = 0
const STRING = 1
const NUMBER = 2
const BUFFER = 3

let sixByteVarints: boolean | undefined

// Whether this V8 reads a uint32 varint written in six bytes, the last zero (V8 11 and 12 do; a release that refuses
// it makes the scan refuse it too). Asked once, of V8 itself, with an empty sparse array whose length is so written.
const readsSixByteVarints = (): boolean => {
  if (sixByteVarints === undefined) {
    try {
      const probe = NodeV8.deserialize(
        Buffer.from([0xff, 0x0f, 0x61, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x40, 0x00, 0x00])
      )
      sixByteVarints = Array.isArray(probe) && probe.length === 0
    } catch {
      sixByteVarints = false
    }
  }
  return sixByteVarints
}

class Malformed {}
// Thrown to unwind the scan: the bytes are not something V8 would read, or not unambiguously.
const malformed = new Malformed()

// Follows V8's ValueDeserializer (format versions 13 to 15) exactly as far as which bytes it consumes, to find the
// length of every sparse array it would create. It may accept bytes V8 rejects (V8 then rejects them), but bytes it
// refuses are never handed to V8: where V8 releases may differ (a varint longer than five bytes, a version 13 view)
// it asks the running V8 once (the six-byte varint) or refuses rather than guess.
class Scanner {
  pos = 2
  ids = 0
  buffers: Set<number> | undefined = undefined
  constructor(readonly buf: Uint8Array, readonly version: number, public budget: number) {}

  varint(maxBytes = 5): number {
    const buf = this.buf
    let result = 0
    for (let i = 0; i < maxBytes; i++) {
      if (this.pos >= buf.length) throw malformed
      const byte = buf[this.pos++]!
      result += (byte & 0x7f) * 2 ** (7 * i)
      if (byte < 0x80) return maxBytes === 5 ? result % 2 ** 32 : result % 256
    }
    // A uint32 still going after five bytes: V8 reads a sixth byte when it is zero (the number is unchanged) and
    // refuses anything longer, as measured on the V8 that runs this code (see `readsSixByteVarints`).
    if (maxBytes === 5 && this.pos < buf.length && buf[this.pos] === 0 && readsSixByteVarints()) {
      this.pos++
      return result % 2 ** 32
    }
    throw malformed
  }

  skip(length: number): void {
    if (length > this.buf.length - this.pos) throw malformed
    this.pos += length
  }

  tag(): number {
    const buf = this.buf
    while (this.pos < buf.length && buf[this.pos] === PADDING) this.pos++
    if (this.pos >= buf.length) throw malformed
    return buf[this.pos++]!
  }

  peekTag(): number {
    const buf = this.buf
    while (this.pos < buf.length && buf[this.pos] === PADDING) this.pos++
    return this.pos < buf.length ? buf[this.pos]! : -1
  }

  // ReadObject: a value, and the view that may follow an ArrayBuffer.
  value(): number {
    const kind = this.valueInternal()
    if (kind === BUFFER && this.peekTag() === ARRAY_BUFFER_VIEW) {
      this.pos++
      this.varint(2) // subtag
      this.varint() // byte offset
      this.varint() // byte length
      if (this.version < 14) throw malformed // whether flags follow depends on how V8 retries
      this.varint() // flags
      this.ids++
      return OTHER
    }
    return kind
  }

  string(): void {
    if (this.value() !== STRING) throw malformed
  }

  bigint(): void {
    this.skip((this.varint() >>> 1) & 0x3fffffff)
  }

  properties(end: number): void {
    for (;;) {
      if (this.peekTag() === end) {
        this.pos++
        return
      }
      const key = this.value()
      if (key !== STRING && key !== NUMBER) throw malformed
      this.value()
    }
  }

  valueInternal(): number {
    const tag = this.tag()
    switch (tag) {
      case VERIFY_OBJECT_COUNT:
        this.varint()
        return this.value()
      case UNDEFINED:
      case NULL:
      case TRUE:
      case FALSE:
        return OTHER
      case INT32:
      case UINT32:
        this.varint()
        return NUMBER
      case DOUBLE:
        this.skip(8)
        return NUMBER
      case BIG_INT:
        this.bigint()
        return OTHER
      case UTF8_STRING:
      case ONE_BYTE_STRING:
      case TWO_BYTE_STRING:
        this.skip(this.varint())
        return STRING
      case OBJECT_REFERENCE: {
        const id = this.varint()
        return this.buffers !== undefined && this.buffers.has(id) ? BUFFER : OTHER
      }
      case BEGIN_OBJECT:
        this.ids++
        this.properties(END_OBJECT)
        this.varint()
        return OTHER
      case BEGIN_SPARSE_ARRAY: {
        this.budget -= this.varint()
        if (this.budget < 0) throw tooLarge
        this.ids++
        this.properties(END_SPARSE_ARRAY)
        this.varint()
        this.varint()
        return OTHER
      }
      case BEGIN_DENSE_ARRAY: {
        const length = this.varint()
        if (length > this.buf.length - this.pos) throw malformed
        this.ids++
        for (let i = 0; i < length; i++) {
          if (this.peekTag() === THE_HOLE) this.pos++
          else this.value()
        }
        this.properties(END_DENSE_ARRAY)
        this.varint()
        this.varint()
        return OTHER
      }
      case DATE:
        this.skip(8)
        this.ids++
        return OTHER
      case TRUE_OBJECT:
      case FALSE_OBJECT:
        this.ids++
        return OTHER
      case NUMBER_OBJECT:
        this.ids++
        this.skip(8)
        return OTHER
      case BIG_INT_OBJECT:
        this.ids++
        this.bigint()
        return OTHER
      case STRING_OBJECT:
        this.ids++
        this.string()
        return OTHER
      case REGEXP:
        this.ids++
        this.string()
        this.varint()
        return OTHER
      case BEGIN_MAP:
      case BEGIN_SET: {
        const end = tag === BEGIN_MAP ? END_MAP : END_SET
        this.ids++
        for (;;) {
          const next = this.peekTag()
          if (next === -1) throw malformed
          if (next === end) break
          this.value()
          if (tag === BEGIN_MAP) this.value()
        }
        this.pos++
        this.varint()
        return OTHER
      }
      case ARRAY_BUFFER:
      case RESIZABLE_ARRAY_BUFFER: {
        const id = this.ids++
        const length = this.varint()
        // A resizable buffer's maximum length is reserved address space, not memory.
        if (tag === RESIZABLE_ARRAY_BUFFER) this.varint()
        this.skip(length)
        ;(this.buffers ??= new Set()).add(id)
        return BUFFER
      }
      case ERROR: {
        // Subtags until `.`: a prototype (E, R, F, S, T, U), `m` message, `s` stack, `c` cause. Releases of V8
        // differ in the order they accept (Node 20 writes the cause before the stack), never in what each consumes.
        this.ids++
        for (;;) {
          const sub = this.varint(2)
          if (sub === 0x2e) return OTHER
          if (sub === 0x6d || sub === 0x73) this.string()
          else if (sub === 0x63) this.value()
          else if (sub !== 0x45 && sub !== 0x52 && sub !== 0x46 && sub !== 0x53 && sub !== 0x54 && sub !== 0x55) {
            throw malformed
          }
        }
      }
      case HOST_OBJECT:
        // Node's host objects (typed arrays, Buffers, DataViews): a type index, a byte length, the bytes.
        this.ids++
        this.varint()
        this.skip(this.varint())
        return OTHER
      default:
        // Transferred or shared buffers, WebAssembly, shared objects, legacy tags: V8 reads none of these from a
        // plain `v8.deserialize`.
        throw malformed
    }
  }
}

/**
 * Checks, without creating anything, that V8 would not be made to allocate more than `budget` sparse array slots by
 * `bytes` (which start with the version tag 0xFF): `undefined` when it would not, {@link TOO_LARGE} when it would,
 * and a reason when the bytes cannot be checked (malformed, or a format version the check does not know).
 *
 * @internal
 */
export const checkSparseLength = (bytes: Uint8Array, budget: number): undefined | typeof TOO_LARGE | string => {
  const version = formatVersion(bytes)
  if (version === undefined) return "their format version is unreadable"
  if (version < 13 || version > 15) return `format version ${version} cannot be checked`
  const scanner = new Scanner(bytes, version, budget)
  scanner.pos = 2
  while (bytes[scanner.pos - 1]! >= 0x80) scanner.pos++
  try {
    scanner.value()
    return undefined
  } catch (error) {
    if (error === tooLarge) return TOO_LARGE
    if (error === malformed) return "they are truncated or corrupt"
    return "they are too deeply nested to check"
  }
}

/**
 * The format version after the version tag at `bytes[0]`, read as V8 reads it; `undefined` when it is truncated or
 * written so long that V8 releases read it differently.
 *
 * @internal
 */
export const formatVersion = (bytes: Uint8Array): number | undefined => {
  let result = 0
  for (let i = 0; i < 5; i++) {
    if (1 + i >= bytes.length) return undefined
    const byte = bytes[1 + i]!
    result += (byte & 0x7f) * 2 ** (7 * i)
    if (byte < 0x80) return result % 2 ** 32
  }
  return undefined
}
