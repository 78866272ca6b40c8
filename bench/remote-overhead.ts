/**
 * What `RemoteCache` costs over the backend it wraps, the way Effect users read concurrently: one fiber per read,
 * `Effect.forEach(keys, (key) => cache.get(key), { concurrency: 256 })`.
 *
 * In one process, against its own redis-server on a free loopback port: `RedisBackend.get` (default serializer),
 * `RemoteCache.get` under several policies, `RemoteCache.get` with a recording tracer installed (telemetry that is
 * read), and ioredis with `enableAutoPipelining` plus `JSON.parse` (256 async loops) as the outside reference.
 * Every round runs every variant once, the order rotating from round to round; the figures are medians over the
 * rounds, and each ratio is the median of the per-round ratios to the backend. Besides throughput it reports this
 * process's CPU time per operation (user + system; the server is another process), which a machine busy with
 * other work disturbs much less than wall time.
 *
 * ```sh
 * npx tsx bench/remote-overhead.ts [--rounds 7] [--ops 100000] [--only backend,default] [--profile file]
 * ```
 *
 * `--profile file` writes a V8 CPU profile of the measured rounds (summarise it with `bench/cpuprofile.ts`).
 * `--baseline dir` also measures the `RedisBackend.js`, `RemoteCache.js` and `Policy.js` found in `dir` (another
 * build of this library, such as the previous commit's `src` compiled), over the same client, side by side:
 * variants `old-…`, the caches over the old backend.
 *
 * Run it compiled (`tsc`) rather than through `tsx` for figures: `tsx` wraps every closure made at run time in a
 * call that names it, which adds a cost per closure that the published build does not have.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import { Redis as IORedis } from "ioredis"
import * as Fs from "node:fs"
import * as Inspector from "node:inspector"
import * as V8 from "node:v8"
import * as Vm from "node:vm"
import * as Policy from "../src/Policy.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import type { CacheError, RemoteCacheBackendShape } from "../src/RemoteCacheBackend.js"
import * as RedisServer from "../test/utils/RedisServer.js"

const argv = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i === -1 ? undefined : argv[i + 1]
}
const rounds = Math.max(1, Number(option("--rounds") ?? 7))
const ops = Math.max(1, Number(option("--ops") ?? 100_000))
const only = option("--only")?.split(",")
const profileFile = option("--profile")
const baselineDir = option("--baseline")
const concurrency = 256
const keyCount = 10_000
const prefix = "overhead:"
const jsonPrefix = "overhead-json:"

V8.setFlagsFromString("--expose-gc")
const gc = Vm.runInNewContext("gc") as () => void

// A value of about 120 bytes of JSON, like a small cached record.
const valueOf = (i: number) => ({ id: i, name: `user-${i}`, email: `user${i}@example.com`, roles: ["a", "b"], n: i })

interface Variant {
  readonly name: string
  readonly run: () => Promise<void>
}

const keys = Array.from({ length: ops }, (_, i) => `k${(i * 7919) % keyCount}`)

const effectVariant = (name: string, get: (key: string) => Effect.Effect<unknown, unknown>): Variant => ({
  name,
  run: () => Effect.runPromise(Effect.forEach(keys, get, { concurrency, discard: true }) as Effect.Effect<void>)
})

const main = async () => {
  const scope = Effect.runSync(Scope.make())
  const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Scope.extend(effect, scope))
  const server = await run(Layer.build(RedisServer.layer()).pipe(Effect.map(Context.get(RedisServer.RedisServer))))
  const client = await run(RedisClient.make({ url: server.url }))
  const backend: RemoteCacheBackendShape = await Effect.runPromise(
    Effect.provideService(RedisBackend.make({ prefix }), RedisClient.RedisClient, client)
  )
  await Effect.runPromise(Effect.forEach(
    Array.from({ length: keyCount }, (_, i) => i),
    (i) => backend.set(`k${i}`, valueOf(i)),
    { concurrency, discard: true }
  ))
  const ioredis = new IORedis(server.url, { enableAutoPipelining: true, keyPrefix: jsonPrefix, lazyConnect: true })
  await ioredis.connect()
  for (let i = 0; i < keyCount; i++) void ioredis.set(`k${i}`, JSON.stringify(valueOf(i)))
  await ioredis.ping()

  const cacheWith = (policy: Policy.Policy<CacheError, never>) =>
    Effect.runPromise(RemoteCache.fromBackend(backend, policy))
  const identity = await Effect.runPromise(RemoteCache.fromBackend(backend, Policy.identity))
  const recover = await cacheWith(Policy.recoverToMiss)
  const byDefault = await cacheWith(RemoteCache.defaultPolicy)
  const full = await cacheWith(
    Policy.timeout("5 seconds").pipe(
      Policy.retry(Schedule.recurs(1)),
      Policy.circuitBreaker({ failureThreshold: 5, resetAfter: "10 seconds" }),
      Policy.log("Debug"),
      RemoteCache.logOutages(),
      Policy.recoverToMiss
    )
  )
  const breaker = await cacheWith(
    Policy.retry(Schedule.recurs(1)).pipe(
      Policy.circuitBreaker({ failureThreshold: 5, resetAfter: "10 seconds" }),
      Policy.log("Debug"),
      RemoteCache.logOutages(),
      Policy.recoverToMiss
    )
  )
  // Records every span it is given, as an exporter's batch would, and forgets them after each round.
  let recorded: Array<Tracer.Span> = []
  const builtIn = Effect.runSync(Effect.tracer)
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = builtIn.span(name, parent, context, links, startTime, kind, options)
      recorded.push(span)
      return span
    },
    context: (f) => f()
  })

  const all: Array<Variant> = [
    effectVariant("backend", backend.get),
    effectVariant("identity", identity.get),
    effectVariant("recoverToMiss", recover.get),
    effectVariant("default", byDefault.get),
    effectVariant("retry+breaker+default", breaker.get),
    effectVariant("timeout+retry+breaker+default", full.get),
    effectVariant("default+tracer", (key) => Effect.withTracer(byDefault.get(key), tracer)),
    {
      name: "ioredis-auto-json",
      run: async () => {
        let next = 0
        const worker = async () => {
          while (next < ops) {
            const text = await ioredis.get(keys[next++]!)
            if (text !== null) JSON.parse(text)
          }
        }
        await Promise.all(Array.from({ length: concurrency }, worker))
      }
    }
  ]
  if (baselineDir !== undefined) {
    // Another build of the library: `any`, its types are its own.
    const OldCache: any = await import(`${baselineDir}/RemoteCache.js`)
    const OldPolicy: any = await import(`${baselineDir}/Policy.js`)
    const OldBackend: any = await import(`${baselineDir}/RedisBackend.js`)
    const oldBackend: RemoteCacheBackendShape = await Effect.runPromise(
      Effect.provideService(OldBackend.make({ prefix }), RedisClient.RedisClient, client)
    )
    const old = (policy: unknown) => Effect.runPromise(OldCache.fromBackend(oldBackend, policy)) as Promise<any>
    const oldDefault = await old(OldCache.defaultPolicy)
    const oldBreaker = await old(
      OldPolicy.retry(Schedule.recurs(1)).pipe(
        OldPolicy.circuitBreaker({ failureThreshold: 5, resetAfter: "10 seconds" }),
        OldPolicy.log("Debug"),
        OldCache.logOutages(),
        OldPolicy.recoverToMiss
      )
    )
    all.push(
      effectVariant("old-backend", oldBackend.get),
      effectVariant("old-identity", (await old(OldPolicy.identity)).get),
      effectVariant("old-default", oldDefault.get),
      effectVariant("old-retry+breaker+default", oldBreaker.get),
      effectVariant("old-default+tracer", (key) => Effect.withTracer(oldDefault.get(key), tracer))
    )
  }
  const variants = only === undefined ? all : all.filter((v) => only.includes(v.name))

  // Warm-up: every variant once.
  for (const variant of variants) await variant.run()

  const session = profileFile === undefined ? undefined : new Inspector.Session()
  if (session !== undefined) {
    session.connect()
    await new Promise<void>((resolve) => session.post("Profiler.enable", () => resolve()))
    await new Promise<void>((resolve) => session.post("Profiler.start", () => resolve()))
  }

  const rates = new Map<string, Array<number>>(variants.map((v) => [v.name, []]))
  const cpus = new Map<string, Array<number>>(variants.map((v) => [v.name, []]))
  for (let round = 0; round < rounds; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!)
    const line: Array<string> = []
    for (const variant of order) {
      gc()
      recorded = []
      const started = performance.now()
      const cpuBefore = process.cpuUsage()
      await variant.run()
      const cpu = process.cpuUsage(cpuBefore)
      const rate = ops / ((performance.now() - started) / 1000)
      rates.get(variant.name)!.push(rate)
      cpus.get(variant.name)!.push((cpu.user + cpu.system) / ops)
      line.push(`${variant.name}=${Math.round(rate / 1000)}k`)
    }
    process.stderr.write(`round ${round + 1}: ${line.join(" ")}\n`)
  }

  if (session !== undefined) {
    const profile = await new Promise<unknown>((resolve, reject) =>
      session.post("Profiler.stop", (error, result) => error ? reject(error) : resolve(result.profile))
    )
    Fs.writeFileSync(profileFile!, JSON.stringify(profile))
    session.disconnect()
  }

  const median = (xs: ReadonlyArray<number>) => {
    const sorted = [...xs].sort((a, b) => a - b)
    const mid = sorted.length >> 1
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  }
  const base = rates.get("backend")
  const baseCpu = cpus.get("backend")
  const peer = rates.get("ioredis-auto-json")
  process.stdout.write(`${ops} gets per round, concurrency ${concurrency}, ${rounds} rounds (medians)\n`)
  for (const variant of variants) {
    const xs = rates.get(variant.name)!
    const vsBackend = base === undefined
      ? ""
      : `  ${(median(xs.map((x, i) => x / base[i]!)) * 100).toFixed(0)}% of backend`
    const vsPeer = peer === undefined ? "" : `  ${median(xs.map((x, i) => x / peer[i]!)).toFixed(2)}x ioredis-json`
    const cs = cpus.get(variant.name)!
    const cpuVsBackend = baseCpu === undefined
      ? ""
      : ` (${(median(cs.map((c, i) => c / baseCpu[i]!)) * 100).toFixed(0)}% of backend's)`
    process.stdout.write(
      `${variant.name.padEnd(30)} ${(median(xs) / 1000).toFixed(1).padStart(6)}k/s${vsBackend}${vsPeer}` +
        `  cpu ${median(cs).toFixed(2)} µs/op${cpuVsBackend}\n`
    )
  }

  ioredis.disconnect()
  await Effect.runPromise(Scope.close(scope, Exit.void))
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
