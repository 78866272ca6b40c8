/**
 * The cluster client's view of the cluster: one single-node client per node, the slot map, the primaries and their
 * replicas, which nodes are failing, and the reading of all that again (one refresh at a time, never closer
 * together than `minRefreshGapMillis`).
 *
 * @internal
 */
import * as Cause from "#effect/Cause"
import * as Deferred from "#effect/Deferred"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Scope from "#effect/Scope"
import { type Address, mapAddress } from "../../core/cluster/address.js"
import {
  healthMarkMillisFor,
  isConnectionFailure,
  minRefreshGapMillis,
  probeTimeoutMillisFor
} from "../../core/cluster/redirect.js"
import { slotCount } from "../../core/cluster/slot.js"
import {
  defaultNodeTimeoutMillis,
  failoverWaitFor,
  parseNodeTimeout,
  parseShards,
  parseSlots,
  type Shard
} from "../../core/cluster/topology.js"
import * as RedisClient from "../../RedisClient.js"
import { type RedisConfigError, RedisConnectionError, type RedisError } from "../../RedisError.js"
import * as Resp from "../../Resp.js"
import { handled } from "../background.js"
import { toMillis } from "../client/options.js"
import type { Settings } from "./options.js"

/**
 * A node the client talks to: its address (after `natMap`) and its own single-node client.
 *
 * @internal
 */
export interface Node {
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

/**
 * What every command waiting on a closed client fails with.
 *
 * @internal
 */
export const closedError = () => new RedisConnectionError({ message: "the cluster client's scope is closed" })

/**
 * The nodes, the slot map and its refresh. Its fields are read directly on the hot path (`slots[slot]`); only this
 * class writes them, but for the router's `MOVED` update of a slot.
 *
 * @internal
 */
export class Topology {
  /** Every node ever seen, by address. */
  readonly nodes = new Map<string, Node>()
  /** The first seed's node, whose client validated the shared options; where pub/sub listens before any map. */
  readonly firstNode: Node
  /**
   * The slot map: each slot's primary. Nodes that leave the topology keep their client until the cluster client
   * closes: a command in flight on one is answered there, and an address seen once tends to come back (a restarted
   * node). The router writes a slot on `MOVED`.
   */
  readonly slots = new Array<Node | undefined>(slotCount)
  /** The primaries of the last topology. */
  primaries: ReadonlyArray<Node> = []
  /** The replicas of the last topology that the cluster does not report failed, as announced. */
  healthyReplicas: ReadonlyArray<Address> = []
  /** Every address of the last topology, primaries first: where the next refresh asks. */
  private known: ReadonlyArray<Address> = []
  /** The healthy nodes of the last topology, primaries first: where a subscription may listen. */
  liveNodes: ReadonlyArray<Node> = []
  /** Run after each topology is applied: subscriptions move off a node that left it. */
  readonly topologyListeners = new Set<() => void>()
  /** With `readFromReplicas`: each primary's healthy replicas, from the last topology. */
  private readonly replicasOf = new Map<Node, ReadonlyArray<Node>>()
  private nextReplica = 0
  /** Set when the client's scope closes: every command still waiting fails then. */
  closed = false
  private refreshing: Deferred.Deferred<void, RedisError> | undefined
  private lastRefreshAt = -Infinity
  private nodeTimeoutTries = 0
  /** Set once the cluster's node timeout is known, or `failoverWait` was given: nothing more to learn. */
  private nodeTimeoutKnown: boolean
  private readonly useTls: boolean
  private readonly healthMarkMillis: number
  private readonly probeTimeoutMillis: number

  constructor(
    readonly settings: Settings,
    readonly resolved: RedisClient.ResolvedOptions,
    private readonly scope: Scope.Scope,
    firstClient: RedisClient.RedisClientShape,
    /**
     * How long re-sends after a connection failure go on. Without the option, Redis' default node timeout is
     * assumed until the first topology read learns the cluster's own (`learnNodeTimeout`); the failover-wait code
     * reads this field on each failure.
     */
    public failoverWaitMillis: number
  ) {
    const first = settings.seeds[0]!
    this.firstNode = {
      address: `${first.host}:${first.port}`,
      host: first.host,
      port: first.port,
      client: firstClient,
      failedAt: 0
    }
    this.nodes.set(this.firstNode.address, this.firstNode)
    this.nodeTimeoutKnown = settings.failoverWait !== undefined
    this.useTls = resolved.tls !== undefined
    this.healthMarkMillis = healthMarkMillisFor(resolved.commandTimeoutMillis)
    this.probeTimeoutMillis = probeTimeoutMillisFor(resolved.commandTimeoutMillis)
  }

