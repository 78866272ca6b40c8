/**
 * Pub/sub on a real 3+3 cluster when the node a subscription listens on fails: the subscription must move to a live
 * node, say so with `onSubscribed` (a tiered cache clears its L1 then), and hear what is published afterwards, once.
 * Every test restores the node it killed or paused before the next one starts.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Option, Schedule, Scope, Supervisor } from "effect"
import { keySlot } from "../src/core/cluster/slot.js"
import * as RedisBackend from "../src/RedisBackend.js"
import type * as RedisClient from "../src/RedisClient.js"
import * as RedisCluster from "../src/RedisCluster.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as TieredCache from "../src/TieredCache.js"
import { RedisCluster as TestCluster, type RedisClusterShape } from "./utils/RedisCluster.js"
import type * as RedisServer from "./utils/RedisServer.js"

/** Polls `check` every 50 ms until it holds, dying with `what` after `millis`. */
const within = (millis: number, what: string, check: Effect.Effect<boolean>) =>
  Effect.flatMap(check, (ok) => ok ? Effect.void : Effect.fail(what)).pipe(
    Effect.retry({ schedule: Schedule.spaced("50 millis"), times: Math.ceil(millis / 50) }),
    Effect.orDie
  )

/** Listeners of `channel` on one node; 0 when it does not answer (killed, paused). */
const numsub = (server: RedisServer.RedisServerShape, channel: string) =>
  server.cli("PUBSUB", "NUMSUB", channel).pipe(
    Effect.map((reply) => Number(reply.split("\n")[1]?.trim() ?? 0)),
    Effect.timeout("2 seconds"),
    Effect.catchAllCause(() => Effect.succeed(0))
  )

/** Listeners of `channel` over every node (classic pub/sub is cluster-wide). */
const listeners = (cluster: RedisClusterShape, channel: string) =>
  Effect.map(
    Effect.forEach(cluster.servers, (server) => numsub(server, channel), { concurrency: "unbounded" }),
    (counts) => counts.reduce((sum, n) => sum + n, 0)
  )

/** Waits until a node other than `victim` serves `slot` and the cluster is whole again (without the victim). */
const awaitFailover = (cluster: RedisClusterShape, slot: number, victim: number) =>
  Effect.gen(function*() {
    yield* within(
      60_000,
      "no replica was promoted",
      Effect.map(Effect.either(cluster.ownerOf(slot)), (owner) => owner._tag === "Right" && owner.right !== victim)
    )
    yield* cluster.waitUntilOk
  })

/** What a subscription heard. */
const recorder = () => {
  const state = {
    received: [] as Array<string>,
    subscribed: 0,
    disconnected: 0,
    handlers: {} as RedisClient.SubscriptionHandlers
  }
  state.handlers = {
    onMessage: (message) => state.received.push(Buffer.from(message).toString("utf8")),
    onSubscribed: () => state.subscribed++,
    onDisconnected: () => state.disconnected++
  }
  return state
}

/**
 * Publishes `tag-1`, `tag-2`… from `publisher` (its own failures ignored: its map may be stale) until one is
 * heard, at most `millis`; returns how many were sent.
 */
const publishUntilHeard = (
  publisher: RedisClient.RedisClientShape,
  channel: string,
  tag: string,
  heard: ReturnType<typeof recorder>,
  millis: number
) =>
  Effect.gen(function*() {
    const deadline = performance.now() + millis
    for (let i = 1;; i++) {
      yield* Effect.ignore(Effect.timeout(publisher.publish(channel, `${tag}-${i}`), "2 seconds"))
      const done = yield* Effect.suspend(() =>
        within(300, "", Effect.sync(() => heard.received.some((m) => m.startsWith(`${tag}-`)))).pipe(
          Effect.as(true),
          Effect.catchAllDefect(() => Effect.succeed(false))
        )
      )
      if (done) return i
      if (performance.now() > deadline) {
        return yield* Effect.dieMessage(`nothing published on ${channel} was heard within ${millis} ms`)
      }
    }
  })

