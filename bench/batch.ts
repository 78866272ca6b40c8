/**
 * Reads as users write them: `Effect.forEach(ids, (id) => backend.get(id), { concurrency })`, with `RedisBackend`'s
 * read batching on and off, next to Effect's own `Request` / `RequestResolver` batching over the same backend, and
 * ioredis with `enableAutoPipelining` + `JSON.parse` driven the same way (a pool of `concurrency` async loops).
 *
 * It starts its own redis-server on a free loopback port and stores `--keys` values (default 10,000) of
 * `--bytes` bytes of JSON (default 200). Every variant runs every workload once to warm up; then, for `--rounds`
 * rounds (default 7), each variant runs each workload once, the order of the variants rotating from round to round.
 * Reported: the median reads per second of each and the CPU time of this process per read (user + system, the
 * steadier figure on a busy machine), each with the median per-round ratio to `off` (batching off), and the
 * server's CPU time per read (`INFO cpu`).
 *
 * Workloads (`--workloads`, default `c256,c16,seq,ttl256`): `cN` (`Effect.forEach` of `get` with concurrency N,
 * `--ops` reads, default 20,000), `seq` (one read after the other, `--ops / 5` reads), `ttlN` (`getWithTtl` at
 * concurrency N).
 *
 * Variants: `on` and `off` (`RedisBackend` with `Serializer.json`, `batchReads` true and false), `request` and
 * `request-batching` (with `--with-request`: `Effect.request` of a `RequestResolver.makeBatched` that reads its
 * batch with `getMany`, under `Effect.forEach` without and with `batching: true`; `getWithTtl` is not theirs, so
 * `ttl256` runs the plain backend for them), `ioredis-auto-json`.
 *
 * Options: `--only variant,variant`, `--workloads id,id`, `--rounds N`, `--ops N`, `--keys N`, `--bytes N`.
 * Profile one variant with `node --cpu-prof --cpu-prof-dir=prof --import tsx bench/batch.ts --only on`, then
 * `npx tsx bench/cpuprofile.ts prof/<file>.cpuprofile 30`.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Request from "effect/Request"
import * as RequestResolver from "effect/RequestResolver"
import * as Scope from "effect/Scope"
import { Redis as IORedis } from "ioredis"
import * as V8 from "node:v8"
import * as Vm from "node:vm"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import type { CacheError, RemoteCacheBackendShape } from "../src/RemoteCacheBackend.js"
import * as Serializer from "../src/Serializer.js"
import * as RedisServer from "../test/utils/RedisServer.js"
import { makeObject, makeRandom } from "./data.js"

const argv = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i === -1 ? undefined : argv[i + 1]
}
const list = (name: string) => option(name)?.split(",").filter((s) => s !== "")
const rounds = Number(option("--rounds") ?? 7)
const ops = Number(option("--ops") ?? 20_000)
const keyCount = Number(option("--keys") ?? 10_000)
const valueBytes = Number(option("--bytes") ?? 200)
const onlyVariants = list("--only")
const onlyWorkloads = list("--workloads")
// Effect's request batching is two orders of magnitude slower here; it is measured only when asked for.
const withRequest = argv.includes("--with-request")
const PREFIX = "bb:"

V8.setFlagsFromString("--expose-gc")
const gc = Vm.runInNewContext("gc") as () => void

const log = (line: string) => process.stderr.write(`${line}\n`)

// -------------------------------------------------------------------------------------------------------------------
// variants
// -------------------------------------------------------------------------------------------------------------------

/** One way of reading: a single read, and `n` reads of `ids` with `concurrency` in flight (0: one at a time). */
interface Variant {
  readonly name: string
  readonly run: (ids: ReadonlyArray<string>, concurrency: number, withTtl: boolean) => Promise<number>
}

const countHits = (values: ReadonlyArray<Option.Option<unknown>>): number => {
  let hits = 0
  for (const value of values) if (Option.isSome(value)) hits++
  return hits
}

const effectVariant = (
  name: string,
  backend: RemoteCacheBackendShape,
  get: (key: string) => Effect.Effect<Option.Option<unknown>, CacheError> = backend.get,
  batching = false
): Variant => ({
  name,
  run: (ids, concurrency, withTtl) =>
    Effect.runPromise(
      Effect.map(
        Effect.forEach(
          ids,
          withTtl ? (id) => backend.getWithTtl(id) : (id) => get(id),
          concurrency === 0 ? undefined : batching ? { concurrency, batching: true } : { concurrency }
        ),
        countHits
      )
    )
})

