/**
 * `npm run bench` (and `npx tsx bench/faces.ts` alone): the Effect 3 and the Effect 4 line side by side, on one
 * server, in the forms users write. Each face runs in a child process of its own (`bench/face.mjs` points the
 * library's imports at that line's build and, for Effect 4, `effect` at Effect 4), the two taking turns round by
 * round against the same redis-server; a ratio Effect 4 / Effect 3 above 1 means the Effect 4 face is faster.
 *
 * Workloads: `remote-get-256-foreach` and `remote-set-256-foreach` (`RemoteCache` with the default policy and
 * serializer over `RedisBackend`, `Effect.forEach(ids, op, { concurrency: 256 })`), `tiered-l1-hit` (one fiber,
 * `get` of a key the in-process tier holds), `memory-get-foreach` (`RemoteCache` over `MemoryBackend`: the face's
 * own cost, no I/O).
 *
 * Alone it needs `--url redis://…` (it writes keys under `bench-faces:`); options `--rounds N` (default 5), `--json`.
 * It measures the builds: run `npm run build` first.
 */
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Url from "node:url"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as TieredCache from "../src/TieredCache.js"

/** The faces compared, in the order of the first round. */
export const FACES = ["effect3", "effect4"] as const

/** Ops/s of each workload in one child run. */
export type FaceRound = Record<string, number>

const value = { id: 1, name: "a cached record", tags: ["x", "y"], score: 0.5 }

const timed = async (ops: number, run: () => Promise<unknown>): Promise<number> => {
  const started = performance.now()
  await run()
  return ops / ((performance.now() - started) / 1000)
}

/** One round of every workload, in the child. */
const measure = (url: string): Promise<FaceRound> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const redis = Layer.provide(RedisBackend.layerWithoutClient({ prefix: "bench-faces:" }), RedisClient.layer({ url }))
    const remote = Context.get(
      yield* Layer.build(Layer.provide(RemoteCache.layerDefault, redis)),
      RemoteCache.RemoteCache
    )
    const memory = Context.get(
      yield* Layer.build(Layer.provide(RemoteCache.layerDefault, MemoryBackend.layer())),
      RemoteCache.RemoteCache
    )
    const tiered = Context.get(
      yield* Layer.build(
        TieredCache.layer({ capacity: 10_000, l1Ttl: "10 minutes" }).pipe(
          Layer.provide(RemoteCache.layerDefault),
          Layer.provide(Layer.merge(redis, TieredCache.layerMemoryBus))
        )
      ),
      TieredCache.TieredCache
    )
    const keys = Array.from({ length: 1_000 }, (_, i) => `k${i}`)
    yield* Effect.forEach(keys, (key) => remote.set(key, value, "1 minute"), { concurrency: 64 })
    yield* Effect.forEach(keys, (key) => memory.set(key, value, "1 minute"), { concurrency: 64 })
    yield* tiered.set("hot", value)
    const ids = Array.from({ length: 20_000 }, (_, i) => i)
    const run = <A, E>(effect: Effect.Effect<A, E>) => () => Effect.runPromise(effect)
    const workloads: Record<string, [number, () => Promise<unknown>]> = {
      "remote-get-256-foreach": [
        ids.length,
        run(Effect.forEach(ids, (i) => remote.get(keys[i % keys.length]!), { concurrency: 256, discard: true }))
      ],
      "remote-set-256-foreach": [
        ids.length,
        run(Effect.forEach(ids, (i) => remote.set(keys[i % keys.length]!, value, "1 minute"), {
          concurrency: 256,
          discard: true
        }))
      ],
      "memory-get-foreach": [
        ids.length * 5,
        run(Effect.forEach(Array.from({ length: ids.length * 5 }, (_, i) => i), (i) => memory.get(keys[i % 1_000]!), {
          concurrency: 256,
          discard: true
        }))
      ],
      "tiered-l1-hit": [
        200_000,
        run(Effect.gen(function*() {
          for (let i = 0; i < 200_000; i++) yield* tiered.get("hot")
        }))
      ]
    }
    const result: FaceRound = {}
    for (const [name, [ops, body]] of Object.entries(workloads)) {
      yield* Effect.promise(body) // warm-up, unmeasured
      result[name] = yield* Effect.promise(() => timed(ops, body))
    }
    return result
  })))

const here = Path.dirname(Url.fileURLToPath(import.meta.url))

/** Runs one face's round in a child process and returns its figures. */
export const runFace = (face: (typeof FACES)[number], url: string): Promise<FaceRound> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(
      process.execPath,
      ["--import", "tsx", "--import", Path.join(here, "face.mjs"), Path.join(here, "faces.ts"), "--child", url],
      { env: { ...process.env, BENCH_FACE: face }, stdio: ["ignore", "pipe", "inherit"] }
    )
    let out = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.on("error", reject)
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`the ${face} face's run exited with ${code}`))
      resolve(JSON.parse(out.trim().split("\n").at(-1)!) as FaceRound)
    })
  })

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** A workload's medians per face and the median per-round ratio Effect 4 / Effect 3. */
export interface FaceRow {
  readonly workload: string
  readonly effect3: number
  readonly effect4: number
  readonly ratio: number
}

/** Runs `rounds` rounds of both faces, alternating which goes first, against the Redis at `url`. */
export const compareFaces = async (
  url: string,
  rounds: number,
  log: (line: string) => void
): Promise<Array<FaceRow>> => {
  const perRound: Array<Record<(typeof FACES)[number], FaceRound>> = []
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? FACES : [...FACES].reverse()
    const results = {} as Record<(typeof FACES)[number], FaceRound>
    for (const face of order) results[face] = await runFace(face, url)
    perRound.push(results)
    log(`faces: round ${round + 1}/${rounds} done`)
  }
  return Object.keys(perRound[0]!.effect3).map((workload) => ({
    workload,
    effect3: median(perRound.map((r) => r.effect3[workload]!)),
    effect4: median(perRound.map((r) => r.effect4[workload]!)),
    ratio: median(perRound.map((r) => r.effect4[workload]! / r.effect3[workload]!))
  }))
}

/** The comparison as a Markdown table. */
export const formatFaces = (rows: ReadonlyArray<FaceRow>): string =>
  [
    "| workload | Effect 3 line (ops/s) | Effect 4 line (ops/s) | Effect 4 / Effect 3 |",
    "| --- | ---: | ---: | ---: |",
    ...rows.map((row) =>
      `| ${row.workload} | ${Math.round(row.effect3).toLocaleString("en-US")} | ${
        Math.round(row.effect4).toLocaleString("en-US")
      } | ${row.ratio.toFixed(2)} |`
    )
  ].join("\n")

const main = async () => {
  const args = process.argv.slice(2)
  if (args[0] === "--child") {
    console.log(JSON.stringify(await measure(args[1]!)))
    return
  }
  const option = (name: string) => {
    const at = args.indexOf(name)
    return at === -1 ? undefined : args[at + 1]
  }
  const rounds = Number(option("--rounds") ?? 5)
  const url = option("--url")
  if (url === undefined) throw new Error("usage: npx tsx bench/faces.ts --url redis://host:port [--rounds N] [--json]")
  const rows = await compareFaces(url, rounds, (line) => console.error(line))
  console.log(args.includes("--json") ? JSON.stringify(rows) : formatFaces(rows))
}

if (process.argv[1] !== undefined && Url.pathToFileURL(process.argv[1]).href === import.meta.url) await main()
