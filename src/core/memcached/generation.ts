/**
 * The namespace generation of the Memcached backend's `clear`: the counter stored under a prefix's
 * `generationKey`, how a fresh one is chosen and how a stored one is read.
 *
 * A fresh generation is random, never 0 or any other fixed start: when the counter is lost (evicted, or its server
 * restarted empty) while the entries written under it live on (on the other servers, or on the same one after an
 * eviction), a counter started again at a fixed value would climb back through the old numbers and read those
 * entries again. A random start lands on a number no earlier run used, except with a chance of about
 * `clears / 2^62`; a clock-based start would not (two hosts' clocks differ, and a clock can step back).
 *
 * @internal
 */
import { randomBytes } from "node:crypto"

/**
 * Fresh generations are below this (2^62), so that memcached's 64-bit counter can be incremented about 13.8e18
 * times before it wraps (it wraps to 0 at 2^64).
 *
 * @since 0.2.0
 * @category constants
 */
export const freshBound = 2n ** 62n

/**
 * A fresh generation: a uniformly random integer in `[0, 2^62)`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fresh = (): bigint => randomBytes(8).readBigUInt64BE() % freshBound

/**
 * The generation stored as `bytes` (decimal digits, as memcached's `ma` keeps a counter), or `undefined` when they
 * are not one: the key was written by someone else, and the caller replaces it.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (bytes: Uint8Array): bigint | undefined => {
  // memcached's counters are unsigned 64-bit: at most 20 digits. It may pad a decremented value with spaces.
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1").trimEnd()
  if (!/^[0-9]{1,20}$/.test(text)) return undefined
  const value = BigInt(text)
  return value < 2n ** 64n ? value : undefined
}
