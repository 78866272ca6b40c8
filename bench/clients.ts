/**
 * The clients under comparison, each driven the way its users drive it:
 *
 * - ours (`RedisClient`, `RedisBackend`, `RemoteCache`), in the workloads whose loop is `"workers"`: N fibers, each
 *   an `Effect.gen` loop doing one `yield*` per operation, forked together with
 *   `Effect.all(…, { concurrency: "unbounded" })` inside one `Effect.runPromise`; in those whose loop is
 *   `"forEach"`: `Effect.forEach(ops, op, { concurrency: N })` inside one `Effect.runPromise`, a fiber per
 *   operation, as application code fans out over a list of ids;
 * - ioredis and node-redis: N `async` loops, each doing one `await` per operation, joined with `Promise.all`.
 *
 * Raw clients move bytes (`Buffer` values, `getBuffer`, node-redis with blob strings mapped to `Buffer`), as our
 * `RedisClient` does. The `-json` peers do what `RedisBackend` does for a user: they `JSON.stringify` the value
 * object on the way in and `JSON.parse` it on the way out.
 */
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Option from "#effect/Option"
import * as Scope from "#effect/Scope"
import { Redis as IORedis } from "ioredis"
import { createClient, RESP_TYPES } from "redis"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import type { RemoteCacheBackendShape } from "../src/RemoteCacheBackend.js"
import * as Serializer from "../src/Serializer.js"
import {
  type Dataset,
  type Family,
  fullKeys,
  GET,
  JSON_PREFIX,
  mgetGroups,
  RAW_PREFIX,
  SET,
  TTL_MILLIS,
  V8_PREFIX,
  type Workload
} from "./data.js"

/**
 * One round of one client: its wall time, the number of operations (when absent, one per latency) and the latency
 * of every operation, or of one in every `workload.sampleEvery`.
 */
export interface Round {
  readonly elapsedMs: number
  readonly ops?: number
  readonly latencies: Float64Array
}

/** What a value read back decodes to, for the sanity check before measuring. */
export type Format = "raw" | "object"

/** A client under test. */
export interface Driver {
  readonly name: string
  /** The library and how the benchmark drives it. */
  readonly description: string
  /** How values are encoded: `"none"` for raw bytes, else the serializer. */
  readonly serializer: string
  /** The workload families it runs. */
  readonly families: ReadonlyArray<Family>
  /** The only workloads it runs, when not every one of its families. */
  readonly workloads?: ReadonlyArray<string>
  readonly format: Format
  /** Builds the runner of one workload (keys and MGET groups resolved once, outside the measurement). */
  readonly prepare: (workload: Workload) => () => Promise<Round>
  /** Reads the first key of a dataset, for the sanity check. */
  readonly probe: (dataset: Dataset) => Promise<unknown>
  readonly close: () => Promise<void>
}

// -------------------------------------------------------------------------------------------------------------------
// the two ways of keeping N operations in flight
// -------------------------------------------------------------------------------------------------------------------

/** Runs the ops with `workload.concurrency` in flight, the way `workload.loop` says. */
export const effectPool = (
  workload: Workload,
  exec: (i: number) => Effect.Effect<unknown, unknown>
): () => Promise<Round> => workload.loop === "forEach" ? effectForEach(workload, exec) : effectWorkers(workload, exec)

const effectForEach = (
  workload: Workload,
  exec: (i: number) => Effect.Effect<unknown, unknown>
) =>
async (): Promise<Round> => {
  const total = workload.ops
  const every = workload.sampleEvery
  const latencies = new Float64Array(Math.ceil(total / every))
  const ids = Array.from({ length: total }, (_, i) => i)
  // A timed op costs a `map` more, as the result handling of application code would.
  const timed = (i: number) => {
    if (i % every !== 0) return exec(i)
    const started = performance.now()
    return Effect.map(exec(i), (value) => {
      latencies[i / every] = performance.now() - started
      return value
    })
  }
  const started = performance.now()
  await Effect.runPromise(Effect.forEach(ids, timed, { concurrency: workload.concurrency }))
  return { elapsedMs: performance.now() - started, ops: total, latencies }
}