/** Sends `count` more messages and checks that each is heard exactly once. */
const expectEachHeardOnce = (
  publisher: RedisClient.RedisClientShape,
  channel: string,
  heard: ReturnType<typeof recorder>,
  count: number
) =>
  Effect.gen(function*() {
    for (let i = 0; i < count; i++) {
      yield* publisher.publish(channel, `once-${i}`).pipe(
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50 })
      )
    }
    yield* within(
      10_000,
      "not every message was heard",
      Effect.sync(() => heard.received.filter((m) => m.startsWith("once-")).length >= count)
    )
    // Each exactly once; in any order, as messages published through different nodes cross the cluster bus apart.
    const once = heard.received.filter((m) => m.startsWith("once-")).sort()
    expect(once).toStrictEqual(Array.from({ length: count }, (_, i) => `once-${i}`).sort())
  })

/** Kills or pauses the node serving `channel`'s slot, and brings it back when the test's scope closes. */
const takeDown = (cluster: RedisClusterShape, victim: number, how: "kill" | "pause") =>
  Effect.gen(function*() {
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        how === "kill" ? cluster.servers[victim]!.start : cluster.resume(victim),
        cluster.waitUntilOk
      )
    )
    yield* how === "kill" ? cluster.servers[victim]!.kill : cluster.pause(victim)
  })

const followsFailover = (how: "kill" | "pause") =>
  Effect.gen(function*() {
    const cluster = yield* TestCluster
    yield* cluster.waitUntilOk
    const channel = `follow:${how}`
    const slot = keySlot(channel)
    const victim = yield* cluster.ownerOf(slot)
    // A short commandTimeout: a paused node is noticed by the subscriber's health check within about 2 s + 1 s.
    const subscriber = yield* RedisCluster.make({ nodes: cluster.urls, commandTimeout: "1 second" })
    const publisher = yield* RedisCluster.make({ nodes: cluster.urls })
    const heard = recorder()
    yield* subscriber.subscribe(channel, heard.handlers)
    expect(heard.subscribed).toBe(1)
    // It listens on the primary of the channel's slot.
    expect(yield* numsub(cluster.servers[victim]!, channel)).toBe(1)

    const downAt = performance.now()
    yield* takeDown(cluster, victim, how)
    yield* within(30_000, "subscribed again", Effect.sync(() => heard.subscribed >= 2))
    const movedAt = performance.now()
    yield* awaitFailover(cluster, slot, victim)
    console.log(
      `[pubsub] ${how}: re-subscribed ${Math.round(movedAt - downAt)} ms after the node went down, ` +
        `failover done after ${Math.round(performance.now() - downAt)} ms`
    )
    const sent = yield* publishUntilHeard(publisher, channel, "after", heard, 20_000)
    // Re-established on a live node, and said so (the node confirmed the SUBSCRIBE first).
    expect(heard.subscribed).toBeGreaterThanOrEqual(2)
    expect(heard.disconnected).toBeGreaterThanOrEqual(1)
    expect(yield* listeners(cluster, channel)).toBe(1)
    // Never heard twice: it listens on one node at a time.
    const after = heard.received.filter((m) => m.startsWith("after-"))
    expect(new Set(after).size).toBe(after.length)
    expect(after.length).toBeLessThanOrEqual(sent)
    yield* expectEachHeardOnce(publisher, channel, heard, 20)
  })

