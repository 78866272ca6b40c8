/**
 * Hand-made bytes of V8's serialization format, for decoder tests that need payloads `v8.serialize` never writes.
 */

/** A base-128 varint, as V8 writes lengths and indices. */
export const varint = (n: number): Array<number> => {
  const out: Array<number> = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/** An empty sparse array declaring `length` slots: 11 bytes for 2^25 - 1. */
export const sparse = (length: number): Array<number> => [0x61, ...varint(length), 0x40, 0x00, ...varint(length)]
