/**
 * Redis Cluster topology: which primary serves which slots, read from `CLUSTER SHARDS` (Redis 7.0+) or, on older
 * servers, `CLUSTER SLOTS`.
 *
 * @internal
 */
import * as Resp from "../resp/resp.js"
import { slotCount } from "./slot.js"

/**
 * A node as the cluster announces it.
 *
 * @internal
 */
export interface NodeInfo {
  readonly host: string
  readonly port: number
  /** The node's id; empty when `CLUSTER SLOTS` of an old server did not give it. */
  readonly id: string
  /** `false` when the cluster reports it failed: it is kept, but known to be in trouble. */
  readonly healthy: boolean
}

/**
 * One primary, its slot ranges (inclusive) and its replicas.
 *
 * @internal
 */
export interface Shard {
  readonly ranges: ReadonlyArray<readonly [start: number, end: number]>
  readonly primary: NodeInfo
  readonly replicas: ReadonlyArray<NodeInfo>
}

const text = (value: Resp.RespValue | undefined): string | undefined =>
  typeof value === "string" ? value : value instanceof Uint8Array ? Buffer.from(value).toString("utf8") : undefined

const int = (value: Resp.RespValue | undefined): number | undefined =>
  typeof value === "number" ? value : typeof value === "bigint" ? Number(value) : undefined

/** A flat `[name, value, name, value…]` list (RESP2) or a RESP3 map, as a lookup by name. */
const fields = (value: Resp.RespValue | undefined): Map<string, Resp.RespValue> | undefined => {
  if (value instanceof Resp.RespMap) {
    const out = new Map<string, Resp.RespValue>()
    for (const [k, v] of value.entries) {
      const name = text(k)
      if (name !== undefined) out.set(name, v)
    }
    return out
  }
  if (!Array.isArray(value)) return undefined
  const list = value as ReadonlyArray<Resp.RespValue>
  const out = new Map<string, Resp.RespValue>()
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = text(list[i])
    if (name !== undefined) out.set(name, list[i + 1]!)
  }
  return out
}

/** An announced address that says nothing (`?`, empty) is the address the reply came from, as Redis documents. */
const usableHost = (candidate: string | undefined): string | undefined =>
  candidate === undefined || candidate === "" || candidate === "?" ? undefined : candidate

/**
 * Reads a `CLUSTER SHARDS` reply; `undefined` when it is not one. `via` is the host that answered (used where a node
 * announces no address); with `tls` the nodes' `tls-port` is used when announced.
 *
 * @internal
 */
export const parseShards = (
  reply: Resp.RespValue,
  via: string,
  tls: boolean
): ReadonlyArray<Shard> | undefined => {
  if (!Array.isArray(reply)) return undefined
  const shards: Array<Shard> = []
  for (const entry of reply as ReadonlyArray<Resp.RespValue>) {
    const shard = fields(entry)
    if (shard === undefined) return undefined
    const slots = shard.get("slots")
    const nodes = shard.get("nodes")
    if (!Array.isArray(slots) || !Array.isArray(nodes)) return undefined
    const ranges: Array<readonly [number, number]> = []
    for (let i = 0; i + 1 < slots.length; i += 2) {
      const start = int(slots[i])
      const end = int(slots[i + 1])
      if (start === undefined || end === undefined) return undefined
      ranges.push([start, end])
    }
    // A shard serving no slot (a fresh node, an emptied primary) routes nothing.
    if (ranges.length === 0) continue
    const primaries: Array<NodeInfo> = []
    const replicas: Array<NodeInfo> = []
    for (const raw of nodes as ReadonlyArray<Resp.RespValue>) {
      const node = fields(raw)
      if (node === undefined) return undefined
      const host = usableHost(text(node.get("endpoint"))) ?? usableHost(text(node.get("ip"))) ?? via
      const port = (tls ? int(node.get("tls-port")) : undefined) ?? int(node.get("port"))
      if (port === undefined) continue
      const info: NodeInfo = {
        host,
        port,
        id: text(node.get("id")) ?? "",
        // Only "failed" counts: Redis 7.0 reports a connected replica as "loading" until it has been sent writes.
        healthy: text(node.get("health")) !== "failed"
      }
      if (text(node.get("role")) === "master") primaries.push(info)
      else replicas.push(info)
    }
    // During a failover a shard may briefly list two primaries: the healthy one serves.
    const primary = primaries.find((node) => node.healthy) ?? primaries[0]
    if (primary === undefined) continue
    shards.push({ ranges, primary, replicas })
  }
  return shards
}

/**
 * Reads a `CLUSTER SLOTS` reply (one entry per slot range: start, end, primary, replicas…); `undefined` when it is
 * not one. Ranges served by the same primary are gathered into one shard.
 *
 * @internal
 */
