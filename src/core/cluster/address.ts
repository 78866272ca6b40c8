/**
 * Node addresses of the cluster client: as the user writes them (seeds), as the cluster announces them, and as the
 * client reaches them once `natMap` has translated them.
 *
 * @internal
 */

/**
 * A node's address (the same shape as the public `NodeAddress`).
 *
 * @internal
 */
export interface Address {
  readonly host: string
  readonly port: number
}

/**
 * The `natMap` option: a record keyed by `"host:port"` whose values are `"host:port"`, or a function.
 *
 * @internal
 */
export type NatMap = Readonly<Record<string, string>> | ((announced: Address) => Address) | undefined

/**
 * `host:port` or `[v6]:port` (the port after the last colon, the brackets dropped); `undefined` when there is no
 * host or the port is not an integer in 1..65535.
 *
 * @internal
 */
export const parseAddress = (text: string): Address | undefined => {
  const colon = text.lastIndexOf(":")
  if (colon <= 0) return undefined
  const port = Number(text.slice(colon + 1))
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined
  return { host: text.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), port }
}

/**
 * Where the client reaches an address the cluster announces: `natMap`'s answer, or the address as announced when
 * it maps nothing (a record's value that is not an address is ignored).
 *
 * @internal
 */
export const mapAddress = (natMap: NatMap, announced: Address): Address => {
  if (natMap === undefined) return announced
  if (typeof natMap === "function") return natMap(announced)
  const mapped = natMap[`${announced.host}:${announced.port}`]
  return mapped === undefined ? announced : parseAddress(mapped) ?? announced
}
