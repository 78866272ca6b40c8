// `npm run check`: the core (src/core) is plain TypeScript that both Effect faces share, so it may import only
// other core files and Node's built-ins (`node:*`): never `effect`, and never a module outside src/core (which
// could bring `effect` in).
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const core = path.join(root, "src", "core")

const filesOf = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? filesOf(full) : entry.name.endsWith(".ts") ? [full] : []
  })

// Static imports and re-exports (`import … from "x"`, `export … from "x"`, `import "x"`) and dynamic `import("x")`.
const specifiers = (source) =>
  [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g)].map((match) => match[1])

const problems = []
for (const file of filesOf(core)) {
  for (const specifier of specifiers(fs.readFileSync(file, "utf8"))) {
    if (specifier.startsWith("node:")) continue
    const inside = specifier.startsWith(".") && path.resolve(path.dirname(file), specifier).startsWith(core + path.sep)
    if (!inside) problems.push(`${path.relative(root, file)} imports "${specifier}"`)
  }
}
if (problems.length > 0) {
  console.error("src/core may import only src/core and node:* modules:\n  " + problems.join("\n  "))
  process.exit(1)
}
