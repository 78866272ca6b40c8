/**
 * The cluster client's option types, in a module of their own so that the cluster's internal modules can use them
 * without importing `RedisCluster`, which imports them: the public module re-exports each under its own name.
 *
 * @internal
 */
import type * as Duration from "#effect/Duration"
import type { RedisClientOptions } from "../client/types.js"

/**
 * A node's address: as the cluster announces it, or as the client should reach it.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeAddress {
  readonly host: string
  readonly port: number
}

/**
 * Options of the cluster client. Every `RedisClient` option except `url`, `host`, `port` and `db` (a cluster has
 * database 0 only) applies to every node: credentials, TLS, timeouts, `maxInFlight`, backoff, limits.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisClusterOptions extends Omit<RedisClientOptions, "url" | "host" | "port" | "db"> {
  /**
   * Seed nodes, any of which can tell the topology: `redis://[[user]:password@]host:port` (`rediss://` for TLS) or
   * `host:port`. Credentials and TLS given in a seed URL apply to every node unless the options set them.
   */
  readonly nodes: ReadonlyArray<string>
  /**
   * Maps an address the cluster announces to the one this client reaches it at (containers, NAT): a record keyed
   * by `"host:port"` whose values are `"host:port"`, or a function. Addresses not mapped are used as announced.
   */
  readonly natMap?: Readonly<Record<string, string>> | ((announced: NodeAddress) => NodeAddress) | undefined
  /** Redirections (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`) followed for one command before it fails. Default 16. */
  readonly maxRedirections?: number | undefined
  /** How often the slot map is read again even when nothing asked for it. Default 30 seconds. */
  readonly refreshInterval?: Duration.Input | undefined
  /**
   * How long a command that can safely run twice keeps being re-sent after its node's connection failed, waiting
   * for a replica to be promoted or the node to come back.
   *
   * Default: long enough for a normal failover, `2 × cluster-node-timeout + 3 s` and never less than the
   * `commandTimeout`. The node timeout is read with `CONFIG GET cluster-node-timeout` after the first topology
   * read; where `CONFIG` is refused or renamed (managed services) Redis' default of 15 s is assumed, so 33 s. Until
   * that first read, the same 33 s. (A failover is the node timeout to flag the primary failing, up to half as long
   * again for the majority to agree, then the election, 0.5–1 s later: on a test cluster with a 2 s node timeout,
   * 3.7–4.6 s from the kill to the new primary seen, 5–6.5 s to every node agreeing on a loaded machine.)
   *
   * The trade-off: during a failover, callers of such commands wait up to this long instead of failing, and a
   * primary that dies with no replica to promote holds them that long too. A caller that prefers a fast miss bounds
   * the wait with `Policy.timeout` (or sets this option lower); set explicitly, this option always wins.
   */
  readonly failoverWait?: Duration.Input | undefined
  /**
   * Sends reads (`GET`, `MGET`, `PTTL`, `EXISTS`…) to the replicas of the slot's primary, in turn, each preceded by
   * `READONLY` in the same write; writes still go to the primary. Replication is asynchronous, so a read may miss a
   * write just made: a cache usually wants its own writes back, hence off by default. A read whose replica cannot
   * be reached is sent to the primary. Default `false`.
   */
  readonly readFromReplicas?: boolean | undefined
}

/**
 * The options of a cluster client that reads the slot map at its first command (`connect` absent or `"lazy"`):
 * building it fails only with `RedisConfigError`. With `connect: "eager"`, building it reads the slot map from a
 * seed and fails with the typed error when no seed tells it (see `RedisClientOptions.connect`).
 *
 * @since 0.2.0
 * @category models
 */
export interface LazyClusterOptions extends RedisClusterOptions {
  /** See `RedisClientOptions.connect`. */
  readonly connect?: "lazy" | undefined
}