// Effect's own batching: a request per read, resolved in batches by one MGET (the backend's getMany).
class GetRequest extends Request.TaggedClass("Get")<Option.Option<unknown>, CacheError, { readonly key: string }> {}

const requestGet = (backend: RemoteCacheBackendShape) => {
  const resolver = RequestResolver.makeBatched((requests: ReadonlyArray<GetRequest>) =>
    Effect.matchCauseEffect(backend.getMany(requests.map((request) => request.key)), {
      onFailure: (cause) => Effect.forEach(requests, (request) => Request.failCause(request, cause), { discard: true }),
      onSuccess: (values) =>
        Effect.forEach(requests, (request, i) => Request.succeed(request, values[i]!), { discard: true })
    })
  )
  return (key: string) => Effect.request(new GetRequest({ key }), resolver)
}

const ioredisVariant = (redis: IORedis): Variant => ({
  name: "ioredis-auto-json",
  run: async (ids, concurrency, withTtl) => {
    let hits = 0
    const one = withTtl
      ? async (id: string) => {
        const [[, value], [, pttl]] = (await redis.pipeline().get(id).pttl(id).exec()) as [
          [unknown, string | null],
          [unknown, number]
        ]
        if (value !== null && typeof pttl === "number") {
          JSON.parse(value)
          hits++
        }
      }
      : async (id: string) => {
        const text = await redis.get(id)
        if (text !== null) {
          JSON.parse(text)
          hits++
        }
      }
    let next = 0
    const worker = async () => {
      for (;;) {
        const i = next++
        if (i >= ids.length) return
        await one(ids[i]!)
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker))
    return hits
  }
})

// -------------------------------------------------------------------------------------------------------------------
// workloads
// -------------------------------------------------------------------------------------------------------------------

interface Workload {
  readonly id: string
  readonly concurrency: number
  readonly ids: ReadonlyArray<string>
  readonly withTtl: boolean
}

const idsOf = (n: number, seed: number): ReadonlyArray<string> => {
  const random = makeRandom(seed)
  return Array.from({ length: n }, () => `k${Math.floor(random() * keyCount)}`)
}

// `cN`: get at concurrency N; `ttlN`: getWithTtl at concurrency N; `seq`: one get after the other.
const workloadOf = (id: string, seed: number): Workload => {
  if (id === "seq") return { id, concurrency: 0, ids: idsOf(Math.max(1, Math.floor(ops / 5)), seed), withTtl: false }
  const match = /^(c|ttl)(\d+)$/.exec(id)
  if (match === null) throw new Error(`unknown workload ${id}`)
  return { id, concurrency: Number(match[2]), ids: idsOf(ops, seed), withTtl: match[1] === "ttl" }
}

const workloads: ReadonlyArray<Workload> = (onlyWorkloads ?? ["c256", "c16", "seq", "ttl256"]).map(workloadOf)