describe("RedisCluster pub/sub across failovers", () => {
  layer(TestCluster.layer(), { excludeTestServices: true, timeout: 120_000 })((it) => {
    it.scoped(
      "the node a subscription listens on is killed: it moves to a live node, onSubscribed again, hears later messages once",
      () => followsFailover("kill"),
      120_000
    )

    it.scoped(
      "the node a subscription listens on is paused (SIGSTOP): the health check notices, it moves, hears later messages",
      () => followsFailover("pause"),
      120_000
    )

    it.scoped(
      "TieredCache over the cluster: after the subscribed node is killed, A reads B's later write, not its stale L1",
      () =>
        Effect.gen(function*() {
          const cluster = yield* TestCluster
          yield* cluster.waitUntilOk
          const channel = TieredCache.defaultChannel
          const slot = keySlot(channel)
          const victim = yield* cluster.ownerOf(slot)
          const instance = Effect.map(
            Layer.build(
              // l1Ttl far past the test: a stale L1 entry would be served for all of it.
              TieredCache.layerRedis({ l1Ttl: "10 minutes" }).pipe(
                Layer.provide(RemoteCache.layer(RemoteCache.defaultPolicy)),
                Layer.provide(RedisBackend.layerWithoutClient({ prefix: "follow:" })),
                Layer.provide(RedisCluster.layer({ nodes: cluster.urls, commandTimeout: "1 second" })),
                Layer.orDie
              )
            ),
            Context.get(TieredCache.TieredCache)
          )
          const a = yield* instance
          const b = yield* instance
          yield* within(10_000, "both instances subscribed", Effect.map(listeners(cluster, channel), (n) => n === 2))
          expect(yield* numsub(cluster.servers[victim]!, channel)).toBe(2)
          const key = "k"
          yield* b.set(key, "v1")
          expect(yield* a.get(key)).toStrictEqual(Option.some("v1"))
          yield* b.set(key, "v2")
          yield* within(10_000, "A sees v2", Effect.map(a.get(key), (v) => Option.getOrNull(v) === "v2"))

          yield* takeDown(cluster, victim, "kill")
          yield* awaitFailover(cluster, slot, victim)
          // Both moved to live nodes; A's L1 was cleared then, and v2 is read into it again.
          yield* within(
            20_000,
            "both instances subscribed again",
            Effect.map(listeners(cluster, channel), (n) => n === 2)
          )
          yield* within(
            10_000,
            "A reads v2",
            Effect.map(Effect.either(a.get(key)), (v) => v._tag === "Right" && Option.getOrNull(v.right) === "v2")
          )
          const writtenAt = performance.now()
          yield* b.set(key, "v3").pipe(Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 50 }))
          yield* within(
            10_000,
            "A reads v3 (not its stale v2)",
            Effect.map(Effect.either(a.get(key)), (v) => v._tag === "Right" && Option.getOrNull(v.right) === "v3")
          )
          console.log(`[pubsub] A read B's write after ${Math.round(performance.now() - writtenAt)} ms`)
        }),
      120_000
    )

    it.scoped(
      "a PUBLISH sent to a primary just killed is re-sent to another: none fails or is lost before the failover",
      () =>
        Effect.gen(function*() {
          const cluster = yield* TestCluster
          yield* cluster.waitUntilOk
          const victim = (yield* cluster.primaries)[0]!
          // A channel listened to on another node, so that the subscriber is not the one moving here.
          let channel = ""
          for (let i = 0; channel === ""; i++) {
            if ((yield* cluster.ownerOf(keySlot(`publish:${i}`))) !== victim) channel = `publish:${i}`
          }
          const subscriber = yield* RedisCluster.make({ nodes: cluster.urls })
          const heard = recorder()
          yield* subscriber.subscribe(channel, heard.handlers)
          // Its map read before the kill and not again on its own: a third of the PUBLISHes go to the dead primary first
          // (PUBLISH is re-sent, like a read, after its node failed).
          const publisher = yield* RedisCluster.make({ nodes: cluster.urls, refreshInterval: "10 minutes" })
          yield* publisher.send(["PING"])

          yield* takeDown(cluster, victim, "kill")
          const failed: Array<string> = []
          for (let i = 0; i < 30; i++) {
            const result = yield* Effect.either(publisher.publish(channel, `p-${i}`))
            if (result._tag === "Left") failed.push(`p-${i}: ${result.left.message}`)
          }
          expect(failed).toStrictEqual([])
          yield* within(
            10_000,
            "every message heard",
            Effect.sync(() => new Set(heard.received.filter((m) => m.startsWith("p-"))).size === 30)
          )
          yield* awaitFailover(cluster, keySlot(channel), victim)
        }),
      120_000
    )

    it.scoped(
      "a node the map no longer lists as healthy is left even before the health check gives up on it",
      () =>
        Effect.gen(function*() {
          const cluster = yield* TestCluster
          yield* cluster.waitUntilOk
          const channel = "follow:left"
          const slot = keySlot(channel)
          const victim = yield* cluster.ownerOf(slot)
          // The health check's PING may wait 30 s: within this test only the map can say the node is gone.
          const subscriber = yield* RedisCluster.make({
            nodes: cluster.urls,
            commandTimeout: "30 seconds",
            refreshInterval: "500 millis"
          })
          const heard = recorder()
          yield* subscriber.subscribe(channel, heard.handlers)
          expect(yield* numsub(cluster.servers[victim]!, channel)).toBe(1)
          const downAt = performance.now()
          yield* takeDown(cluster, victim, "pause")
          yield* within(20_000, "subscribed again", Effect.sync(() => heard.subscribed >= 2))
          const movedAt = performance.now()
          // Moved without a loss being seen on the paused node's connection.
          expect(heard.disconnected).toBe(0)
          console.log(`[pubsub] left the map: re-subscribed ${Math.round(movedAt - downAt)} ms after the pause`)
          const publisher = yield* RedisCluster.make({ nodes: cluster.urls })
          yield* awaitFailover(cluster, slot, victim)
          yield* publishUntilHeard(publisher, channel, "left", heard, 20_000)
        }),
      120_000
    )

    it.scoped(
      "scopes closed while the subscription moves: no hang, no fiber, no listener left",
      () =>
        Effect.gen(function*() {
          const cluster = yield* TestCluster
          yield* cluster.waitUntilOk
          const channel = "follow:close"
          const slot = keySlot(channel)
          const victim = yield* cluster.ownerOf(slot)
          const supervisor = yield* Supervisor.track
          // Two clients: one whose subscription's scope is closed, one whose own scope is closed, both mid-move.
          const clientScope = yield* Scope.make()
          const firstClientScope = yield* Scope.make()
          const subscriptionScope = yield* Scope.make()
          const first = recorder()
          const second = recorder()
          yield* Effect.gen(function*() {
            const one = yield* Scope.extend(
              RedisCluster.make({ nodes: cluster.urls, commandTimeout: "1 second" }),
              firstClientScope
            )
            yield* Scope.extend(one.subscribe(channel, first.handlers), subscriptionScope)
            const two = yield* Scope.extend(
              RedisCluster.make({ nodes: cluster.urls, commandTimeout: "1 second" }),
              clientScope
            )
            yield* Scope.extend(two.subscribe(channel, second.handlers), clientScope)
          }).pipe(Effect.supervised(supervisor))
          expect(yield* numsub(cluster.servers[victim]!, channel)).toBe(2)
          // The supervisor sees the fibers the subscriptions run on.
          expect((yield* supervisor.value).length).toBeGreaterThan(0)

          yield* takeDown(cluster, victim, "kill")
          yield* within(10_000, "both noticed", Effect.sync(() => first.disconnected > 0 && second.disconnected > 0))
          const closing = yield* Effect.fork(
            Effect.zipRight(Scope.close(subscriptionScope, Exit.void), Scope.close(clientScope, Exit.void))
          )
          const closed = yield* Fiber.join(closing).pipe(Effect.timeout("10 seconds"), Effect.option)
          expect(Option.isSome(closed)).toBe(true)
          yield* Scope.close(firstClientScope, Exit.void).pipe(Effect.timeout("10 seconds"))
          // Every fiber the clients and subscriptions started has ended.
          yield* within(5_000, "fibers left", Effect.map(supervisor.value, (fibers) => fibers.length === 0))
          yield* awaitFailover(cluster, slot, victim)
          // Nothing listens anywhere, and nothing subscribes again once the node is back.
          yield* cluster.servers[victim]!.start
          yield* cluster.waitUntilOk
          yield* Effect.sleep("2 seconds")
          expect(yield* listeners(cluster, channel)).toBe(0)
        }),
      120_000
    )
  })
})