export const parseSlots = (reply: Resp.RespValue, via: string): ReadonlyArray<Shard> | undefined => {
  if (!Array.isArray(reply)) return undefined
  const byPrimary = new Map<
    string,
    { ranges: Array<readonly [number, number]>; primary: NodeInfo; replicas: Array<NodeInfo> }
  >()
  for (const entry of reply as ReadonlyArray<Resp.RespValue>) {
    if (!Array.isArray(entry) || entry.length < 3) return undefined
    const start = int(entry[0])
    const end = int(entry[1])
    if (start === undefined || end === undefined) return undefined
    const nodes: Array<NodeInfo> = []
    for (let i = 2; i < entry.length; i++) {
      const node = entry[i]
      if (!Array.isArray(node) || node.length < 2) return undefined
      const port = int(node[1])
      if (port === undefined) return undefined
      nodes.push({ host: usableHost(text(node[0])) ?? via, port, id: text(node[2]) ?? "", healthy: true })
    }
    const primary = nodes[0]!
    const key = `${primary.host}:${primary.port}`
    const shard = byPrimary.get(key) ?? { ranges: [], primary, replicas: nodes.slice(1) }
    shard.ranges.push([start, end])
    byPrimary.set(key, shard)
  }
  return [...byPrimary.values()]
}

/**
 * `true` when every slot is served: a partial map (a cluster still being created) is not used for routing.
 *
 * @internal
 */
export const coversAllSlots = (shards: ReadonlyArray<Shard>): boolean => {
  let covered = 0
  for (const shard of shards) for (const [start, end] of shard.ranges) covered += end - start + 1
  return covered >= slotCount
}

/**
 * Where a `MOVED` or `ASK` error reply sends a command: `"<CODE> <slot> <endpoint>:<port>"`. The endpoint is as
 * the server prints it: a host name, an IPv4 address, an IPv6 address bare (`::1:6381`, the port after the last
 * colon) or bracketed (`[::1]:6381`), or nothing (`:6381`, under `cluster-preferred-endpoint-type unknown-endpoint`)
 * or `?` (a node with no host name under `hostname`). The last two mean "the host of the node that answered", as
 * Redis documents, and come back as `host: undefined` for the caller to fill in. `undefined` when the reply is not
 * a well-formed redirection.
 *
 * @internal
 */
export const parseRedirection = (
  message: string
): { readonly slot: number; readonly host: string | undefined; readonly port: number } | undefined => {
  const words = message.split(" ")
  if (words.length < 3) return undefined
  const slotText = words[1]!
  const slot = Number(slotText)
  if (slotText === "" || !Number.isInteger(slot) || slot < 0 || slot >= slotCount) return undefined
  const endpoint = words[2]!
  const colon = endpoint.lastIndexOf(":")
  if (colon < 0) return undefined
  const portText = endpoint.slice(colon + 1)
  const port = Number(portText)
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) return undefined
  const raw = endpoint.slice(0, colon)
  const host = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw
  return { slot, host: host === "" || host === "?" ? undefined : host, port }
}

/**
 * Redis' default `cluster-node-timeout`, in ms: what the client assumes when the cluster will not say (`CONFIG`
 * renamed or refused, as on managed services).
 *
 * @internal
 */
export const defaultNodeTimeoutMillis = 15_000

/**
 * What a failover may take beyond twice the node timeout. The primary is flagged failing after the node timeout,
 * the majority agrees within about half of it again, and the best replica waits 500–1,000 ms before it asks for
 * votes; then the vote and the new map's spreading, and the client's own throttled re-read of it (100 ms). On a
 * 3+3 test cluster with a 2 s node timeout a killed primary was replaced 3.7–4.6 s after the kill (an idle
 * machine), every node agreeing on it 5–6.5 s after (a loaded one): twice the node timeout plus this covers both.
 *
 * @internal
 */
export const failoverMarginMillis = 3_000

/**
 * How long a command that can run twice keeps being re-sent after its node's connection failed, when the options
 * do not say: long enough for a normal failover (the node is flagged failing after `cluster-node-timeout`, the
 * majority agrees within about as long again, then the election), never less than the command timeout.
 *
 * @internal
 */
export const failoverWaitFor = (nodeTimeoutMillis: number, commandTimeoutMillis: number): number =>
  Math.min(2 ** 31 - 1, Math.max(commandTimeoutMillis, 2 * nodeTimeoutMillis + failoverMarginMillis))

/**
 * Reads `CONFIG GET cluster-node-timeout` (a `[name, value]` list, or a RESP3 map); `undefined` when it is not
 * a positive number of milliseconds (an error reply, an empty list where the parameter is hidden).
 *
 * @internal
 */
export const parseNodeTimeout = (reply: Resp.RespValue): number | undefined => {
  const value = fields(reply)?.get("cluster-node-timeout")
  const millis = typeof value === "number" ? value : Number(text(value) ?? Number.NaN)
  return Number.isFinite(millis) && millis > 0 ? millis : undefined
}
