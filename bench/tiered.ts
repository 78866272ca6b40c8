/**
 * Workload 7: the TieredCache L1-hit path — ops/s of `get` on a key held in the in-process tier, over a Redis L2
 * (so an L1 miss would cost a round trip; an L1 hit must cost none). One fiber, one `get` after another, each
 * timed.
 */
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as TieredCache from "../src/TieredCache.js"
import type { Round } from "./clients.js"

/** The workload id in the table and the JSON output. */
export const TIERED_WORKLOAD = "tiered-l1-hit"

/** Either measured rounds (one per benchmark round) or why the workload did not run. */
export type TieredOutcome =
  | { readonly _tag: "Measured"; readonly rounds: ReadonlyArray<Round> }
  | { readonly _tag: "Skipped"; readonly reason: string }

const opsPerRound = 200_000

/** Runs `rounds` rounds of `opsPerRound` L1 hits against a tiered cache over the Redis at `url`. */
export const runTieredL1Hit = (url: string, rounds: number): Promise<TieredOutcome> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const stack = TieredCache.layer({ capacity: 10_000, l1Ttl: "10 minutes" }).pipe(
      Layer.provide(RemoteCache.layerDefault),
      Layer.provide(RedisBackend.layerWithoutClient({ prefix: "bench-tiered:" })),
      Layer.provide(TieredCache.layerRedisBus),
      Layer.provide(RedisClient.layer({ url })),
      Layer.orDie
    )
    const cache = Context.get(yield* Layer.build(stack), TieredCache.TieredCache)
    yield* cache.set("hot", { id: 1, name: "a cached record", tags: ["x", "y"] })
    // Warm-up: the same loop, unmeasured, so the first round does not pay for compilation.
    for (let i = 0; i < opsPerRound; i++) yield* cache.get("hot")
    const measured: Array<Round> = []
    for (let r = 0; r < rounds; r++) {
      const latencies = new Float64Array(opsPerRound)
      const started = performance.now()
      for (let i = 0; i < opsPerRound; i++) {
        const t0 = performance.now()
        yield* cache.get("hot")
        latencies[i] = performance.now() - t0
      }
      measured.push({ elapsedMs: performance.now() - started, latencies })
    }
    return { _tag: "Measured", rounds: measured } as const
  })))
