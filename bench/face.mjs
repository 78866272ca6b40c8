// Loaded with `node --import ./bench/face.mjs` and BENCH_FACE=effect3|effect4: the benchmark's imports of the
// library's sources (`../src/…`) resolve to that line's build (build/<line>/dist/esm), its `#effect/*` to that
// build's adapters, and, for the Effect 4 line, its `effect` imports to Effect 4; the `#effect/*` imports of the
// test utilities it loads (the redis-server a run started alone starts) resolve to the same adapters. So one script
// measures either face as users run it, each against its own Effect.
import { register } from "node:module"

const face = process.env["BENCH_FACE"] ?? "effect3"
if (face !== "effect3" && face !== "effect4") throw new Error(`BENCH_FACE must be effect3 or effect4, not ${face}`)

register(
  `data:text/javascript,${
    encodeURIComponent(`
const face = ${JSON.stringify(face)}
const root = new URL("../", ${JSON.stringify(import.meta.url)}).href
const bench = root + "bench/"
const test = root + "test/"
const src = root + "src/"
const dist = root + "build/" + face + "/dist/esm/"
const effect4 = root + "node_modules/effect4/dist/"
export async function resolve(specifier, context, next) {
  const parent = context.parentURL
  // The test utilities written in the neutral vocabulary (test/utils/RedisServer.ts) run on the line too.
  if (parent !== undefined && parent.startsWith(test) && specifier.startsWith("#effect/")) {
    return { url: dist + "compat/" + face + "/" + specifier.slice(8) + ".js", format: "module", shortCircuit: true }
  }
  if (parent === undefined || !parent.startsWith(bench)) return next(specifier, context)
  if (specifier.startsWith(".")) {
    const url = new URL(specifier, parent).href
    if (url.startsWith(src)) {
      return { url: dist + url.slice(src.length).replace(/\\.ts$/, ".js"), format: "module", shortCircuit: true }
    }
  }
  if (specifier.startsWith("#effect/")) {
    return { url: dist + "compat/" + face + "/" + specifier.slice(8) + ".js", format: "module", shortCircuit: true }
  }
  if (face === "effect4" && (specifier === "effect" || specifier.startsWith("effect/"))) {
    const module = specifier === "effect" ? "index" : specifier.slice(7)
    return { url: effect4 + module + ".js", format: "module", shortCircuit: true }
  }
  return next(specifier, context)
}`)
  }`
)
