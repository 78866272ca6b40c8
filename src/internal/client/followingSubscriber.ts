/**
 * A subscription that follows a topology: it listens on the node `pickNode` names, through that node's own
 * single-node subscription, and moves when that node fails (its subscriber connection is lost or cannot be opened,
 * a health-check `PING` unanswered included) or leaves the live nodes of the topology. A failure first has the
 * topology read again, so a promoted replica or any other live node is found; the failed node is avoided for a
 * while even though the topology may still list it.
 *
 * One node at a time: the old node's subscription is closed before the new one is made, so no message is heard
 * twice; what is published between the two is lost, which the new node's confirmation says with `onSubscribed`
 * (a tiered cache clears its L1 then). Used by the cluster client; another topology (Sentinel) gives its own
 * `FollowTopology`.
 *
 * @internal
 */
import * as Clock from "#effect/Clock"
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Queue from "#effect/Queue"
import * as Random from "#effect/Random"
import * as Scope from "#effect/Scope"
import { pickNode } from "../../core/client/subscriberPick.js"
import { handled } from "../background.js"
import { reconnectDelayMillis } from "./connect.js"
import type { ResolvedOptions, SubscriptionHandlers } from "./types.js"

/**
 * What a following subscription needs from its topology. Nodes are compared by identity.
 *
 * @internal
 */
export interface FollowTopology<N> {
  /** The node's own subscription: a single-node client's `subscribe` (reconnecting, health-checked). */
  readonly subscribeOn: (
    node: N,
    channel: string,
    handlers: SubscriptionHandlers
  ) => Effect.Effect<void, never, Scope.Scope>
  /** Where `channel` would rather listen; spreads channels over the nodes. */
  readonly preferred: (channel: string) => N | undefined
  /** The live nodes of the last topology, in order of preference. */
  readonly live: () => ReadonlyArray<N>
  /** Where to listen while no topology is known (a seed). */
  readonly fallback: N
  /** The topology, read if none is known yet; never fails. */
  readonly ready: Effect.Effect<void>
  /** Reads the topology again (or joins the read in progress); never fails. */
  readonly refresh: Effect.Effect<void>
  /** Runs `listener` after each topology read, until the returned function is called. */
  readonly onChange: (listener: () => void) => () => void
  /** The client's scope: closing it ends every subscription. */
  readonly scope: Scope.Scope
  readonly options: Pick<
    ResolvedOptions,
    "connectTimeoutMillis" | "reconnectBaseDelayMillis" | "reconnectMaxDelayMillis"
  >
}

/**
 * How long a node that failed a subscription is passed over while another live node has not failed: longer than a
 * cluster takes to fail a dead primary over with the default `cluster-node-timeout` (15 s).
 *
 * @internal
 */
export const avoidFailedMillis = 30_000

/** Something the following loop reacts to: a loss on the node it listens on (this listening of it), a new map. */
type Event =
  | { readonly _tag: "lost"; readonly listening: object }
  | { readonly _tag: "changed" }

const changed: Event = { _tag: "changed" }

/** Spreads channels that move off the same node over the live ones. */
const offsetOf = (channel: string): number => {
  let hash = 0
  for (let i = 0; i < channel.length; i++) hash = (hash * 31 + channel.charCodeAt(i)) | 0
  return hash >>> 0
}

/**
 * Listens to `channel` for as long as the current scope and the topology's scope are both open, on a node of the
 * topology, moving as described above. Completes once a node confirmed the subscription, or after
 * `connectTimeout` (it keeps trying in the background); never fails.
 *
 * @internal
 */
export const subscribe = <N>(
  topology: FollowTopology<N>,
  channel: string,
  handlers: SubscriptionHandlers
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const confirmed = Deferred.makeUnsafe<void>()
    // In the client's scope, so that closing the client stops it; interrupted when the caller's scope closes.
    yield* Effect.acquireRelease(
      Effect.forkIn(
        Effect.interruptible(handled("RedisCluster subscription", follow(topology, channel, handlers, confirmed))),
        topology.scope
      ),
      Fiber.interrupt
    )
    yield* Effect.timeout(Deferred.await(confirmed), topology.options.connectTimeoutMillis).pipe(Effect.ignore)
  })