// -------------------------------------------------------------------------------------------------------------------
// main
// -------------------------------------------------------------------------------------------------------------------

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const main = async () => {
  const scope = Effect.runSync(Scope.make())
  try {
    const server = await Effect.runPromise(Scope.extend(RedisServer.make(), scope))
    const client = await Effect.runPromise(Scope.extend(RedisClient.make({ url: server.url }), scope))
    const backend = (options: RedisBackend.MakeOptions) =>
      Effect.runPromise(
        Effect.provideService(
          RedisBackend.make({ prefix: PREFIX, serializer: Serializer.json, ...options }),
          RedisClient.RedisClient,
          client
        )
      )
    const on = await backend({})
    const off = await backend({ batchReads: false })
    const redis = new IORedis(server.url, { enableAutoPipelining: true, keyPrefix: PREFIX, lazyConnect: true })
    await redis.connect()

    const values = Array.from({ length: 64 }, (_, v) => makeObject(v, valueBytes))
    const entries = Array.from({ length: keyCount }, (_, k) => [`k${k}`, values[k % 64]] as const)
    for (let i = 0; i < entries.length; i += 1_000) {
      await Effect.runPromise(off.setMany(entries.slice(i, i + 1_000)))
    }
    log(`${keyCount} keys of ${JSON.stringify(values[0]).length} bytes stored on ${server.url}`)

    const variants: ReadonlyArray<Variant> = [
      effectVariant("on", on),
      effectVariant("off", off),
      ...(withRequest
        ? [
          effectVariant("request", off, requestGet(off)),
          effectVariant("request-batching", off, requestGet(off), true)
        ]
        : []),
      ioredisVariant(redis)
    ].filter((variant) => onlyVariants === undefined || onlyVariants.includes(variant.name))

    const rates = new Map<string, Array<number>>()
    const ratios = new Map<string, Array<number>>()
    const cpu = new Map<string, Array<number>>()
    const cpuRatios = new Map<string, Array<number>>()
    const servers = new Map<string, Array<number>>()
    const push = (map: Map<string, Array<number>>, key: string, value: number) => {
      const values = map.get(key)
      if (values === undefined) map.set(key, [value])
      else values.push(value)
    }
    // Reads per second of wall time, and this process's CPU time (user + system) per read: on a busy machine the
    // second is the steadier measure of what a read costs the client.
    // The server's CPU time so far, in µs (INFO cpu): on a machine where it shares the cores, what a batch saves
    // the server counts as much as what it saves the client.
    const serverCpu = async (): Promise<number> => {
      const info = String(await Effect.runPromise(Effect.map(client.send(["INFO", "cpu"]), (r) => String(r))))
      const field = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? 0)
      return (field("used_cpu_user") + field("used_cpu_sys")) * 1e6
    }
    const measure = async (variant: Variant, workload: Workload): Promise<readonly [number, number, number]> => {
      const serverStarted = await serverCpu()
      const cpuStarted = process.cpuUsage()
      const started = performance.now()
      const hits = await variant.run(workload.ids, workload.concurrency, workload.withTtl)
      const elapsed = performance.now() - started
      const used = process.cpuUsage(cpuStarted)
      const server = await serverCpu() - serverStarted
      if (hits !== workload.ids.length) throw new Error(`${variant.name} ${workload.id}: ${hits} hits`)
      const n = workload.ids.length
      return [n / (elapsed / 1000), (used.user + used.system) / n, server / n]
    }
    for (const workload of workloads) for (const variant of variants) await measure(variant, workload)
    for (let round = 0; round < rounds; round++) {
      for (const workload of workloads) {
        const inRound = new Map<string, readonly [number, number, number]>()
        for (let v = 0; v < variants.length; v++) {
          const variant = variants[(v + round) % variants.length]!
          gc()
          const measured = await measure(variant, workload)
          inRound.set(variant.name, measured)
          push(rates, `${workload.id} ${variant.name}`, measured[0])
          push(cpu, `${workload.id} ${variant.name}`, measured[1])
          push(servers, `${workload.id} ${variant.name}`, measured[2])
        }
        const base = inRound.get("off")
        if (base !== undefined) {
          for (const [name, [rate, micros]] of inRound) {
            push(ratios, `${workload.id} ${name}`, rate / base[0])
            push(cpuRatios, `${workload.id} ${name}`, micros / base[1])
          }
        }
      }
      log(`round ${round + 1}/${rounds} done`)
    }
    const rows: Array<string> = []
    rows.push(
      `| workload | variant | reads/s (median of ${rounds}) | ÷ off | client CPU µs/read | ÷ off | server CPU µs/read |`,
      "|---|---|---:|---:|---:|---:|---:|"
    )
    const ratioOf = (values: ReadonlyArray<number> | undefined) => values === undefined ? "" : median(values).toFixed(2)
    for (const workload of workloads) {
      for (const variant of variants) {
        const key = `${workload.id} ${variant.name}`
        rows.push(
          `| ${workload.id} | ${variant.name} | ${Math.round(median(rates.get(key)!)).toLocaleString("en-US")} | ` +
            `${ratioOf(ratios.get(key))} | ${median(cpu.get(key)!).toFixed(1)} | ${ratioOf(cpuRatios.get(key))} | ` +
            `${median(servers.get(key)!).toFixed(1)} |`
        )
      }
    }
    process.stdout.write(rows.join("\n") + "\n")
    await redis.quit()
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
  process.exitCode = 1
})
