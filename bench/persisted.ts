/**
 * The `persisted-get` rows: Effect's own `PersistedCache.get` over this package's `BackingPersistence` (on
 * `RedisBackend` and our `RedisClient`) against the same `PersistedCache` over Effect's own Redis layer, on the
 * same server, taking turns round by round. The in-memory tier of `PersistedCache` is off (`inMemoryTTL` 0), so
 * every `get` reads the persisted result from Redis, and the keys were persisted before the rounds: what is timed
 * is the store, its client and its decoding. 256 gets in flight (`Effect.forEach`, concurrency 256) over 1,000
 * keys whose results are objects of about 100 bytes of JSON.
 *
 * - `persisted-get` (Effect 3, in the benchmark's own process, the Effect 3 build): ours (and `ours-json`, the same
 *   with `Serializer.json`) against `@effect/experimental/Persistence/Redis` on ioredis (`GET`, `JSON.parse`).
 * - `persisted-get-effect4` (Effect 4, in a child process on the Effect 4 build, `bench/face.mjs`): ours and
 *   `ours-json`, and Effect's `Persistence.layerRedis` on `EffectRedis` (our client under Effect's Redis layer),
 *   against `Persistence.layerRedis` on node-redis as `@effect/platform-node`'s `NodeRedis` builds it (its v4
 *   package is not installed here, so `bench/persisted.effect4.ts` builds the same service: `Redis.make` over one
 *   node-redis 5 client's `sendCommand`).
 *
 * A ratio is ours / peer in ops/s, the median of the per-round ratios.
 */
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Url from "node:url"

/** The workload ids, for `--only`. */
export const PERSISTED_WORKLOADS = ["persisted-get", "persisted-get-effect4"] as const

/** Ops/s of each side in each round, and the sides' descriptions. */
export interface PersistedRow {
  readonly id: (typeof PERSISTED_WORKLOADS)[number]
  readonly title: string
  readonly sides: ReadonlyArray<{ readonly name: string; readonly description: string }>
  readonly rounds: ReadonlyArray<Record<string, number>>
}

export const KEYS = 1_000
export const OPS = 20_000
export const CONCURRENCY = 256
export const STORE_ID = "bench-persisted"

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Times `OPS` gets of `get`, 256 in flight. */
export const timeGets = async (run: (ids: ReadonlyArray<number>) => Promise<unknown>): Promise<number> => {
  const ids = Array.from({ length: OPS }, (_, i) => (i * 7919) % KEYS)
  const started = performance.now()
  await run(ids)
  return OPS / ((performance.now() - started) / 1000)
}

/** Runs the sides' rounds in rotating order, after one unmeasured pass of each. */
export const rotate = async (
  sides: ReadonlyArray<readonly [string, () => Promise<number>]>,
  rounds: number
): Promise<Array<Record<string, number>>> => {
  for (const [, run] of sides) await run()
  const out: Array<Record<string, number>> = []
  for (let round = 0; round < rounds; round++) {
    const result: Record<string, number> = {}
    for (let i = 0; i < sides.length; i++) {
      const [name, run] = sides[(round + i) % sides.length]!
      result[name] = await run()
    }
    out.push(result)
  }
  return out
}

// --- Effect 3, loaded only by the Effect 3 line's process ---------------------------------------------------------

// `@effect/experimental` runs on Effect 3 only: its row lives in a module of its own, loaded by a specifier the
// Effect 4 type-check does not follow, so that this module type-checks (and loads) on both lines.
const effect3Module: string = "./persisted.effect3.js"

const runEffect3 = async (url: string, rounds: number): Promise<PersistedRow> => {
  const module = (await import(effect3Module)) as {
    readonly runEffect3: (url: string, rounds: number) => Promise<PersistedRow>
  }
  return module.runEffect3(url, rounds)
}

// --- Effect 4, in a child process --------------------------------------------------------------------------------

const here = Path.dirname(Url.fileURLToPath(import.meta.url))

const runEffect4 = (url: string, rounds: number): Promise<PersistedRow> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--import",
        Path.join(here, "face.mjs"),
        Path.join(here, "persisted.effect4.ts"),
        url,
        String(rounds)
      ],
      { env: { ...process.env, BENCH_FACE: "effect4" }, stdio: ["ignore", "pipe", "inherit"] }
    )
    let out = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.on("error", reject)
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`the Effect 4 persisted-get run exited with ${code}`))
      resolve(JSON.parse(out.trim().split("\n").at(-1)!) as PersistedRow)
    })
  })

/** Runs the rows `only` asks for (all without `only`). */
export const runPersisted = async (
  url: string,
  rounds: number,
  only: ReadonlyArray<string> | undefined,
  log: (line: string) => void
): Promise<Array<PersistedRow>> => {
  const rows: Array<PersistedRow> = []
  // The stores write outside `bench:` (Effect's Redis layers have no prefix option; they get databases 1 and 2).
  const userServer = process.env["REDIS_URL"] !== undefined && process.env["REDIS_URL"] !== "" &&
    process.env["BENCH_OWN_SERVER"] !== "1"
  if (userServer) {
    log("persisted-get: skipped on REDIS_URL (it writes outside bench: and in databases 1 and 2)")
    return rows
  }
  if (only === undefined || only.includes("persisted-get")) {
    log("persisted-get: Effect 3")
    rows.push(await runEffect3(url, rounds))
  }
  if (only === undefined || only.includes("persisted-get-effect4")) {
    log("persisted-get-effect4: Effect 4 (child process)")
    rows.push(await runEffect4(url, rounds))
  }
  return rows
}

/** Median ops/s per side and the ratios ours-… / peer. */
export const statsOf = (row: PersistedRow) => {
  const opsPerSec = Object.fromEntries(row.sides.map(({ name }) => [name, median(row.rounds.map((r) => r[name]!))]))
  const peer = row.sides.at(-1)!.name
  const ratios = Object.fromEntries(
    row.sides.slice(0, -1).map(({ name }) => [
      `${name}-vs-${peer}`,
      Math.round(median(row.rounds.map((r) => r[name]! / r[peer]!)) * 100) / 100
    ])
  )
  return { opsPerSec, ratios }
}

/** The rows as the benchmark's text output. */
export const formatPersisted = (rows: ReadonlyArray<PersistedRow>): Array<string> =>
  rows.flatMap((row) => {
    const { opsPerSec, ratios } = statsOf(row)
    return [
      "",
      `${row.id}: ${row.title} (${CONCURRENCY} in flight, Effect.forEach; ${KEYS} keys; ${
        OPS.toLocaleString("en")
      } gets per round)`,
      ...row.sides.map(({ description, name }) =>
        `  ${name.padEnd(22)} ${Math.round(opsPerSec[name]!).toLocaleString("en").padStart(10)} ops/s  ${description}`
      ),
      `  ratios: ${Object.entries(ratios).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ")}`
    ]
  })
