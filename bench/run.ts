/**
 * `npm run bench`: our RedisClient, RedisBackend, RemoteCache and TieredCache side by side with ioredis (plain and
 * auto-pipelining), node-redis and, for the two-tier cache, bentocache, on one server, the same keys and value
 * sizes, the clients taking turns round by round.
 *
 * Two ways of keeping 256 operations in flight are measured for our clients: 256 long-lived worker fibers (the
 * `get-256`, `set-1k-px`, `mixed-90-10` … rows) and `Effect.forEach(ids, get, { concurrency: 256 })`, one fiber
 * per operation, as application code fans out (the `-foreach` rows). The peers run 256 `async` loops in both.
 * The tiered rows (`bench/tiered-peers.ts`) read keys held in the in-process tier (L1 hit), keys its single-entry
 * in-process tier lacks (L2 hit), and new keys through read-through (miss); the stampede row has 100 callers
 * at once on one missing key whose computation takes 20 ms.
 *
 * Both release lines: `npm run bench` builds them, then this script (`runLines`) starts one child per line,
 * `--face effect3|effect4` narrowing to one, each running this same script (`main`) through `bench/face.mjs`, so
 * that our clients are the JavaScript of that line's `dist/esm`, what users run, on that line's Effect (the
 * benchmark's own Effect code imports `#effect/<Module>`, resolved to that build's adapters). Every child measures
 * ours and the peers itself, against the one server the parent started, and hands its report back as JSON.
 *
 * The parent starts a redis-server on a free loopback port, or uses `REDIS_URL` (the children then write and
 * finally remove keys under `bench:` only; each child removes its keys, so both lines start from the same state);
 * `BENCH_FACE=effect4 node --import tsx --import ./bench/face.mjs bench/run.ts` runs one line alone, on a server
 * of its own. Every client runs every workload once to warm up, then each workload is measured for
 * `--rounds` rounds (default 5); in each round every client runs the same op sequence once, the order rotating from
 * round to round so that no client always follows the same one (whose garbage it may collect). Reported figures
 * are medians over the rounds; a ratio ours/peer is the median of the per-round ratios.
 *
 * Memory: each client then runs 1,000,000 operations at 256 in flight in a child process of its own
 * (`bench/rss.ts`, run as plain JavaScript over the line's build), and the peak RSS is compared.
 *
 * Options: `--json` (one JSON object on stdout, progress on stderr), `--rounds N`, `--scale X` (ops per round
 * times X), `--only id,id` (workloads: `get-seq`, `get-256`, `get-256-foreach`, `set-1k-px`, `getmany-100`,
 * `mixed-90-10`, `get-16k`, `tiered-l1-seq`, `tiered-l1-seq-compute`, `tiered-l1-256`, `tiered-l2-256`,
 * `tiered-miss-256`, `stampede`, `tiered-l1-hit`, `persisted-get`, `persisted-get-effect4`, `mc-get-256`,
 * `mc-getmany-100`; no memory runs then),
 * `--clients name,name`, `--rss-ops N`,
 * `--no-rss`, `--face effect3|effect4`, `--profile file` (per line, a V8 CPU profile of its measured rounds only,
 * without the setup and warm-up, written to `file` with the line before the extension: `cpu.effect4.cpuprofile`;
 * summarise it with `npx tsx bench/cpuprofile.ts file`), `--quick` (3 rounds, a quarter of the ops, 250,000 ops
 * per memory run: a few minutes for both lines, for a look while working; the figures are noisier).
 *
 * After every line's report, the run prints the targets of each line ("targets (Effect 3 line)", …), each marked
 * met or missed with its measured value, then (unless `--face`, `--only` or `--no-faces`) the two release lines
 * side by side (`bench/faces.ts`: the Effect 3 and the Effect 4 face, each in a process of its own, on the same
 * server, taking turns). Then, unless `--only` or `--json` is given or `--no-cluster`, it runs the cluster
 * workloads (`bench/cluster.ts`: GET 256 in flight, getMany of 100 keys across slots, a 90/10 mix, ours vs ioredis
 * `Cluster` and node-redis `createCluster`, on a local cluster of 3 primaries + 3 replicas it starts and stops) on
 * each line, with the same `--rounds`.
 */
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Scope from "#effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Inspector from "node:inspector"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"
import * as V8 from "node:v8"
import * as Vm from "node:vm"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as Serializer from "../src/Serializer.js"
import {
  type Driver,
  ioredis,
  ioredisJson,
  makeOurs,
  nodeRedis,
  nodeRedisJsonEffect,
  type Ours,
  oursBackend,
  oursClient,
  oursRemote,
  type Round
} from "./clients.js"
import { startCluster } from "./cluster-nodes.js"
import { type Dataset, makeDataset, makeWorkload, RAW_PREFIX, ROOT_PREFIX, type Workload } from "./data.js"
import { compareFaces, FACES, formatFaces } from "./faces.js"
import {
  formatMemcached,
  MEMCACHED_WORKLOADS,
  type MemcachedOutcome,
  runMemcached,
  statsOf as memcachedStatsOf
} from "./memcached.js"
import { formatPersisted, PERSISTED_WORKLOADS, runPersisted, statsOf } from "./persisted.js"
import {
  bentocache,
  bentoStampede,
  oursStampede,
  oursTiered,
  runStampede,
  STAMPEDE,
  type Stampede,
  type StampedeRound
} from "./tiered-peers.js"
import { runTieredL1Hit, TIERED_WORKLOAD } from "./tiered.js"

// -------------------------------------------------------------------------------------------------------------------
// options
// -------------------------------------------------------------------------------------------------------------------

const argv = process.argv.slice(2)
const flag = (name: string): boolean => argv.includes(name)
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i === -1 ? undefined : argv[i + 1]
}
const list = (name: string): ReadonlyArray<string> | undefined => option(name)?.split(",").filter((s) => s !== "")

const asJson = flag("--json")
const quick = flag("--quick")
const rounds = Math.max(1, Number(option("--rounds") ?? (quick ? 3 : 5)))
const scale = Number(option("--scale") ?? (quick ? 0.25 : 1))
const only = list("--only")
const onlyClients = list("--clients")
const rssOps = Number(option("--rss-ops") ?? (quick ? 250_000 : 1_000_000))
const withRss = !flag("--no-rss")
const profileFile = option("--profile")

