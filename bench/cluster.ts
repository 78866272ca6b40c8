/**
 * `npm run bench:cluster`: our cluster client side by side with ioredis `Cluster` (enableAutoPipelining) and
 * node-redis `createCluster`, on a fresh local cluster of 3 primaries + 3 replicas that the script starts and stops.
 *
 * Workloads (raw bytes everywhere, 100-byte values, 10,000 keys spread over every slot):
 *
 * - `get256`: GET with 256 operations in flight;
 * - `getMany100`: 100 keys across slots per call, 8 calls in flight. Ours sends `MGET` of the 100 keys and the
 *   client splits it by slot. The peers cannot send that (CROSSSLOT), so each is measured the two ways their docs
 *   point to and the faster counts: every key's GET issued at once (auto-pipelined per node), and one `MGET` per
 *   slot issued at once;
 * - `mix90`: 90% GET / 10% SET, 256 in flight.
 *
 * Every client runs every workload once to warm up, then `--rounds` rounds (default 5); in each round every client
 * runs each workload once, the order rotating. Figures are medians over rounds; a ratio is the median of per-round
 * ratios (peer time / our time: above 1 we are faster). Options: `--rounds N`, `--scale X`, `--json`,
 * `--only workload,workload`, `--clients name,name` (ours always runs), `--nodes url,url` (a running cluster's
 * nodes instead of a fresh one: how `npm run bench` runs it on each release line, through `bench/face.mjs`).
 */
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Scope from "#effect/Scope"
import { Cluster as IOCluster } from "ioredis"
import { createCluster, RESP_TYPES } from "redis"
import { keySlot } from "../src/core/cluster/slot.js"
import * as RedisCluster from "../src/RedisCluster.js"
import { startCluster } from "./cluster-nodes.js"

const argv = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i === -1 ? undefined : argv[i + 1]
}
const rounds = Number(option("--rounds") ?? 5)
const scale = Number(option("--scale") ?? 1)
const asJson = argv.includes("--json")
const log = (line: string) => (asJson ? process.stderr : process.stdout).write(line + "\n")

const KEYS = 10_000
const keys = Array.from({ length: KEYS }, (_, i) => `bench:${i}`)
const value = Buffer.alloc(100, 7)

interface Workload {
  readonly id: "get256" | "getMany100" | "mix90"
  readonly ops: number
  readonly concurrency: number
}
const only = option("--only")?.split(",")
const onlyClients = option("--clients")?.split(",")
const allWorkloads: ReadonlyArray<Workload> = [
  { id: "get256", ops: Math.round(60_000 * scale), concurrency: 256 },
  { id: "getMany100", ops: Math.round(1_500 * scale), concurrency: 8 },
  { id: "mix90", ops: Math.round(60_000 * scale), concurrency: 256 }
]
const workloads = allWorkloads.filter((workload) => only === undefined || only.includes(workload.id))

/** The 100 keys of getMany call i: spread over the key space, so over many slots. */
const manyKeys = (i: number): Array<string> => Array.from({ length: 100 }, (_, j) => keys[(i * 101 + j * 97) % KEYS]!)

const bySlot = (list: ReadonlyArray<string>): Array<Array<string>> => {
  const groups = new Map<number, Array<string>>()
  for (const key of list) {
    const slot = keySlot(key)
    const group = groups.get(slot)
    if (group === undefined) groups.set(slot, [key])
    else group.push(key)
  }
  return [...groups.values()]
}

interface Driver {
  readonly name: string
  /** One op of a workload; resolves when done. */
  readonly run: (workload: Workload) => Promise<number>
  readonly close: () => Promise<void>
}

/** N async loops sharing a counter; returns the wall time in ms. */
const promisePool = async (workload: Workload, op: (i: number) => Promise<unknown>): Promise<number> => {
  let next = 0
  const worker = async () => {
    for (;;) {
      const i = next++
      if (i >= workload.ops) return
      await op(i)
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: workload.concurrency }, worker))
  return performance.now() - started
}

