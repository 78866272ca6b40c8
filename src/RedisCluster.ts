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
import * as Config from "#effect/Config"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import type * as Scope from "#effect/Scope"
import { routeOf } from "./core/cluster/command.js"
import { keySlot } from "./core/cluster/slot.js"
import * as Following from "./internal/client/followingSubscriber.js"
import { checkCluster, connectModeOf } from "./internal/client/startup.js"
import * as Commands from "./internal/cluster/commands.js"
import { parseSeed, resolveSettings } from "./internal/cluster/options.js"
import { Router } from "./internal/cluster/router.js"
import { Splitter } from "./internal/cluster/splitter.js"
import * as Topology from "./internal/cluster/topology.js"
import type { LazyClusterOptions, RedisClusterOptions } from "./internal/cluster/types.js"
import * as ConfigInput from "./internal/configInput.js"
import { ClientSeamId, type WithClientSeam } from "./internal/seams.js"
import * as RedisClient from "./RedisClient.js"
import { RedisConfigError, type RedisError } from "./RedisError.js"

export type {
  /**
   * @since 0.2.0
   * @category models
   */
  LazyClusterOptions,
  /**
   * @since 0.1.0
   * @category models
   */
  NodeAddress,
  /**
   * @since 0.1.0
   * @category models
   */
  RedisClusterOptions
} from "./internal/cluster/types.js"

/**
 * Builds the cluster client in a scope. Nothing is opened until the first command, which reads the slot map from
 * a seed, unless `connect: "eager"`: then the slot map is read before it returns, or it fails with the typed error
 * (every seed refusing the password: `RedisAuthError`; otherwise a `RedisConnectionError` listing each seed's
 * failure), each seed's attempt bounded by `connectTimeout`. Closing the scope closes every node's connections.
 * Invalid options fail with `RedisConfigError`.
 *
 * The returned shape also has `primaries`: one client per current primary, whose commands without a key run on
 * that primary (`SCAN`, `DBSIZE`) while keyed ones are routed as by the cluster; `RedisBackend`'s `clear` uses it.
 *
 * @since 0.1.0
 * @category constructors
 */
export function make(
  options: LazyClusterOptions
): Effect.Effect<RedisClient.RedisClientShape, RedisConfigError, Scope.Scope>
export function make(
  options: RedisClusterOptions
): Effect.Effect<RedisClient.RedisClientShape, RedisConfigError | RedisError, Scope.Scope>
export function make(
  options: RedisClusterOptions
): Effect.Effect<RedisClient.RedisClientShape, RedisConfigError | RedisError, Scope.Scope> {
  return Effect.gen(function*() {
    const mode = yield* connectModeOf(options?.connect)
    const settings = yield* resolveSettings(options)
    const first = settings.seeds[0]!
    // Validates every shared option once (and gives `options` its value): per node only the address differs.
    const firstClient = yield* RedisClient.make({ ...settings.base, host: first.host, port: first.port })
    const resolved = firstClient.options
    const topology = yield* Topology.make(settings, firstClient)
    const router = new Router(topology, settings.maxRedirections)
    const { pipeline, pipelineSettled, send, sendSettled } = Commands.make(
      topology,
      router,
      new Splitter(settings.readFromReplicas)
    )

    const isNodeLocal = (command: RedisClient.Command): boolean => {
      if (!Array.isArray(command) || command.length === 0) return false
      const tag = routeOf(command)._tag
      return tag === "none" || tag === "admin"
    }

    const viewOf = (node: Topology.Node): RedisClient.RedisClientShape => ({
      options: node.client.options,
      send: (command) => isNodeLocal(command) ? node.client.send(command) : send(command),
      pipeline: (batch) => batch.every(isNodeLocal) ? node.client.pipeline(batch) : pipeline(batch),
      inFlight: node.client.inFlight,
      subscribe: node.client.subscribe,
      publish: node.client.publish,
      diagnosis: node.client.diagnosis
    })

    const primaryClients: Effect.Effect<ReadonlyArray<RedisClient.RedisClientShape>, RedisError> = Effect.map(
      // A fresh map when one can be had (clear must see every primary); the current one otherwise.
      topology.refreshOrKnown,
      () => topology.primaries.map(viewOf)
    )

    // Classic pub/sub is broadcast to every node of the cluster: one node's subscriber connection hears everything.
    // The channel's slot picks the node, spreading channels over the primaries; the subscription moves to another
    // live node when that one fails or leaves the topology.
    const following: Following.FollowTopology<Topology.Node> = {
      subscribeOn: (node, channel, handlers) => node.client.subscribe(channel, handlers),
      preferred: (channel) => topology.slots[keySlot(channel)],
      live: () => topology.liveNodes,
      fallback: topology.firstNode,
      ready: Effect.ignore(topology.ready),
      refresh: Effect.ignore(topology.refreshThrottled),
      onChange: (listener) => {
        topology.topologyListeners.add(listener)
        return () => topology.topologyListeners.delete(listener)
      },
      scope: yield* Effect.scope,
      options: resolved
    }
    const subscribe = (channel: string, handlers: RedisClient.SubscriptionHandlers) =>
      Following.subscribe(following, channel, handlers)

    const publish = (channel: string, message: string | Uint8Array) =>
      Effect.map(send(["PUBLISH", channel, message]), (reply) => typeof reply === "number" ? reply : 0)

    const inFlight = Effect.suspend(() =>
      Effect.map(
        Effect.forEach(topology.nodes.values(), (node) => node.client.inFlight),
        (counts) => counts.reduce((sum, n) => sum + n, 0)
      )
    )

    if (mode === "eager") yield* checkCluster(resolved, topology.ready)

    // Each node's client says its own; the nodes that have something to say, a few of them, in one line.
    const diagnosis = (): string | undefined => {
      const said: Array<string> = []
      for (const node of topology.nodes.values()) {
        const one = node.client.diagnosis?.()
        if (one !== undefined) said.push(one)
      }
      if (said.length === 0) return undefined
      return said.length <= 3 ? said.join("; ") : `${said.slice(0, 3).join("; ")}; and ${said.length - 3} more nodes`
    }

    return {
      options: resolved,
      send,
      pipeline,
      inFlight,
      subscribe,
      publish,
      primaries: primaryClients,
      diagnosis,
      [ClientSeamId]: { sendSettled, pipelineSettled }
    } satisfies RedisClient.RedisClientShape & WithClientSeam
  })
}

