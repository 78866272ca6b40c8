/**
 * A Redis Cluster client behind the same `RedisClient` service shape, so `RedisBackend`, `RemoteCache`,
 * `TieredCache` and every policy run on a cluster unchanged.
 *
 * It is built from one single-node client (`RedisClient.make`) per node, each with its own pipelined connection,
 * reconnection backoff and typed errors: a command is answered only by the node it was written to, in order, as
 * on one server. On top of them it keeps the slot map and routes:
 *
 * - a command with a key goes to the primary serving the key's slot (hash tags `{…}` honoured); one without a key
 *   (`PING`, `INFO`, `PUBLISH`…) to a random primary not marked as failing (a node is marked when a command on it
 *   fails with a connection error or a timeout, until it answers one, or for four command timeouts, at least 2 s);
 * - `SCRIPT LOAD` and `SCRIPT FLUSH` go to every node, replicas included (the script cache is not replicated, so a
 *   promoted replica still has the script), and `FUNCTION LOAD` / `DELETE` / `FLUSH` / `RESTORE` to every primary
 *   (functions are replicated): an `EVALSHA` or `FCALL` finds its script on whichever node serves its key. The
 *   reply is the first primary's when every node agrees, otherwise an error naming a node that refused or a
 *   primary out of reach (a replica out of reach is skipped);
 * - `MGET`, `MSET`, `DEL`, `UNLINK`, `EXISTS` and `TOUCH` over several slots are split by slot, each node getting
 *   its parts in one pipelined write, every node in parallel, and the replies merged in the caller's order: never
 *   `CROSSSLOT`. A slot holding one key of an `MGET` is asked with `GET` (a key holding no string is still nil);
 * - a `pipeline` is routed command by command the same way and answered in the caller's order.
 *
 * The slot map comes from `CLUSTER SHARDS` (falling back to `CLUSTER SLOTS` on servers before 7.0) of any
 * reachable node, seeds included; it is refreshed one refresh at a time on `MOVED`, when a node's connection
 * fails, and every `refreshInterval`. `MOVED` updates the map and re-sends; `ASK` sends `ASKING` and the command
 * to the target in one write without touching the map (a target with no host, `:6381` under
 * `cluster-preferred-endpoint-type unknown-endpoint`, is on the host of the node that answered); `TRYAGAIN` and
 * `CLUSTERDOWN` are retried with a bounded backoff. After `maxRedirections` rounds of those the command fails with
 * `RedisReplyError` carrying the last redirection's code; re-sends after connection failures do not count, they are
 * bounded by `failoverWait`.
 *
 * A command whose node's connection failed or timed out is re-sent, at most `failoverWait` after the first failure
 * (by default long enough for the cluster's failover), when that is safe: always when it was never written
 * (connection refused, not open), else only when its effect and its reply are the same on a second run (reads, a
 * plain `SET`, `MSET`, `PEXPIRE` without a condition, `PING`, `PUBLISH`…; see `isSafeToRunTwice`). A keyed command
 * goes again to its slot's primary once a refreshed map names another one or the node is back; a keyless one at
 * once to another primary; a replica's read to its primary. A written command that is not safe to run twice
 * (`SET … NX|XX|GET`, `DEL`, `UNLINK`, `HSET`, `INCR`…) fails with the node's `RedisConnectionError` /
 * `RedisTimeoutError` with `outcomeUnknown: true`: it may have run. Closing the client's scope fails every command
 * still waiting, the first topology read included, with a `RedisConnectionError`.
 *
 * A command split across nodes waits for every node's share: one node failing never interrupts the others, and
 * the command fails with that node's error only once the others have answered.
 *
 * Pub/sub uses classic `PUBLISH`/`SUBSCRIBE`, which the cluster broadcasts to every node: a subscription listens on
 * one node's subscriber connection (the primary of the channel's slot when it is made) and moves to another live
 * node, after reading the map again, when that node fails or leaves the topology; `onSubscribed` runs after every
 * (re-)subscription, on whichever node. Reads go to replicas only
 * with `readFromReplicas`. Transactions (`MULTI`/`EXEC`) are not routed as a unit: use them on a single-node client.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import { mapAddress as mapAddressWith, parseAddress } from "./core/cluster/address.js"
import {
  adminName,
  broadcastOf,
  type BroadcastOutcome,
  commandName,
  isReadOnly,
  mayResend,
  mergeBroadcast,
  mergeReplies,
  type Route,
  routeOf,
  specialKey
} from "./core/cluster/command.js"
import { PartFailure } from "./core/cluster/partFailure.js"
import {
  healthMarkMillisFor,
  isClusterFailure,
  isConnectionFailure,
  isOutcomeUnknown,
  isRedirectCode,
  minRefreshGapMillis,
  probeTimeoutMillisFor,
  redirectAction,
  retryDelay
} from "./core/cluster/redirect.js"
import { keySlot, slotCount } from "./core/cluster/slot.js"
import {
  defaultNodeTimeoutMillis,
  failoverWaitFor,
  parseNodeTimeout,
  parseShards,
  parseSlots,
  type Shard
} from "./core/cluster/topology.js"
import { checkCommand } from "./internal/client/connection.js"
import * as Following from "./internal/client/followingSubscriber.js"
import { parseUrl, toMillis } from "./internal/client/options.js"
import { ClientSeamId, type WithClientSeam } from "./internal/seams.js"
import * as RedisClient from "./RedisClient.js"
import {
  RedisAuthError,
  RedisConfigError,
  RedisConnectionError,
  type RedisError,
  RedisReplyError
} from "./RedisError.js"
import * as Resp from "./Resp.js"

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
export interface RedisClusterOptions extends Omit<RedisClient.RedisClientOptions, "url" | "host" | "port" | "db"> {
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
  readonly refreshInterval?: Duration.DurationInput | undefined
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
  readonly failoverWait?: Duration.DurationInput | undefined
  /**
   * Sends reads (`GET`, `MGET`, `PTTL`, `EXISTS`…) to the replicas of the slot's primary, in turn, each preceded by
   * `READONLY` in the same write; writes still go to the primary. Replication is asynchronous, so a read may miss a
   * write just made: a cache usually wants its own writes back, hence off by default. A read whose replica cannot
   * be reached is sent to the primary. Default `false`.
   */
  readonly readFromReplicas?: boolean | undefined
}

/** A node the client talks to: its address (after `natMap`) and its own single-node client. */
interface Node {
  readonly address: string
  readonly host: string
  readonly port: number
  readonly client: RedisClient.RedisClientShape
  /**
   * When a command on it last failed with a connection error or a timeout (`performance.now()`), 0 when it has
   * answered since: keyless commands and replica reads avoid a marked node for a while.
   */
  failedAt: number
}

