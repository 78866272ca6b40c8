/**
 * The two-tier caches side by side: our `TieredCache` (over the default `RemoteCache`, `RedisBackend` with
 * `Serializer.v8`, the Redis invalidation bus) and bentocache (its memory driver as L1, its Redis driver as L2 and
 * its Redis bus), each configured as its documentation shows, each on connections of its own.
 *
 * Each side holds three caches, so that one workload does not disturb another's in-process tier:
 *
 * - `hot`: room for every key of the dataset, filled before the rounds: every read is an L1 hit;
 * - `cold`: an in-process tier of a single entry (the least either library accepts), read over the dataset's keys
 *   in random order: nearly every read misses L1 and is answered by Redis (then back-fills that one slot);
 * - `fresh`: read-through on keys nobody wrote (new names every round): each read misses both tiers, runs the
 *   computation (it returns a value at once), writes Redis and keeps the value in L1, and publishes on the bus.
 *
 * Each cache has a bus channel of its own, so that one cache's writes do not reach the others of the same process
 * (in a deployment they reach other processes).
 *
 * The stampede (`runStampede`): 100 callers at once on one missing key, read-through with a computation that takes
 * a fixed time; it counts the computations (single-flight means one) and times the whole.
 */
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as Scope from "#effect/Scope"
import { BentoCache, bentostore } from "bentocache"
import { memoryDriver } from "bentocache/drivers/memory"
import { redisBusDriver, redisDriver } from "bentocache/drivers/redis"
import { Redis as IORedis } from "ioredis"
import { setTimeout as sleep } from "node:timers/promises"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as TieredCache from "../src/TieredCache.js"
import { type Driver, effectPool, promisePool } from "./clients.js"
import { BENTO_PREFIX, type Dataset, makeObject, TIERED_PREFIX, type Workload } from "./data.js"

/** TTL of everything the tiered caches store (L2 and L1), in milliseconds: longer than any run. */
const TTL_MILLIS = 10 * 60_000
const VARIANT_MASK = 63

/** The number of the current run of a `miss` workload: keys are new in every run. */
let generation = 0

/** The keys of one run of a `miss` workload, built before its clock starts. */
const freshKeys = (workload: Workload, side: string): Array<string> => {
  const run = generation++
  return Array.from({ length: workload.ops }, (_, i) => `miss:${side}:${run}:${i}`)
}

const tieredCase = (workload: Workload) => {
  if (workload.tiered === undefined) throw new Error(`${workload.id} is not a tiered workload`)
  return workload.tiered
}

// -------------------------------------------------------------------------------------------------------------------
// ours
// -------------------------------------------------------------------------------------------------------------------

interface OursTiered {
  readonly hot: TieredCache.TieredCacheShape
  readonly cold: TieredCache.TieredCacheShape
  readonly fresh: TieredCache.TieredCacheShape
}

