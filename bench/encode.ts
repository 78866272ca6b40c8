/**
 * `npx tsx bench/encode.ts [other/Resp.ts]`: nanoseconds per call of `Resp.encodeCommand` for four typical
 * commands (GET of a short key, SET of 1 KiB with PX, MGET of 100 keys, SET of 64 KiB bytes), an MGET of 100
 * prefixed keys, and a SET of 1 MiB of text, too large for the scratch buffer.
 *
 * Given the path of another build of `Resp.ts`, it measures both in the same process, alternating round by round
 * so that both see the same machine load, and prints the two medians and their ratio.
 *
 * Options after the path: `--rounds N` (default 15), `--ms N` (duration of one round per workload, default 200).
 */
import * as Path from "node:path"
import * as Url from "node:url"
import * as Resp from "../src/Resp.js"

type Encode = (args: ReadonlyArray<string | Uint8Array>) => Uint8Array

const argv = process.argv.slice(2)
const option = (name: string, fallback: number): number => {
  const at = argv.indexOf(name)
  return at === -1 ? fallback : Number(argv[at + 1])
}
const rounds = option("--rounds", 15)
const roundMillis = option("--ms", 200)
const otherPath = argv[0] !== undefined && !argv[0].startsWith("--") ? argv[0] : undefined

const kib = "v".repeat(1024)
const kib64 = new Uint8Array(64 * 1024).fill(120)
const keys100 = Array.from({ length: 100 }, (_, i) => `bench:key:${i}`)

const workloads: ReadonlyArray<{ readonly id: string; readonly args: ReadonlyArray<string | Uint8Array> }> = [
  { id: "GET k", args: ["GET", "app:user:42"] },
  { id: "SET k 1KiB PX 1000", args: ["SET", "app:user:42", kib, "PX", "1000"] },
  { id: "MGET 100 keys", args: ["MGET", ...keys100] },
  // Keys as a prefixed cache writes them: 20 to 30 characters.
  { id: "MGET 100 long keys", args: ["MGET", ...keys100.map((k) => `ac:tenant-7:${k}`)] },
  { id: "SET k 64KiB", args: ["SET", "app:blob:1", kib64] },
  // Past the scratch buffer's limit: a buffer of its own.
  { id: "SET k 1MiB text", args: ["SET", "app:blob:2", "t".repeat(1024 * 1024)] }
]

// Runs `encode` for about `roundMillis` and returns nanoseconds per call.
const measure = (encode: Encode, args: ReadonlyArray<string | Uint8Array>): number => {
  let calls = 0
  let sink = 0
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(roundMillis) * 1_000_000n
  let now = start
  while (now < deadline) {
    for (let i = 0; i < 256; i++) sink += encode(args).length
    calls += 256
    now = process.hrtime.bigint()
  }
  if (sink === -1) console.log(sink)
  return Number(now - start) / calls
}

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const main = async () => {
  const candidates: Array<{ readonly name: string; readonly encode: Encode }> = [
    { name: "this", encode: Resp.encodeCommand }
  ]
  if (otherPath !== undefined) {
    const other = await import(Url.pathToFileURL(Path.resolve(otherPath)).href) as { encodeCommand: Encode }
    candidates.push({ name: "other", encode: other.encodeCommand })
  }
  for (const w of workloads) {
    const samples = candidates.map(() => [] as Array<number>)
    // Warm-up: every candidate sees every workload before anything is recorded.
    for (const c of candidates) measure(c.encode, w.args)
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < candidates.length; k++) {
        const c = (k + r) % candidates.length
        samples[c]!.push(measure(candidates[c]!.encode, w.args))
      }
    }
    const medians = samples.map(median)
    const cells = candidates.map((c, i) => `${c.name} ${medians[i]!.toFixed(1)} ns`)
    const ratio = medians.length === 2 ? `  this/other ${(medians[0]! / medians[1]!).toFixed(3)}` : ""
    console.log(`${w.id.padEnd(20)} ${cells.join("  ")}${ratio}`)
  }
}

main()
