/**
 * Memcached's meta protocol (`mg`, `ms`, `md`, `ma`, `mn`): the requests' encoders and the replies' model. Plain
 * TypeScript, shared by every Effect face; the incremental reply parser is in `parser.ts`.
 *
 * Keys are always sent base64-encoded with the `b` flag, so any bytes work as a key (spaces, `\r\n`, NUL, any
 * Unicode): memcached decodes them and stores the raw bytes, which is also what other clients sharing the pool
 * store for the same key. The encoded key must still fit memcached's 250-byte token limit (`keyProblem`).
 *
 * @internal
 */
import { Buffer } from "node:buffer"

// -------------------------------------------------------------------------------------------------------------------
// keys
// -------------------------------------------------------------------------------------------------------------------

/**
 * The longest key token memcached accepts (`KEY_MAX_LENGTH`): with `b` it is the base64 text that counts, so raw
 * keys of at most 186 bytes fit.
 *
 * @internal
 */
export const MAX_KEY_TOKEN = 250

/**
 * The longest raw key: 186 bytes are 248 base64 characters, 187 would be 252.
 *
 * @internal
 */
export const MAX_KEY_BYTES = Math.floor(MAX_KEY_TOKEN / 4) * 3

/**
 * A key as bytes: a string is UTF-8.
 *
 * @internal
 */
export const keyBytes = (key: string | Uint8Array): Uint8Array =>
  typeof key === "string" ? Buffer.from(key, "utf8") : key

/**
 * Why `key` cannot be sent, or `undefined` when it can: empty (a base64 key of nothing is no token at all) or
 * longer than {@link MAX_KEY_BYTES}.
 *
 * @internal
 */
export const keyProblem = (key: Uint8Array): string | undefined => {
  if (key.byteLength === 0) return "the key is empty"
  if (key.byteLength > MAX_KEY_BYTES) {
    return `the key is ${key.byteLength} bytes; memcached takes at most ${MAX_KEY_BYTES} (${MAX_KEY_TOKEN} in base64)`
  }
  return undefined
}

const keyToken = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("base64")

// -------------------------------------------------------------------------------------------------------------------
// requests
// -------------------------------------------------------------------------------------------------------------------

/**
 * The flags of `mg`. Only the ones asked for come back in the reply.
 *
 * @internal
 */
export interface MetaGetFlags {
  /** `v`: return the value (without it a hit is `HD`). */
  readonly value?: boolean | undefined
  /** `t`: return the seconds left to live (-1: no expiry). */
  readonly ttl?: boolean | undefined
  /** `f`: return the client flags. */
  readonly clientFlags?: boolean | undefined
  /** `c`: return the CAS value. */
  readonly cas?: boolean | undefined
  /** `k`: return the key. */
  readonly key?: boolean | undefined
  /** `s`: return the value's size. */
  readonly size?: boolean | undefined
  /** `h`: return whether the item was read before. */
  readonly hit?: boolean | undefined
  /** `l`: return the seconds since the item was last read. */
  readonly lastAccess?: boolean | undefined
  /** `q`: no reply on a miss (`EN`). */
  readonly quiet?: boolean | undefined
  /** `N<ttl>`: on a miss, create an empty item with this TTL and hand this caller the win token (`W`). */
  readonly vivify?: number | undefined
  /** `R<secs>`: when the TTL left is below this, hand this caller the win token to recache it. */
  readonly recache?: number | undefined
  /** `T<ttl>`: update the item's TTL (touch). */
  readonly touch?: number | undefined
}

/**
 * `ms`'s modes (`M<mode>`): set (the default), add (only if missing), append, prepend, replace.
 *
 * @internal
 */
export type MetaSetMode = "set" | "add" | "append" | "prepend" | "replace"

const setModes: Record<MetaSetMode, string> = { set: "S", add: "E", append: "A", prepend: "P", replace: "R" }

/**
 * The flags of `ms`.
 *
 * @internal
 */
export interface MetaSetFlags {
  /** `T<ttl>`: seconds to live (0: none; over 30 days memcached reads a Unix time). */
  readonly ttl?: number | undefined
  /** `F<flags>`: the client flags, a 32-bit unsigned integer. */
  readonly clientFlags?: number | undefined
  /** `C<cas>`: store only if the item's CAS value is this one. */
  readonly compareCas?: bigint | undefined
  /** `I`: invalidate: with `C`, a CAS older than the item's still stores when the item is stale, marked stale. */
  readonly invalidate?: boolean | undefined
  /** `M<mode>`. */
  readonly mode?: MetaSetMode | undefined
  /** `c`: return the item's new CAS value. */
  readonly returnCas?: boolean | undefined
  /** `q`: no reply on success (`HD`). */
  readonly quiet?: boolean | undefined
}

/**
 * The flags of `md`.
 *
 * @internal
 */
export interface MetaDeleteFlags {
  /** `I`: mark the item stale instead of deleting it (the next `mg` gets `X` and a win token). */
  readonly invalidate?: boolean | undefined
  /** `T<ttl>`: with `I`, the stale item's new TTL. */
  readonly ttl?: number | undefined
  /** `C<cas>`: delete only if the item's CAS value is this one. */
  readonly compareCas?: bigint | undefined
  /** `q`: no reply on success (`HD`). */
  readonly quiet?: boolean | undefined
}