const ours = async (nodes: ReadonlyArray<string>): Promise<Driver> => {
  const scope = Effect.runSync(Scope.make())
  const client = await Effect.runPromise(Scope.provide(RedisCluster.make({ nodes }), scope))
  const run = (workload: Workload) => {
    const op = (i: number): Effect.Effect<unknown, unknown> => {
      switch (workload.id) {
        case "get256":
          return client.send(["GET", keys[i % KEYS]!])
        case "getMany100":
          return client.send(["MGET", ...manyKeys(i)])
        case "mix90":
          return i % 10 === 0 ? client.send(["SET", keys[i % KEYS]!, value]) : client.send(["GET", keys[i % KEYS]!])
      }
    }
    let next = 0
    const worker = Effect.gen(function*() {
      for (;;) {
        const i = next++
        if (i >= workload.ops) return
        yield* op(i)
      }
    })
    const started = performance.now()
    return Effect.runPromise(
      Effect.all(Array.from({ length: workload.concurrency }, () => worker), {
        concurrency: "unbounded",
        discard: true
      })
    ).then(() => performance.now() - started)
  }
  return {
    name: "ours",
    run,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const ioredis = async (ports: ReadonlyArray<number>, getMany: "gets" | "mgetPerSlot"): Promise<Driver> => {
  const cluster = new IOCluster(ports.map((port) => ({ host: "127.0.0.1", port })), {
    enableAutoPipelining: true,
    lazyConnect: true
  })
  await cluster.connect()
  return {
    name: `ioredis-${getMany}`,
    run: (workload) =>
      promisePool(workload, (i) => {
        switch (workload.id) {
          case "get256":
            return cluster.getBuffer(keys[i % KEYS]!)
          case "getMany100": {
            const list = manyKeys(i)
            return getMany === "gets"
              ? Promise.all(list.map((key) => cluster.getBuffer(key)))
              : Promise.all(bySlot(list).map((group) => cluster.mgetBuffer(group)))
          }
          case "mix90":
            return i % 10 === 0 ? cluster.set(keys[i % KEYS]!, value) : cluster.getBuffer(keys[i % KEYS]!)
        }
      }),
    close: async () => {
      await cluster.quit()
    }
  }
}

const nodeRedis = async (urls: ReadonlyArray<string>, getMany: "gets" | "mgetPerSlot"): Promise<Driver> => {
  const cluster = createCluster({ rootNodes: urls.map((url) => ({ url })) }).withTypeMapping({
    [RESP_TYPES.BLOB_STRING]: Buffer
  })
  await cluster.connect()
  return {
    name: `node-redis-${getMany}`,
    run: (workload) =>
      promisePool(workload, (i) => {
        switch (workload.id) {
          case "get256":
            return cluster.get(keys[i % KEYS]!)
          case "getMany100": {
            const list = manyKeys(i)
            return getMany === "gets"
              ? Promise.all(list.map((key) => cluster.get(key)))
              : Promise.all(bySlot(list).map((group) => cluster.mGet(group)))
          }
          case "mix90":
            return i % 10 === 0 ? cluster.set(keys[i % KEYS]!, value) : cluster.get(keys[i % KEYS]!)
        }
      }),
    close: async () => {
      await cluster.close()
    }
  }
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const nodes = option("--nodes")?.split(",").filter((url) => url !== "")

const main = Effect.gen(function*() {
  if (nodes === undefined) log("starting a 3+3 cluster…")
  const started = nodes === undefined ? yield* Effect.promise(startCluster) : undefined
  yield* Effect.addFinalizer(() => started === undefined ? Effect.void : Effect.promise(started.close))
  const cluster = { urls: nodes ?? started!.urls }
  const ports = cluster.urls.map((url) => Number(new URL(url).port))
  const all: Array<Driver> = [
    yield* Effect.promise(() => ours(cluster.urls)),
    yield* Effect.promise(() => ioredis(ports, "gets")),
    yield* Effect.promise(() => ioredis(ports, "mgetPerSlot")),
    yield* Effect.promise(() => nodeRedis(cluster.urls, "gets")),
    yield* Effect.promise(() => nodeRedis(cluster.urls, "mgetPerSlot"))
  ]
  const drivers = all.filter((driver) =>
    driver.name === "ours" || onlyClients === undefined || onlyClients.includes(driver.name)
  )
  const first = drivers[0]!
  // Load the keys through ours (MSET, split by slot).
  yield* Effect.promise(() =>
    first.run({ id: "mix90", ops: 0, concurrency: 1 }).then(async () => {
      const scope = Effect.runSync(Scope.make())
      const client = await Effect.runPromise(Scope.provide(RedisCluster.make({ nodes: cluster.urls }), scope))
      for (let i = 0; i < KEYS; i += 500) {
        const args: Array<string | Uint8Array> = ["MSET"]
        for (const key of keys.slice(i, i + 500)) args.push(key, value)
        await Effect.runPromise(client.send(args))
      }
      await Effect.runPromise(Scope.close(scope, Exit.void))
    })
  )
  const times = new Map<string, Map<string, Array<number>>>()
  const record = (workload: string, driver: string, ms: number) => {
    const byDriver = times.get(workload) ?? new Map<string, Array<number>>()
    times.set(workload, byDriver)
    const list = byDriver.get(driver) ?? []
    byDriver.set(driver, list)
    list.push(ms)
  }
  for (let round = -1; round < rounds; round++) {
    for (const workload of workloads) {
      for (let d = 0; d < drivers.length; d++) {
        const driver = drivers[(d + Math.max(round, 0)) % drivers.length]!
        // GET and the mix do not involve getMany: one run per library is enough.
        if (workload.id !== "getMany100" && driver.name.endsWith("mgetPerSlot")) continue
        const ms = yield* Effect.promise(() => driver.run(workload))
        if (round >= 0) record(workload.id, driver.name, ms)
      }
    }
    if (round >= 0) log(`round ${round + 1}/${rounds} done`)
  }
  const results: Array<Record<string, unknown>> = []
  for (const workload of workloads) {
    const byDriver = times.get(workload.id)!
    const ourTimes = byDriver.get("ours")!
    const row: Record<string, unknown> = { workload: workload.id, ops: workload.ops }
    for (const [name, list] of byDriver) {
      row[`${name} ops/s`] = Math.round(workload.ops / (median(list) / 1000))
      if (name !== "ours") row[`ours vs ${name}`] = Number(median(list.map((ms, r) => ms / ourTimes[r]!)).toFixed(2))
    }
    results.push(row)
  }
  for (const driver of all) yield* Effect.promise(() => driver.close())
  if (asJson) process.stdout.write(JSON.stringify({ rounds, results }, null, 2) + "\n")
  else for (const row of results) log(JSON.stringify(row))
})

Effect.runPromise(Effect.scoped(main)).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