// -------------------------------------------------------------------------------------------------------------------
// release lines
// -------------------------------------------------------------------------------------------------------------------

type Face = (typeof FACES)[number]
const LINE_NAMES: Record<Face, string> = { effect3: "Effect 3 line", effect4: "Effect 4 line" }
/**
 * The line this process measures, set in a child that `bench/face.mjs` points at that line's build; unset in the
 * run that starts one child per line (`runLines`).
 */
const face = process.env["BENCH_FACE"] as Face | undefined
/** Set by `runLines` in its children: where a child writes its report (the `--json` object), read back by it. */
const resultFile = process.env["BENCH_RESULT"]

// Progress goes to stderr, so that `--json` leaves exactly one JSON object on stdout.
const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

// A full collection before each workload, so one workload's garbage is not collected during the next.
V8.setFlagsFromString("--expose-gc")
const gc = Vm.runInNewContext("gc") as () => void

// -------------------------------------------------------------------------------------------------------------------
// profiling
// -------------------------------------------------------------------------------------------------------------------

const session = profileFile === undefined ? undefined : new Inspector.Session()
const post = (method: string, params?: object): Promise<unknown> =>
  new Promise((resolve, reject) =>
    session!.post(method, params ?? {}, (error, result) => error === null ? resolve(result) : reject(error))
  )
const startProfile = async (): Promise<void> => {
  if (session === undefined) return
  session.connect()
  await post("Profiler.enable")
  await post("Profiler.setSamplingInterval", { interval: 200 })
  await post("Profiler.start")
}
const resumeProfile = (): Promise<unknown> | undefined => session === undefined ? undefined : post("Profiler.start")
// Samples accumulate over every measured round: each stop returns a profile, merged into one at the end.
const profiles: Array<{ nodes: Array<unknown>; samples: Array<number>; timeDeltas: Array<number> }> = []
const pauseProfile = async (): Promise<void> => {
  if (session === undefined) return
  const { profile } = await post("Profiler.stop") as { profile: (typeof profiles)[number] }
  profiles.push(profile)
}
const writeProfile = (): void => {
  if (profileFile === undefined || profiles.length === 0) return
  // Node ids are per profile: offset them so the profiles can be concatenated.
  const merged = { nodes: [] as Array<unknown>, samples: [] as Array<number>, timeDeltas: [] as Array<number> }
  let offset = 0
  for (const profile of profiles) {
    let max = 0
    for (const node of profile.nodes as Array<{ id: number; children?: Array<number> }>) {
      max = Math.max(max, node.id)
      merged.nodes.push({ ...node, id: node.id + offset, children: node.children?.map((c) => c + offset) })
    }
    for (const sample of profile.samples) merged.samples.push(sample + offset)
    merged.timeDeltas.push(...profile.timeDeltas)
    offset += max + 1
  }
  Fs.writeFileSync(profileFile, JSON.stringify(merged))
  log(`profile of the measured rounds written to ${profileFile}`)
}

// -------------------------------------------------------------------------------------------------------------------
// statistics
// -------------------------------------------------------------------------------------------------------------------

