/**
 * The bus that carries invalidation messages between the tiered caches sharing an L2: Redis pub/sub on the
 * `RedisClient`'s own subscriber connection ({@link layerRedis}), or in-process ({@link layerMemory}).
 *
 * `TieredCache` requires this service and chooses one for you in `TieredCache.layerRedis` and
 * `TieredCache.layerInProcess`; the bus lives beside the client so that the cache itself knows nothing of Redis.
 * The messages are the cache's own (`TieredCache` encodes and decodes them); a bus only moves bytes.
 *
 * @since 0.1.0
 */
import * as Cause from "#effect/Cause"
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Layer from "#effect/Layer"
import * as Scope from "#effect/Scope"
import { handled } from "./internal/background.js"
import { clientSeamOf } from "./internal/seams.js"
import { RedisClient } from "./RedisClient.js"

/**
 * Carries invalidation messages between the tiered caches that share an L2.
 *
 * Neither operation may wait on the network: the tiered cache calls them on its callers' paths.
 *
 * @since 0.1.0
 * @category models
 */
export interface InvalidationBusShape {
  /**
   * Sends `message` on `channel` and returns once it is on its way, without waiting for delivery; failures are
   * swallowed (an L1 elsewhere may then serve until its TTL).
   */
  readonly publish: (channel: string, message: Uint8Array) => Effect.Effect<void>
  /**
   * Listens to `channel` while the scope is open. Returns without waiting for the network: the subscription may
   * complete later. `onSubscribed` runs after each (re)subscription: messages may have been lost before it.
   */
  readonly subscribe: (
    channel: string,
    handlers: { readonly onMessage: (message: Uint8Array) => void; readonly onSubscribed: () => void }
  ) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * The bus the tiered cache publishes its invalidations on and listens to. It has no default: over Redis, provide
 * {@link layerRedis} (or use `TieredCache.layerRedis`); within one process, {@link layerMemory} (or use
 * `TieredCache.layerInProcess`).
 *
 * The tag's key is the one it had when it was declared in `TieredCache`, so both names find the same service.
 *
 * @since 0.1.0
 * @category tags
 */
export class InvalidationBus extends Context.Service<InvalidationBus, InvalidationBusShape>()(
  "effect-remote-cache/TieredCache/InvalidationBus"
) {}

/** Logs what a subscriber's callback threw, as the Redis client does for its pub/sub listeners. */
const logThrown = (channel: string, callback: string, thrown: ReadonlyArray<unknown>): Effect.Effect<void> =>
  Effect.annotateLogs(
    Effect.forEach(
      thrown,
      (defect) =>
        Effect.logError(
          `in-process bus: a subscriber's ${callback} threw; the other subscribers are unaffected`,
          Cause.die(defect)
        ),
      { discard: true }
    ),
    { "bus.channel": channel }
  )

/**
 * An in-process bus: delivers synchronously to every subscriber of the channel in this process. A subscriber
 * whose callback throws is logged at error level; the others still get the message, and publishing never fails.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (): InvalidationBusShape => {
  const channels = new Map<string, Set<(message: Uint8Array) => void>>()
  return {
    // Delivered to the subscribers of the moment (one that subscribes or leaves during a delivery changes the
    // next one); a subscriber that throws is logged and keeps neither the others nor the publisher from going on,
    // as on the Redis bus.
    publish: (channel, message) =>
      Effect.suspend(() => {
        let thrown: Array<unknown> | undefined
        for (const deliver of Array.from(channels.get(channel) ?? [])) {
          try {
            deliver(message)
          } catch (defect) {
            ;(thrown ??= []).push(defect)
          }
        }
        return thrown === undefined ? Effect.void : logThrown(channel, "onMessage", thrown)
      }),
    subscribe: (channel, handlers) =>
      Effect.asVoid(Effect.acquireRelease(
        Effect.suspend(() => {
          const set = channels.get(channel) ?? new Set()
          channels.set(channel, set)
          set.add(handlers.onMessage)
          try {
            handlers.onSubscribed()
            return Effect.void
          } catch (defect) {
            return logThrown(channel, "onSubscribed", [defect])
          }
        }),
        () =>
          Effect.sync(() => {
            const set = channels.get(channel)
            set?.delete(handlers.onMessage)
            if (set?.size === 0) channels.delete(channel)
          })
      ))
  }
}

/**
 * A fresh in-process bus: the tiered caches built over this one layer value (layers are shared within one
 * `Layer` graph) invalidate each other. No other process hears them.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<InvalidationBus> = Layer.sync(InvalidationBus, makeMemory)

let processBus: InvalidationBusShape | undefined

/**
 * One in-process bus for the whole process, so every cache built over it (`TieredCache.layerInProcess`) hears
 * every other, whichever `Layer` graph it belongs to.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerProcess: Layer.Layer<InvalidationBus> = Layer.sync(InvalidationBus, () => {
  processBus ??= makeMemory()
  return processBus
})

/**
 * Redis pub/sub over the `RedisClient`'s own subscriber connection (health-checked, reconnecting,
 * re-subscribing). Publishing and subscribing run in fibers of this layer's scope, so no caller waits on them
 * while Redis is slow or unreachable (a `PUBLISH` still ends within the client's `commandTimeout`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedis: Layer.Layer<InvalidationBus, never, RedisClient> = Layer.effect(
  InvalidationBus,
  Effect.gen(function*() {
    const client = yield* RedisClient
    const scope = yield* Effect.scope
    // Off the caller's path, in a fiber of the bus's scope, so that closing the bus interrupts what is left.
    const inBackground = <E>(effect: Effect.Effect<unknown, E>) =>
      Effect.asVoid(
        Effect.forkIn(Effect.interruptible(handled("InvalidationBus publish", Effect.ignore(effect))), scope)
      )
    // The single-node client's callback-level send queues the PUBLISH on the socket at once, with no fiber per
    // write: a fiber is forked only for what must run in one (the connection opening, room awaited).
    const submit = clientSeamOf(client).submit
    const run = Effect.runForkWith(yield* Effect.context<never>())
    return InvalidationBus.of({
      publish: submit === undefined
        ? (channel, message) => inBackground(client.publish(channel, message))
        : (channel, message) =>
          Effect.sync(() =>
            submit(["PUBLISH", channel, message], (effect) => {
              if (!Exit.isExit(effect)) run(inBackground(effect))
            })
          ),
      // The subscription belongs to the caller's scope; only the wait for its confirmation is left behind.
      subscribe: (channel, handlers) =>
        Effect.flatMap(
          Effect.scope,
          (subscriberScope) =>
            Effect.asVoid(
              Effect.forkIn(
                Effect.interruptible(
                  handled(
                    "InvalidationBus subscribe",
                    Effect.provideService(client.subscribe(channel, handlers), Scope.Scope, subscriberScope)
                  )
                ),
                subscriberScope
              )
            )
        )
    })
  })
)