/** Our three tiered caches over one `RedisClient` of their own, with the dataset stored in L2 and `hot`'s L1. */
export const oursTiered = async (url: string, dataset: Dataset): Promise<Driver> => {
  const scope = Effect.runSync(Scope.make())
  const build = Effect.gen(function*() {
    const client = yield* RedisClient.make({ url })
    const backend = yield* Effect.provideService(
      RedisBackend.make({ prefix: TIERED_PREFIX }),
      RedisClient.RedisClient,
      client
    )
    const remote = yield* RemoteCache.fromBackend(backend, RemoteCache.defaultPolicy)
    const bus = Context.get(
      yield* Layer.build(Layer.provide(TieredCache.layerRedisBus, Layer.succeed(RedisClient.RedisClient, client))),
      TieredCache.InvalidationBus
    )
    const make = (name: string, capacity: number) =>
      TieredCache.make({ capacity, l1Ttl: TTL_MILLIS, channel: `${TIERED_PREFIX}${name}` }).pipe(
        Effect.provideService(RemoteCache.RemoteCache, remote),
        Effect.provideService(TieredCache.InvalidationBus, bus)
      )
    const caches: OursTiered = {
      hot: yield* make("hot", dataset.keyCount),
      cold: yield* make("cold", 1),
      fresh: yield* make("fresh", dataset.keyCount)
    }
    for (let start = 0; start < dataset.keyCount; start += 500) {
      const entries: Array<readonly [string, unknown]> = []
      for (let k = start; k < Math.min(dataset.keyCount, start + 500); k++) {
        entries.push([dataset.keys[k]!, dataset.objects[k & VARIANT_MASK]!])
      }
      yield* backend.setMany(entries, TTL_MILLIS)
    }
    yield* Effect.forEach(dataset.keys, (key) => caches.hot.get(key), { concurrency: 256, discard: true })
    return caches
  })
  const caches = await Effect.runPromise(Scope.provide(build, scope))
  return {
    name: "ours-tiered",
    description: "TieredCache (L1 in process) over RemoteCache.defaultPolicy, RedisBackend, layerRedisBus",
    serializer: "v8 in L2, objects as they are in L1",
    families: ["tiered"],
    format: "object",
    prepare: (workload) => {
      const { case: which, readThrough } = tieredCase(workload)
      const { keys, objects } = workload.dataset
      const { keyIndex } = workload
      const options = { ttl: TTL_MILLIS }
      if (which === "miss") {
        return () => {
          const names = freshKeys(workload, "ours")
          return effectPool(
            workload,
            (i) => caches.fresh.getOrCompute(names[i]!, Effect.sync(() => objects[i & VARIANT_MASK]!), options)
          )()
        }
      }
      const cache = which === "l1-hit" ? caches.hot : caches.cold
      return readThrough
        ? effectPool(
          workload,
          (i) => cache.getOrCompute(keys[keyIndex[i]!]!, Effect.sync(() => objects[i & VARIANT_MASK]!), options)
        )
        : effectPool(workload, (i) => cache.get(keys[keyIndex[i]!]!))
    },
    probe: async () => {
      // Both caches a read workload uses must answer with the stored value.
      const [hot, cold] = await Effect.runPromise(
        Effect.all([caches.hot.get(dataset.keys[0]!), caches.cold.get(dataset.keys[0]!)])
      )
      const a = Option.getOrUndefined(hot)
      return JSON.stringify(a) === JSON.stringify(Option.getOrUndefined(cold)) ? a : undefined
    },
    // The keys stay: the run removes everything under its root prefix at the end (or stops its own server).
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

// -------------------------------------------------------------------------------------------------------------------
// bentocache
// -------------------------------------------------------------------------------------------------------------------

const connectionOf = (url: string) => {
  const parsed = new URL(url)
  return {
    host: parsed.hostname,
    port: Number(parsed.port === "" ? 6379 : parsed.port),
    ...(parsed.username === "" ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === "" ? {} : { password: decodeURIComponent(parsed.password) })
  }
}

/** bentocache's three stores over one ioredis connection for L2, each with its Redis bus. */
export const bentocache = async (url: string, dataset: Dataset): Promise<Driver> => {
  const connection = connectionOf(url)
  const l2 = new IORedis(connection)
  const store = (maxItems: number) =>
    bentostore()
      .useL1Layer(memoryDriver({ maxItems }))
      .useL2Layer(redisDriver({ connection: l2 }))
      .useBus(redisBusDriver({ connection }))
  const bento = new BentoCache({
    default: "hot",
    prefix: BENTO_PREFIX,
    ttl: TTL_MILLIS,
    stores: { hot: store(dataset.keyCount), cold: store(1), fresh: store(dataset.keyCount) }
  })
  const hot = bento.use("hot")
  const cold = bento.use("cold")
  const fresh = bento.use("fresh")
  for (let start = 0; start < dataset.keyCount; start += 500) {
    const writes: Array<Promise<unknown>> = []
    for (let k = start; k < Math.min(dataset.keyCount, start + 500); k++) {
      writes.push(hot.set({ key: dataset.keys[k]!, value: dataset.objects[k & VARIANT_MASK]! }))
    }
    await Promise.all(writes)
  }
  // A set keeps the value in the writer's L1: `hot` holds every key now.
  return {
    name: "bentocache",
    description: "bentocache 1.x: memoryDriver (its defaults) + redisDriver (ioredis) + redisBusDriver",
    serializer: "JSON (L2, and L1: the memory driver's default)",
    families: ["tiered"],
    format: "object",
    prepare: (workload) => {
      const { case: which, readThrough } = tieredCase(workload)
      const { keys, objects } = workload.dataset
      const { keyIndex } = workload
      if (which === "miss") {
        return () => {
          const names = freshKeys(workload, "bento")
          return promisePool(
            workload,
            (i) => fresh.getOrSet({ key: names[i]!, factory: () => objects[i & VARIANT_MASK]!, ttl: TTL_MILLIS })
          )()
        }
      }
      const cache = which === "l1-hit" ? hot : cold
      return readThrough
        ? promisePool(
          workload,
          (i) =>
            cache.getOrSet({ key: keys[keyIndex[i]!]!, factory: () => objects[i & VARIANT_MASK]!, ttl: TTL_MILLIS })
        )
        : promisePool(workload, (i) => cache.get({ key: keys[keyIndex[i]!]! }))
    },
    probe: async () => {
      const a: unknown = await hot.get({ key: dataset.keys[0]! })
      const b: unknown = await cold.get({ key: dataset.keys[0]! })
      return JSON.stringify(a) === JSON.stringify(b) ? a : undefined
    },
    close: async () => {
      await bento.disconnectAll()
      await l2.quit()
    }
  }
}

// -------------------------------------------------------------------------------------------------------------------
// stampede
// -------------------------------------------------------------------------------------------------------------------

/** A stampede: how many times the computation ran, and how long until every caller had its value. */
export interface StampedeRound {
  readonly computations: number
  readonly elapsedMs: number
}

/** A side of the stampede: runs one on a key of its own. */
export interface Stampede {
  readonly name: string
  readonly description: string
  readonly serializer: string
  readonly run: (key: string) => Promise<StampedeRound>
  readonly close: () => Promise<void>
}

/** The stampede's shape. */
export const STAMPEDE = { callers: 100, computeMillis: 20, perRound: 10, valueBytes: 100 } as const

/** What the computation returns: a record like the other rows' values. */
const STAMPEDE_VALUE = makeObject(0, STAMPEDE.valueBytes)

/** Ours: `getOrCompute` from 100 fibers at once (`Effect.forEach`, unbounded), the computation an `Effect.sleep`. */
export const oursStampede = async (url: string): Promise<Stampede> => {
  const scope = Effect.runSync(Scope.make())
  const cache = await Effect.runPromise(Scope.provide(
    TieredCache.layerRedis({ capacity: 1_000, l1Ttl: TTL_MILLIS, channel: `${TIERED_PREFIX}stampede` }).pipe(
      Layer.provide(RemoteCache.layerDefault),
      Layer.provide(RedisBackend.layerWithoutClient({ prefix: TIERED_PREFIX })),
      Layer.provide(RedisClient.layer({ url })),
      Layer.orDie,
      Layer.build,
      Effect.map(Context.get(TieredCache.TieredCache))
    ),
    scope
  ))
  const callers = Array.from({ length: STAMPEDE.callers }, (_, i) => i)
  return {
    name: "ours-tiered",
    description: "TieredCache.layerRedis over RemoteCache.layerDefault, RedisBackend",
    serializer: "v8 in L2",
    run: (key) => {
      let computations = 0
      const compute = Effect.suspend(() => {
        computations++
        return Effect.as(Effect.sleep(STAMPEDE.computeMillis), STAMPEDE_VALUE)
      })
      const started = performance.now()
      return Effect.runPromise(
        Effect.forEach(callers, () => cache.getOrCompute(key, compute, { ttl: TTL_MILLIS }), {
          concurrency: "unbounded",
          discard: true
        })
      ).then(() => ({ computations, elapsedMs: performance.now() - started }))
    },
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** bentocache: `getOrSet` from 100 callers at once (`Promise.all`), the factory awaiting a timer. */
export const bentoStampede = async (url: string): Promise<Stampede> => {
  const connection = connectionOf(url)
  const l2 = new IORedis(connection)
  const bento = new BentoCache({
    default: "stampede",
    prefix: BENTO_PREFIX,
    ttl: TTL_MILLIS,
    stores: {
      stampede: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 1_000 }))
        .useL2Layer(redisDriver({ connection: l2 }))
        .useBus(redisBusDriver({ connection }))
    }
  })
  return {
    name: "bentocache",
    description: "bentocache 1.x: memoryDriver + redisDriver (ioredis) + redisBusDriver",
    serializer: "JSON",
    run: async (key) => {
      let computations = 0
      const factory = async () => {
        computations++
        await sleep(STAMPEDE.computeMillis)
        return STAMPEDE_VALUE
      }
      const started = performance.now()
      await Promise.all(Array.from({ length: STAMPEDE.callers }, () => bento.getOrSet({ key, factory })))
      return { computations, elapsedMs: performance.now() - started }
    },
    close: async () => {
      await bento.disconnectAll()
      await l2.quit()
    }
  }
}

/**
 * `rounds` rounds (after one unmeasured), the order of the sides alternating from round to round. In a round each
 * side runs `STAMPEDE.perRound` stampedes one after another, each on a key of its own: one stampede lasts little
 * more than its computation, too short to be timed alone on a busy machine. A round's figures: the most
 * computations any of its stampedes ran, and the mean time of one stampede.
 */
export const runStampede = async (
  sides: ReadonlyArray<Stampede>,
  rounds: number,
  log: (line: string) => void
): Promise<Record<string, ReadonlyArray<StampedeRound>>> => {
  const results: Record<string, Array<StampedeRound>> = {}
  const series = async (side: Stampede, label: string): Promise<StampedeRound> => {
    let computations = 0
    let elapsedMs = 0
    for (let k = 0; k < STAMPEDE.perRound; k++) {
      const one = await side.run(`stampede:${label}:${k}:${side.name}`)
      computations = Math.max(computations, one.computations)
      elapsedMs += one.elapsedMs
    }
    return { computations, elapsedMs: elapsedMs / STAMPEDE.perRound }
  }
  for (const side of sides) {
    results[side.name] = []
    await series(side, "warm-up")
  }
  for (let r = 0; r < rounds; r++) {
    const line: Array<string> = []
    for (let t = 0; t < sides.length; t++) {
      const side = sides[(t + r) % sides.length]!
      const round = await series(side, String(r))
      results[side.name]!.push(round)
      line.push(`${side.name} at most ${round.computations} computation(s), ${round.elapsedMs.toFixed(1)} ms each`)
    }
    log(`stampede: round ${r + 1}/${rounds}: ${line.join(", ")}`)
  }
  return results
}
