/**
 * The published package as a user installs it: `npm pack` of a copy of the project (its `prepack` builds `dist`),
 * the tarball's file list, then an ES module, a CommonJS and a TypeScript consumer loading the unpacked tarball.
 * Nothing is fetched: the consumers' `effect` (and `@types/node`) are links to this project's install.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"

// Runs a command; on failure the error carries what the command printed (tsc reports its diagnostics on stdout).
// `npm test` runs this file after the others, so its builds take no CPU from the tests that measure latencies.
const run = (command: string, args: ReadonlyArray<string>, options: { cwd: string } = { cwd: root }) =>
  new Promise<{ stdout: string }>((resolve, reject) => {
    execFile(command, args, { ...options, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) resolve({ stdout })
      else reject(new Error(`${command} ${args.join(" ")} failed (${error.message}):\n${stdout}${stderr}`))
    })
  })
const root = path.resolve(import.meta.dirname, "..")
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")

// What `npm pack` needs to build and pack: the sources and the build configuration, not the tests.
const projectFiles = [
  "package.json",
  "README.md",
  "LICENSE",
  "tsconfig.base.json",
  "tsconfig.build.json",
  "tsconfig.build.cjs.json",
  "scripts",
  "src"
]

// The modules a user may import: every file of src/ but the internal ones.
const publicModules = fs.readdirSync(path.join(root, "src"))
  .filter((file) => file.endsWith(".ts"))
  .map((file) => file.slice(0, -3))

interface Packed {
  readonly files: ReadonlyArray<string>
  readonly manifest: Record<string, unknown>
  /** A directory whose node_modules holds the unpacked tarball, `effect` and `@types/node`. */
  readonly app: string
}

let work: string
let packed: Packed

const linkFromProject = (app: string, name: string) => {
  const target = path.join(app, "node_modules", name)
  fs.mkdirSync(path.dirname(target), { recursive: true })
  fs.symlinkSync(path.join(root, "node_modules", name), target, "dir")
}

const pack = async (): Promise<Packed> => {
  const project = path.join(work, "project")
  for (const file of projectFiles) {
    fs.cpSync(path.join(root, file), path.join(project, file), { recursive: true })
  }
  fs.symlinkSync(path.join(root, "node_modules"), path.join(project, "node_modules"), "dir")
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", work], { cwd: project })
  // npm prints the lifecycle scripts' own output (prepack) before the JSON report.
  const report = JSON.parse(stdout.slice(stdout.search(/^\[/m))) as Array<
    { filename: string; files: Array<{ path: string }> }
  >
  const tarball = path.join(work, report[0]!.filename)

  const app = path.join(work, "app")
  const installed = path.join(app, "node_modules", "effect-remote-cache")
  fs.mkdirSync(installed, { recursive: true })
  await run("tar", ["-xzf", tarball, "-C", installed, "--strip-components=1"])
  linkFromProject(app, "effect")
  linkFromProject(app, path.join("@types", "node"))
  fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true }))
  return {
    files: report[0]!.files.map((file) => file.path),
    manifest: JSON.parse(fs.readFileSync(path.join(installed, "package.json"), "utf8")),
    app
  }
}

// Runs a script of the consumer app with Node and returns what it printed.
const node = async (file: string, source: string): Promise<string> => {
  fs.writeFileSync(path.join(packed.app, file), source)
  const { stdout } = await run(process.execPath, [file], { cwd: packed.app })
  return stdout.trim()
}

// Each consumer stores a value through MemoryBackend and reads it back, so the package's code really runs.
const exercise = `
const program = Effect.flatMap(RemoteCacheBackend.RemoteCacheBackend, (cache) =>
  Effect.zipRight(cache.set("k", { n: 1 }, "1 minute"), cache.get("k")))
const value = await Effect.runPromise(program.pipe(Effect.provide(MemoryBackendModule.layer())))
`

