/**
 * Summarises a V8 CPU profile (`node --cpu-prof`) by self time per function, the view that shows what a hot path
 * spends its time on.
 *
 * Profile one client on one workload, then summarise:
 *
 * ```sh
 * node --cpu-prof --cpu-prof-dir=prof --import tsx bench/run.ts --only get-256 --clients ours --no-rss
 * npx tsx bench/cpuprofile.ts prof/<file>.cpuprofile [top]
 * ```
 */
import * as Fs from "node:fs"
import * as Path from "node:path"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
  }
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const [file, topArg] = process.argv.slice(2)
if (file === undefined) {
  console.error("usage: npx tsx bench/cpuprofile.ts <file.cpuprofile> [top]")
  process.exit(2)
}
const top = Number(topArg ?? 40)
const profile = JSON.parse(Fs.readFileSync(file, "utf8")) as Profile

const byId = new Map<number, ProfileNode>()
for (const node of profile.nodes) byId.set(node.id, node)

const where = (node: ProfileNode): string => {
  const { functionName, url, lineNumber } = node.callFrame
  const name = functionName === "" ? "(anonymous)" : functionName
  if (url === "") return name
  const path = url.replace(/^file:\/\//, "")
  const short = path.includes("node_modules/")
    ? path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length)
    : Path.relative(process.cwd(), path)
  return `${name} ${short}:${lineNumber + 1}`
}

const self = new Map<string, number>()
let total = 0
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i]!)
  const delta = profile.timeDeltas[i] ?? 0
  if (node === undefined) continue
  total += delta
  const key = where(node)
  self.set(key, (self.get(key) ?? 0) + delta)
}

// Grouped by where the code lives: ours, effect, node internals, the peers.
const groupOf = (key: string): string => {
  if (key.includes(" src/")) return "ours (src/)"
  if (key.includes(" bench/")) return "bench driver"
  if (key.includes(" effect/")) return "effect runtime"
  if (key.includes(" node:")) return "node internals"
  if (/ (ioredis|@redis|redis-parser|cluster-key-slot|denque)/.test(key)) return "peers"
  return "other (GC, native, idle)"
}
const groups = new Map<string, number>()
for (const [key, micros] of self) groups.set(groupOf(key), (groups.get(groupOf(key)) ?? 0) + micros)

const pct = (micros: number) => `${(micros / total * 100).toFixed(1).padStart(5)}%`
console.log(`total ${(total / 1e6).toFixed(2)} s sampled`)
for (const [group, micros] of [...groups].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(micros)}  ${group}`)
console.log("")
for (const [key, micros] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${pct(micros)}  ${(micros / 1000).toFixed(0).padStart(6)} ms  ${key}`)
}
