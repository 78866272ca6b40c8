/**
 * The models of `MemcachedClient`'s meta commands: the flags they take and the typed results they give.
 *
 * @internal
 */
import type { MemcachedError } from "../../MemcachedError.js"

/**
 * A key: raw bytes, or a string taken as UTF-8. Any bytes work (spaces, `\r\n`, NUL): the client sends every key
 * base64-encoded with the `b` flag. At most 186 bytes (250 once encoded), and not empty.
 *
 * @since 0.2.0
 * @category models
 */
export type Key = string | Uint8Array

/**
 * The flags of `metaGet` (memcached's `mg`). The quiet flag `q` is not offered on single commands (its silence
 * would leave the command waiting); `getMany` uses it.
 *
 * @since 0.2.0
 * @category models
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
  /** `N<ttl>`: on a miss, create an empty item with this TTL and hand this caller the win token (`W`). */
  readonly vivify?: number | undefined
  /** `R<secs>`: when the TTL left is below this, hand this caller the win token to recache it. */
  readonly recache?: number | undefined
  /** `T<ttl>`: update the item's TTL (touch). */
  readonly touch?: number | undefined
}

/**
 * The flags of `metaSet` (memcached's `ms`).
 *
 * @since 0.2.0
 * @category models
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
  readonly mode?: "set" | "add" | "append" | "prepend" | "replace" | undefined
  /** `c`: return the item's new CAS value. */
  readonly returnCas?: boolean | undefined
}

/**
 * The flags of `metaDelete` (memcached's `md`).
 *
 * @since 0.2.0
 * @category models
 */
export interface MetaDeleteFlags {
  /** `I`: mark the item stale instead of deleting it (the next `mg` gets `X` and a win token). */
  readonly invalidate?: boolean | undefined
  /** `T<ttl>`: with `I`, the stale item's new TTL. */
  readonly ttl?: number | undefined
  /** `C<cas>`: delete only if the item's CAS value is this one. */
  readonly compareCas?: bigint | undefined
}

/**
 * The flags of `metaArithmetic` (memcached's `ma`).
 *
 * @since 0.2.0
 * @category models
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
}

/**
 * What a reply says besides its status. `win`, `alreadyWon` and `stale` are always there; the others only when
 * the command asked for them (`ttl` -1: no expiry).
 *
 * @since 0.2.0
 * @category models
 */
export interface MetaFlags {
  /** `W`: this caller holds the win token: it should recompute the item (after a vivify, recache or stale mark). */
  readonly win: boolean
  /** `Z`: another caller holds the win token already. */
  readonly alreadyWon: boolean
  /** `X`: the item is stale. */
  readonly stale: boolean
  readonly ttl?: number | undefined
  readonly cas?: bigint | undefined
  readonly clientFlags?: number | undefined
  readonly size?: number | undefined
  readonly hit?: boolean | undefined
  readonly lastAccess?: number | undefined
  /** The key, as bytes (asked for with `key: true`). */
  readonly key?: Uint8Array | undefined
}

/**
 * The result of `metaGet`. A hit has its `value` when `value: true` was asked for (the default of `getMany`); a
 * vivified miss (`vivify`) is a hit of an empty value with `win` set for the one caller that should fill it.
 *
 * @since 0.2.0
 * @category models
 */
export type MetaGetResult =
  | { readonly kind: "hit"; readonly value: Uint8Array | undefined; readonly flags: MetaFlags }
  | { readonly kind: "miss"; readonly flags: MetaFlags }

/**
 * One key's result in `getMany`: a hit, a miss, or the error of its server (down, timed out…), so that a server
 * down fails only its own keys.
 *
 * @since 0.2.0
 * @category models
 */
export type MetaGetManyResult =
  | MetaGetResult
  | { readonly kind: "error"; readonly error: MemcachedError }

/**
 * The result of `metaSet`: `stored` (`HD`), `notStored` (`NS`: `add` of a present key, `replace` / `append` of a
 * missing one), `exists` (`EX`: the CAS value differs), `notFound` (`NF`: a CAS set of a missing key).
 *
 * @since 0.2.0
 * @category models
 */
export interface MetaSetResult {
  readonly kind: "stored" | "notStored" | "exists" | "notFound"
  readonly flags: MetaFlags
}

/**
 * The result of `metaDelete`: `deleted` (`HD`, also for a stale mark), `notFound` (`NF`), `exists` (`EX`: the CAS
 * value differs).
 *
 * @since 0.2.0
 * @category models
 */
export interface MetaDeleteResult {
  readonly kind: "deleted" | "notFound" | "exists"
  readonly flags: MetaFlags
}

/**
 * The result of `metaArithmetic`: `ok` with the new value when `value: true` was asked for, or `notFound`,
 * `notStored`, `exists` as for `metaSet`.
 *
 * @since 0.2.0
 * @category models
 */
export type MetaArithmeticResult =
  | { readonly kind: "ok"; readonly value: bigint | undefined; readonly flags: MetaFlags }
  | { readonly kind: "notFound" | "notStored" | "exists"; readonly flags: MetaFlags }

/**
 * One entry of `setMany`: a key, its value (a string as UTF-8) and the flags of its `ms`.
 *
 * @since 0.2.0
 * @category models
 */
export interface SetManyEntry {
  readonly key: Key
  readonly value: Uint8Array | string
  readonly flags?: MetaSetFlags | undefined
}

/**
 * One entry's result in `setMany`: as `metaSet`'s, or the error of its server or of its own request (`SERVER_ERROR
 * object too large for cache`).
 *
 * @since 0.2.0
 * @category models
 */
export type MetaSetManyResult =
  | MetaSetResult
  | { readonly kind: "error"; readonly error: MemcachedError }
