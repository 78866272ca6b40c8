/**
 * The keys the Memcached backend stores: any key of ours (Unicode, lone surrogates, `\r\n`, NUL, spaces, empty,
 * long) turned into bytes memcached accepts, without two keys ever sharing an item.
 *
 * memcached refuses a key over 250 characters, or holding spaces or control characters. The meta protocol's `b` flag
 * sends a key base64-encoded and memcached stores the decoded bytes (an ASCII key sent with `b` is the same item as
 * the plain key), so any byte may appear. But the 250 limit applies to the key as sent, the base64 text: on
 * memcached 1.6.18, `ms <key> 1 b` takes 248 characters of base64 (186 bytes) and refuses 252 (187 bytes) with
 * `CLIENT_ERROR bad command line format`, after which the server reads the value line as a command of its own. So a
 * stored key is at most {@link maxKeyBytes} = 186 bytes, and a longer one is replaced by a digest (see
 * {@link fullKey}). The empty key is refused too, with or without `b`; a stored key is never empty.
 *
 * @internal
 */
import { createHash } from "node:crypto"

/**
 * The longest key memcached accepts, in characters of the key as sent (`KEY_MAX_LENGTH`).
 *
 * @since 0.2.0
 * @category constants
 */
export const maxKeyLength = 250

/**
 * The longest stored key, in bytes: the most whose base64 text fits in {@link maxKeyLength} characters (base64 of
 * `n` bytes is `4 * ceil(n / 3)` characters, and 4 × 62 = 248).
 *
 * @since 0.2.0
 * @category constants
 */
export const maxKeyBytes = 186

// Separates the generation from the key in the plain form: the generation is decimal digits, so the first ":" after
// the prefix ends it.
const SEPARATOR = 0x3a // :
// Marks the digest form. 0xFF never occurs in the (generalised) UTF-8 of a string, so no plain form holds it.
const DIGEST_MARK = 0xff
const DIGEST_BYTES = 32 // SHA-256
// The readable head of a digest form: the plain form's first bytes, as many as fit before the mark and the digest.
const HEAD_BYTES = maxKeyBytes - 1 - DIGEST_BYTES

// A high surrogate not followed by a low one, or a low one not preceded by a high one (`String#isWellFormed` is
// ES2024, past this library's target).
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * A string's bytes, one-to-one: UTF-8 for a well-formed string (what every other client of the pool sends for the
 * same text), and for a lone surrogate its 3-byte generalised UTF-8 form (WTF-8) instead of the U+FFFD replacement
 * that `Buffer.from` writes, which would give `"\uD800"` and `"\uDBFF"` the same bytes. A string with a lone
 * surrogate cannot be sent by a client that encodes text as UTF-8, so the difference never meets another client.
 *
 * @since 0.2.0
 * @category encoding
 */
export const keyBytes = (key: string): Uint8Array => {
  if (!loneSurrogate.test(key)) return Buffer.from(key, "utf8")
  const out: Array<number> = []
  for (let i = 0; i < key.length; i++) {
    const code = key.codePointAt(i)!
    if (code > 0xffff) {
      // A surrogate pair: one code point, 4 bytes, as UTF-8.
      out.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 0x3f), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f))
      i++
    } else if (code >= 0x800) {
      // Includes a lone surrogate (0xD800–0xDFFF), encoded like any other 3-byte code point.
      out.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f))
    } else if (code >= 0x80) {
      out.push(0xc0 | (code >> 6), 0x80 | (code & 0x3f))
    } else {
      out.push(code)
    }
  }
  return Uint8Array.from(out)
}

const generationText = (generation: number | bigint): string => {
  if (typeof generation === "bigint" ? generation < 0n : !Number.isSafeInteger(generation) || generation < 0) {
    // A caller's bug (a generation comes from memcached's counter, a non-negative integer), not data: thrown.
    throw new RangeError(`a key generation must be a non-negative integer, not ${String(generation)}`)
  }
  return generation.toString()
}

const digestForm = (plain: Uint8Array): Uint8Array => {
  // Cut the head at a character boundary (never before a continuation byte), so it stays readable in a dump.
  let head = HEAD_BYTES
  while (head > 0 && (plain[head]! & 0xc0) === 0x80) head--
  const out = new Uint8Array(head + 1 + DIGEST_BYTES)
  out.set(plain.subarray(0, head))
  out[head] = DIGEST_MARK
  out.set(createHash("sha256").update(plain).digest(), head + 1)
  return out
}

const bounded = (plain: Uint8Array): Uint8Array => plain.length <= maxKeyBytes ? plain : digestForm(plain)

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => Buffer.concat(parts)

/**
 * The key stored in memcached for `key` under `prefix` at `generation` (the prefix's current generation, see
 * {@link generationKey}): at most {@link maxKeyBytes} bytes, never empty, to be sent base64-encoded with the meta
 * protocol's `b` flag, and hashed as these bytes on the ring.
 *
 * The plain form is `prefix`, the generation in decimal, `:`, then `key` ({@link keyBytes} of each string), and it is
 * used whenever it fits. A longer one is replaced by its digest form: the plain form's first bytes (up to 153, cut at
 * a character boundary, so a dump still shows whose key it is), the byte `0xFF`, then the 32 bytes of SHA-256 of the
 * whole plain form: 186 bytes at most.
 *
 * Two different keys never get the same stored key under one prefix, at any generations, except by a SHA-256
 * collision: plain forms differ where their keys or generations do (the generation is digits, ended by the first
 * `:`), a digest form holds `0xFF` and a plain form never does, and two digest forms differ where their digests do.
 * As with any key prefix, two prefixes of which one begins with the other can meet (prefix `"a"` at generation 1 with
 * key `"2:x"`, and prefix `"a1:"` at generation 2 with key `"x"`).
 *
 * Mixing the generation in is what `clear` relies on: memcached cannot list keys, so clearing a prefix increments
 * its generation, after which every key is looked up under the new number and the old entries are never read again.
 * They are not deleted: they stay in memory until their TTL ends or memcached evicts them (least recently used first,
 * and nothing reads them), so a clear frees no memory at once, and an entry with no TTL lingers until evicted.
 *
 * @since 0.2.0
 * @category keys
 */
export const fullKey = (prefix: string, generation: number | bigint, key: string): Uint8Array =>
  bounded(
    concat([
      keyBytes(prefix),
      Buffer.from(generationText(generation), "latin1"),
      Uint8Array.of(SEPARATOR),
      keyBytes(key)
    ])
  )

// What follows the prefix in the generation counter's key: not a digit, so no plain form of `fullKey` (prefix, then
// digits) can equal it.
const GENERATION_SUFFIX = "!generation"

/**
 * The key of `prefix`'s generation counter: `prefix` then `!generation` (or its digest form when that is over
 * {@link maxKeyBytes}, as in {@link fullKey}). It never equals a {@link fullKey} of the same prefix, whose plain form
 * has a digit right after the prefix; its digest form differs from theirs by the digest.
 *
 * @since 0.2.0
 * @category keys
 */
export const generationKey = (prefix: string): Uint8Array => bounded(keyBytes(prefix + GENERATION_SUFFIX))

/**
 * A stored key as the meta protocol's `b` flag carries it: base64 (standard alphabet, padded), at most
 * {@link maxKeyLength} characters for a key from {@link fullKey} or {@link generationKey}.
 *
 * @since 0.2.0
 * @category encoding
 */
export const base64Key = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")