/** One command as sent to one node: a caller's command, or one slot's part of a split one. */
interface Part {
  readonly command: RedisClient.Command
  /** -1: no key, any primary answers. */
  readonly slot: number
  /** Set after an `ASK`: sent there, preceded by `ASKING`. */
  readonly ask?: Node | undefined
  /** A read that a replica of the slot's primary may serve (with `readFromReplicas`). */
  readonly replica?: boolean | undefined
}

/** A part whose node's connection failed or timed out, and that may be sent again (see `mayResend`). */
class ConnectionFailed {
  constructor(readonly error: RedisError) {}
}

/** A part that failed for good: a connection failure it cannot be re-sent after, or past `failoverWait`. */
class Failed {
  constructor(readonly error: RedisError) {}
}

type Outcome = Resp.RespValue | ConnectionFailed | Failed

/** A part's outcome once nothing more is done for it. */
type Final = Resp.RespValue | Failed

const isRedirect = (reply: Outcome): reply is Resp.ErrorReply =>
  reply instanceof Resp.ErrorReply && isRedirectCode(reply.code)

/** The error `send` reports for an error reply, as the single-node client does. */
const replyError = (command: RedisClient.Command, reply: Resp.ErrorReply): RedisError =>
  reply.code === "NOAUTH"
    ? new RedisAuthError({ message: reply.message })
    : new RedisReplyError({ message: reply.message, code: reply.code, command: commandName(command) })

const toSendResult = (
  command: RedisClient.Command,
  reply: Resp.RespValue
): Effect.Effect<Resp.RespValue, RedisError> =>
  reply instanceof Resp.ErrorReply ? Effect.fail(replyError(command, reply)) : Effect.succeed(reply)

interface Seed extends NodeAddress {
  readonly url: ReturnType<typeof parseUrl> | undefined
}

const parseSeed = (seed: string): Seed => {
  if (typeof seed !== "string") throw new RedisConfigError({ message: `a cluster node must be a string` })
  if (/^rediss?:\/\//i.test(seed)) {
    const url = parseUrl(seed)
    if (url.db !== undefined && url.db !== 0) {
      throw new RedisConfigError({ message: `a cluster has database 0 only, a node URL names ${url.db}` })
    }
    return { host: url.host ?? "localhost", port: url.port ?? 6379, url }
  }
  const address = parseAddress(seed.trim())
  if (address === undefined) {
    throw new RedisConfigError({ message: `cluster node ${seed} is neither host:port nor a redis:// URL` })
  }
  return { ...address, url: undefined }
}