interface Stats {
  readonly opsPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const roundStats = (round: Round): Stats => {
  const sorted = Float64Array.from(round.latencies).sort()
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  const ops = round.ops ?? round.latencies.length
  return { opsPerSec: ops / (round.elapsedMs / 1000), p50Ms: at(0.5), p99Ms: at(0.99) }
}

const medianStats = (all: ReadonlyArray<Stats>): Stats => ({
  opsPerSec: Math.round(median(all.map((s) => s.opsPerSec))),
  p50Ms: Math.round(median(all.map((s) => s.p50Ms)) * 1000) / 1000,
  p99Ms: Math.round(median(all.map((s) => s.p99Ms)) * 1000) / 1000
})

// -------------------------------------------------------------------------------------------------------------------
// setup
// -------------------------------------------------------------------------------------------------------------------

const startServer = async (scope: Scope.Scope): Promise<string> => {
  const url = process.env["REDIS_URL"]
  if (url !== undefined && url !== "") return url
  // Loaded only here: a child measuring a line gets its parent's server and need not load the test utilities.
  const RedisServer = await import("../test/utils/RedisServer.js")
  const server = await Effect.runPromise(Scope.provide(RedisServer.make(), scope))
  return server.url
}

const serverVersion = async (ours: Ours): Promise<string> => {
  const info = await Effect.runPromise(ours.client.send(["INFO", "server"]))
  const text = info instanceof Uint8Array ? Buffer.from(info).toString("utf8") : String(info)
  return /redis_version:(\S+)/.exec(text)?.[1] ?? "unknown"
}

/** Stores every dataset under each prefix: raw bytes, v8 and JSON (through our backends, with MSET). */
const populate = async (ours: Ours, datasets: ReadonlyArray<Dataset>): Promise<void> => {
  for (const dataset of datasets) {
    for (let start = 0; start < dataset.keyCount; start += 500) {
      const end = Math.min(dataset.keyCount, start + 500)
      const raw: Array<string | Uint8Array> = ["MSET"]
      const entries: Array<readonly [string, unknown]> = []
      for (let k = start; k < end; k++) {
        raw.push(RAW_PREFIX + dataset.keys[k]!, dataset.bytes[k & 63]!)
        entries.push([dataset.keys[k]!, dataset.objects[k & 63]!])
      }
      await Effect.runPromise(
        Effect.all([ours.client.send(raw), ours.v8.setMany(entries), ours.json.setMany(entries)], { discard: true })
      )
    }
  }
}

const sameValue = (actual: unknown, expected: unknown): boolean =>
  actual instanceof Uint8Array && expected instanceof Uint8Array
    ? Buffer.compare(actual, expected) === 0
    : JSON.stringify(actual) === JSON.stringify(expected)

/** Every client must read back what was stored, or its figures would measure misses. */
const checkDrivers = async (drivers: ReadonlyArray<Driver>, datasets: ReadonlyArray<Dataset>): Promise<void> => {
  for (const driver of drivers) {
    // The tiered caches hold the small dataset only.
    for (const dataset of driver.families.includes("tiered") ? datasets.slice(0, 1) : datasets) {
      const actual = await driver.probe(dataset)
      const expected = driver.format === "raw" ? dataset.bytes[0] : dataset.objects[0]
      if (!sameValue(actual, expected)) {
        throw new Error(`${driver.name} read back something else than was stored under ${dataset.keys[0]}`)
      }
    }
  }
}

// -------------------------------------------------------------------------------------------------------------------
// measuring
// -------------------------------------------------------------------------------------------------------------------

interface WorkloadResult {
  readonly workload: Workload
  readonly stats: Record<string, Stats>
  readonly perRound: Record<string, ReadonlyArray<Stats>>
}

const measure = async (workload: Workload, drivers: ReadonlyArray<Driver>): Promise<WorkloadResult> => {
  const began = performance.now()
  const runners = drivers.map((driver) => driver.prepare(workload))
  // A clean heap per workload, not per turn: a full collection also shrinks the young generation, which would then
  // make the first thousand operations of every turn pay for frequent scavenges, more so the more a client allocates.
  gc()
  const perRound: Record<string, Array<Stats>> = {}
  for (const driver of drivers) perRound[driver.name] = []
  for (let r = 0; r < rounds; r++) {
    const line: Array<string> = []
    for (let t = 0; t < drivers.length; t++) {
      const d = (t + r) % drivers.length
      await resumeProfile()
      const round = await runners[d]!()
      await pauseProfile()
      const stats = roundStats(round)
      perRound[drivers[d]!.name]!.push(stats)
      line.push(`${drivers[d]!.name} ${Math.round(stats.opsPerSec).toLocaleString("en")}`)
    }
    log(`${workload.id}: round ${r + 1}/${rounds}: ${line.join(", ")}`)
  }
  const stats: Record<string, Stats> = {}
  for (const driver of drivers) stats[driver.name] = medianStats(perRound[driver.name]!)
  log(`${workload.id}: measured in ${((performance.now() - began) / 1000).toFixed(1)} s`)
  return { workload, stats, perRound }
}

/**
 * The pairs compared: our raw client against each raw peer, our backends and `RemoteCache` against the peer doing
 * the JSON work, `RemoteCache` against the bare backend under it (the cost of policy and telemetry, as
 * backend / RemoteCache throughput), our tiered cache against bentocache.
 */
const PAIRS: ReadonlyArray<readonly [ours: string, peer: string]> = [
  ["ours", "ioredis"],
  ["ours", "ioredis-auto"],
  ["ours", "node-redis"],
  ["ours-backend", "ioredis-auto-json"],
  ["ours-backend-json", "ioredis-auto-json"],
  ["ours-remote", "ioredis-auto-json"],
  ["ours-remote", "node-redis-json-effect"],
  ["ours-backend", "node-redis-json-effect"],
  ["ours-backend", "ours-remote"],
  ["ours-tiered", "bentocache"]
]

const ratiosOf = (result: WorkloadResult): Record<string, number> => {
  const ratios: Record<string, number> = {}
  for (const [ours, peer] of PAIRS) {
    const a = result.perRound[ours]
    const b = result.perRound[peer]
    if (a === undefined || b === undefined) continue
    const perRound = a.map((s, r) => s.opsPerSec / b[r]!.opsPerSec)
    ratios[`${result.workload.id}/${ours}-vs-${peer}`] = Math.round(median(perRound) * 100) / 100
  }
  return ratios
}

interface RssResult {
  readonly client: string
  readonly opsPerSec: number
  readonly peakRssMiB: number
}

/**
 * The memory runs execute plain JavaScript, as a deployed application does: under `tsx` every module passes
 * through its loader, which costs more memory the more modules a client has (Effect has hundreds). So `rss.ts` is
 * transpiled (TypeScript's `transpileModule`, no type-checking) into a temporary directory that sees this project's
 * `node_modules`, its imports of the library (`../src/…`) and of `#effect/*` rewritten to the files of the measured
 * line's build (`build/<line>/dist/esm`), whose own `effect` is that line's Effect.
 */
const compileRssScript = async (face: Face): Promise<{ readonly script: string; readonly dir: string }> => {
  const ts = (await import("typescript")).default
  const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "..")
  const dist = Url.pathToFileURL(Path.join(root, "build", face, "dist", "esm")).href
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "erc-bench-"))
  const source = Fs.readFileSync(Path.join(root, "bench", "rss.ts"), "utf8")
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName: "bench/rss.ts"
  })
  const out = Path.join(dir, "bench", "rss.js")
  Fs.mkdirSync(Path.dirname(out), { recursive: true })
  Fs.writeFileSync(
    out,
    outputText
      .replaceAll(`"../src/`, `"${dist}/`)
      .replace(/"#effect\/(\w+)"/g, (_, module: string) => `"${dist}/compat/${face}/${module}.js"`)
  )
  Fs.writeFileSync(Path.join(dir, "package.json"), JSON.stringify({ type: "module" }))
  Fs.symlinkSync(Path.join(root, "node_modules"), Path.join(dir, "node_modules"), "dir")
  return { script: out, dir }
}

const measureRss = (script: string, client: string, url: string): Promise<RssResult> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(process.execPath, [script, client, url, String(rssOps)], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk
    })
    child.once("error", reject)
    child.once("close", (code) => {
      if (code !== 0) return reject(new Error(`the ${client} memory run exited with ${code}`))
      resolve(JSON.parse(out.trim().split("\n").pop()!) as RssResult)
    })
  })

// -------------------------------------------------------------------------------------------------------------------
// output
// -------------------------------------------------------------------------------------------------------------------

/** What the targets are judged on. */
interface Measured {
  readonly ratios: Readonly<Record<string, number>>
  readonly memoryRatios: Readonly<Record<string, number>>
  /** Median ops/s of a client in a workload. */
  readonly opsPerSec: (workload: string, client: string) => number | undefined
  readonly stampede: Readonly<Record<string, ReadonlyArray<StampedeRound>>> | undefined
}

interface Target {
  readonly label: string
  readonly at: number
  /** "min": the value must be at least `at`; "max": at most. */
  readonly kind: "min" | "max"
  /** How the value reads: a ratio ours/peer, a rate, a percentage, a count. */
  readonly unit: "x" | "ops/s" | "%" | "count"
  /** The measured value, or `undefined` when its workloads did not run. */
  readonly value: (measured: Measured) => number | undefined
}

