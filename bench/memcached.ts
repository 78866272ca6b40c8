/**
 * The memcached rows: our `MemcachedClient` (meta protocol) and `MemcachedBackend` against memjs (the binary
 * protocol), on one `memcached` this module starts on a free loopback port (`test/utils/MemcachedServer.ts`, as
 * the tests do; never a system server on 11211), the sides taking turns round by round in rotating order after one
 * unmeasured pass each, as in `bench/run.ts`. Figures are medians of the rounds; a ratio ours/peer is the median of
 * the per-round ratios.
 *
 * 10,000 keys of about 100 bytes are stored three ways before the rounds: 100 random bytes (the raw sides), the
 * JSON text of an object of 100 bytes (the peer doing a cache's work: `JSON.parse` of what it reads) and the same
 * objects through `MemcachedBackend` (the default `Serializer.v8`).
 *
 * - `mc-get-256`: GET, 256 in flight, keys drawn at random. Ours in the form application code fans out,
 *   `Effect.forEach(ids, op, { concurrency: 256 })`: `MemcachedBackend.get` and the raw `MemcachedClient.metaGet`;
 *   memjs `client.get` in 256 async loops, and memjs through `Effect.tryPromise` with `JSON.parse`, in the same
 *   `Effect.forEach`, what an Effect user would write instead of the backend.
 * - `mc-getmany-100`: 100 consecutive keys per call, 8 calls in flight (`Effect.forEach`, concurrency 8; the peers: 8
 *   async loops). Ours: `MemcachedBackend.getMany` and `MemcachedClient.getMany` (quiet `mg`s ended by `mn`, one
 *   write). memjs 1.3 has no multi-get (no `getMulti`, nor the text protocol's multi-key `get`): its users send the
 *   100 `get`s at once and await them together (`Promise.all`), which is what it runs.
 *
 * Run by each line's process (the Effect 3 and the Effect 4 build), and skipped, with a message, when `memcached` is
 * not on `PATH`.
 */
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Option from "#effect/Option"
import * as Scope from "#effect/Scope"
import { Client as Memjs } from "memjs"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as MemcachedBackend from "../src/MemcachedBackend.js"
import * as MemcachedClient from "../src/MemcachedClient.js"
import { effectPool, promisePool, type Round } from "./clients.js"
import { type Dataset, fullKeys, makeDataset, makeWorkload, mgetGroups, type Workload } from "./data.js"

/** The workload ids, for `--only`. */
export const MEMCACHED_WORKLOADS = ["mc-get-256", "mc-getmany-100"] as const

const RAW_PREFIX = "bench:mc:raw:"
const JSON_PREFIX = "bench:mc:json:"
const V8_PREFIX = "bench:mc:v8:"

export interface Stats {
  readonly opsPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
}

/** One row: its sides, each side's stats in each round, and the ratios ours/peer. */
export interface MemcachedRow {
  readonly id: (typeof MEMCACHED_WORKLOADS)[number]
  readonly title: string
  readonly ops: number
  readonly sides: ReadonlyArray<{ readonly name: string; readonly description: string; readonly serializer: string }>
  readonly rounds: ReadonlyArray<Record<string, Stats>>
}

/** The rows measured, or why none ran. */
export type MemcachedOutcome =
  | { readonly _tag: "Measured"; readonly version: string; readonly rows: ReadonlyArray<MemcachedRow> }
  | { readonly _tag: "Skipped"; readonly ids: ReadonlyArray<string>; readonly reason: string }

/** The pairs compared, ours first. */
const PAIRS: ReadonlyArray<readonly [ours: string, peer: string]> = [
  ["ours", "memjs"],
  ["ours-backend", "memjs-json-effect"],
  ["ours-backend", "memjs-json"],
  ["ours-backend", "memjs"]
]

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const roundStats = (round: Round): Stats => {
  const sorted = Float64Array.from(round.latencies).sort()
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  return {
    opsPerSec: (round.ops ?? round.latencies.length) / (round.elapsedMs / 1000),
    p50Ms: at(0.5),
    p99Ms: at(0.99)
  }
}

