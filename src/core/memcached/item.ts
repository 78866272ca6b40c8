/**
 * The size of a memcached item, which its `-I` (`item_size_max`, 1 MiB by default) bounds.
 *
 * memcached counts an item as its header, the key, the value and its line end: on 1.6.18 (64-bit, CAS enabled) the
 * largest value that `-I 1m` stores under a key of `k` bytes is `1,048,576 - 59 - k` bytes, and the same 59 bytes
 * hold for every `-I` and key length measured. A value that does not fit is refused with `SERVER_ERROR object too
 * large for cache`, and memcached then also drops the item held under the key, even for an add (`ms … MA`) that
 * would not have replaced it: so a write that would not fit is better never sent.
 *
 * @internal
 */

/**
 * The bytes of an item besides its key and value (the header, the CAS value and the line end).
 *
 * @since 0.2.0
 * @category constants
 */
export const itemOverhead = 59

/**
 * memcached's default item size (`-I 1m`), in bytes.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultItemSize = 1024 * 1024

/**
 * Whether a value of `valueBytes` under a key of `keyBytes` fits in an item of `itemSize` bytes.
 *
 * @since 0.2.0
 * @category sizes
 */
export const fits = (keyBytes: number, valueBytes: number, itemSize: number): boolean =>
  itemOverhead + keyBytes + valueBytes <= itemSize
