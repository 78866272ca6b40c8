// `npm run check`, two rules. The core (src/core) is plain TypeScript that both Effect faces share, so it may import only
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
// Comments are left out first, so that an `@example` showing a user's `import … from "effect"` is not read as one.
const withoutComments = (source) => source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "")
const specifiers = (source) =>
  [...withoutComments(source).matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g)].map((match) => match[1])

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

// The face (src/ outside core/ and compat/) reaches Effect only through `#effect/<Module>`, which each build
// resolves to one major's adapters (src/compat/effect3 or src/compat/effect4): a direct `effect` import would bind
// the face to one major. And each adapter folder imports only `effect`, its own files and the core, with two
// exceptions, each an optional peer of the Effect 3 line that one module needs: Effect 3's KeyValueStore adapter
// imports `@effect/platform/*` (Effect 3's KeyValueStore lives there) and Effect 3's Persistence adapter
// `@effect/experimental/*` (Effect 3's BackingPersistence). So only src/KeyValueStore.ts may import
// `#effect/KeyValueStore` and only src/Persistence.ts `#effect/Persistence`, and no other module loads those two
// (the package root, src/index.ts, does not re-export them): an app without the peer never loads it.
const compat = path.join(root, "src", "compat")
const optionalPeerModules = [
  { module: "KeyValueStore", peer: "@effect/platform" },
  { module: "Persistence", peer: "@effect/experimental" }
].map(({ module, peer }) => ({
  peer,
  adapter: path.join(compat, "effect3", `${module}.ts`),
  face: path.join(root, "src", `${module}.ts`),
  specifier: `#effect/${module}`
}))
const faceProblems = []
for (const file of filesOf(path.join(root, "src"))) {
  if (file.startsWith(core + path.sep)) continue
  const inCompat = file.startsWith(compat + path.sep)
  for (const specifier of specifiers(fs.readFileSync(file, "utf8"))) {
    const effect = specifier === "effect" || specifier.startsWith("effect/")
    const peer = optionalPeerModules.some((entry) => file === entry.adapter && specifier.startsWith(`${entry.peer}/`))
    if (!inCompat && effect) faceProblems.push(`${path.relative(root, file)} imports "${specifier}"`)
    if (inCompat && !effect && !peer && !specifier.startsWith("./") && !specifier.startsWith("../../core/")) {
      faceProblems.push(`${path.relative(root, file)} imports "${specifier}"`)
    }
    for (const entry of optionalPeerModules) {
      const loads = specifier === entry.specifier ||
        (!inCompat && path.resolve(path.dirname(file), specifier) === entry.face.replace(/\.ts$/, ".js"))
      if (loads && file !== entry.face) {
        faceProblems.push(`${path.relative(root, file)} imports "${specifier}" (it loads the optional ${entry.peer})`)
      }
    }
  }
}
// A public module a line omits (`omit` in scripts/lines.mjs: EffectRedis, absent from the Effect 3 line) is loaded
// by no other module, since that line's build does not have it; and the adapter only it needs (`#effect/Redis`,
// which src/compat/effect3 does not have) is imported by it alone.
const { lines } = await import("./lines.mjs")
const lineOnly = [{ module: "EffectRedis", adapter: "Redis" }]
for (const { module } of lineOnly) {
  if (!Object.values(lines).some((line) => (line.omit ?? []).includes(module))) {
    faceProblems.push(`src/${module}.ts is listed as omitted by a line, and lines.mjs omits it from none`)
  }
}
for (const file of filesOf(path.join(root, "src"))) {
  if (file.startsWith(core + path.sep)) continue
  for (const specifier of specifiers(fs.readFileSync(file, "utf8"))) {
    for (const { module, adapter } of lineOnly) {
      const face = path.join(root, "src", `${module}.ts`)
      const loads = specifier === `#effect/${adapter}` ||
        (specifier.startsWith(".") && path.resolve(path.dirname(file), specifier) === face.replace(/\.ts$/, ".js"))
      if (loads && file !== face) {
        faceProblems.push(`${path.relative(root, file)} imports "${specifier}" (in one release line only)`)
      }
    }
  }
}
if (faceProblems.length > 0) {
  console.error(
    "the face imports Effect through #effect/* only, and src/compat/<major> imports only effect, itself and the core:\n  " +
      faceProblems.join("\n  ")
  )
  process.exit(1)
}