  /** The node at an announced address, its client made on first use (no socket is opened until a command). */
  readonly nodeAt = (announced: Address, seed = false): Effect.Effect<Node> =>
    Effect.suspend(() => {
      // A seed is an address the user gave, reachable as it is; only the cluster's announced ones are mapped.
      const { host, port } = seed ? announced : mapAddress(this.settings.natMap, announced)
      const address = `${host}:${port}`
      const existing = this.nodes.get(address)
      if (existing !== undefined) return Effect.succeed(existing)
      const { nodes, scope, settings } = this
      return Effect.uninterruptible(Effect.gen(function*() {
        const nodeScope = yield* Scope.fork(scope, "sequential")
        const client = yield* Effect.orDie(
          Effect.provideService(RedisClient.make({ ...settings.base, host, port }), Scope.Scope, nodeScope)
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

  /**
   * The node of a redirection that names no host (`:6381`): `natMap` sees the address as announced (host `""`);
   * left unmapped, it is the host the client reaches the answering node at, with the announced port.
   */
  readonly nodeAtAnswering = (announced: Address, answering: Node | undefined): Effect.Effect<Node> => {
    const mapped = mapAddress(this.settings.natMap, announced)
    if (mapped.host !== "") return this.nodeAt(mapped, true)
    return this.nodeAt({ host: answering?.host ?? this.firstNode.host, port: mapped.port }, true)
  }

  /** Whether keyless commands and replica reads may use the node: not marked, or marked long enough ago. */
  readonly isHealthy = (node: Node): boolean =>
    node.failedAt === 0 || performance.now() - node.failedAt > this.healthMarkMillis

  /** Marks the node as failing when its command failed with a connection error or a timeout. */
  readonly markFailed = (node: Node, error: RedisError): void => {
    if (isConnectionFailure(error)) node.failedAt = performance.now()
  }

  /** For a keyless command: a random primary not marked as failing, any primary when all are. */
  readonly anyPrimary = (): Node | undefined => {
    const primaries = this.primaries
    const n = primaries.length
    if (n === 0) return undefined
    const start = Math.floor(Math.random() * n)
    for (let k = 0; k < n; k++) {
      const node = primaries[(start + k) % n]!
      if (this.isHealthy(node)) return node
    }
    return primaries[start]
  }

  /**
   * With `readFromReplicas`: the next replica of `primary` in turn, passing over one marked as failing; `undefined`
   * when it has none or every one is marked (the primary serves the read then).
   */
  readonly pickReplica = (primary: Node): Node | undefined => {
    const replicas = this.replicasOf.get(primary)
    if (replicas === undefined) return undefined
    for (let k = 0; k < replicas.length; k++) {
      const replica = replicas[this.nextReplica++ % replicas.length]!
      if (this.isHealthy(replica)) return replica
    }
    return undefined
  }

  /** The map known, or read now when there is none yet. */
  readonly ready: Effect.Effect<void, RedisError> = Effect.suspend(() =>
    this.primaries.length > 0 ? Effect.void : this.refresh
  )

  /** Makes a topology read the current one: slots, primaries, replicas, live nodes; then tells the listeners. */
  private apply(shards: ReadonlyArray<Shard>): Effect.Effect<void> {
    const self = this
    return Effect.gen(function*() {
      const next: Array<Node> = []
      for (const shard of shards) {
        const node = yield* self.nodeAt(shard.primary)
        if (!next.includes(node)) next.push(node)
        for (const [start, end] of shard.ranges) {
          for (let slot = Math.max(0, start); slot <= Math.min(end, slotCount - 1); slot++) self.slots[slot] = node
        }
      }
      self.primaries = next
      if (self.settings.readFromReplicas) {
        for (const shard of shards) {
          const primary = yield* self.nodeAt(shard.primary)
          const replicas: Array<Node> = []
          for (const replica of shard.replicas) if (replica.healthy) replicas.push(yield* self.nodeAt(replica))
          self.replicasOf.set(primary, replicas)
        }
      }
      self.known = [...shards.map((shard) => shard.primary), ...shards.flatMap((shard) => shard.replicas)]
      self.healthyReplicas = shards.flatMap((shard) => shard.replicas.filter((replica) => replica.healthy))
      const live: Array<Node> = []
      for (const info of shards.map((shard) => shard.primary)) if (info.healthy) live.push(yield* self.nodeAt(info))
      for (const info of shards.flatMap((shard) => shard.replicas)) {
        if (info.healthy) live.push(yield* self.nodeAt(info))
      }
      self.liveNodes = live
      for (const listener of self.topologyListeners) listener()
    })
  }

  /** Asks one node for the topology: `CLUSTER SHARDS`, or `CLUSTER SLOTS` where that is unknown. */
  private askTopology(node: Node): Effect.Effect<ReadonlyArray<Shard>, RedisError> {
    return Effect.flatMap(
      node.client.pipeline([["CLUSTER", "SHARDS"]]),
      ([reply]): Effect.Effect<ReadonlyArray<Shard>, RedisError> => {
        if (!(reply instanceof Resp.ErrorReply)) {
          const shards = parseShards(reply!, node.host, this.useTls)
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
  }

  /** Reads the topology from the first node that tells it: the primaries, the rest of the last map, the seeds. */
  private readonly discover: Effect.Effect<void, RedisError> = Effect.suspend(() => {
    const candidates: Array<readonly [Address, boolean]> = []
    const seen = new Set<string>()
    const consider = (address: Address, seed: boolean) => {
      const key = `${address.host}:${address.port}`
      if (!seen.has(key)) {
        seen.add(key)
        candidates.push([address, seed])
      }
    }
    // The primaries first (already mapped: given as seeds so they are not mapped twice), the rest, the seeds.
    for (const node of this.primaries) consider(node, true)
    for (const address of this.known) consider(mapAddress(this.settings.natMap, address), true)
    for (const seed of this.settings.seeds) consider(seed, true)
    const failures: Array<string> = []
    // Each node's own typed error, as the cause: a startup check fails with it when every node failed alike.
    const errors: Array<RedisError> = []
    const tryFrom = (index: number): Effect.Effect<void, RedisError> => {
      if (index >= candidates.length) {
        return Effect.fail(
          new RedisConnectionError({
            message: `no node of the cluster told its topology (${failures.join("; ")})`,
            cause: errors
          })
        )
      }
      if (this.closed) return Effect.fail(closedError())
      const [address, seed] = candidates[index]!
      return Effect.flatMap(this.nodeAt(address, seed), (node) =>
        this.askTopology(node).pipe(
          Effect.timeoutOrElse({
            duration: this.probeTimeoutMillis,
            orElse: () => Effect.fail(new RedisConnectionError({ message: `${node.address} did not answer in time` }))
          }),
          Effect.matchEffect({
            onSuccess: (shards) => Effect.andThen(this.apply(shards), this.learnNodeTimeout(node)),
            onFailure: (error) => {
              failures.push(`${node.address}: ${error.message}`)
              errors.push(error)
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
  private learnNodeTimeout(node: Node): Effect.Effect<void> {
    if (this.nodeTimeoutKnown) return Effect.void
    if (++this.nodeTimeoutTries >= 3) this.nodeTimeoutKnown = true
    return node.client.pipeline([["CONFIG", "GET", "cluster-node-timeout"]]).pipe(
      Effect.timeout(this.probeTimeoutMillis),
      Effect.match({
        onFailure: () => {},
        onSuccess: ([reply]) => {
          this.nodeTimeoutKnown = true
          const nodeTimeout = parseNodeTimeout(reply!)
          if (nodeTimeout !== undefined) {
            this.failoverWaitMillis = failoverWaitFor(nodeTimeout, this.resolved.commandTimeoutMillis)
          }
        }
      })
    )
  }

  /** Reads the map now, or joins the refresh in progress: one at a time. */
  readonly refresh: Effect.Effect<void, RedisError> = Effect.suspend(() => {
    if (this.closed) return Effect.fail(closedError())
    if (this.refreshing !== undefined) return Deferred.await(this.refreshing)
    const deferred = Deferred.makeUnsafe<void, RedisError>()
    this.refreshing = deferred
    // Run in the client's scope: a caller interrupted while waiting must not stop the refresh others wait for.
    // Only that scope's closing interrupts the refresh; the waiters are told so rather than left waiting, however
    // the refresh ends (`onExit` runs on interruption too).
    return this.discover.pipe(
      Effect.onExit((exit) =>
        Effect.suspend(() => {
          if (this.refreshing === deferred) this.refreshing = undefined
          this.lastRefreshAt = performance.now()
          return Deferred.done(
            deferred,
            Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? Exit.fail(closedError()) : exit
          )
        })
      ),
      // Its outcome goes to the deferred: the fiber ends with it as a value, never with an unhandled failure.
      Effect.exit,
      Effect.forkIn(this.scope),
      Effect.andThen(Deferred.await(deferred))
    )
  })

  /** A refresh, unless one ran less than `minRefreshGapMillis` ago: then waits that out first. */
  readonly refreshThrottled: Effect.Effect<void, RedisError> = Effect.suspend(() => {
    if (this.closed) return Effect.fail(closedError())
    if (this.refreshing !== undefined) return Deferred.await(this.refreshing)
    const wait = this.lastRefreshAt + minRefreshGapMillis - performance.now()
    return wait > 0 ? Effect.andThen(Effect.sleep(Duration.millis(wait)), this.refresh) : this.refresh
  })

  /** Starts a refresh in the background unless one is running or just ran. */
  readonly refreshSoon: Effect.Effect<void> = Effect.suspend(() => {
    if (this.refreshing !== undefined || performance.now() - this.lastRefreshAt < minRefreshGapMillis) {
      return Effect.void
    }
    return Effect.asVoid(Effect.forkIn(handled("RedisCluster refresh", Effect.ignore(this.refresh)), this.scope))
  })

  /** A fresh map when one can be had; the current one when the refresh fails but a map is known. */
  readonly refreshOrKnown: Effect.Effect<void, RedisError> = Effect.catch(
    this.refresh,
    (error) => this.primaries.length > 0 ? Effect.void : Effect.fail(error)
  )

  /**
   * Closing the scope fails the refresh in progress, if any, for the callers waiting on it: this runs whether or
   * not the refresh fiber got to its own `onExit` (a fiber interrupted before it starts runs none of its code).
   */
  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    this.closed = true
    const pending = this.refreshing
    this.refreshing = undefined
    return pending === undefined ? Effect.void : Deferred.fail(pending, closedError())
  })
}

/**
 * The topology of a cluster client, in its scope: nothing is read until the first command (or `ready`); the map is
 * read again every `refreshIntervalMillis` until the scope closes, which fails every command still waiting.
 *
 * @internal
 */
export const make = (
  settings: Settings,
  firstClient: RedisClient.RedisClientShape
): Effect.Effect<Topology, RedisConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const resolved = firstClient.options
    const failoverWaitMillis = yield* Effect.try({
      try: () =>
        toMillis(
          settings.failoverWait,
          failoverWaitFor(defaultNodeTimeoutMillis, resolved.commandTimeoutMillis),
          "failoverWait"
        ),
      catch: (error) => error as RedisConfigError
    })
    const topology = new Topology(settings, resolved, scope, firstClient, failoverWaitMillis)
    yield* Effect.addFinalizer(() => Effect.sync(() => (topology.closed = true)))
    yield* Effect.addFinalizer(() => topology.close)
    // The periodic refresh, for changes no command has run into yet (a new primary, a replica promoted).
    yield* Effect.forkIn(
      handled(
        "RedisCluster periodic refresh",
        Effect.forever(
          Effect.andThen(Effect.sleep(Duration.millis(settings.refreshIntervalMillis)), Effect.ignore(topology.refresh))
        )
      ),
      scope
    )
    return topology
  })