const ratio = (key: string) => (measured: Measured): number | undefined => measured.ratios[key]

/** Median over the rounds of ours / bentocache stampede time. */
const stampedeTimeRatio = (measured: Measured): number | undefined => {
  const ours = measured.stampede?.["ours-tiered"]
  const peer = measured.stampede?.["bentocache"]
  if (ours === undefined || peer === undefined) return undefined
  return Math.round(median(ours.map((r, i) => r.elapsedMs / peer[i]!.elapsedMs)) * 100) / 100
}

/** The targets of the "Throughput where users actually are" issue. */
const TARGETS: ReadonlyArray<Target> = [
  {
    label: "RemoteCache.get (defaultPolicy, v8), forEach 256 vs node-redis + JSON via Effect.tryPromise",
    value: ratio("get-256-foreach/ours-remote-vs-node-redis-json-effect"),
    at: 1.5,
    kind: "min",
    unit: "x"
  },
  {
    label: "RemoteCache.get (defaultPolicy, v8), forEach 256 vs ioredis auto + JSON",
    value: ratio("get-256-foreach/ours-remote-vs-ioredis-auto-json"),
    at: 1.5,
    kind: "min",
    unit: "x"
  },
  {
    label: "telemetry cost: RedisBackend.get / RemoteCache.get - 1, forEach 256",
    value: (m) => {
      const r = m.ratios["get-256-foreach/ours-backend-vs-ours-remote"]
      return r === undefined ? undefined : Math.round((r - 1) * 1000) / 10
    },
    at: 10,
    kind: "max",
    unit: "%"
  },
  {
    label: "RedisClient.send GET, 256 worker fibers vs node-redis",
    value: ratio("get-256/ours-vs-node-redis"),
    at: 1,
    kind: "min",
    unit: "x"
  },
  {
    label: "RedisClient.send sequential GET vs ioredis plain",
    value: ratio("get-seq/ours-vs-ioredis"),
    at: 1,
    kind: "min",
    unit: "x"
  },
  {
    label: "TieredCache L1 hit, get in one fiber",
    value: (m) => m.opsPerSec("tiered-l1-seq", "ours-tiered"),
    at: 2_000_000,
    kind: "min",
    unit: "ops/s"
  },
  {
    label: "TieredCache L1 hit, get in one fiber vs bentocache",
    value: ratio("tiered-l1-seq/ours-tiered-vs-bentocache"),
    at: 5,
    kind: "min",
    unit: "x"
  },
  {
    label: "TieredCache L2 hit, forEach 256 vs bentocache",
    value: ratio("tiered-l2-256/ours-tiered-vs-bentocache"),
    at: 1.5,
    kind: "min",
    unit: "x"
  },
  {
    label: `stampede (${STAMPEDE.callers} callers, ${STAMPEDE.computeMillis} ms): computations, most in one`,
    value: (m) => {
      const ours = m.stampede?.["ours-tiered"]
      return ours === undefined ? undefined : Math.max(...ours.map((r) => r.computations))
    },
    at: 1,
    kind: "max",
    unit: "count"
  },
  {
    label: "TieredCache miss (getOrCompute of new keys), forEach 256 vs bentocache",
    value: ratio("tiered-miss-256/ours-tiered-vs-bentocache"),
    at: 1,
    kind: "min",
    unit: "x"
  },
  { label: "stampede: total time vs bentocache", value: stampedeTimeRatio, at: 1, kind: "max", unit: "x" },
  {
    label: "peak RSS after the memory run, ours vs ioredis",
    value: (m) => m.memoryRatios["rss/ours-vs-ioredis"],
    at: 1.2,
    kind: "max",
    unit: "x"
  }
]

/** Targets of earlier work, still watched. */
const EARLIER_TARGETS: ReadonlyArray<Target> = [
  {
    label: "RedisClient GET, 256 worker fibers vs ioredis auto-pipelining",
    value: ratio("get-256/ours-vs-ioredis-auto"),
    at: 1.25,
    kind: "min",
    unit: "x"
  },
  {
    label: "RedisBackend (v8) GET, 256 worker fibers vs ioredis auto + JSON",
    value: ratio("get-256/ours-backend-vs-ioredis-auto-json"),
    at: 1,
    kind: "min",
    unit: "x"
  },
  {
    label: "RedisBackend getMany (v8) vs ioredis auto MGET + JSON",
    value: ratio("getmany-100/ours-backend-vs-ioredis-auto-json"),
    at: 1,
    kind: "min",
    unit: "x"
  },
  {
    label: "RedisClient MGET vs ioredis MGET",
    value: ratio("getmany-100/ours-vs-ioredis"),
    at: 1,
    kind: "min",
    unit: "x"
  }
]

interface Verdict {
  readonly label: string
  readonly at: number
  readonly kind: "min" | "max"
  readonly unit: Target["unit"]
  readonly value: number
  readonly met: boolean
}

const judge = (targets: ReadonlyArray<Target>, measured: Measured): Array<Verdict> =>
  targets.flatMap((target) => {
    const value = target.value(measured)
    if (value === undefined || Number.isNaN(value)) return []
    const met = target.kind === "min" ? value >= target.at : value <= target.at
    return [{ label: target.label, at: target.at, kind: target.kind, unit: target.unit, value, met }]
  })

const formatValue = (value: number, unit: Target["unit"]): string =>
  unit === "x"
    ? `${value.toFixed(2)}x`
    : unit === "ops/s"
    ? `${Math.round(value).toLocaleString("en")} ops/s`
    : unit === "%"
    ? `${value.toFixed(1)} %`
    : String(value)

/** A line's targets and earlier targets, each marked met or missed, as the closing tables of a report. */
const targetTables = (
  line: Face | undefined,
  targets: ReadonlyArray<Verdict>,
  earlier: ReadonlyArray<Verdict>
): Array<string> => {
  const out: Array<string> = []
  const of = line === undefined ? "" : ` (${LINE_NAMES[line]})`
  // The widest label sets the column, so that the values line up.
  const width = Math.max(72, ...[...targets, ...earlier].map((v) => v.label.length))
  const table = (title: string, vs: ReadonlyArray<Verdict>) => {
    if (vs.length === 0) return
    out.push("")
    out.push(title)
    for (const v of vs) {
      out.push(
        `  ${v.met ? "met    " : "MISSED "} ${pad(v.label, width)} ${padStart(formatValue(v.value, v.unit), 17)} (${
          v.kind === "min" ? ">=" : "<="
        } ${formatValue(v.at, v.unit)})`
      )
    }
  }
  table(`targets${of}:`, targets)
  table(`earlier targets${of}:`, earlier)
  return out
}

