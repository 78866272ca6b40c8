/**
 * Redis Cluster key slots: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384.
 *
 * @internal
 */

/**
 * The number of slots in a Redis Cluster.
 *
 * @internal
 */
export const slotCount = 16384

const table = (() => {
  const t = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    t[i] = crc
  }
  return t
})()

const crcBytes = (bytes: Uint8Array, start: number, end: number): number => {
  let crc = 0
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ table[((crc >> 8) ^ bytes[i]!) & 0xff]!
  return crc
}

/**
 * CRC16-XMODEM of bytes, as Redis Cluster computes it (`crc16("123456789") === 0x31c3`).
 *
 * @internal
 */
export const crc16 = (bytes: Uint8Array): number => crcBytes(bytes, 0, bytes.length)

const OPEN = 0x7b // {
const CLOSE = 0x7d // }

const slotOfBytes = (bytes: Uint8Array): number => {
  const open = bytes.indexOf(OPEN)
  if (open !== -1) {
    const close = bytes.indexOf(CLOSE, open + 1)
    // "{}" or no closing brace: the whole key is hashed, as Redis does.
    if (close > open + 1) return crcBytes(bytes, open + 1, close) & (slotCount - 1)
  }
  return crcBytes(bytes, 0, bytes.length) & (slotCount - 1)
}

/**
 * The slot of a key. A key holding `{…}` with something between the first `{` and the next `}` hashes only that
 * part (its hash tag), so keys sharing a tag share a slot. Strings are hashed as their UTF-8 bytes; an ASCII string
 * (the common case) is hashed without being encoded.
 *
 * @internal
 */
export const keySlot = (key: string | Uint8Array): number => {
  if (typeof key !== "string") return slotOfBytes(key)
  let start = 0
  let end = key.length
  const open = key.indexOf("{")
  if (open !== -1) {
    const close = key.indexOf("}", open + 1)
    if (close > open + 1) {
      start = open + 1
      end = close
    }
  }
  let crc = 0
  for (let i = start; i < end; i++) {
    const code = key.charCodeAt(i)
    // Past ASCII the UTF-8 bytes differ from the char codes: hash the encoded key (the braces are ASCII, so the tag
    // found in the bytes is the same one).
    if (code >= 0x80) return slotOfBytes(Buffer.from(key, "utf8"))
    crc = ((crc << 8) & 0xffff) ^ table[((crc >> 8) ^ code) & 0xff]!
  }
  return crc & (slotCount - 1)
}