const follow = <N>(
  topology: FollowTopology<N>,
  channel: string,
  handlers: SubscriptionHandlers,
  confirmed: Deferred.Deferred<void>
): Effect.Effect<never> =>
  Effect.flatMap(Queue.unbounded<Event>(), (events) => {
    const failedAt = new Map<N, number>()
    let current: N | undefined
    /**
     * This listening of `current`: a loss reported by an earlier listening (of the same node, even) is stale, and so
     * is one the node's subscriber has recovered from (re-subscribed there) before the loss was looked at.
     */
    let listening: { down: boolean } | undefined
    let here: Scope.Closeable | undefined
    /** Losses since the last confirmation: past the first, a move waits out the reconnection backoff. */
    let losses = 0

    /**
     * Tells the loop of `event` once the callback reporting it (a node subscriber's, the topology's) has returned:
     * on Effect 4 an offer resumes the waiting loop at once, which would then move the subscription from inside
     * that component's own notification.
     */
    const report = (event: Event): void => queueMicrotask(() => Queue.offerUnsafe(events, event))

    const leave: Effect.Effect<void> = Effect.suspend(() => {
      const scope = here
      here = undefined
      current = undefined
      listening = undefined
      return scope === undefined ? Effect.void : Scope.close(scope, Exit.void)
    })

    const listenOn = (node: N): Effect.Effect<void> =>
      Effect.gen(function*() {
        // Never on two nodes at once: a message would be heard twice.
        yield* leave
        const scope = yield* Scope.make()
        const token = { down: false }
        here = scope
        current = node
        listening = token
        const nodeHandlers: SubscriptionHandlers = {
          onMessage: handlers.onMessage,
          onSubscribed: () => {
            token.down = false
            losses = 0
            // Completed last: on Effect 4 that resumes the `subscribe` waiting for it at once.
            try {
              handlers.onSubscribed?.()
            } finally {
              Deferred.doneUnsafe(confirmed, Exit.void)
            }
          },
          onDisconnected: (error) => {
            token.down = true
            report({ _tag: "lost", listening: token })
            handlers.onDisconnected?.(error)
          }
        }
        // The wait for the node's confirmation runs beside the loop, which must hear of a loss meanwhile.
        yield* Effect.forkIn(
          Effect.interruptible(
            handled(
              "RedisCluster node subscription",
              Scope.provide(topology.subscribeOn(node, channel, nodeHandlers), scope)
            )
          ),
          scope
        )
      })

    const pick = (now: number): N =>
      pickNode({
        current,
        preferred: topology.preferred(channel),
        live: topology.live(),
        failedAt,
        now,
        avoidMillis: avoidFailedMillis,
        offset: offsetOf(channel)
      }) ?? topology.fallback

    const step: Effect.Effect<void> = Effect.gen(function*() {
      // The events since the last step, waiting for one.
      const happened = yield* Queue.takeAll(events)
      const lost = listening?.down === true &&
        happened.some((event) => event._tag === "lost" && event.listening === listening)
      if (lost && current !== undefined) {
        failedAt.set(current, yield* Clock.currentTimeMillis)
        losses++
        // A promoted replica, or the node's absence, is learnt from a fresh map.
        yield* topology.refresh
      }
      const next = pick(yield* Clock.currentTimeMillis)
      // Staying: the node's own subscriber reconnects there, with its backoff.
      if (next === current) return
      if (losses > 1) {
        // Every node failed lately (a cluster restarting): a move starts a fresh subscriber, so pace the moves here.
        const random = yield* Random.next
        yield* Effect.sleep(reconnectDelayMillis(topology.options, losses - 2, random))
      }
      yield* listenOn(next)
    })

    return Effect.acquireUseRelease(
      Effect.sync(() => topology.onChange(() => report(changed))),
      () =>
        Effect.andThen(topology.ready, Effect.flatMap(Clock.currentTimeMillis, (now) => listenOn(pick(now)))).pipe(
          Effect.andThen(Effect.forever(step))
        ),
      (unregister) => Effect.andThen(Effect.sync(unregister), leave)
    )
  })