/**
 * Builds the cluster client in a scope. Nothing is opened until the first command, which reads the slot map from
 * a seed; closing the scope closes every node's connections. Invalid options fail with `RedisConfigError`.
 *
 * The returned shape also has `primaries`: one client per current primary, whose commands without a key run on
 * that primary (`SCAN`, `DBSIZE`) while keyed ones are routed as by the cluster; `RedisBackend`'s `clear` uses it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: RedisClusterOptions
): Effect.Effect<RedisClient.RedisClientShape, RedisConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* Effect.try({
      try: () => {
        if (options === undefined || !Array.isArray(options.nodes) || options.nodes.length === 0) {
          throw new RedisConfigError({ message: "a cluster needs at least one node in nodes" })
        }
        const seeds = options.nodes.map(parseSeed)
        const fromUrl = seeds.find((seed) => seed.url?.password !== undefined)?.url
        const maxRedirections = options.maxRedirections ?? 16
        if (!Number.isInteger(maxRedirections) || maxRedirections < 1) {
          throw new RedisConfigError({ message: `maxRedirections must be a positive integer, got ${maxRedirections}` })
        }
        const {
          failoverWait,
          maxRedirections: _m,
          natMap,
          nodes: _n,
          readFromReplicas,
          refreshInterval,
          ...clientOptions
        } = options
        const base: RedisClient.RedisClientOptions = {
          ...clientOptions,
          username: options.username ?? fromUrl?.username,
          password: options.password ?? fromUrl?.password,
          tls: options.tls ?? (seeds.some((seed) => seed.url?.tls === true) ? true : undefined)
        }
        return {
          seeds,
          base,
          natMap,
          maxRedirections,
          refreshIntervalMillis: toMillis(refreshInterval, 30_000, "refreshInterval"),
          readFromReplicas: readFromReplicas === true,
          failoverWait
        }
      },
      catch: (error) =>
        error instanceof RedisConfigError
          ? error
          : new RedisConfigError({ message: `invalid options: ${String(error)}` })
    })
    const scope = yield* Effect.scope
    const first = settings.seeds[0]!
    // Validates every shared option once (and gives `options` its value): per node only the address differs.
    const firstClient = yield* RedisClient.make({ ...settings.base, host: first.host, port: first.port })
    const resolved = firstClient.options
    // Without the option, assumes Redis' default node timeout until the first topology read learns the cluster's
    // own (`learnNodeTimeout`); the failover-wait code reads this variable on each failure.
    let failoverWaitMillis = yield* Effect.try({
      try: () =>
        toMillis(
          settings.failoverWait,
          failoverWaitFor(defaultNodeTimeoutMillis, resolved.commandTimeoutMillis),
          "failoverWait"
        ),
      catch: (error) => error as RedisConfigError
    })
    let nodeTimeoutKnown = settings.failoverWait !== undefined
    const useTls = resolved.tls !== undefined

    const mapAddress = (announced: NodeAddress): NodeAddress => mapAddressWith(settings.natMap, announced)

    let closed = false
    const closedError = () => new RedisConnectionError({ message: "the cluster client's scope is closed" })
    yield* Effect.addFinalizer(() => Effect.sync(() => (closed = true)))

    const nodes = new Map<string, Node>()
    const firstNode: Node = {
      address: `${first.host}:${first.port}`,
      host: first.host,
      port: first.port,
      client: firstClient,
      failedAt: 0
    }
    nodes.set(firstNode.address, firstNode)

    /** The node at an announced address, its client made on first use (no socket is opened until a command). */
    const nodeAt = (announced: NodeAddress, seed = false): Effect.Effect<Node> =>
      Effect.suspend(() => {
        // A seed is an address the user gave, reachable as it is; only the cluster's announced ones are mapped.
        const { host, port } = seed ? announced : mapAddress(announced)
        const address = `${host}:${port}`
        const existing = nodes.get(address)
        if (existing !== undefined) return Effect.succeed(existing)
        return Effect.uninterruptible(Effect.gen(function*() {
          const nodeScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
          const client = yield* Effect.orDie(
            Scope.extend(RedisClient.make({ ...settings.base, host, port }), nodeScope)
          )
          // Another fiber may have made it meanwhile: one client per address.
          const raced = nodes.get(address)
          if (raced !== undefined) {
            yield* Scope.close(nodeScope, Exit.void)
            return raced
          }
          const node: Node = { address, host, port, client, failedAt: 0 }
          nodes.set(address, node)
          return node
        }))
      })

    // The slot map. Nodes that leave the topology keep their client until the cluster client closes: a command
    // in flight on one is answered there, and an address seen once tends to come back (a restarted node).
    const slots = new Array<Node | undefined>(slotCount)
    let primaries: ReadonlyArray<Node> = []
    /** The replicas of the last topology that the cluster does not report failed, as announced. */
    let healthyReplicas: ReadonlyArray<NodeAddress> = []
    /** Every address of the last topology, primaries first: where the next refresh asks. */
    let known: ReadonlyArray<NodeAddress> = []

    /** The healthy nodes of the last topology, primaries first: where a subscription may listen. */
    let liveNodes: ReadonlyArray<Node> = []
    /** Run after each topology is applied: subscriptions move off a node that left it. */
    const topologyListeners = new Set<() => void>()

    /** With `readFromReplicas`: each primary's healthy replicas, from the last topology. */
    const replicasOf = new Map<Node, ReadonlyArray<Node>>()
    let nextReplica = 0

    // How long a node whose command failed is passed over by keyless commands and replica reads.
    const healthMarkMillis = healthMarkMillisFor(resolved.commandTimeoutMillis)

    const isHealthy = (node: Node): boolean =>
      node.failedAt === 0 || performance.now() - node.failedAt > healthMarkMillis

    const markFailed = (node: Node, error: RedisError): void => {
      if (isConnectionFailure(error)) node.failedAt = performance.now()
    }

    /** For a keyless command: a random primary not marked as failing, any primary when all are. */
    const anyPrimary = (): Node | undefined => {
      const n = primaries.length
      if (n === 0) return undefined
      const start = Math.floor(Math.random() * n)
      for (let k = 0; k < n; k++) {
        const node = primaries[(start + k) % n]!
        if (isHealthy(node)) return node
      }
      return primaries[start]
    }

    const apply = (shards: ReadonlyArray<Shard>): Effect.Effect<void> =>
      Effect.gen(function*() {
        const next: Array<Node> = []
        for (const shard of shards) {
          const node = yield* nodeAt(shard.primary)
          if (!next.includes(node)) next.push(node)
          for (const [start, end] of shard.ranges) {
            for (let slot = Math.max(0, start); slot <= Math.min(end, slotCount - 1); slot++) slots[slot] = node
          }
        }
        primaries = next
        if (settings.readFromReplicas) {
          for (const shard of shards) {
            const primary = yield* nodeAt(shard.primary)
            const replicas: Array<Node> = []
            for (const replica of shard.replicas) if (replica.healthy) replicas.push(yield* nodeAt(replica))
            replicasOf.set(primary, replicas)
          }
        }
        known = [...shards.map((shard) => shard.primary), ...shards.flatMap((shard) => shard.replicas)]
        healthyReplicas = shards.flatMap((shard) => shard.replicas.filter((replica) => replica.healthy))
        const live: Array<Node> = []
        for (const info of shards.map((shard) => shard.primary)) if (info.healthy) live.push(yield* nodeAt(info))
        for (const info of shards.flatMap((shard) => shard.replicas)) if (info.healthy) live.push(yield* nodeAt(info))
        liveNodes = live
        for (const listener of topologyListeners) listener()
      })

    /** Asks one node for the topology: `CLUSTER SHARDS`, or `CLUSTER SLOTS` where that is unknown. */
    const askTopology = (node: Node): Effect.Effect<ReadonlyArray<Shard>, RedisError> =>
      Effect.flatMap(
        node.client.pipeline([["CLUSTER", "SHARDS"]]),
        ([reply]): Effect.Effect<ReadonlyArray<Shard>, RedisError> => {
          if (!(reply instanceof Resp.ErrorReply)) {
            const shards = parseShards(reply!, node.host, useTls)
            if (shards !== undefined && shards.length > 0) return Effect.succeed(shards)
          }
          return Effect.flatMap(node.client.send(["CLUSTER", "SLOTS"]), (slotsReply) => {
            const shards = parseSlots(slotsReply, node.host)
            return shards !== undefined && shards.length > 0
              ? Effect.succeed(shards)
              : Effect.fail(
                new RedisConnectionError({ message: `${node.address} serves no slot of a cluster (is it one?)` })
              )
          })
        }
      )

    const probeTimeoutMillis = probeTimeoutMillisFor(resolved.commandTimeoutMillis)

    const discover: Effect.Effect<void, RedisError> = Effect.suspend(() => {
      const candidates: Array<readonly [NodeAddress, boolean]> = []
      const seen = new Set<string>()
      const consider = (address: NodeAddress, seed: boolean) => {
        const key = `${address.host}:${address.port}`
        if (!seen.has(key)) {
          seen.add(key)
          candidates.push([address, seed])
        }
      }
      // The primaries first (already mapped: given as seeds so they are not mapped twice), the rest, the seeds.
      for (const node of primaries) consider(node, true)
      for (const address of known) consider(mapAddress(address), true)
      for (const seed of settings.seeds) consider(seed, true)
      const failures: Array<string> = []
      const tryFrom = (index: number): Effect.Effect<void, RedisError> => {
        if (index >= candidates.length) {
          return Effect.fail(
            new RedisConnectionError({
              message: `no node of the cluster told its topology (${failures.join("; ")})`
            })
          )
        }
        if (closed) return Effect.fail(closedError())
        const [address, seed] = candidates[index]!
        return Effect.flatMap(nodeAt(address, seed), (node) =>
          askTopology(node).pipe(
            Effect.timeoutFail({
              duration: probeTimeoutMillis,
              onTimeout: () => new RedisConnectionError({ message: `${node.address} did not answer in time` })
            }),
            Effect.matchEffect({
              onSuccess: (shards) => Effect.zipRight(apply(shards), learnNodeTimeout(node)),
              onFailure: (error) => {
                failures.push(`${node.address}: ${error.message}`)
                return tryFrom(index + 1)
              }
            })
          ))
      }
      return tryFrom(0)
    })

    /**
     * Once, on the first topology read: `CONFIG GET cluster-node-timeout` of the node that told it, whence the
     * default `failoverWait`. An error reply (CONFIG renamed or refused) keeps the default's assumption; a lost
     * connection or no answer in time asks again at the next refresh, three times at most.
     */
    let nodeTimeoutTries = 0
    const learnNodeTimeout = (node: Node): Effect.Effect<void> => {
      if (nodeTimeoutKnown) return Effect.void
      if (++nodeTimeoutTries >= 3) nodeTimeoutKnown = true
      return node.client.pipeline([["CONFIG", "GET", "cluster-node-timeout"]]).pipe(
        Effect.timeout(probeTimeoutMillis),
        Effect.match({
          onFailure: () => {},
          onSuccess: ([reply]) => {
            nodeTimeoutKnown = true
            const nodeTimeout = parseNodeTimeout(reply!)
            if (nodeTimeout !== undefined) {
              failoverWaitMillis = failoverWaitFor(nodeTimeout, resolved.commandTimeoutMillis)
            }
          }
        })
      )
    }

    let refreshing: Deferred.Deferred<void, RedisError> | undefined
    let lastRefreshAt = -Infinity

    /** Reads the map now, or joins the refresh in progress: one at a time. */
    const refresh: Effect.Effect<void, RedisError> = Effect.suspend(() => {
      if (closed) return Effect.fail(closedError())
      if (refreshing !== undefined) return Deferred.await(refreshing)
      const deferred = Deferred.unsafeMake<void, RedisError>(FiberId.none)
      refreshing = deferred
      // Run in the client's scope: a caller interrupted while waiting must not stop the refresh others wait for.
      // Only that scope's closing interrupts the refresh; the waiters are told so rather than left waiting, however
      // the refresh ends (`onExit` runs on interruption too).
      return discover.pipe(
        Effect.onExit((exit) =>
          Effect.suspend(() => {
            if (refreshing === deferred) refreshing = undefined
            lastRefreshAt = performance.now()
            return Deferred.done(deferred, Exit.isInterrupted(exit) ? Exit.fail(closedError()) : exit)
          })
        ),
        Effect.forkIn(scope),
        Effect.zipRight(Deferred.await(deferred))
      )
    })

    // Closing the scope fails the refresh in progress, if any, for the callers waiting on it: this runs whether or
    // not the refresh fiber got to its own `onExit` (a fiber interrupted before it starts runs none of its code).
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        const pending = refreshing
        refreshing = undefined
        return pending === undefined ? Effect.void : Deferred.fail(pending, closedError())
      })
    )

    /** A refresh, unless one ran less than `minRefreshGapMillis` ago: then waits that out first. */
    const refreshThrottled: Effect.Effect<void, RedisError> = Effect.suspend(() => {
      if (closed) return Effect.fail(closedError())
      if (refreshing !== undefined) return Deferred.await(refreshing)
      const wait = lastRefreshAt + minRefreshGapMillis - performance.now()
      return wait > 0 ? Effect.zipRight(Effect.sleep(Duration.millis(wait)), refresh) : refresh
    })

    /** Starts a refresh in the background unless one is running or just ran. */
    const refreshSoon: Effect.Effect<void> = Effect.suspend(() => {
      if (refreshing !== undefined || performance.now() - lastRefreshAt < minRefreshGapMillis) return Effect.void
      return Effect.asVoid(Effect.forkIn(Effect.ignore(refresh), scope))
    })

    /**
     * The node of a redirection that names no host (`:6381`): `natMap` sees the address as announced (host `""`);
     * left unmapped, it is the host the client reaches the answering node at, with the announced port.
     */
    const nodeAtAnswering = (announced: NodeAddress, answering: Node | undefined): Effect.Effect<Node> => {
      const mapped = mapAddress(announced)
      if (mapped.host !== "") return nodeAt(mapped, true)
      return nodeAt({ host: answering?.host ?? firstNode.host, port: mapped.port }, true)
    }

    /**
     * `SCRIPT LOAD`, `FUNCTION LOAD`… (see `broadcastOf`): run on every primary, and with `"nodes"` every healthy
     * replica too, of a fresh map when one can be had (a node added since the last map must get the script too);
     * the reply is the first primary's when all agree, an error reply naming a node that refused otherwise, a
     * connection error naming a primary that could not be asked. Error replies are values here, as in a pipeline.
     */
    const broadcast = (
      command: RedisClient.Command,
      where: "nodes" | "primaries"
    ): Effect.Effect<Resp.RespValue, RedisError> =>
      Effect.gen(function*() {
        if (closed) return yield* Effect.fail(closedError())
        yield* Effect.catchAll(refresh, (error) => primaries.length > 0 ? Effect.void : Effect.fail(error))
        const targets: Array<Node> = [...primaries]
        const primaryCount = targets.length
        if (where === "nodes") {
          for (const replica of healthyReplicas) {
            const node = yield* nodeAt(replica)
            if (!targets.includes(node)) targets.push(node)
          }
        }
        const outcomes = yield* Effect.forEach(
          targets,
          (node, k) =>
            Effect.match(node.client.pipeline([command]), {
              onSuccess: ([reply]): BroadcastOutcome | undefined => ({ address: node.address, reply: reply! }),
              // A replica that cannot be reached is skipped: it is not about to be promoted, and should it be, its
              // NOSCRIPT says so. A primary that cannot be reached fails the command.
              onFailure: (error): BroadcastOutcome | undefined =>
                k < primaryCount ? { address: node.address, failure: error.message } : undefined
            }),
          { concurrency: "unbounded" }
        )
        const merged = mergeBroadcast(
          adminName(command),
          outcomes.filter((outcome): outcome is BroadcastOutcome => outcome !== undefined)
        )
        return "reply" in merged
          ? merged.reply
          : yield* Effect.fail(new RedisConnectionError({ message: merged.connection }))
      })

    const ready: Effect.Effect<void, RedisError> = Effect.suspend(() => primaries.length > 0 ? Effect.void : refresh)

    const targetOf = (part: Part): Node | undefined =>
      part.ask ?? (part.slot >= 0 ? slots[part.slot] : undefined) ?? anyPrimary()

    /** Where a part goes and whether that is a replica (then `READONLY` precedes it). */
    const routeTo = (part: Part): readonly [Node | undefined, boolean] => {
      const primary = targetOf(part)
      if (part.replica !== true || part.ask !== undefined || primary === undefined) return [primary, false]
      const replicas = replicasOf.get(primary)
      if (replicas === undefined) return [primary, false]
      // In turn, passing over a replica marked as failing: the primary when every replica is.
      for (let k = 0; k < replicas.length; k++) {
        const replica = replicas[nextReplica++ % replicas.length]!
        if (isHealthy(replica)) return [replica, true]
      }
      return [primary, false]
    }

    /**
     * Sends the parts, each to its node, every node's share in one pipelined write and the nodes in parallel, then
     * follows redirections and re-sends what a failed connection allows; the outcomes come back in the parts'
     * order, error replies as values and a part that failed for good as `Failed`. `redirections` counts the rounds
     * of `MOVED`/`ASK`/`TRYAGAIN`/`CLUSTERDOWN` (bounded by `maxRedirections`), `attempt` every round (the backoff),
     * and `deadline` bounds re-sends after connection failures (`failoverWait`).
     */
    const execParts = (
      parts: ReadonlyArray<Part>,
      attempt: number,
      redirections: number,
      deadline: number | undefined
    ): Effect.Effect<Array<Final>, RedisError> =>
      primaries.length > 0
        ? sendParts(parts, attempt, redirections, deadline)
        : Effect.flatMap(ready, () => sendParts(parts, attempt, redirections, deadline))

    /**
     * Runs every node's share at once and waits for all of them. A share never fails (its node's failure is
     * recorded in the outcomes of its parts), so one node's failure neither interrupts nor hurries the others: each
     * is answered, and its connection stays in step. Each share runs as a fiber of the caller's runtime (its
     * services, clock, logger, tracer) that is not joined back: that is what `Effect.all` with unbounded concurrency
     * costs most for, and a share has nothing to hand back but its replies, written into the caller's outcomes. No
     * canceller either (`Effect.async` then skips its interruption wrapper, which costs as much again): an
     * interrupted caller stops waiting and its shares run to their end, as a command already written is answered
     * and dropped; each is bounded by the command timeout.
     */
    const sendAll = (sends: ReadonlyArray<Effect.Effect<void>>): Effect.Effect<void> =>
      Effect.flatMap(Effect.runtime<never>(), (runtime) =>
        Effect.async<void>((resume) => {
          const run = Runtime.runCallback(runtime)
          let left = sends.length
          // A defect of a share (there is no typed failure) is reported once every share has ended.
          let failure: Exit.Exit<void> | undefined
          for (let g = 0; g < sends.length; g++) {
            run(sends[g]!, {
              onExit: (exit) => {
                if (Exit.isFailure(exit)) failure ??= exit
                if (--left === 0) resume(failure ?? Effect.void)
              }
            })
          }
        }))

    const sendParts = (
      parts: ReadonlyArray<Part>,
      attempt: number,
      redirections: number,
      deadline: number | undefined
    ): Effect.Effect<Array<Final>, RedisError> => {
      const n = parts.length
      const outcomes = new Array<Outcome>(n)
      // The nodes in order of first use, each with the indices of its parts; a cluster has few nodes, so a scan
      // of this short list beats a Map.
      const targets: Array<Node> = []
      const groups: Array<Array<number>> = []
      // Whether any part needs a command before it (ASKING, READONLY): rare, so the common write is the parts as
      // they are.
      let prefixed: Array<boolean> | undefined
      for (let i = 0; i < n; i++) {
        const part = parts[i]!
        let node: Node | undefined
        if (part.ask !== undefined) {
          node = part.ask
          ;(prefixed ??= new Array<boolean>(n).fill(false))[i] = true
        } else if (part.replica === true) {
          const [target, replica] = routeTo(part)
          node = target
          if (replica) (prefixed ??= new Array<boolean>(n).fill(false))[i] = true
        } else {
          node = (part.slot >= 0 ? slots[part.slot] : undefined) ?? anyPrimary()
        }
        if (node === undefined) {
          outcomes[i] = new Resp.ErrorReply("CLUSTERDOWN no primary is known for this slot")
          continue
        }
        let g = 0
        while (g < targets.length && targets[g] !== node) g++
        if (g === targets.length) {
          targets.push(node)
          groups.push([i])
        } else groups[g]!.push(i)
      }
      const sendGroup = (node: Node, indices: ReadonlyArray<number>): Effect.Effect<void> => {
        const count = indices.length
        let commands: Array<RedisClient.Command>
        let at: Array<number> | undefined
        if (prefixed === undefined) {
          commands = new Array<RedisClient.Command>(count)
          for (let k = 0; k < count; k++) commands[k] = parts[indices[k]!]!.command
        } else {
          commands = []
          at = new Array<number>(count)
          for (let k = 0; k < count; k++) {
            const i = indices[k]!
            const part = parts[i]!
            if (prefixed[i]) commands.push(part.ask !== undefined ? ["ASKING"] : ["READONLY"])
            at[k] = commands.length
            commands.push(part.command)
          }
        }
        return Effect.matchEffect(node.client.pipeline(commands), {
          onSuccess: (replies) => {
            if (node.failedAt !== 0) node.failedAt = 0
            if (at === undefined) { for (let k = 0; k < count; k++) outcomes[indices[k]!] = replies[k]! }
            else for (let k = 0; k < count; k++) outcomes[indices[k]!] = replies[at[k]!]!
            return Effect.void
          },
          onFailure: (error) => {
            // Recorded per part, never failing the share: the other nodes' shares are answered all the same.
            if (!isConnectionFailure(error)) {
              for (const i of indices) outcomes[i] = new Failed(error)
              return Effect.void
            }
            markFailed(node, error)
            const unknown = isOutcomeUnknown(error)
            for (const i of indices) {
              outcomes[i] = mayResend(parts[i]!.command, unknown) ? new ConnectionFailed(error) : new Failed(error)
            }
            return refreshSoon
          }
        })
      }
      let sent: Effect.Effect<void>
      if (targets.length === 0) sent = Effect.void
      else if (targets.length === 1) sent = sendGroup(targets[0]!, groups[0]!)
      else {
        const sends = new Array<Effect.Effect<void>>(targets.length)
        for (let g = 0; g < targets.length; g++) sends[g] = sendGroup(targets[g]!, groups[g]!)
        sent = sendAll(sends)
      }
      return Effect.flatMap(sent, () => settle(parts, outcomes, attempt, redirections, deadline))
    }

    /** Follows the redirections among the outcomes (bounded), re-sending those parts; the rest stay as they are. */
    const settle = (
      parts: ReadonlyArray<Part>,
      outcomes: Array<Outcome>,
      attempt: number,
      redirections: number,
      deadline: number | undefined
    ): Effect.Effect<Array<Final>, RedisError> => {
      // Run once the parts' replies are in (it follows them in a flatMap), so the outcomes are read as they are.
      let again: Array<number> | undefined
      for (let i = 0; i < outcomes.length; i++) {
        const outcome = outcomes[i]!
        if (outcome instanceof ConnectionFailed || (outcome instanceof Resp.ErrorReply && isRedirect(outcome))) {
          ;(again ??= []).push(i)
        }
      }
      // Every outcome is final now (no ConnectionFailed left).
      if (again === undefined) return Effect.succeed(outcomes as Array<Final>)
      return redirect(parts, outcomes, attempt, redirections, deadline, again)
    }

    /**
     * Which of `again` are sent again: a connection failure until `deadline` (`failoverWait` after the first one),
     * a redirection while fewer than `maxRedirections` rounds of them were followed. The others become final.
     */
    const selectResends = (
      outcomes: Array<Outcome>,
      again: ReadonlyArray<number>,
      redirections: number,
      until: number
    ): { readonly resend: Array<number>; readonly redirected: boolean } => {
      const now = performance.now()
      const resend: Array<number> = []
      let redirected = false
      for (const i of again) {
        const outcome = outcomes[i]!
        if (outcome instanceof ConnectionFailed) {
          // Once the client's scope is closed every node's client fails: nothing to wait for.
          if (closed || now > until) outcomes[i] = new Failed(outcome.error)
          else resend.push(i)
        } else if (closed) {
          outcomes[i] = new Failed(closedError())
        } else if (redirections < settings.maxRedirections) {
          resend.push(i)
          redirected = true
        }
        // Past the bound the redirection itself is the outcome: `send` fails with it as a RedisReplyError.
      }
      return { resend, redirected }
    }

    const redirect = (
      parts: ReadonlyArray<Part>,
      outcomes: Array<Outcome>,
      attempt: number,
      redirections: number,
      deadline: number | undefined,
      again: ReadonlyArray<number>
    ): Effect.Effect<Array<Final>, RedisError> =>
      Effect.suspend(() => {
        const until = deadline ??
          (again.some((i) => outcomes[i] instanceof ConnectionFailed)
            ? performance.now() + failoverWaitMillis
            : undefined)
        const { redirected, resend } = selectResends(outcomes, again, redirections, until ?? Infinity)
        if (resend.length === 0) return Effect.succeed(outcomes as Array<Final>)
        // The node each part was sent to, read before this round's MOVED update the map: an empty host in a
        // redirection names that node's host.
        const answered = resend.map((i) => targetOf(parts[i]!))
        const prepare = Effect.gen(function*() {
          const next: Array<Part> = []
          let pause = false
          let moved = false
          // Keyed parts whose primary failed: they wait for a refreshed map (a replica promoted) before going again.
          let waiting: Array<Part> | undefined
          for (let k = 0; k < resend.length; k++) {
            const i = resend[k]!
            const part = parts[i]!
            const outcome = outcomes[i]!
            if (outcome instanceof ConnectionFailed) {
              // A keyless command goes to another primary (the failed one is marked) at once, a read that a
              // replica failed to its primary; a keyed one to its slot's primary once the map is read again.
              const retry: Part = { command: part.command, slot: part.slot }
              next.push(retry)
              if (part.slot >= 0 && part.replica !== true) (waiting ??= []).push(retry)
              else if (part.slot < 0 && primaries.every((node) => !isHealthy(node))) pause = true
              continue
            }
            const reply = outcome as Resp.ErrorReply
            const action = redirectAction(reply.code, reply.message)
            if (action._tag === "Malformed") {
              next.push({ command: part.command, slot: part.slot })
              pause = true
            } else if (action._tag === "Moved" || action._tag === "Ask") {
              const { port, slot } = action
              const target = action.host !== undefined
                ? yield* nodeAt({ host: action.host, port })
                : yield* nodeAtAnswering({ host: "", port }, answered[k])
              if (action._tag === "Moved") {
                slots[slot] = target
                moved = true
                next.push({ command: part.command, slot: part.slot, replica: part.replica })
              } else {
                next.push({ command: part.command, slot: part.slot, ask: target })
              }
            } else {
              // TRYAGAIN (a multi-key command while its slot migrates) or CLUSTERDOWN: the same, a little later.
              pause = true
              if (action.refresh) moved = true
              next.push({ command: part.command, slot: part.slot, replica: part.replica })
            }
          }
          if (moved) yield* refreshSoon
          if (waiting !== undefined) {
            // A failed node: see whether a replica has taken its slots (or it is back) before sending again.
            const before = waiting.map(targetOf)
            yield* Effect.ignore(refreshThrottled)
            if (waiting.every((part, k) => targetOf(part) === before[k])) pause = true
          }
          if (pause) yield* Effect.sleep(Duration.millis(retryDelay(attempt)))
          return next
        })
        // A connection failure is bounded by the deadline, a redirection by the count of redirection rounds.
        return Effect.flatMap(prepare, (next) =>
          Effect.map(
            execParts(next, attempt + 1, redirected ? redirections + 1 : redirections, until),
            (replies) => {
              for (let k = 0; k < resend.length; k++) outcomes[resend[k]!] = replies[k]!
              return outcomes as Array<Final>
            }
          ))
      })

    /** The parts of a command and how their replies become its reply. */
    interface Plan {
      readonly parts: ReadonlyArray<Part>
      readonly merge?: {
        readonly kind: "array" | "sum" | "ok"
        readonly total: number
        /** For each key of the command, the index of its part. */
        readonly partOf: ReadonlyArray<number>
        /** For each key, its index in its part's array reply, or -1 where its part is a one-key GET. */
        readonly indexIn: ReadonlyArray<number>
      }
    }

    /**
     * Scratch tables of the split: the part a slot's keys go to, valid where the slot's stamp is the current plan's
     * generation. Planning is synchronous, so one plan never sees another's entries.
     */
    const slotStamp = new Uint32Array(slotCount)
    const slotPart = new Int32Array(slotCount)
    let generation = 0
    const nextGeneration = (): number => {
      if (++generation === 0xffffffff) {
        slotStamp.fill(0)
        generation = 1
      }
      return generation
    }

    const keySlotOf = (key: unknown): number => typeof key === "string" || key instanceof Uint8Array ? keySlot(key) : -1

    const planOf = (command: RedisClient.Command, route: Route): Plan => {
      const plan = planRoute(command, route)
      if (!settings.readFromReplicas || !isReadOnly(command)) return plan
      return { ...plan, parts: plan.parts.map((part) => ({ ...part, replica: part.slot >= 0 })) }
    }

    const planRoute = (command: RedisClient.Command, route: Route): Plan => {
      switch (route._tag) {
        case "key":
          return { parts: [{ command, slot: keySlotOf(command[route.index]) }] }
        case "none":
        case "admin":
          return { parts: [{ command, slot: -1 }] }
        case "script":
        case "streams": {
          const key = specialKey(route, command)
          return { parts: [{ command, slot: key === undefined ? -1 : keySlotOf(key) }] }
        }
        case "split": {
          const step = route.step
          if (command.length < 1 + step || (command.length - 1) % step !== 0) {
            // Malformed (MSET with a missing value): the server says so.
            return { parts: [{ command, slot: keySlotOf(command[1]) }] }
          }
          // One pass, no Map: a slot's part is found through the stamped scratch tables (a slot is stamped with
          // this plan's generation when its part is made), so a call over 100 slots allocates its parts and nothing
          // else.
          const generation = nextGeneration()
          const name = command[0]!
          const total = (command.length - 1) / step
          // Plain arrays of small integers: cheaper to make than typed arrays for a hundred keys.
          const partOf = new Array<number>(total)
          const indexIn = new Array<number>(total)
          const args: Array<Array<string | Uint8Array>> = []
          const partSlots: Array<number> = []
          for (let i = 1, k = 0; i < command.length; i += step, k++) {
            const key = command[i]!
            const slot = keySlotOf(key)
            if (slot >= 0 && slotStamp[slot] === generation) {
              const at = slotPart[slot]!
              const part = args[at]!
              partOf[k] = at
              indexIn[k] = (part.length - 1) / step
              part.push(key)
              if (step === 2) part.push(command[i + 1]!)
            } else {
              // A new slot (or -1, not a key, which the check before planning rejects anyway): a part of its own.
              const at = args.length
              if (slot >= 0) {
                slotStamp[slot] = generation
                slotPart[slot] = at
              }
              args.push(step === 1 ? [name, key] : [name, key, command[i + 1]!])
              partSlots.push(slot)
              partOf[k] = at
              indexIn[k] = 0
            }
          }
          const count = args.length
          if (count === 1) return { parts: [{ command, slot: partSlots[0]! }] }
          const parts = new Array<Part>(count)
          const mget = route.merge === "array"
          for (let p = 0; p < count; p++) {
            const part = args[p]!
            // A slot with one key of an MGET is asked with GET: its reply is the value itself, not an array holding
            // it, and the server does a little less.
            if (mget && part.length === 2) part[0] = "GET"
            parts[p] = { command: part, slot: partSlots[p]! }
          }
          if (mget) { for (let k = 0; k < total; k++) if (args[partOf[k]!]!.length === 2) indexIn[k] = -1 }
          return { parts, merge: { kind: route.merge, total, partOf, indexIn } }
        }
      }
    }

    const replyOf = (plan: Plan, replies: ReadonlyArray<Resp.RespValue>): Resp.RespValue =>
      plan.merge === undefined
        ? replies[0]!
        : mergeReplies(plan.merge.kind, plan.merge.total, plan.merge.partOf, plan.merge.indexIn, replies)

    /** The first part that failed for good: the command's outcome then, once every other part is answered. */
    const failureOf = (outcomes: ReadonlyArray<Final>): Failed | undefined => {
      for (const outcome of outcomes) if (outcome instanceof Failed) return outcome
      return undefined
    }

    /** A command's reply from its parts' outcomes; with `settled`, an `MGET`'s failed parts are `PartFailure`s. */
    const resultOf = (
      command: RedisClient.Command,
      plan: Plan,
      outcomes: Array<Final>,
      settled: boolean
    ): Effect.Effect<Resp.RespValue, RedisError> => {
      const failed = failureOf(outcomes)
      if (failed !== undefined) {
        if (!settled || plan.merge?.kind !== "array") return Effect.fail(failed.error)
        // Only a node that failed (connection, timeout) is stood in for; any other failure is the command's.
        for (const outcome of outcomes) {
          if (outcome instanceof Failed && !isConnectionFailure(outcome.error)) return Effect.fail(outcome.error)
        }
        for (let p = 0; p < outcomes.length; p++) {
          const outcome = outcomes[p]!
          if (outcome instanceof Failed) outcomes[p] = new PartFailure(outcome.error)
        }
      }
      return toSendResult(command, replyOf(plan, outcomes as Array<Resp.RespValue>))
    }

    /** After the first try of a keyed command failed in a way the cluster handles. */
    const recover = (
      command: RedisClient.Command,
      slot: number,
      node: Node,
      error: RedisError
    ): Effect.Effect<Resp.RespValue, RedisError> => {
      const part: ReadonlyArray<Part> = [{ command, slot }]
      const finish = (outcomes: Array<Final>) => {
        const outcome = outcomes[0]!
        return outcome instanceof Failed ? Effect.fail(outcome.error) : toSendResult(command, outcome)
      }
      if (error._tag === "RedisReplyError") {
        return Effect.flatMap(settle(part, [new Resp.ErrorReply(error.message)], 0, 0, undefined), finish)
      }
      markFailed(node, error)
      // Never written (refused, not open): always sent again; written, only when running it twice is harmless.
      if (mayResend(command, isOutcomeUnknown(error))) {
        return Effect.zipRight(
          refreshSoon,
          Effect.flatMap(settle(part, [new ConnectionFailed(error)], 0, 0, undefined), finish)
        )
      }
      return Effect.zipRight(refreshSoon, Effect.fail(error))
    }

    const invalid = (batch: ReadonlyArray<RedisClient.Command>) => {
      for (const command of batch) {
        const error = checkCommand(command, resolved.maxArgumentLength)
        if (error !== undefined) return error
      }
      return undefined
    }

    /** A command through the planner: split, replica reads, keyless, or a slot not known yet. */
    const sendPlanned = (
      command: RedisClient.Command,
      route: Route,
      settled: boolean
    ): Effect.Effect<Resp.RespValue, RedisError> => {
      const error = invalid([command])
      if (error !== undefined) return Effect.fail(error)
      if (route._tag === "admin") {
        const where = broadcastOf(command)
        if (where !== undefined) {
          return Effect.flatMap(broadcast(command, where), (reply) => toSendResult(command, reply))
        }
      }
      const plan = planOf(command, route)
      // Settled, a failed node's share is not waited for (a deadline already past): the others' callers are answered
      // as soon as it has failed once, and its keys' readers ask again alone, riding out a failover on their own.
      return Effect.flatMap(
        execParts(plan.parts, 0, 0, settled ? -Infinity : undefined),
        (outcomes) => resultOf(command, plan, outcomes, settled)
      )
    }

    const send = (command: RedisClient.Command): Effect.Effect<Resp.RespValue, RedisError> => {
      if (!Array.isArray(command) || command.length === 0) return firstClient.send(command)
      const route = routeOf(command)
      if (route._tag === "key" && !(settings.readFromReplicas && isReadOnly(command))) {
        // The hot path: one slot lookup, then the node's own send.
        const slot = keySlotOf(command[route.index])
        const node = slot >= 0 ? slots[slot] : undefined
        if (node !== undefined) {
          return Effect.catchIf(
            node.client.send(command),
            isClusterFailure,
            (error) => recover(command, slot, node, error)
          )
        }
      }
      return sendPlanned(command, route, false)
    }

    const sendSettled = (command: RedisClient.Command): Effect.Effect<Resp.RespValue, RedisError> => {
      if (!Array.isArray(command) || command.length === 0) return send(command)
      const route = routeOf(command)
      return route._tag === "split" && route.merge === "array" ? sendPlanned(command, route, true) : send(command)
    }

    const pipeline = (
      batch: ReadonlyArray<RedisClient.Command>
    ): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> => pipelineWith(batch, false)

    const pipelineSettled = (
      batch: ReadonlyArray<RedisClient.Command>
    ): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> => pipelineWith(batch, true)

    /**
     * A pipeline routed command by command. Settled, a failed node's share is not waited for (as for `sendSettled`):
     * its commands' places hold a `PartFailure`, the others their replies.
     */
    const pipelineWith = (
      batch: ReadonlyArray<RedisClient.Command>,
      settled: boolean
    ): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> => {
      if (batch.length === 0) {
        return Effect.succeed([])
      }
      // Every command is checked before any is sent, as on one node.
      const error = invalid(batch)
      if (error !== undefined) {
        return Effect.fail(error)
      }
      let broadcasting = false
      const plans = batch.map((command) => {
        const route = routeOf(command)
        if (route._tag === "admin" && broadcastOf(command) !== undefined) broadcasting = true
        return planOf(command, route)
      })
      if (broadcasting) return pipelineAround(batch)
      const parts: Array<Part> = []
      for (const plan of plans) for (const part of plan.parts) parts.push(part)
      return Effect.flatMap(execParts(parts, 0, 0, settled ? -Infinity : undefined), (outcomes) => {
        // As on one node, the batch fails when a connection does; every node's share has been answered by then.
        const failed = failureOf(outcomes)
        if (failed !== undefined) {
          if (!settled) return Effect.fail(failed.error)
          for (let p = 0; p < outcomes.length; p++) {
            const outcome = outcomes[p]!
            if (!(outcome instanceof Failed)) continue
            if (!isConnectionFailure(outcome.error)) return Effect.fail(outcome.error)
            outcomes[p] = new PartFailure(outcome.error)
          }
        }
        const replies = outcomes as Array<Resp.RespValue>
        const out = new Array<Resp.RespValue>(plans.length)
        let at = 0
        for (let i = 0; i < plans.length; i++) {
          const plan = plans[i]!
          out[i] = replyOf(plan, replies.slice(at, at + plan.parts.length))
          at += plan.parts.length
        }
        return Effect.succeed(out)
      })
    }

    /**
     * A pipeline holding a command that runs on every node (`SCRIPT LOAD`…): the commands before it, it, then the
     * ones after, so an `EVALSHA` after a `SCRIPT LOAD` in the same batch finds the script wherever it goes.
     */
    const pipelineAround = (
      batch: ReadonlyArray<RedisClient.Command>
    ): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> =>
      Effect.gen(function*() {
        const out: Array<Resp.RespValue> = []
        let start = 0
        for (let i = 0; i <= batch.length; i++) {
          const command = batch[i]
          const where = command !== undefined && routeOf(command)._tag === "admin" ? broadcastOf(command) : undefined
          if (command !== undefined && where === undefined) continue
          if (i > start) out.push(...(yield* pipeline(batch.slice(start, i))))
          if (command !== undefined) out.push(yield* broadcast(command, where!))
          start = i + 1
        }
        return out
      })

    const isNodeLocal = (command: RedisClient.Command): boolean => {
      if (!Array.isArray(command) || command.length === 0) return false
      const tag = routeOf(command)._tag
      return tag === "none" || tag === "admin"
    }

    const viewOf = (node: Node): RedisClient.RedisClientShape => ({
      options: node.client.options,
      send: (command) => isNodeLocal(command) ? node.client.send(command) : send(command),
      pipeline: (batch) => batch.every(isNodeLocal) ? node.client.pipeline(batch) : pipeline(batch),
      inFlight: node.client.inFlight,
      subscribe: node.client.subscribe,
      publish: node.client.publish
    })

    const primaryClients: Effect.Effect<ReadonlyArray<RedisClient.RedisClientShape>, RedisError> = Effect.map(
      // A fresh map when one can be had (clear must see every primary); the current one otherwise.
      Effect.catchAll(refresh, (error) => primaries.length > 0 ? Effect.void : Effect.fail(error)),
      () => primaries.map(viewOf)
    )

    // Classic pub/sub is broadcast to every node of the cluster: one node's subscriber connection hears everything.
    // The channel's slot picks the node, spreading channels over the primaries; the subscription moves to another
    // live node when that one fails or leaves the topology.
    const following: Following.FollowTopology<Node> = {
      subscribeOn: (node, channel, handlers) => node.client.subscribe(channel, handlers),
      preferred: (channel) => slots[keySlot(channel)],
      live: () => liveNodes,
      fallback: firstNode,
      ready: Effect.ignore(ready),
      refresh: Effect.ignore(refreshThrottled),
      onChange: (listener) => {
        topologyListeners.add(listener)
        return () => topologyListeners.delete(listener)
      },
      scope,
      options: resolved
    }
    const subscribe = (channel: string, handlers: RedisClient.SubscriptionHandlers) =>
      Following.subscribe(following, channel, handlers)

    const publish = (channel: string, message: string | Uint8Array) =>
      Effect.map(send(["PUBLISH", channel, message]), (reply) => typeof reply === "number" ? reply : 0)

    const inFlight = Effect.suspend(() =>
      Effect.reduce(nodes.values(), 0, (sum, node) => Effect.map(node.client.inFlight, (n) => sum + n))
    )

    // The periodic refresh, for changes no command has run into yet (a new primary, a replica promoted).
    yield* Effect.forkIn(
      Effect.forever(
        Effect.zipRight(Effect.sleep(Duration.millis(settings.refreshIntervalMillis)), Effect.ignore(refresh))
      ),
      scope
    )

    return {
      options: resolved,
      send,
      pipeline,
      inFlight,
      subscribe,
      publish,
      primaries: primaryClients,
      [ClientSeamId]: { sendSettled, pipelineSettled }
    } satisfies RedisClient.RedisClientShape & WithClientSeam
  })

