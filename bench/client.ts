/**
 * The client alone, against its peers, in the three shapes users drive it in: 256 long-lived worker fibers (or
 * async loops), `Effect.forEach` with `concurrency: 256`, and one command at a time. GET of ~200-byte values.
 *
 * `npx tsx bench/client.ts [--rounds N] [--ops N] [--only mode,mode] [--profile FILE] [--sim]`
 *
 * It starts its own redis-server on a free loopback port. Modes take turns round by round (the order rotating),
 * and each reported ratio is the median of the per-round ratios, so a noisy neighbour slows both sides of a pair.
 * With `--profile`, a V8 CPU profile of the measured rounds of the selected modes is written (summarise it with
 * `npx tsx bench/cpuprofile.ts FILE`). With `--sim`, no server is started: every client talks to the in-process
 * stand-in of `bench/sim.ts`, so the figures are the clients' own CPU cost per operation.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { Redis as IORedis } from "ioredis"
import * as Fs from "node:fs"
import * as Inspector from "node:inspector"
import { createClient, RESP_TYPES } from "redis"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisServer from "../test/utils/RedisServer.js"

const argv = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i === -1 ? undefined : argv[i + 1]
}
const rounds = Number(option("--rounds") ?? 7)
const ops = Number(option("--ops") ?? 100_000)
const seqOps = Math.max(1000, Math.round(ops / 10))
const only = option("--only")?.split(",")
const profileFile = option("--profile")
const simulated = argv.includes("--sim")

const KEYS = 10_000
const VALUE_BYTES = 200
const CONCURRENCY = 256

interface Mode {
  readonly name: string
  readonly ops: number
  readonly run: (n: number) => Promise<void>
}

const main = async () => {
  const scope = Effect.runSync(Scope.make())
  if (simulated) (await import("./sim.js")).install(Buffer.alloc(VALUE_BYTES, 7))
  const server = simulated
    ? { url: "redis://127.0.0.1:6390" }
    : await Effect.runPromise(Scope.extend(RedisServer.make(), scope))
  const client = await Effect.runPromise(Scope.extend(RedisClient.make({ url: server.url }), scope))
  const keys = Array.from({ length: KEYS }, (_, i) => `bench:client:${i}`)
  const value = Buffer.alloc(VALUE_BYTES, 7)
  for (let i = 0; i < KEYS; i += 500) {
    const mset: Array<string | Uint8Array> = ["MSET"]
    for (let k = i; k < Math.min(KEYS, i + 500); k++) mset.push(keys[k]!, value)
    await Effect.runPromise(client.send(mset))
  }
  const ioredis = new IORedis(server.url, { lazyConnect: true })
  await ioredis.connect()
  const nodeRedisBase = createClient({ url: server.url })
  await nodeRedisBase.connect()
  const nodeRedis = nodeRedisBase.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })

  const get = (i: number) => client.send(["GET", keys[i % KEYS]!])

  const workers = (n: number) => {
    let next = 0
    const worker = Effect.gen(function*() {
      for (;;) {
        const i = next++
        if (i >= n) return
        yield* get(i)
      }
    })
    return Effect.runPromise(
      Effect.all(Array.from({ length: CONCURRENCY }, () => worker), { concurrency: "unbounded", discard: true })
    )
  }
  const ids = (n: number) => Array.from({ length: n }, (_, i) => i)
  const forEach = (n: number) =>
    Effect.runPromise(Effect.forEach(ids(n), get, { concurrency: CONCURRENCY, discard: true }))
  const sequential = (n: number) =>
    Effect.runPromise(Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* get(i)
    }))
  const loops = (exec: (i: number) => Promise<unknown>, concurrency: number) => async (n: number) => {
    let next = 0
    const loop = async () => {
      for (;;) {
        const i = next++
        if (i >= n) return
        await exec(i)
      }
    }
    await Promise.all(Array.from({ length: concurrency }, loop))
  }

  const all: Array<Mode> = [
    { name: "ours-workers", ops, run: workers },
    { name: "ours-forEach", ops, run: forEach },
    { name: "node-redis-256", ops, run: loops((i) => nodeRedis.get(keys[i % KEYS]!), CONCURRENCY) },
    { name: "ours-seq", ops: seqOps, run: sequential },
    { name: "ioredis-seq", ops: seqOps, run: loops((i) => ioredis.getBuffer(keys[i % KEYS]!), 1) },
    { name: "node-redis-seq", ops: seqOps, run: loops((i) => nodeRedis.get(keys[i % KEYS]!), 1) }
  ]
  const modes = only === undefined ? all : all.filter((m) => only.includes(m.name))

  const session = profileFile === undefined ? undefined : new Inspector.Session()
  const post = (method: string, params?: object) =>
    new Promise<{ readonly profile?: unknown }>((resolve, reject) =>
      session!.post(
        method,
        params ?? {},
        (error, result) => error === null ? resolve(result as { readonly profile?: unknown }) : reject(error)
      )
    )
  if (session !== undefined) {
    session.connect()
    await post("Profiler.enable")
    await post("Profiler.setSamplingInterval", { interval: 200 })
  }

  for (const mode of modes) await mode.run(Math.round(mode.ops / 4))
  if (session !== undefined) await post("Profiler.start")
  const results: Record<string, Array<number>> = {}
  // CPU time of this process per operation, in µs: what a busy machine disturbs least.
  const cpuPerOp: Record<string, Array<number>> = {}
  for (let r = 0; r < rounds; r++) {
    const line: Array<string> = []
    for (let t = 0; t < modes.length; t++) {
      const mode = modes[(t + r) % modes.length]!
      const started = performance.now()
      const cpu = process.cpuUsage()
      await mode.run(mode.ops)
      const used = process.cpuUsage(cpu)
      const rate = mode.ops / ((performance.now() - started) / 1000)
      ;(results[mode.name] ??= []).push(rate)
      ;(cpuPerOp[mode.name] ??= []).push((used.user + used.system) / mode.ops)
      line.push(`${mode.name} ${Math.round(rate).toLocaleString("en")}`)
    }
    process.stderr.write(`round ${r + 1}/${rounds}: ${line.join(", ")}\n`)
  }
  if (session !== undefined) {
    const { profile } = await post("Profiler.stop")
    Fs.writeFileSync(profileFile!, JSON.stringify(profile))
  }

  const median = (values: ReadonlyArray<number>) => {
    const sorted = [...values].sort((a, b) => a - b)
    const mid = sorted.length >> 1
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  }
  for (const mode of modes) {
    const rate = Math.round(median(results[mode.name]!)).toLocaleString("en").padStart(9)
    const cpu = median(cpuPerOp[mode.name]!).toFixed(2).padStart(6)
    console.log(`${mode.name.padEnd(16)} ${rate} ops/s  ${cpu} µs CPU/op`)
  }
  const ratio = (a: string, b: string) => {
    if (results[a] === undefined || results[b] === undefined) return
    const per = results[a]!.map((x, i) => x / results[b]![i]!)
    console.log(`${a} / ${b}: ${median(per).toFixed(2)} (rounds: ${per.map((x) => x.toFixed(2)).join(" ")})`)
  }
  ratio("ours-workers", "node-redis-256")
  ratio("ours-forEach", "node-redis-256")
  ratio("ours-forEach", "ours-workers")
  ratio("ours-seq", "ioredis-seq")
  ratio("ours-seq", "node-redis-seq")

  await ioredis.quit()
  await nodeRedisBase.close()
  await Effect.runPromise(Scope.close(scope, Exit.void))
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
