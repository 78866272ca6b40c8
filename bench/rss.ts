/**
 * One client's memory footprint, in a process of its own: a number of operations (default 1,000,000; 90% GET,
 * 10% SET of 100-byte values over the 10,000 keys `run.ts` stored) with 256 in flight, then the peak resident set
 * size (`VmHWM`) on one JSON line. Only the client under test is imported, so the figure is that client's.
 *
 * Run by `bench/run.ts`, transpiled to plain JavaScript over one release line's build (a loader such as `tsx` adds
 * memory of its own per module loaded, more for the client with more modules): its imports of the library and of
 * `#effect/*` then name that build's files, so ours runs on that line's Effect. By hand:
 * `npx tsx bench/rss.ts <client> <redis url> [ops]` (the Effect 3 sources), whose figures include the loader's.
 */
import * as Fs from "node:fs"

const [client = "", url = "", opsArg] = process.argv.slice(2)
const ops = Number(opsArg ?? 1_000_000)
const CONCURRENCY = 256
const KEYS = 10_000
const VALUE_BYTES = 100
// The key names of run.ts's "small" dataset.
const RAW_PREFIX = "bench:raw:small:"
const V8_PREFIX = "bench:v8:"

const keys = Array.from({ length: KEYS }, (_, i) => `${RAW_PREFIX}${i}`)
const suffixes = Array.from({ length: KEYS }, (_, i) => `small:${i}`)
const value = Buffer.alloc(VALUE_BYTES, 7)
const object = { id: 1, name: "user-1", active: false, score: 12.5, note: "x".repeat(40) }

/** VmHWM: the largest resident set the process ever had, in KiB, as the kernel counts it. */
const peakRssKiB = (): number => {
  try {
    const match = /VmHWM:\s+(\d+)\s+kB/.exec(Fs.readFileSync("/proc/self/status", "utf8"))
    if (match !== null) return Number(match[1])
  } catch {
    // not Linux: fall back to the sampled maximum
  }
  return Math.round(sampledMax / 1024)
}

let sampledMax = 0
const sampler = setInterval(() => {
  sampledMax = Math.max(sampledMax, process.memoryUsage.rss())
}, 20)
sampler.unref()

// Op i is a SET when this says so: the same 10% for every client.
const isSet = (i: number): boolean => i % 10 === 9
const keyOf = (i: number): number => (i * 7919) % KEYS

const promisePool = async (exec: (i: number) => Promise<unknown>): Promise<void> => {
  let next = 0
  const worker = async () => {
    for (;;) {
      const i = next++
      if (i >= ops) return
      await exec(i)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
}

const run = async (): Promise<void> => {
  switch (client) {
    case "ours":
    case "ours-backend": {
      const Effect = await import("#effect/Effect")
      const Exit = await import("#effect/Exit")
      const Scope = await import("#effect/Scope")
      const RedisClient = await import("../src/RedisClient.js")
      const scope = Effect.runSync(Scope.make())
      const redis = await Effect.runPromise(Scope.provide(RedisClient.make({ url }), scope))
      let exec = (i: number): import("#effect/Effect").Effect<unknown, unknown> =>
        isSet(i) ? redis.send(["SET", keys[keyOf(i)]!, value]) : redis.send(["GET", keys[keyOf(i)]!])
      if (client === "ours-backend") {
        // Loaded only here: the raw client's figure must not include the backend's modules.
        const RedisBackend = await import("../src/RedisBackend.js")
        const backend = await Effect.runPromise(
          Effect.provideService(RedisBackend.make({ prefix: V8_PREFIX }), RedisClient.RedisClient, redis)
        )
        exec = (i) => isSet(i) ? backend.set(suffixes[keyOf(i)]!, object) : backend.get(suffixes[keyOf(i)]!)
      }
      let next = 0
      const worker = Effect.gen(function*() {
        for (;;) {
          const i = next++
          if (i >= ops) return
          yield* exec(i)
        }
      })
      await Effect.runPromise(
        Effect.all(Array.from({ length: CONCURRENCY }, () => worker), { concurrency: "unbounded", discard: true })
      )
      await Effect.runPromise(Scope.close(scope, Exit.void))
      return
    }
    case "ioredis":
    case "ioredis-auto": {
      const { Redis: IORedis } = await import("ioredis")
      const redis = new IORedis(url, { enableAutoPipelining: client === "ioredis-auto" })
      await promisePool((i) => isSet(i) ? redis.set(keys[keyOf(i)]!, value) : redis.getBuffer(keys[keyOf(i)]!))
      await redis.quit()
      return
    }
    case "node-redis": {
      const { createClient, RESP_TYPES } = await import("redis")
      const redis = createClient({ url })
      await redis.connect()
      const raw = redis.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })
      await promisePool((i) => isSet(i) ? raw.set(keys[keyOf(i)]!, value) : raw.get(keys[keyOf(i)]!))
      await redis.close()
      return
    }
    default:
      throw new Error(`unknown client ${JSON.stringify(client)}`)
  }
}

const started = performance.now()
run().then(
  () => {
    const elapsedMs = performance.now() - started
    console.log(JSON.stringify({
      client,
      ops,
      opsPerSec: Math.round(ops / (elapsedMs / 1000)),
      peakRssMiB: Math.round(peakRssKiB() / 102.4) / 10
    }))
  },
  (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  }
)