/** Median stats of each side, and the ratios ours/peer (median of the per-round ratios of ops/s). */
export const statsOf = (row: MemcachedRow) => {
  const stats: Record<string, Stats> = {}
  for (const { name } of row.sides) {
    const all = row.rounds.map((r) => r[name]!)
    stats[name] = {
      opsPerSec: Math.round(median(all.map((s) => s.opsPerSec))),
      p50Ms: Math.round(median(all.map((s) => s.p50Ms)) * 1000) / 1000,
      p99Ms: Math.round(median(all.map((s) => s.p99Ms)) * 1000) / 1000
    }
  }
  const ratios: Record<string, number> = {}
  for (const [ours, peer] of PAIRS) {
    if (stats[ours] === undefined || stats[peer] === undefined) continue
    ratios[`${ours}-vs-${peer}`] = Math.round(
      median(row.rounds.map((r) => r[ours]!.opsPerSec / r[peer]!.opsPerSec)) * 100
    ) / 100
  }
  return { stats, ratios }
}

/** `memcached` on `PATH`, or `undefined`. */
const onPath = (): string | undefined => {
  for (const dir of (process.env["PATH"] ?? "").split(Path.delimiter)) {
    if (dir === "") continue
    const file = Path.join(dir, "memcached")
    try {
      Fs.accessSync(file, Fs.constants.X_OK)
      return file
    } catch {
      // not here
    }
  }
  return undefined
}

interface Side {
  readonly name: string
  readonly description: string
  readonly serializer: string
  readonly run: () => Promise<Round>
  /** Reads the dataset's first key: raw bytes or the object, for the check before measuring. */
  readonly probe: () => Promise<unknown>
}

const parseJson = (value: Buffer | null): unknown => value === null ? undefined : JSON.parse(value.toString("utf8"))
const VALUE = { value: true } as const
const rawValue = (result: MemcachedClient.MetaGetResult): Uint8Array | undefined =>
  result.kind === "hit" ? result.value : undefined

/** Runs each side once unmeasured, then `rounds` rounds in rotating order. */
const measure = async (
  workload: Workload,
  sides: ReadonlyArray<Side>,
  rounds: number,
  log: (line: string) => void
): Promise<MemcachedRow> => {
  log(`${workload.id}: warm-up`)
  for (const side of sides) await side.run()
  const perRound: Array<Record<string, Stats>> = []
  for (let r = 0; r < rounds; r++) {
    const result: Record<string, Stats> = {}
    const line: Array<string> = []
    for (let t = 0; t < sides.length; t++) {
      const side = sides[(t + r) % sides.length]!
      const stats = roundStats(await side.run())
      result[side.name] = stats
      line.push(`${side.name} ${Math.round(stats.opsPerSec).toLocaleString("en")}`)
    }
    perRound.push(result)
    log(`${workload.id}: round ${r + 1}/${rounds}: ${line.join(", ")}`)
  }
  return {
    id: workload.id as MemcachedRow["id"],
    title: workload.title,
    ops: workload.ops,
    sides: sides.map(({ description, name, serializer }) => ({ name, description, serializer })),
    rounds: perRound
  }
}

const sameValue = (actual: unknown, expected: unknown): boolean =>
  actual instanceof Uint8Array && expected instanceof Uint8Array
    ? Buffer.compare(actual, expected) === 0
    : JSON.stringify(actual) === JSON.stringify(expected)