/**
 * The flags of `ma`.
 *
 * @internal
 */
export interface MetaArithmeticFlags {
  /** `MI` (the default) or `MD`: decrements stop at 0. */
  readonly mode?: "increment" | "decrement" | undefined
  /** `D<delta>`: by how much (default 1). */
  readonly delta?: bigint | number | undefined
  /** `N<ttl>`: on a miss, create the item with this TTL and the `initial` value. */
  readonly vivify?: number | undefined
  /** `J<initial>`: the value of an item created by `vivify` (default 0). */
  readonly initial?: bigint | number | undefined
  /** `T<ttl>`: update the item's TTL. */
  readonly ttl?: number | undefined
  /** `C<cas>`: only if the item's CAS value is this one. */
  readonly compareCas?: bigint | undefined
  /** `v`: return the new value. */
  readonly value?: boolean | undefined
  /** `t`: return the TTL left. */
  readonly returnTtl?: boolean | undefined
  /** `c`: return the new CAS value. */
  readonly returnCas?: boolean | undefined
  /** `q`: no reply on success (`HD`). */
  readonly quiet?: boolean | undefined
}

/**
 * Why a flag's number cannot be sent, or `undefined`: `int32` names TTL-like flags (32-bit signed integers; negative
 * TTLs expire at once), `uint32` client flags, `uint64` CAS values, deltas and initial values.
 *
 * @internal
 */
export const flagProblem = (
  flags: Readonly<Record<string, unknown>>,
  int32: ReadonlyArray<string>,
  uint32: ReadonlyArray<string>,
  uint64: ReadonlyArray<string>
): string | undefined => {
  for (const name of int32) {
    const n = flags[name]
    if (n !== undefined && !(Number.isSafeInteger(n) && (n as number) >= -2147483648 && (n as number) <= 2147483647)) {
      return `${name} must be an integer of 32 bits (got ${String(n)})`
    }
  }
  for (const name of uint32) {
    const n = flags[name]
    if (n !== undefined && !(Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= 0xffffffff)) {
      return `${name} must be an unsigned integer of 32 bits (got ${String(n)})`
    }
  }
  for (const name of uint64) {
    const n = flags[name]
    if (n === undefined) continue
    const ok = typeof n === "bigint"
      ? n >= 0n && n <= 0xffffffffffffffffn
      : typeof n === "number" && Number.isSafeInteger(n) && n >= 0
    if (!ok) return `${name} must be an unsigned integer of 64 bits (got ${String(n)})`
  }
  return undefined
}

/**
 * The numeric flags of each command, for {@link flagProblem}.
 *
 * @internal
 */
export const numericFlags = {
  mg: { int32: ["vivify", "recache", "touch"], uint32: [], uint64: [] },
  ms: { int32: ["ttl"], uint32: ["clientFlags"], uint64: ["compareCas"] },
  md: { int32: ["ttl"], uint32: [], uint64: ["compareCas"] },
  ma: { int32: ["vivify", "ttl"], uint32: [], uint64: ["compareCas", "delta", "initial"] }
} as const

/**
 * The opaque token the client adds to a request (`O<token>`) so that the reply can be checked against it: at most
 * 32 characters (memcached's limit).
 *
 * @internal
 */
export type Opaque = string

const opaquePart = (opaque: Opaque | undefined): string => opaque === undefined ? "" : ` O${opaque}`

/**
 * The flags of an `mg` after its key, as they are written (` v t c N30`, say), without `q`: what stays the same for
 * every key a caller reads with one set of flags, so that it can be encoded once (see {@link encodeGetLine}).
 *
 * @internal
 */
export const getFlagsPart = (flags: MetaGetFlags): string => {
  let part = ""
  if (flags.value) part += " v"
  if (flags.ttl) part += " t"
  if (flags.clientFlags) part += " f"
  if (flags.cas) part += " c"
  if (flags.key) part += " k"
  if (flags.size) part += " s"
  if (flags.hit) part += " h"
  if (flags.lastAccess) part += " l"
  if (flags.vivify !== undefined) part += ` N${flags.vivify}`
  if (flags.recache !== undefined) part += ` R${flags.recache}`
  if (flags.touch !== undefined) part += ` T${flags.touch}`
  return part
}

/**
 * `mg <key> b<flags>[ q][ O<opaque>]`, as the line to write, `flagsPart` from {@link getFlagsPart}.
 *
 * @internal
 */
export const encodeGetLine = (key: Uint8Array, flagsPart: string, quiet: boolean, opaque?: Opaque): string =>
  `mg ${keyToken(key)} b${flagsPart}${quiet ? " q" : ""}${opaquePart(opaque)}\r\n`

/**
 * `mg <key> b …`, as the line to write. Flags are checked by {@link flagProblem} first.
 *
 * @internal
 */
export const encodeGet = (key: Uint8Array, flags: MetaGetFlags, opaque?: Opaque): string =>
  encodeGetLine(key, getFlagsPart(flags), flags.quiet === true, opaque)