describe("Package", () => {
  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "erc-pack-"))
    packed = await pack()
  }, 240_000)

  afterAll(() => {
    if (work !== undefined) fs.rmSync(work, { recursive: true, force: true })
  })

  it("the tarball holds dist for both module systems, README, LICENSE and package.json, and nothing else of the repository", () => {
    const { files } = packed
    for (const file of ["package.json", "README.md", "LICENSE", "dist/esm/package.json", "dist/cjs/package.json"]) {
      expect(files).toContain(file)
    }
    for (const module of publicModules) {
      for (const format of ["esm", "cjs"]) {
        expect(files).toContain(`dist/${format}/${module}.js`)
        expect(files).toContain(`dist/${format}/${module}.d.ts`)
      }
    }
    const outside = files.filter((file) =>
      !/^(dist|src)\//.test(file) && !/^(package\.json|README\.md|LICENSE)$/.test(file)
    )
    expect(outside).toEqual([])
    expect(files.filter((file) => file.startsWith("src/") && !file.endsWith(".ts"))).toEqual([])
  })

  it("the manifest requires effect only, as a peer, and names its license and repository", () => {
    const { manifest } = packed
    expect(manifest["dependencies"]).toBeUndefined()
    expect(manifest["optionalDependencies"]).toBeUndefined()
    expect(Object.keys(manifest["peerDependencies"] as object)).toEqual(["effect"])
    expect(manifest["license"]).toBe("MIT")
    expect(manifest["repository"]).toMatchObject({ type: "git", url: expect.stringMatching(/^git\+https:\/\//) })
    expect(fs.readFileSync(path.join(packed.app, "node_modules/effect-remote-cache/LICENSE"), "utf8")).toMatch(
      /^MIT License/
    )
  })

  it("an ES module consumer imports the root, a sub-path and package.json; internal modules stay private", async () => {
    const out = await node(
      "consumer.mjs",
      `import { Effect } from "effect"
import { MemoryBackend, RemoteCacheBackend, TieredCache } from "effect-remote-cache"
import * as MemoryBackendModule from "effect-remote-cache/MemoryBackend"
import manifest from "effect-remote-cache/package.json" with { type: "json" }
${exercise}
let internal = "exported"
await import("effect-remote-cache/internal/backend/codec").catch((error) => { internal = error.code })
console.log(JSON.stringify({
  value,
  sameModule: MemoryBackend === MemoryBackendModule,
  tiered: typeof TieredCache.layer,
  name: manifest.name,
  internal
}))
`
    )
    expect(JSON.parse(out)).toEqual({
      value: { _id: "Option", _tag: "Some", value: { n: 1 } },
      sameModule: true, // the root re-exports the very module a sub-path loads: one instance of each service tag
      tiered: "function",
      name: "effect-remote-cache",
      internal: "ERR_PACKAGE_PATH_NOT_EXPORTED"
    })
  })

  it("a CommonJS consumer requires the root, every sub-path and package.json; internal modules stay private", async () => {
    const out = await node(
      "consumer.cjs",
      `const { Effect } = require("effect")
const { RemoteCacheBackend, Serializer } = require("effect-remote-cache")
const MemoryBackendModule = require("effect-remote-cache/MemoryBackend")
const subPaths = ${JSON.stringify(publicModules.filter((module) => module !== "index"))}
  .map((module) => [module, typeof require("effect-remote-cache/" + module)])
let internal = "exported"
try { require("effect-remote-cache/internal/backend/codec") } catch (error) { internal = error.code }
const main = async () => {
${exercise}
  console.log(JSON.stringify({
    value,
    subPaths: Object.fromEntries(subPaths),
    json: typeof Serializer.json.encode,
    resolved: require.resolve("effect-remote-cache").includes("/dist/cjs/"),
    name: require("effect-remote-cache/package.json").name,
    internal
  }))
}
main()
`
    )
    const result = JSON.parse(out)
    expect(result.value).toEqual({ _id: "Option", _tag: "Some", value: { n: 1 } })
    expect(Object.keys(result.subPaths).sort()).toEqual(publicModules.filter((module) => module !== "index").sort())
    expect(Object.values(result.subPaths).every((type) => type === "object")).toBe(true)
    expect(result).toMatchObject({
      json: "function",
      resolved: true,
      name: "effect-remote-cache",
      internal: "ERR_PACKAGE_PATH_NOT_EXPORTED"
    })
  })

  it("TypeScript resolves the declarations of each format (NodeNext, .mts and .cts)", async () => {
    // A consumer of each format; the @ts-expect-error lines fail the compile if a type resolved to `any`.
    const consumer = `import { Effect, Layer } from "effect"
import { MemoryBackend, RemoteCacheBackend } from "effect-remote-cache"
import * as RedisClient from "effect-remote-cache/RedisClient"

export const backend: Layer.Layer<RemoteCacheBackend.RemoteCacheBackend> = MemoryBackend.layer({ prefix: "app:" })
export const client = RedisClient.layer({ url: "redis://localhost:6379", commandTimeout: "1 second" })
// @ts-expect-error a prefix is a string
export const wrong = MemoryBackend.layer({ prefix: 1 })
export const read = Effect.flatMap(RemoteCacheBackend.RemoteCacheBackend, (cache) => cache.get("k"))
// @ts-expect-error the error channel is typed
export const untyped: Effect.Effect<unknown, never, RemoteCacheBackend.RemoteCacheBackend> = read
`
    fs.writeFileSync(path.join(packed.app, "esm.mts"), consumer)
    fs.writeFileSync(path.join(packed.app, "cjs.cts"), consumer)
    fs.writeFileSync(
      path.join(packed.app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "NodeNext",
          moduleResolution: "NodeNext",
          target: "ES2022",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ["node"]
        },
        files: ["esm.mts", "cjs.cts"]
      })
    )
    const { stdout } = await run(process.execPath, [tsc, "-p", "tsconfig.json", "--listFiles"], { cwd: packed.app })
    // Each format reaches its own half of dist.
    const loaded = stdout.split("\n").filter((file) => file.includes("/node_modules/effect-remote-cache/"))
    expect(loaded).toContainEqual(expect.stringMatching(/\/dist\/esm\/index\.d\.ts$/))
    expect(loaded).toContainEqual(expect.stringMatching(/\/dist\/cjs\/index\.d\.ts$/))
    expect(loaded).toContainEqual(expect.stringMatching(/\/dist\/esm\/RedisClient\.d\.ts$/))
    expect(loaded).toContainEqual(expect.stringMatching(/\/dist\/cjs\/RedisClient\.d\.ts$/))
  }, 120_000)
})