const pad = (s: string, n: number): string => s.length >= n ? s : s + " ".repeat(n - s.length)
const padStart = (s: string, n: number): string => s.length >= n ? s : " ".repeat(n - s.length) + s
const fmt = (n: number, digits: number): string =>
  n.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits })

// -------------------------------------------------------------------------------------------------------------------
// main
// -------------------------------------------------------------------------------------------------------------------

/** The clients that run a workload: those of its family, narrowed by the workload and the client themselves. */
const driversOf = (workload: Workload, drivers: ReadonlyArray<Driver>): Array<Driver> =>
  drivers.filter((d) =>
    d.families.includes(workload.family) && (workload.clients === undefined || workload.clients.includes(d.name)) &&
    (d.workloads === undefined || d.workloads.includes(workload.id))
  )

const loopOf = (workload: Workload): string =>
  workload.loop === "forEach"
    ? `ours: Effect.forEach, concurrency ${workload.concurrency}`
    : workload.concurrency === 1
    ? "ours: one fiber"
    : `ours: ${workload.concurrency} worker fibers`

const main = async (): Promise<void> => {
  const scope = Effect.runSync(Scope.make())
  const drivers: Array<Driver> = []
  const stampedeSides: Array<Stampede> = []
  let ours: Ours | undefined
  let url = ""
  try {
    url = await startServer(scope)
    ours = await makeOurs(url)
    const redisVersion = await serverVersion(ours)
    const n = (ops: number) => Math.max(1, Math.round(ops * scale))

    const small = makeDataset("small", 10_000, 100)
    const write = makeDataset("write", 10_000, 1024)
    const large = makeDataset("large", 1_000, 16 * 1024)
    log(`redis ${redisVersion} at ${url.replace(/\/\/[^@/]*@/, "//***@")}, node ${process.version}; storing datasets`)
    await populate(ours, [small, large])

    const tieredCompared = ["ours-tiered", "bentocache"]
    const workloads: Array<Workload> = [
      makeWorkload({
        id: "get-seq",
        title: "GET, 1 in flight (sequential)",
        concurrency: 1,
        dataset: small,
        ops: n(6_000)
      }),
      makeWorkload({
        id: "get-256",
        title: "GET, 256 in flight",
        concurrency: 256,
        dataset: small,
        ops: n(80_000)
      }),
      makeWorkload({
        id: "get-256-foreach",
        title: "GET, 256 in flight",
        concurrency: 256,
        dataset: small,
        ops: n(50_000),
        loop: "forEach",
        clients: [
          "ours",
          "ours-backend",
          "ours-backend-json",
          "ours-remote",
          "ioredis-auto",
          "ioredis-auto-json",
          "node-redis",
          "node-redis-json-effect"
        ]
      }),
      makeWorkload({
        id: "set-1k-px",
        title: "SET with PX, 256 in flight",
        concurrency: 256,
        dataset: write,
        ops: n(30_000),
        setRatio: 1,
        ttl: true
      }),
      makeWorkload({
        id: "getmany-100",
        title: "getMany / MGET of 100 keys, 16 in flight",
        concurrency: 16,
        dataset: small,
        ops: n(1_500),
        mgetSize: 100
      }),
      makeWorkload({
        id: "mixed-90-10",
        title: "90% GET / 10% SET over 10,000 keys, 256 in flight",
        concurrency: 256,
        dataset: small,
        ops: n(50_000),
        setRatio: 0.1
      }),
      makeWorkload({
        id: "get-16k",
        title: "GET, 64 in flight",
        concurrency: 64,
        dataset: large,
        ops: n(8_000)
      }),
      makeWorkload({
        id: "tiered-l1-seq",
        title: "tiered get, L1 hit, 1 in flight (bentocache: get in one async loop)",
        family: "tiered",
        tiered: { case: "l1-hit", readThrough: false },
        concurrency: 1,
        dataset: small,
        ops: n(100_000),
        sampleEvery: 64,
        clients: tieredCompared
      }),
      makeWorkload({
        id: "tiered-l1-seq-compute",
        title: "tiered getOrCompute, L1 hit, 1 in flight (bentocache: getOrSet in one async loop)",
        family: "tiered",
        tiered: { case: "l1-hit", readThrough: true },
        concurrency: 1,
        dataset: small,
        ops: n(50_000),
        sampleEvery: 64,
        clients: tieredCompared
      }),
      makeWorkload({
        id: "tiered-l1-256",
        title: "tiered get, L1 hit, 256 in flight",
        family: "tiered",
        tiered: { case: "l1-hit", readThrough: false },
        concurrency: 256,
        dataset: small,
        ops: n(50_000),
        loop: "forEach",
        sampleEvery: 64,
        clients: tieredCompared
      }),
      makeWorkload({
        id: "tiered-l2-256",
        title: "tiered get, L1 miss (1-entry L1), L2 hit, 256 in flight",
        family: "tiered",
        tiered: { case: "l2-hit", readThrough: false },
        concurrency: 256,
        dataset: small,
        ops: n(20_000),
        loop: "forEach",
        clients: tieredCompared
      }),
      makeWorkload({
        id: "tiered-miss-256",
        title: "tiered getOrCompute of new keys (miss, compute, write L2 + L1, publish), 256 in flight",
        family: "tiered",
        tiered: { case: "miss", readThrough: true },
        concurrency: 256,
        dataset: small,
        ops: n(6_000),
        loop: "forEach",
        clients: tieredCompared
      })
    ].filter((w) => only === undefined || only.includes(w.id))
    const runStampedeRow = only === undefined || only.includes("stampede")

    const all: Array<() => Promise<Driver>> = []
    if (workloads.some((w) => w.family === "client")) {
      all.push(
        async () => oursClient(ours!),
        async () => oursBackend(ours!, "v8"),
        async () => oursBackend(ours!, "json"),
        async () => oursRemote(ours!),
        () => ioredis(url, false),
        () => ioredis(url, true),
        () => ioredisJson(url),
        () => nodeRedis(url),
        () => nodeRedisJsonEffect(url)
      )
    }
    if (workloads.some((w) => w.family === "tiered")) {
      all.push(() => oursTiered(url, small), () => bentocache(url, small))
    }
    for (const make of all) {
      const driver = await make()
      if (onlyClients === undefined || onlyClients.includes(driver.name)) drivers.push(driver)
      else await driver.close()
    }
    await checkDrivers(drivers, [small, large])

    // One pass of every workload by every client before anything is measured: the first workload measured would
    // otherwise favour whichever client has less code still to compile.
    for (const workload of workloads) {
      log(`${workload.id}: warm-up`)
      for (const driver of driversOf(workload, drivers)) await driver.prepare(workload)()
    }

    const results: Array<WorkloadResult> = []
    await startProfile()
    await pauseProfile()
    profiles.length = 0
    for (const workload of workloads) results.push(await measure(workload, driversOf(workload, drivers)))
    writeProfile()

    let stampede: Record<string, ReadonlyArray<StampedeRound>> | undefined
    if (runStampedeRow) {
      for (const make of [oursStampede, bentoStampede]) {
        const side = await make(url)
        if (onlyClients === undefined || onlyClients.includes(side.name)) stampedeSides.push(side)
        else await side.close()
      }
      stampede = await runStampede(stampedeSides, rounds, log)
    }

    const tiered = only === undefined || only.includes(TIERED_WORKLOAD)
      ? await runTieredL1Hit(url, rounds)
      : undefined
    // The Effect 3 line's process runs both rows (`persisted-get-effect4` in a child process of its own, on the
    // Effect 4 build); the Effect 4 line's runs none.
    const persistedIds = (face ?? "effect3") === "effect4" ?
      [] :
      (only ?? PERSISTED_WORKLOADS).filter((id) => (PERSISTED_WORKLOADS as ReadonlyArray<string>).includes(id))
    const persisted = persistedIds.length > 0 ? await runPersisted(url, rounds, persistedIds, log) : []
    // The memcached rows (`bench/memcached.ts`, on a memcached of their own) run in each line's process.
    const memcachedIds = (only ?? MEMCACHED_WORKLOADS).filter((id) =>
      (MEMCACHED_WORKLOADS as ReadonlyArray<string>).includes(id)
    )
    const memcached: MemcachedOutcome | undefined = memcachedIds.length > 0 ?
      await runMemcached(rounds, scale, memcachedIds, log) :
      undefined

    const rss: Array<RssResult> = []
    if (withRss && only === undefined) {
      const { dir, script } = await compileRssScript(face ?? "effect3")
      try {
        for (const client of ["ours", "ours-backend", "ioredis", "ioredis-auto", "node-redis"]) {
          if (onlyClients !== undefined && !onlyClients.includes(client)) continue
          log(`memory: ${client}, ${rssOps.toLocaleString("en")} ops`)
          rss.push(await measureRss(script, client, url))
        }
      } finally {
        Fs.rmSync(dir, { recursive: true, force: true })
      }
    }

    // ---------------------------------------------------------------------------------------------------------------
    const ratios: Record<string, number> = {}
    for (const result of results) Object.assign(ratios, ratiosOf(result))
    const rssOf = (client: string) => rss.find((r) => r.client === client)?.peakRssMiB
    const memoryRatios: Record<string, number> = {}
    for (const client of ["ours", "ours-backend"]) {
      for (const peer of ["ioredis", "ioredis-auto", "node-redis"]) {
        const a = rssOf(client)
        const b = rssOf(peer)
        if (a !== undefined && b !== undefined) memoryRatios[`rss/${client}-vs-${peer}`] = Math.round(a / b * 100) / 100
      }
    }
    const measured: Measured = {
      ratios,
      memoryRatios,
      opsPerSec: (workload, client) => results.find((r) => r.workload.id === workload)?.stats[client]?.opsPerSec,
      stampede
    }
    const verdicts = judge(TARGETS, measured)
    const earlier = judge(EARLIER_TARGETS, measured)
    const stampedeStats = stampede === undefined ? undefined : Object.fromEntries(
      Object.entries(stampede).map(([name, rs]) => [name, {
        computationsMax: Math.max(...rs.map((r) => r.computations)),
        elapsedMsMedian: Math.round(median(rs.map((r) => r.elapsedMs)) * 10) / 10
      }])
    )
    const date = new Date().toISOString()
    const machine = `${Os.cpus().length} cores (${Os.cpus()[0]?.model.trim() ?? "unknown CPU"}), ${
      Math.round(Os.totalmem() / 2 ** 30)
    } GiB`

    if (asJson || resultFile !== undefined) {
      const workloadsJson: Record<string, Record<string, Stats>> = {}
      for (const result of results) workloadsJson[result.workload.id] = result.stats
      const skipped: Record<string, string> = {}
      if (tiered !== undefined) {
        if (tiered._tag === "Skipped") skipped[TIERED_WORKLOAD] = tiered.reason
        else workloadsJson[TIERED_WORKLOAD] = { ours: medianStats(tiered.rounds.map(roundStats)) }
      }
      for (const row of persisted) {
        const { opsPerSec, ratios: persistedRatios } = statsOf(row)
        workloadsJson[row.id] = Object.fromEntries(
          Object.entries(opsPerSec).map(([name, ops]) => [name, { opsPerSec: ops } as Stats])
        )
        for (const [k, v] of Object.entries(persistedRatios)) ratios[`${row.id}/${k}`] = v
      }
      if (memcached?._tag === "Skipped") {
        for (const id of memcachedIds) skipped[id] = memcached.reason
      } else if (memcached !== undefined) {
        for (const row of memcached.rows) {
          const { ratios: memcachedRatios, stats } = memcachedStatsOf(row)
          workloadsJson[row.id] = stats
          for (const [k, v] of Object.entries(memcachedRatios)) ratios[`${row.id}/${k}`] = v
        }
      }
      const memory: Record<string, { opsPerSec: number; peakRssMiB: number }> = {}
      for (const r of rss) memory[r.client] = { opsPerSec: r.opsPerSec, peakRssMiB: r.peakRssMiB }
      const targetsJson = (vs: ReadonlyArray<Verdict>) =>
        Object.fromEntries(
          vs.map((v) => [v.label, { at: v.at, kind: v.kind, unit: v.unit, value: v.value, met: v.met }])
        )
      const report = `${
        JSON.stringify({
          line: face,
          date,
          node: process.version,
          redis: redisVersion,
          machine,
          rounds,
          workloads: workloadsJson,
          ratios,
          stampede: stampedeStats,
          memory,
          memoryRatios,
          targets: targetsJson(verdicts),
          earlierTargets: targetsJson(earlier),
          skipped
        })
      }\n`
      if (resultFile !== undefined) Fs.writeFileSync(resultFile, report)
      else process.stdout.write(report)
      if (asJson) return
    }

    const out: Array<string> = []
    out.push(
      `${
        face === undefined ? "" : `${LINE_NAMES[face]} (build/${face}): `
      }redis ${redisVersion}, node ${process.version}, ${machine}, ${date.slice(0, 10)}; median of ${rounds} rounds`
    )
    out.push("")
    out.push("clients (ours in Effect, the others in async loops):")
    for (const driver of drivers) out.push(`  ${pad(driver.name, 18)} ${driver.description}`)
    for (const side of stampedeSides) {
      if (!drivers.some((d) => d.name === side.name)) out.push(`  ${pad(side.name, 18)} ${side.description}`)
    }
    out.push("")
    out.push(
      "values: objects whose JSON text is the stated size (raw clients: that many random bytes); serializer per row"
    )
    for (const result of results) {
      const w = result.workload
      const ran = driversOf(w, drivers)
      out.push("")
      out.push(
        `${w.id}: ${w.title}, ${fmt(w.dataset.valueBytes, 0)}-byte values (${loopOf(w)}; ${
          w.ops.toLocaleString("en")
        } ops per round${w.sampleEvery > 1 ? `; latencies of 1 op in ${w.sampleEvery}` : ""})`
      )
      out.push(
        `  ${pad("client", 18)} ${padStart("ops/s", 10)} ${padStart("p50 ms", 8)} ${padStart("p99 ms", 8)}  ${
          pad("value", 7)
        } serializer`
      )
      for (const driver of ran) {
        const s = result.stats[driver.name]!
        out.push(
          `  ${pad(driver.name, 18)} ${padStart(fmt(s.opsPerSec, 0), 10)} ${padStart(fmt(s.p50Ms, 3), 8)} ${
            padStart(fmt(s.p99Ms, 3), 8)
          }  ${pad(`${w.dataset.valueBytes} B`, 7)} ${driver.serializer}`
        )
      }
      const r = ratiosOf(result)
      const keys = Object.keys(r)
      if (keys.length > 0) {
        out.push(`  ratios: ${keys.map((k) => `${k.slice(w.id.length + 1)} ${r[k]!.toFixed(2)}`).join(", ")}`)
      }
    }
    if (stampede !== undefined && stampedeStats !== undefined) {
      out.push("")
      out.push(
        `stampede: ${STAMPEDE.callers} callers at once, read-through of one missing key, a ${STAMPEDE.computeMillis} ms ` +
          "computation (ours: getOrCompute from Effect.forEach, unbounded; bentocache: getOrSet from Promise.all); " +
          `${STAMPEDE.perRound} stampedes per round`
      )
      out.push(
        `  ${pad("client", 18)} ${padStart("computations", 12)} ${padStart("total ms", 10)}  value   serializer`
      )
      for (const [name, s] of Object.entries(stampedeStats)) {
        const side = stampedeSides.find((d) => d.name === name)
        out.push(
          `  ${pad(name, 18)} ${padStart(String(s.computationsMax), 12)} ${padStart(fmt(s.elapsedMsMedian, 1), 10)}  ${
            pad(`${STAMPEDE.valueBytes} B`, 7)
          } ${side?.serializer ?? ""}`
        )
      }
      const r = stampedeTimeRatio(measured)
      if (r !== undefined) {
        out.push(
          `  ratios: time ours-tiered-vs-bentocache ${
            r.toFixed(2)
          } (computations: the most in any stampede; total ms: ` +
            "one stampede, until every caller has its value)"
        )
      }
    }
    out.push("")
    if (tiered === undefined) {
      // not requested
    } else if (tiered._tag === "Skipped") {
      out.push(`${TIERED_WORKLOAD}: skipped (${tiered.reason})`)
    } else {
      const s = medianStats(tiered.rounds.map(roundStats))
      out.push(
        `${TIERED_WORKLOAD} (TieredCache alone, one key): ${fmt(s.opsPerSec, 0)} ops/s, p50 ${
          fmt(s.p50Ms, 3)
        } ms, p99 ${fmt(s.p99Ms, 3)} ms`
      )
    }
    out.push(...formatPersisted(persisted))
    out.push(...formatMemcached(memcached))
    if (rss.length > 0) {
      out.push("")
      out.push(
        `memory: ${rssOps.toLocaleString("en")} ops (90% GET / 10% SET, 256 in flight, 100-byte values), one ` +
          "process per client"
      )
      out.push(`  ${pad("client", 18)} ${padStart("ops/s", 10)} ${padStart("peak RSS", 12)}`)
      for (const r of rss) {
        out.push(`  ${pad(r.client, 18)} ${padStart(fmt(r.opsPerSec, 0), 10)} ${padStart(`${r.peakRssMiB} MiB`, 12)}`)
      }
      out.push(
        `  ratios: ${Object.entries(memoryRatios).map(([k, v]) => `${k.slice(4)} ${v.toFixed(2)}`).join(", ")}`
      )
    }
    // Run by `runLines`, which prints every line's targets together at the end.
    if (resultFile === undefined) out.push(...targetTables(face, verdicts, earlier))
    process.stdout.write(`${out.join("\n")}\n`)
  } finally {
    for (const driver of drivers) await driver.close()
    for (const side of stampedeSides) await side.close()
    if (ours !== undefined) {
      if (process.env["REDIS_URL"] !== undefined && process.env["REDIS_URL"] !== "") {
        // A server we do not own: remove exactly the keys we wrote.
        await Effect.runPromise(
          Effect.flatMap(
            Effect.provideService(
              RedisBackend.make({ prefix: ROOT_PREFIX, serializer: Serializer.json }),
              RedisClient.RedisClient,
              ours.client
            ),
            (backend) => backend.clear
          )
        )
      }
      await ours.close()
    }
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

// -------------------------------------------------------------------------------------------------------------------
// both lines
// -------------------------------------------------------------------------------------------------------------------

const here = Path.dirname(Url.fileURLToPath(import.meta.url))

/** `--profile file` of a line: `file` with the line before its extension (`cpu.cpuprofile` → `cpu.effect4.cpuprofile`). */
const profileOf = (file: string, line: Face): string => {
  const ext = Path.extname(file)
  return `${file.slice(0, file.length - ext.length)}.${line}${ext}`
}

/** This run's arguments for a child measuring one line: without `--face`, with that line's profile file. */
const childArgs = (line: Face): Array<string> => {
  const args: Array<string> = []
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--face") i++
    else if (argv[i] === "--profile") args.push("--profile", profileOf(argv[++i]!, line))
    else args.push(argv[i]!)
  }
  return args
}

/** Runs `script` in a child on `line`'s build and Effect (`bench/face.mjs`), its output this process's own. */
const runOnLine = (line: Face, script: string, args: ReadonlyArray<string>, env: Record<string, string>) =>
  new Promise<void>((resolve, reject) => {
    const child = ChildProcess.spawn(
      process.execPath,
      ["--import", "tsx", "--import", Path.join(here, "face.mjs"), Path.join(here, script), ...args],
      // With --json, this process's stdout carries one JSON object: a child's output (its report goes to a file, but
      // Effect 4's default logger writes to stdout) is progress, on stderr.
      { env: { ...process.env, ...env, BENCH_FACE: line }, stdio: ["ignore", asJson ? 2 : 1, 2] }
    )
    child.once("error", reject)
    child.once(
      "exit",
      (code) => code === 0 ? resolve() : reject(new Error(`the ${line} run of ${script} exited with ${code}`))
    )
  })

/** A line's report, as a child writes it (the `--json` object). */
interface LineReport {
  readonly targets: Record<string, Omit<Verdict, "label">>
  readonly earlierTargets: Record<string, Omit<Verdict, "label">>
  readonly [key: string]: unknown
}

const verdictsOf = (json: LineReport["targets"]): Array<Verdict> =>
  Object.entries(json).map(([label, v]) => ({ ...v, label }))

/**
 * `npm run bench`: one child per release line (`--face` narrows to one), each measuring ours and the peers, taking
 * turns as above, against the one server this process starts; then every line's targets, the lines side by side
 * (`bench/faces.ts`) and the cluster workloads on each line, on one cluster.
 */
const runLines = async (): Promise<void> => {
  const chosen = option("--face")
  if (chosen !== undefined && !(FACES as ReadonlyArray<string>).includes(chosen)) {
    throw new Error(`--face must be one of ${FACES.join(", ")}, not ${chosen}`)
  }
  const lines: ReadonlyArray<Face> = chosen === undefined ? FACES : [chosen as Face]
  const scope = Effect.runSync(Scope.make())
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "erc-bench-lines-"))
  try {
    const url = await startServer(scope)
    const reports: Partial<Record<Face, LineReport>> = {}
    for (const line of lines) {
      log(`\n${LINE_NAMES[line]} (build/${line}, its own Effect):`)
      const file = Path.join(dir, `${line}.json`)
      // REDIS_URL: the child uses this server and removes its keys when done, so each line starts from the same state.
      // BENCH_OWN_SERVER: the server is the benchmark's own (not the user's REDIS_URL), so rows that write outside
      // `bench:` (the persisted rows) may run.
      const own = process.env["REDIS_URL"] === undefined || process.env["REDIS_URL"] === ""
      await runOnLine(line, "run.ts", childArgs(line), {
        BENCH_RESULT: file,
        REDIS_URL: url,
        ...(own ? { BENCH_OWN_SERVER: "1" } : {})
      })
      if (!asJson) process.stdout.write("\n")
      reports[line] = JSON.parse(Fs.readFileSync(file, "utf8")) as LineReport
    }
    if (!asJson) {
      const out: Array<string> = []
      for (const line of lines) {
        const report = reports[line]!
        out.push(...targetTables(line, verdictsOf(report.targets), verdictsOf(report.earlierTargets)))
      }
      process.stdout.write(`${out.join("\n")}\n`)
    }
    let faces: ReadonlyArray<unknown> | undefined
    if (lines.length === FACES.length && only === undefined && !flag("--no-faces")) {
      // The two release lines, each in a process of its own on its own Effect, against this same server.
      log("\nfaces (bench/faces.ts): the Effect 3 and the Effect 4 line, taking turns")
      const rows = await compareFaces(url, rounds, log)
      faces = rows
      if (!asJson) {
        process.stdout.write(`\nfaces: the same workloads on each release line (medians of ${rounds} rounds)\n`)
        process.stdout.write(`${formatFaces(rows)}\n`)
      }
    }
    if (asJson) {
      const targets = (key: "targets" | "earlierTargets") =>
        Object.fromEntries(lines.map((line) => [line, reports[line]![key]]))
      process.stdout.write(
        `${
          JSON.stringify({
            lines: reports,
            targets: targets("targets"),
            earlierTargets: targets("earlierTargets"),
            faces
          })
        }\n`
      )
    }
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
  await runClusters(lines)
}

// The cluster workloads need a cluster of their own: started after the single-server ones, so that neither run's
// servers weigh on the other, and measured on each line in a child of its own (`bench/cluster.ts --nodes …`), so
// that one line's garbage does not weigh on the other's either; both lines use the same cluster.
const runClusters = async (lines: ReadonlyArray<Face>): Promise<void> => {
  if (only !== undefined || asJson || flag("--no-cluster")) return
  log("\ncluster workloads (bench/cluster.ts): starting a 3+3 cluster…")
  const cluster = await startCluster()
  try {
    for (const line of lines) {
      // On stdout: bench/cluster.ts writes its rows there.
      process.stdout.write(`\ncluster workloads, ${LINE_NAMES[line]}:\n`)
      await runOnLine(line, "cluster.ts", [
        "--nodes",
        cluster.urls.join(","),
        "--rounds",
        String(rounds),
        "--scale",
        String(scale)
      ], {})
    }
  } finally {
    await cluster.close()
  }
}

if (face === undefined) {
  runLines().catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
} else {
  main().catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