/**
 * The cluster client as the `RedisClient` service, scoped: `RedisBackend.layerWithoutClient`, `RemoteCache` and
 * `TieredCache` run on it unchanged, several backends sharing its connections.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { RedisBackend, RedisCluster } from "effect-remote-cache"
 *
 * const Cluster = RedisCluster.layer({ nodes: ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"] })
 * const Sessions = RedisBackend.layerWithoutClient({ prefix: "session:" }).pipe(Layer.provide(Cluster))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: RedisClusterOptions): Layer.Layer<RedisClient.RedisClient, RedisConfigError> =>
  Layer.scoped(RedisClient.RedisClient, make(options))

/**
 * Seed nodes read from the variable `name` (default `REDIS_CLUSTER_NODES`): comma-separated `host:port` or
 * `redis://` URLs. Missing, empty, or holding a node that is neither, it is a `ConfigError` naming the variable
 * (never its value, which may hold a password).
 *
 * @since 0.1.0
 * @category config
 */
export const nodesConfig = (name = "REDIS_CLUSTER_NODES"): Config.Config<ReadonlyArray<string>> =>
  Config.string(name).pipe(
    Config.mapOrFail((text) => {
      const nodes = text.split(",").map((node) => node.trim()).filter((node) => node !== "")
      if (nodes.length === 0) return Either.left(ConfigError.InvalidData([name], `${name} names no node`))
      try {
        nodes.forEach(parseSeed)
        return Either.right(nodes)
      } catch (error) {
        const reason = error instanceof RedisConfigError ? error.message : "not a usable node"
        return Either.left(ConfigError.InvalidData([name], `${name} is not a usable list of nodes: ${reason}`))
      }
    })
  )

/**
 * The cluster client as a scoped layer whose options come from `effect/Config`; by default the seeds are read
 * from `REDIS_CLUSTER_NODES`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { RedisCluster } from "effect-remote-cache"
 *
 * const FromEnv = RedisCluster.layerConfig({
 *   nodes: RedisCluster.nodesConfig(),
 *   password: Config.redacted("REDIS_PASSWORD").pipe(Config.withDefault(undefined))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<RedisClusterOptions> = { nodes: nodesConfig() }
): Layer.Layer<RedisClient.RedisClient, RedisConfigError | ConfigError.ConfigError> =>
  Layer.scoped(RedisClient.RedisClient, Effect.flatMap(Config.unwrap(config), make))
