// `npm run check`: no import cycle among the modules of src (type-only imports included). Imports run one way,
// from the public modules through src/internal down to src/core, so that each layer can be read, tested and, for
// the core, shared by every Effect face without the layers above it.
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const src = path.join(root, "src")

const filesOf = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? filesOf(full) : entry.name.endsWith(".ts") ? [full] : []
  })

// Relative imports and re-exports, static or dynamic, resolved to the .ts file they name.
const importsOf = (file) =>
  [...fs.readFileSync(file, "utf8").matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.[^"']+)["']/g)]
    .map((match) => path.resolve(path.dirname(file), match[1].replace(/\.js$/, ".ts")))
    .filter((target) => fs.existsSync(target))

const files = filesOf(src)
const graph = new Map(files.map((file) => [file, importsOf(file)]))
const cycles = []
const state = new Map()
const stack = []
const visit = (file) => {
  state.set(file, "open")
  stack.push(file)
  for (const target of graph.get(file)) {
    if (state.get(target) === "open") {
      cycles.push(stack.slice(stack.indexOf(target)).concat(target).map((f) => path.relative(root, f)).join(" -> "))
    } else if (!state.has(target)) visit(target)
  }
  stack.pop()
  state.set(file, "done")
}
for (const file of files) if (!state.has(file)) visit(file)
if (cycles.length > 0) {
  console.error("import cycles in src:\n  " + cycles.join("\n  "))
  process.exit(1)
}