const effectWorkers = (
  workload: Workload,
  exec: (i: number) => Effect.Effect<unknown, unknown>
) =>
async (): Promise<Round> => {
  const total = workload.ops
  const every = workload.sampleEvery
  const latencies = new Float64Array(Math.ceil(total / every))
  let next = 0
  const worker = Effect.gen(function*() {
    for (;;) {
      const i = next++
      if (i >= total) return
      if (i % every !== 0) {
        yield* exec(i)
        continue
      }
      const started = performance.now()
      yield* exec(i)
      latencies[i / every] = performance.now() - started
    }
  })
  const workers = Array.from({ length: workload.concurrency }, () => worker)
  const started = performance.now()
  await Effect.runPromise(Effect.all(workers, { concurrency: "unbounded", discard: true }))
  return { elapsedMs: performance.now() - started, ops: total, latencies }
}

/** `workload.concurrency` async loops over the ops, whatever `workload.loop` says. */
export const promisePool = (workload: Workload, exec: (i: number) => Promise<unknown>) => async (): Promise<Round> => {
  const total = workload.ops
  const every = workload.sampleEvery
  const latencies = new Float64Array(Math.ceil(total / every))
  let next = 0
  const worker = async () => {
    for (;;) {
      const i = next++
      if (i >= total) return
      if (i % every !== 0) {
        await exec(i)
        continue
      }
      const started = performance.now()
      await exec(i)
      latencies[i / every] = performance.now() - started
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: workload.concurrency }, worker))
  return { elapsedMs: performance.now() - started, ops: total, latencies }
}

const VARIANT_MASK = 63
const TTL_STRING = String(TTL_MILLIS)

// -------------------------------------------------------------------------------------------------------------------
// ours
// -------------------------------------------------------------------------------------------------------------------

/** Our client, two backends over it and the default `RemoteCache` over the v8 one, in one scope. */
export interface Ours {
  readonly client: RedisClient.RedisClientShape
  readonly v8: RemoteCacheBackendShape
  readonly json: RemoteCacheBackendShape
  readonly remote: RemoteCache.RemoteCacheShape
  readonly close: () => Promise<void>
}

