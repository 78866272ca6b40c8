// `npm run build`: both release lines, each as the package directory that is packed and published.
//
//   build/effect3/   effect-remote-cache 1.x for Effect 3: dist/esm (`import`) and dist/cjs (`require`)
//   build/effect4/   effect-remote-cache 2.x for Effect 4: dist/esm (ES modules, as Effect 4 itself)
//
// The face imports Effect through `#effect/<Module>` (see src/compat/README.md). A line's build copies src/ with
// only its own adapters (src/compat/effect3 or src/compat/effect4) and rewrites those specifiers into relative
// imports of them, so the package holds one face, imports only `effect`, and needs no import map. Then tsc compiles
// each format with its own .d.ts, against that major's `effect` (Effect 4 is installed here as `effect4`).
// `node scripts/build.mjs effect4` builds one line.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { lines } from "./lines.mjs"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))

const compile = (project) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, "-p", project], { cwd: root, stdio: "inherit" })
    child.on("error", reject)
    child.on("exit", (code) => code === 0 ? resolve() : reject(new Error(`tsc -p ${project} exited with ${code}`)))
  })

const write = (file, content) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content, null, 2) + "\n")
}

/**
 * Copies src/ for one line, less the public modules it omits (`omit` in lines.mjs): its adapters only, `#effect/X`
 * rewritten to a relative import of them.
 */
const stageSources = (name, target) => {
  const source = path.join(root, "src")
  const adapters = path.join(target, "compat", name)
  const omitted = new Set((lines[name].omit ?? []).map((module) => `${module}.ts`))
  for (const file of fs.readdirSync(source, { recursive: true })) {
    const from = path.join(source, file)
    if (!file.endsWith(".ts") || fs.statSync(from).isDirectory()) continue
    if (omitted.has(file)) continue
    if (file.startsWith(`compat${path.sep}`) && !file.startsWith(`compat${path.sep}${name}${path.sep}`)) continue
    const to = path.join(target, file)
    const relative = path.relative(path.dirname(to), adapters).split(path.sep).join("/")
    const prefix = relative.startsWith(".") ? relative : `./${relative}`
    const text = fs.readFileSync(from, "utf8").replace(
      /(["'])#effect\/([A-Za-z]+)\1/g,
      (_, quote, module) => `${quote}${prefix}/${module}.js${quote}`
    )
    write(to, text)
  }
}

/** The tsconfig of one format of one line; Effect 4's types come from its install under another name. */
const tsconfig = (line, format, dir) => {
  const effect4 = path.join(root, "node_modules", "effect4", "dist")
  const paths = line.effect === 4
    ? { "effect": [`${effect4}/index.d.ts`], "effect/*": [`${effect4}/*.d.ts`, `${effect4}/*/index.d.ts`] }
    : undefined
  return {
    extends: path.join(root, "tsconfig.base.json"),
    compilerOptions: {
      rootDir: "src",
      outDir: `dist/${format}`,
      typeRoots: [path.join(root, "node_modules", "@types")],
      // Each .d.ts maps back into the shipped src/, so an editor's go-to-definition lands in the TypeScript source.
      declarationMap: true,
      ...(format === "cjs" ? { module: "CommonJS", moduleResolution: "Node10" } : {}),
      ...(paths !== undefined ? { paths } : {})
    },
    include: [path.join(dir, "src")]
  }
}

/**
 * The published manifest of one line: only the fields listed here. The root's `scripts` and `devDependencies` stay
 * behind: they name files and tools the package does not hold.
 */
const packageJson = (line) => {
  const entry = (file) => {
    const esm = { types: `./dist/esm/${file}.d.ts`, default: `./dist/esm/${file}.js` }
    if (!line.formats.includes("cjs")) return esm
    return { import: esm, require: { types: `./dist/cjs/${file}.d.ts`, default: `./dist/cjs/${file}.js` } }
  }
  const main = line.formats.includes("cjs") ? "./dist/cjs/index.js" : "./dist/esm/index.js"
  return {
    name: manifest.name,
    version: line.version,
    description: manifest.description,
    keywords: manifest.keywords,
    homepage: manifest.homepage,
    bugs: manifest.bugs,
    repository: manifest.repository,
    license: manifest.license,
    sideEffects: [],
    type: "module",
    exports: {
      "./package.json": "./package.json",
      ".": entry("index"),
      "./internal/*": null,
      "./core/*": null,
      "./compat/*": null,
      // A module the line omits is not exported (rather than a path to a file that is not there).
      ...Object.fromEntries((line.omit ?? []).map((module) => [`./${module}`, null])),
      "./*": entry("*")
    },
    main,
    module: "./dist/esm/index.js",
    types: main.replace(/\.js$/, ".d.ts"),
    files: ["dist", "src", "LICENSE", "README.md"],
    peerDependencies: { effect: line.peer, ...line.optionalPeers },
    ...(line.optionalPeers === undefined ? {} : {
      peerDependenciesMeta: Object.fromEntries(
        Object.keys(line.optionalPeers).map((name) => [name, { optional: true }])
      )
    }),
    engines: { node: line.node },
    publishConfig: { tag: line.tag }
  }
}

const buildLine = async (name) => {
  const line = lines[name]
  const dir = path.join(root, "build", name)
  fs.rmSync(dir, { recursive: true, force: true })
  stageSources(name, path.join(dir, "src"))
  for (const format of line.formats) write(path.join(dir, `tsconfig.${format}.json`), tsconfig(line, format, dir))
  await Promise.all(line.formats.map((format) => compile(path.join(dir, `tsconfig.${format}.json`))))
  for (const format of line.formats) {
    write(path.join(dir, "dist", format, "package.json"), {
      type: format === "cjs" ? "commonjs" : "module",
      sideEffects: []
    })
    fs.rmSync(path.join(dir, `tsconfig.${format}.json`))
  }
  write(path.join(dir, "package.json"), packageJson(line))
  for (const file of ["README.md", "LICENSE"]) fs.copyFileSync(path.join(root, file), path.join(dir, file))
  // For running the build in place (benchmarks): the line's `effect` is the major it was built for.
  const effect = path.join(root, "node_modules", line.effect === 4 ? "effect4" : "effect")
  fs.mkdirSync(path.join(dir, "node_modules"), { recursive: true })
  fs.symlinkSync(effect, path.join(dir, "node_modules", "effect"), "dir")
}

const wanted = process.argv.slice(2)
const names = wanted.length === 0 ? Object.keys(lines) : wanted
try {
  for (const name of names) {
    if (!(name in lines)) throw new Error(`unknown line ${name}: expected one of ${Object.keys(lines).join(", ")}`)
    await buildLine(name)
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error))
  process.exit(1)
}
