// Formats (`fmt`) or checks (`check`) the project with dprint's Wasm plugins through @dprint/formatter, reading
// dprint.json. The dprint CLI ships its binary as per-platform optional packages, which some registry mirrors do
// not carry; the Wasm plugins run anywhere Node does.
import { createContext } from "@dprint/formatter"
import * as json from "@dprint/json"
import * as markdown from "@dprint/markdown"
import * as typescript from "@dprint/typescript"
import * as fs from "node:fs"
import * as path from "node:path"

const mode = process.argv[2] ?? "check"
if (mode !== "check" && mode !== "fmt") {
  console.error("usage: node scripts/format.mjs check|fmt [files...]")
  process.exit(2)
}

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const config = JSON.parse(fs.readFileSync(path.join(root, "dprint.json"), "utf8"))
const {
  typescript: tsConfig = {},
  json: jsonConfig = {},
  markdown: mdConfig = {},
  excludes = [],
  plugins: _,
  ...globalConfig
} = config

const context = createContext(globalConfig)
context.addPlugin(fs.readFileSync(typescript.getPath()), tsConfig)
context.addPlugin(fs.readFileSync(json.getPath()), jsonConfig)
context.addPlugin(fs.readFileSync(markdown.getPath()), mdConfig)

const extensions = new Set([".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".json", ".md"])
const skipped = new Set(["node_modules", "dist", "coverage", ".git", ...excludes.filter((e) => !e.includes("*"))])
const skippedSuffixes = ["-lock.json"]

const walk = (dir, out) => {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (skipped.has(entry.name)) continue
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) walk(full, out)
    else if (extensions.has(path.extname(entry.name)) && !skippedSuffixes.some((s) => entry.name.endsWith(s))) {
      out.push(full)
    }
  }
  return out
}

const files = process.argv.length > 3
  ? process.argv.slice(3).flatMap((f) => {
    const full = path.resolve(f)
    return fs.statSync(full).isDirectory() ? walk(full, []) : [full]
  })
  : walk(root, [])
let unformatted = 0
for (const file of files) {
  const text = fs.readFileSync(file, "utf8")
  let formatted
  try {
    formatted = context.formatText({ filePath: file, fileText: text })
  } catch (error) {
    console.error(`${path.relative(root, file)}: ${error instanceof Error ? error.message : String(error)}`)
    unformatted++
    continue
  }
  if (formatted === text) continue
  if (mode === "fmt") {
    fs.writeFileSync(file, formatted)
  } else {
    console.error(`not formatted: ${path.relative(root, file)}`)
    unformatted++
  }
}
if (mode === "check" && unformatted > 0) {
  console.error(`${unformatted} file(s) not formatted; run npm run format`)
  process.exit(1)
}
