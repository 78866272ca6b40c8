// `npm run build`: the published output, for both module systems, each with its own declarations.
//   dist/esm  ES modules (`import`), compiled as NodeNext
//   dist/cjs  CommonJS (`require`), compiled as CommonJS; its package.json says so, since the root says "module"
// Each half carries its own `.d.ts` so TypeScript sees the format Node loads for each condition of "exports".
// The CommonJS half resolves imports the Node10 way: `effect` publishes `typesVersions` for its sub-paths.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
const dist = path.join(root, "dist")

const compile = (project) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, "-p", path.join(root, project)], { cwd: root, stdio: "inherit" })
    child.on("error", reject)
    child.on("exit", (code) => code === 0 ? resolve() : reject(new Error(`tsc -p ${project} exited with ${code}`)))
  })

fs.rmSync(dist, { recursive: true, force: true })
try {
  await Promise.all([compile("tsconfig.build.json"), compile("tsconfig.build.cjs.json")])
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error))
  process.exit(1)
}
const write = (file, content) => fs.writeFileSync(path.join(dist, file), JSON.stringify(content, null, 2) + "\n")
write("esm/package.json", { type: "module", sideEffects: [] })
write("cjs/package.json", { type: "commonjs", sideEffects: [] })