/** Starts `memcached`, stores the dataset and runs the rows `only` asks for (all without `only`). */
export const runMemcached = async (
  rounds: number,
  scale: number,
  only: ReadonlyArray<string> | undefined,
  log: (line: string) => void
): Promise<MemcachedOutcome> => {
  const binary = onPath()
  if (binary === undefined) {
    const ids = MEMCACHED_WORKLOADS.filter((id) => only === undefined || only.includes(id))
    const reason = "memcached is not on PATH; install the memcached package"
    log(`${ids.join(", ")}: skipped, ${reason}`)
    return { _tag: "Skipped", ids, reason }
  }
  const version = ChildProcess.spawnSync(binary, ["-V"], { encoding: "utf8" }).stdout.trim().replace(/^memcached /, "")
  const n = (ops: number) => Math.max(1, Math.round(ops * scale))
  const scope = Effect.runSync(Scope.make())
  let memjs: Memjs | undefined
  try {
    // Loaded only here: the server helper is a test utility, on this line's Effect (`bench/face.mjs`).
    const MemcachedServer = await import("../test/utils/MemcachedServer.js")
    const server = await Effect.runPromise(Scope.provide(MemcachedServer.make(), scope))
    log(`memcached ${version} at ${server.address}; storing 10,000 keys three ways`)
    const client = await Effect.runPromise(
      Scope.provide(MemcachedClient.make({ servers: [server.address] }), scope)
    )
    const backend = await Effect.runPromise(
      Effect.provideService(MemcachedBackend.make({ prefix: V8_PREFIX }), MemcachedClient.MemcachedClient, client)
    )
    // memjs's own timeout is 0.5 s, which a loaded machine can exceed at 256 in flight: 5 s, our client's default.
    memjs = Memjs.create(server.address, { timeout: 5, logger: { log: () => {} } })
    const peer = memjs

    const small: Dataset = makeDataset("small", 10_000, 100)
    const rawKeys = fullKeys(small, RAW_PREFIX)
    const jsonKeys = fullKeys(small, JSON_PREFIX)
    for (let start = 0; start < small.keyCount; start += 500) {
      const end = Math.min(small.keyCount, start + 500)
      const raw: Array<MemcachedClient.SetManyEntry> = []
      const entries: Array<readonly [string, unknown]> = []
      for (let k = start; k < end; k++) {
        raw.push({ key: rawKeys[k]!, value: small.bytes[k & 63]! })
        raw.push({ key: jsonKeys[k]!, value: JSON.stringify(small.objects[k & 63]!) })
        entries.push([small.keys[k]!, small.objects[k & 63]!])
      }
      await Effect.runPromise(Effect.all([client.setMany(raw), backend.setMany(entries)], { discard: true }))
    }

    const workloads = [
      makeWorkload({
        id: "mc-get-256",
        title: "GET, 256 in flight over 10,000 keys",
        concurrency: 256,
        dataset: small,
        ops: n(50_000),
        loop: "forEach"
      }),
      makeWorkload({
        id: "mc-getmany-100",
        title: "getMany of 100 keys, 8 in flight",
        concurrency: 8,
        dataset: small,
        ops: n(1_000),
        mgetSize: 100,
        loop: "forEach"
      })
    ].filter((w) => only === undefined || only.includes(w.id))

    const rows: Array<MemcachedRow> = []
    for (const workload of workloads) {
      const { keyIndex } = workload
      const many = workload.mgetSize > 0
      const rawGroups = mgetGroups(workload, rawKeys)
      const jsonGroups = mgetGroups(workload, jsonKeys)
      const keyGroups = mgetGroups(workload, [...small.keys])
      const memjsAll = (group: ReadonlyArray<string>) => Promise.all(group.map((key) => peer.get(key)))
      const sides: Array<Side> = [
        {
          name: "ours",
          description: "MemcachedClient, raw meta commands (metaGet / getMany)",
          serializer: "none",
          run: effectPool(
            workload,
            many
              ? (i) => client.getMany(rawGroups[i]!)
              : (i) => Effect.map(client.metaGet(rawKeys[keyIndex[i]!]!, VALUE), rawValue)
          ),
          probe: () => Effect.runPromise(Effect.map(client.metaGet(rawKeys[0]!, VALUE), rawValue))
        },
        {
          name: "ours-backend",
          description: "MemcachedBackend, Serializer.v8 (get / getMany)",
          serializer: "v8",
          run: effectPool(
            workload,
            many ? (i) => backend.getMany(keyGroups[i]!) : (i) => backend.get(small.keys[keyIndex[i]!]!)
          ),
          probe: () => Effect.runPromise(Effect.map(backend.get(small.keys[0]!), Option.getOrUndefined))
        },
        {
          name: "memjs",
          description: many
            ? "memjs 1.3 (binary protocol), 100 get at once (Promise.all): it has no multi-get"
            : "memjs 1.3 (binary protocol), get, raw bytes",
          serializer: "none",
          run: promisePool(
            workload,
            many ? (i) => memjsAll(rawGroups[i]!) : (i) => peer.get(rawKeys[keyIndex[i]!]!)
          ),
          probe: () => peer.get(rawKeys[0]!).then(({ value }) => value ?? undefined)
        },
        many
          ? {
            name: "memjs-json",
            description: "the same, JSON.parse of each value",
            serializer: "JSON",
            run: promisePool(
              workload,
              (i) => memjsAll(jsonGroups[i]!).then((results) => results.map(({ value }) => parseJson(value)))
            ),
            probe: () => peer.get(jsonKeys[0]!).then(({ value }) => parseJson(value))
          }
          : {
            name: "memjs-json-effect",
            description: "memjs get through Effect.tryPromise, JSON.parse, in the same Effect.forEach",
            serializer: "JSON",
            run: effectPool(
              workload,
              (i) => {
                const key = jsonKeys[keyIndex[i]!]!
                return Effect.map(Effect.tryPromise(() => peer.get(key)), ({ value }) => parseJson(value))
              }
            ),
            probe: () => peer.get(jsonKeys[0]!).then(({ value }) => parseJson(value))
          }
      ]
      // Every side must read back what was stored, or its figures would measure misses.
      for (const side of sides) {
        const expected = side.serializer === "none" ? small.bytes[0] : small.objects[0]
        if (!sameValue(await side.probe(), expected)) {
          throw new Error(`${side.name} read back something else than was stored under ${small.keys[0]}`)
        }
      }
      rows.push(await measure(workload, sides, rounds, log))
    }
    return { _tag: "Measured", version, rows }
  } finally {
    memjs?.close()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const pad = (s: string, n: number): string => s.length >= n ? s : s + " ".repeat(n - s.length)
const padStart = (s: string, n: number): string => s.length >= n ? s : " ".repeat(n - s.length) + s
const fmt = (n: number, digits: number): string =>
  n.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** The rows as the benchmark's text output. */
export const formatMemcached = (outcome: MemcachedOutcome | undefined): Array<string> => {
  if (outcome === undefined) return []
  if (outcome._tag === "Skipped") return ["", `${outcome.ids.join(", ")}: skipped (${outcome.reason})`]
  return outcome.rows.flatMap((row) => {
    const { ratios, stats } = statsOf(row)
    const width = Math.max(18, ...row.sides.map(({ name }) => name.length))
    return [
      "",
      `${row.id}: ${row.title}, 100-byte values, memcached ${outcome.version} (ours: Effect.forEach; memjs: async ` +
      `loops; ${row.ops.toLocaleString("en")} ops per round)`,
      ...row.sides.map(({ description, name }) => `  ${pad(name, width)} ${description}`),
      `  ${pad("client", width)} ${padStart("ops/s", 10)} ${padStart("p50 ms", 8)} ${padStart("p99 ms", 8)}  ${
        pad("value", 7)
      } serializer`,
      ...row.sides.map(({ name, serializer }) => {
        const s = stats[name]!
        return `  ${pad(name, width)} ${padStart(fmt(s.opsPerSec, 0), 10)} ${padStart(fmt(s.p50Ms, 3), 8)} ${
          padStart(fmt(s.p99Ms, 3), 8)
        }  ${pad("100 B", 7)} ${serializer}`
      }),
      `  ratios: ${Object.entries(ratios).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ")}`
    ]
  })
}