/** Builds our client (one connection) and the backends over it. */
export const makeOurs = async (url: string): Promise<Ours> => {
  const scope = Effect.runSync(Scope.make())
  const client = await Effect.runPromise(Scope.provide(RedisClient.make({ url }), scope))
  const backend = (prefix: string, serializer: Serializer.SerializerShape) =>
    Effect.runPromise(
      Effect.provideService(RedisBackend.make({ prefix, serializer }), RedisClient.RedisClient, client)
    )
  const v8 = await backend(V8_PREFIX, Serializer.v8)
  return {
    client,
    v8,
    json: await backend(JSON_PREFIX, Serializer.json),
    remote: await Effect.runPromise(RemoteCache.fromBackend(v8, RemoteCache.defaultPolicy)),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** `RedisClient.send` with raw commands. */
export const oursClient = (ours: Ours): Driver => ({
  name: "ours",
  description: "RedisClient.send, raw commands",
  serializer: "none",
  families: ["client"],
  format: "raw",
  prepare: (workload) => {
    const { client } = ours
    const keys = fullKeys(workload.dataset, RAW_PREFIX)
    const groups = mgetGroups(workload, keys)
    const { bytes } = workload.dataset
    const { kinds, keyIndex, ttl } = workload
    return effectPool(workload, (i) => {
      switch (kinds[i]) {
        case GET:
          return client.send(["GET", keys[keyIndex[i]!]!])
        case SET:
          return client.send(
            ttl
              ? ["SET", keys[keyIndex[i]!]!, bytes[i & VARIANT_MASK]!, "PX", TTL_STRING]
              : ["SET", keys[keyIndex[i]!]!, bytes[i & VARIANT_MASK]!]
          )
        default:
          return client.send(["MGET", ...groups[i]!])
      }
    })
  },
  probe: (dataset) => Effect.runPromise(ours.client.send(["GET", RAW_PREFIX + dataset.keys[0]!])),
  close: () => Promise.resolve()
})

/** The operations of a cache of objects (`RedisBackend`, `RemoteCache`) as a driver runs them. */
interface ObjectCache {
  readonly get: (key: string) => Effect.Effect<Option.Option<unknown>, unknown>
  readonly set: (key: string, value: unknown, ttl?: number) => Effect.Effect<void, unknown>
  readonly getMany: (keys: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Option.Option<unknown>>, unknown>
}

/** A driver's `prepare`, `probe` and `close` over a cache of objects: the same op sequence for every such cache. */
const objectCacheDriver = (cache: ObjectCache): Pick<Driver, "prepare" | "probe" | "close"> => ({
  prepare: (workload) => {
    const keys = workload.dataset.keys
    const groups = mgetGroups(workload, keys)
    const { objects } = workload.dataset
    const { kinds, keyIndex } = workload
    const ttl = workload.ttl ? TTL_MILLIS : undefined
    return effectPool(workload, (i) => {
      switch (kinds[i]) {
        case GET:
          return cache.get(keys[keyIndex[i]!]!)
        case SET:
          return cache.set(keys[keyIndex[i]!]!, objects[i & VARIANT_MASK]!, ttl)
        default:
          return cache.getMany(groups[i]!)
      }
    })
  },
  probe: (dataset) => Effect.runPromise(Effect.map(cache.get(dataset.keys[0]!), Option.getOrUndefined)),
  close: () => Promise.resolve()
})

/** `RedisBackend` (get / set with TTL / getMany) with a serializer. */
export const oursBackend = (ours: Ours, serializer: "v8" | "json"): Driver => {
  const backend = serializer === "v8" ? ours.v8 : ours.json
  return {
    name: serializer === "v8" ? "ours-backend" : "ours-backend-json",
    description: `RedisBackend, Serializer.${serializer}`,
    serializer: serializer === "v8" ? "v8" : "JSON",
    families: ["client"],
    format: "object",
    ...objectCacheDriver(backend)
  }
}

/**
 * `RemoteCache` with `RemoteCache.defaultPolicy` (debug log, outage log, recover to miss) and its telemetry (a span
 * and metric updates per operation), over the v8 `RedisBackend`: what an application built with the default layers
 * calls.
 */
export const oursRemote = (ours: Ours): Driver => {
  const { remote } = ours
  return {
    name: "ours-remote",
    description: "RemoteCache, defaultPolicy, telemetry on, over RedisBackend with Serializer.v8",
    serializer: "v8",
    families: ["client"],
    // The rows the targets read, and getMany (the one batch operation); the rest would only lengthen the run.
    workloads: ["get-seq", "get-256", "get-256-foreach", "getmany-100"],
    format: "object",
    ...objectCacheDriver(remote)
  }
}

// -------------------------------------------------------------------------------------------------------------------
// ioredis
// -------------------------------------------------------------------------------------------------------------------

const parseJson = (text: string | null): unknown => text === null ? undefined : JSON.parse(text)
const parseJsonAll = (texts: Array<string | null>): Array<unknown> => texts.map(parseJson)

/** ioredis, raw (`getBuffer`, `mgetBuffer`, `Buffer` values), plain or with `enableAutoPipelining`. */
export const ioredis = async (url: string, autoPipelining: boolean): Promise<Driver> => {
  const redis = new IORedis(url, { enableAutoPipelining: autoPipelining, lazyConnect: true })
  await redis.connect()
  return {
    name: autoPipelining ? "ioredis-auto" : "ioredis",
    description: `ioredis ${autoPipelining ? "enableAutoPipelining" : "plain"}, getBuffer/set/mgetBuffer`,
    serializer: "none",
    families: ["client"],
    format: "raw",
    prepare: (workload) => {
      const keys = fullKeys(workload.dataset, RAW_PREFIX)
      const groups = mgetGroups(workload, keys)
      const { bytes } = workload.dataset
      const { kinds, keyIndex, ttl } = workload
      return promisePool(workload, (i) => {
        switch (kinds[i]) {
          case GET:
            return redis.getBuffer(keys[keyIndex[i]!]!)
          case SET:
            return ttl
              ? redis.set(keys[keyIndex[i]!]!, bytes[i & VARIANT_MASK]!, "PX", TTL_MILLIS)
              : redis.set(keys[keyIndex[i]!]!, bytes[i & VARIANT_MASK]!)
          default:
            return redis.mgetBuffer(groups[i]!)
        }
      })
    },
    probe: (dataset) => redis.getBuffer(RAW_PREFIX + dataset.keys[0]!),
    close: async () => {
      await redis.quit()
    }
  }
}

/**
 * ioredis with `enableAutoPipelining`, doing the work a cache does, as `RedisBackend` does it: the key prefix
 * (ioredis's own `keyPrefix` option) and JSON of the same value objects.
 */
export const ioredisJson = async (url: string): Promise<Driver> => {
  const redis = new IORedis(url, { enableAutoPipelining: true, keyPrefix: JSON_PREFIX, lazyConnect: true })
  await redis.connect()
  return {
    name: "ioredis-auto-json",
    description: "ioredis enableAutoPipelining + keyPrefix, JSON.stringify/JSON.parse of the objects",
    serializer: "JSON",
    families: ["client"],
    format: "object",
    prepare: (workload) => {
      const keys = workload.dataset.keys
      const groups = mgetGroups(workload, keys)
      const { objects } = workload.dataset
      const { kinds, keyIndex, ttl } = workload
      return promisePool(workload, (i) => {
        switch (kinds[i]) {
          case GET:
            return redis.get(keys[keyIndex[i]!]!).then(parseJson)
          case SET:
            return ttl
              ? redis.set(keys[keyIndex[i]!]!, JSON.stringify(objects[i & VARIANT_MASK]), "PX", TTL_MILLIS)
              : redis.set(keys[keyIndex[i]!]!, JSON.stringify(objects[i & VARIANT_MASK]))
          default:
            return redis.mget(groups[i]!).then(parseJsonAll)
        }
      })
    },
    probe: (dataset) => redis.get(dataset.keys[0]!).then(parseJson),
    close: async () => {
      await redis.quit()
    }
  }
}

// -------------------------------------------------------------------------------------------------------------------
// node-redis
// -------------------------------------------------------------------------------------------------------------------

/** node-redis v5 (it pipelines commands sent in the same tick by itself), blob strings mapped to `Buffer`. */
export const nodeRedis = async (url: string): Promise<Driver> => {
  const client = createClient({ url })
  await client.connect()
  const raw = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })
  return {
    name: "node-redis",
    description: "node-redis v5, blob strings as Buffer, get/set/mGet",
    serializer: "none",
    families: ["client"],
    format: "raw",
    prepare: (workload) => {
      const keys = fullKeys(workload.dataset, RAW_PREFIX)
      const groups = mgetGroups(workload, keys)
      const { bytes } = workload.dataset
      const { kinds, keyIndex, ttl } = workload
      const options = { expiration: { type: "PX", value: TTL_MILLIS } } as const
      return promisePool(workload, (i) => {
        switch (kinds[i]) {
          case GET:
            return raw.get(keys[keyIndex[i]!]!)
          case SET:
            return ttl
              ? raw.set(keys[keyIndex[i]!]!, bytes[i & VARIANT_MASK]!, options)
              : raw.set(keys[keyIndex[i]!]!, bytes[i & VARIANT_MASK]!)
          default:
            return raw.mGet(groups[i]!)
        }
      })
    },
    probe: (dataset) => raw.get(RAW_PREFIX + dataset.keys[0]!),
    close: async () => {
      await client.close()
    }
  }
}

/**
 * node-redis v5 doing a cache's work from Effect, as an Effect user would write it instead of `RemoteCache`: each
 * command through `Effect.tryPromise`, the value `JSON.parse`d (`JSON.stringify`d on the way in), run by the same
 * Effect loop as ours (`Effect.forEach` in the forEach rows), on keys with the JSON prefix.
 */
export const nodeRedisJsonEffect = async (url: string): Promise<Driver> => {
  const client = createClient({ url })
  await client.connect()
  return {
    name: "node-redis-json-effect",
    description: "node-redis v5 through Effect.tryPromise, JSON.stringify/JSON.parse of the objects",
    serializer: "JSON",
    families: ["client"],
    workloads: ["get-256-foreach"],
    format: "object",
    prepare: (workload) => {
      const keys = fullKeys(workload.dataset, JSON_PREFIX)
      const groups = mgetGroups(workload, keys)
      const { objects } = workload.dataset
      const { kinds, keyIndex, ttl } = workload
      const options = { expiration: { type: "PX", value: TTL_MILLIS } } as const
      return effectPool(workload, (i) => {
        switch (kinds[i]) {
          case GET: {
            const key = keys[keyIndex[i]!]!
            return Effect.map(Effect.tryPromise(() => client.get(key)), parseJson)
          }
          case SET: {
            const key = keys[keyIndex[i]!]!
            const text = JSON.stringify(objects[i & VARIANT_MASK])
            return Effect.tryPromise(() => ttl ? client.set(key, text, options) : client.set(key, text))
          }
          default: {
            const group = groups[i]!
            return Effect.map(Effect.tryPromise(() => client.mGet(group)), parseJsonAll)
          }
        }
      })
    },
    probe: (dataset) => client.get(JSON_PREFIX + dataset.keys[0]!).then(parseJson),
    close: async () => {
      await client.close()
    }
  }
}