/**
 * `ms <key> <size> b …` and its data block, as the bytes to write.
 *
 * @internal
 */
export const encodeSet = (key: Uint8Array, value: Uint8Array, flags: MetaSetFlags, opaque?: Opaque): Buffer => {
  let line = `ms ${keyToken(key)} ${value.byteLength} b`
  if (flags.ttl !== undefined) line += ` T${flags.ttl}`
  if (flags.clientFlags !== undefined) line += ` F${flags.clientFlags}`
  if (flags.compareCas !== undefined) line += ` C${flags.compareCas}`
  if (flags.invalidate) line += " I"
  if (flags.mode !== undefined && flags.mode !== "set") line += ` M${setModes[flags.mode]}`
  if (flags.returnCas) line += " c"
  if (flags.quiet) line += " q"
  line += opaquePart(opaque) + "\r\n"
  const head = Buffer.byteLength(line, "latin1")
  const out = Buffer.allocUnsafe(head + value.byteLength + 2)
  out.write(line, 0, "latin1")
  out.set(value, head)
  out[head + value.byteLength] = 13
  out[head + value.byteLength + 1] = 10
  return out
}

/**
 * `md <key> b …`, as the line to write.
 *
 * @internal
 */
export const encodeDelete = (key: Uint8Array, flags: MetaDeleteFlags, opaque?: Opaque): string => {
  let line = `md ${keyToken(key)} b`
  if (flags.invalidate) line += " I"
  if (flags.ttl !== undefined) line += ` T${flags.ttl}`
  if (flags.compareCas !== undefined) line += ` C${flags.compareCas}`
  if (flags.quiet) line += " q"
  return line + opaquePart(opaque) + "\r\n"
}

/**
 * `ma <key> b …`, as the line to write.
 *
 * @internal
 */
export const encodeArithmetic = (key: Uint8Array, flags: MetaArithmeticFlags, opaque?: Opaque): string => {
  let line = `ma ${keyToken(key)} b`
  if (flags.mode === "decrement") line += " MD"
  if (flags.delta !== undefined) line += ` D${flags.delta}`
  if (flags.vivify !== undefined) line += ` N${flags.vivify}`
  if (flags.initial !== undefined) line += ` J${flags.initial}`
  if (flags.ttl !== undefined) line += ` T${flags.ttl}`
  if (flags.compareCas !== undefined) line += ` C${flags.compareCas}`
  if (flags.value) line += " v"
  if (flags.returnTtl) line += " t"
  if (flags.returnCas) line += " c"
  if (flags.quiet) line += " q"
  return line + opaquePart(opaque) + "\r\n"
}

/**
 * `mn`: answered `MN` once every request before it is answered, so it marks the end of a batch of quiet requests.
 *
 * @internal
 */
export const encodeNoop = (): string => "mn\r\n"

// -------------------------------------------------------------------------------------------------------------------
// replies
// -------------------------------------------------------------------------------------------------------------------

/**
 * The flags a reply carries back. Bare flags are booleans; a flag that was not returned is absent (`undefined`).
 *
 * @internal
 */
export interface ReturnFlags {
  /** `W`: this caller won the right to recompute the item (after a vivify, a recache or a stale mark). */
  win: boolean
  /** `Z`: another caller already holds the win token. */
  alreadyWon: boolean
  /** `X`: the item is stale (marked by `md I` or stored by `ms I`). */
  stale: boolean
  /** `t<n>`: seconds left to live, -1 for none. */
  ttl?: number | undefined
  /** `c<n>`: the CAS value. */
  cas?: bigint | undefined
  /** `f<n>`: the client flags. */
  clientFlags?: number | undefined
  /** `s<n>`: the value's size. */
  size?: number | undefined
  /** `h0` / `h1`: whether it had been read before. */
  hit?: boolean | undefined
  /** `l<n>`: seconds since it was last read. */
  lastAccess?: number | undefined
  /** `k<key>`: the key (base64 when `base64`). */
  key?: string | undefined
  /** `b`: the returned key is base64. */
  base64: boolean
  /** `O<token>`: the opaque token of the request. */
  opaque?: string | undefined
}

/**
 * A reply's status: `HD` (done, no value), `VA` (a value follows), `EN` (miss), `NF` (not found), `NS` (not
 * stored), `EX` (CAS mismatch, "exists"), `MN` (the end of `mn`).
 *
 * @internal
 */
export type MetaStatus = "HD" | "VA" | "EN" | "NF" | "NS" | "EX" | "MN"

/**
 * A reply to a meta request, or an error line.
 *
 * @internal
 */
export type MetaReply =
  | { readonly _tag: "Status"; readonly status: MetaStatus; readonly flags: ReturnFlags; readonly value?: Buffer }
  | { readonly _tag: "Error"; readonly kind: "ERROR" | "CLIENT_ERROR" | "SERVER_ERROR"; readonly message: string }

/**
 * Flags of a reply with none of them set.
 *
 * @internal
 */
export const noFlags = (): ReturnFlags => ({ win: false, alreadyWon: false, stale: false, base64: false })