/**
 * The cluster client as the `RedisClient` service, scoped: `RedisBackend.layerWithoutClient`, `RemoteCache` and
 * `TieredCache` run on it unchanged, several backends sharing its connections. With `connect: "eager"` building it
 * reads the slot map and fails with the typed error when no seed tells it (see {@link make}).
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
export function layer(options: LazyClusterOptions): Layer.Layer<RedisClient.RedisClient, RedisConfigError>
export function layer(
  options: RedisClusterOptions
): Layer.Layer<RedisClient.RedisClient, RedisConfigError | RedisError>
export function layer(
  options: RedisClusterOptions
): Layer.Layer<RedisClient.RedisClient, RedisConfigError | RedisError> {
  return Layer.effect(RedisClient.RedisClient, make(options))
}

/**
 * Seed nodes read from the variable `name` (default `REDIS_CLUSTER_NODES`): comma-separated `host:port` or
 * `redis://` URLs. Missing, empty, or holding a node that is neither, it is a `ConfigError` naming the variable
 * (never its value, which may hold a password).
 *
 * @since 0.1.0
 * @category config
 */
export const nodesConfig = (name = "REDIS_CLUSTER_NODES"): Config.Config<ReadonlyArray<string>> =>
  Config.String(name).pipe(
    Config.mapEffect((text) => {
      const nodes = text.split(",").map((node) => node.trim()).filter((node) => node !== "")
      if (nodes.length === 0) return Effect.fail(Config.invalidData([name], `${name} names no node`))
      try {
        nodes.forEach(parseSeed)
        return Effect.succeed(nodes)
      } catch (error) {
        const reason = error instanceof RedisConfigError ? error.message : "not a usable node"
        return Effect.fail(Config.invalidData([name], `${name} is not a usable list of nodes: ${reason}`))
      }
    })
  )

/**
 * The cluster client as a scoped layer whose options come from `effect/Config`; by default the seeds are read
 * from `REDIS_CLUSTER_NODES`. `connect: RedisClient.connectConfig()` lets `REDIS_CONNECT` choose the startup check.
 *
 * @example
 * ```ts
 * // Effect 4 only: on Effect 3, `Config.redacted` in place of `Config.Redacted`.
 * import { Config } from "effect"
 * import { RedisCluster } from "effect-remote-cache"
 *
 * const FromEnv = RedisCluster.layerConfig({
 *   nodes: RedisCluster.nodesConfig(),
 *   password: Config.Redacted("REDIS_PASSWORD").pipe(Config.withDefault(undefined))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export function layerConfig(
  config?: RedisClient.LayerConfigInput<LazyClusterOptions>
): Layer.Layer<RedisClient.RedisClient, RedisConfigError | Config.ConfigError>
export function layerConfig(
  config: RedisClient.LayerConfigInput<RedisClusterOptions>
): Layer.Layer<RedisClient.RedisClient, RedisConfigError | Config.ConfigError | RedisError>
export function layerConfig(
  config: ConfigInput.ConfigInput<RedisClusterOptions> = { nodes: nodesConfig() }
): Layer.Layer<RedisClient.RedisClient, RedisConfigError | Config.ConfigError | RedisError> {
  return Layer.effect(
    RedisClient.RedisClient,
    Effect.flatMap(ConfigInput.toConfig(config), (options: RedisClusterOptions) => make(options))
  )
}
