/**
 * Waiting for what happens off the caller's path: a tiered cache subscribes to its invalidation channel in the
 * background, so a test over Redis waits for the subscription before it checks invalidation.
 */
import * as Effect from "#effect/Effect"
import * as Schedule from "#effect/Schedule"
import * as TieredCache from "../../src/TieredCache.js"
import type * as RedisServer from "./RedisServer.js"

/** Runs `effect` until `check` holds on its result (every 20 ms, about 5 s at most), then dies. */
export const eventually = <A, E>(effect: Effect.Effect<A, E>, check: (a: A) => boolean) =>
  Effect.flatMap(effect, (a) => check(a) ? Effect.void : Effect.fail("not yet" as const)).pipe(
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }),
    Effect.orDie
  )

/** Waits until `count` tiered caches listen on the server's default invalidation channel. */
export const awaitSubscribers = (server: RedisServer.RedisServerShape, count: number) =>
  eventually(
    server.cli("PUBSUB", "NUMSUB", TieredCache.defaultChannel),
    (reply) => reply.split("\n")[1]?.trim() === String(count)
  )
