/**
 * The published packages as users install them. For each release line (effect3: 1.x for Effect 3, effect4: 2.x for
 * Effect 4): `npm run pack` builds and packs the line, then a fresh app of that Effect major installs the tarball
 * offline (its `effect` is this project's install of that major) and loads it as an ES module, as CommonJS and from
 * TypeScript (NodeNext), runs a write and a read, and runs the README quick start unchanged. Its manifest holds no
 * development fields, and its declaration maps lead into the TypeScript sources it ships. The lines refuse each
 * other's apps: npm will not install the Effect 4 line into an Effect 3 app, nor the reverse.
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
const require = createRequire(import.meta.url)
const tsc = require.resolve("typescript/bin/tsc")
const tsx = require.resolve("tsx")

// The modules a user may import: every file of src/ but the internal ones.
const publicModules = fs.readdirSync(path.join(root, "src"))
  .filter((file) => file.endsWith(".ts"))
  .map((file) => file.slice(0, -3))
// Public modules one line does not have (`omit` in scripts/lines.mjs): EffectRedis provides Effect 4's `Redis`
// service, which Effect 3 does not have.
const omittedBy: Record<string, ReadonlyArray<string>> = { effect3: ["EffectRedis"], effect4: [] }
const modulesOf = (line: { readonly name: string }) =>
  publicModules.filter((module) => !omittedBy[line.name]!.includes(module))

// The README quick start's three steps, as a user copies them (README.md's blocks must equal these files;
// `npm run check` says so).
const example = (name: string) =>
  fs.readFileSync(path.join(root, "examples", `${name}.ts`), "utf8")
    .replaceAll("\"../src/index.js\"", "\"effect-remote-cache\"")
const quickStart = example("quickstart")
const quickStartSteps = ["quickstart", "quickstart-redis", "quickstart-tiered"] as const

/** The segments of a source map's `mappings` (base64 VLQ): generated line to source index and source line. */
const decodeMappings = (mappings: string) => {
  const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  const segments: Array<{ line: number; source: number; sourceLine: number }> = []
  let source = 0
  let sourceLine = 0
  mappings.split(";").forEach((group, line) => {
    for (const segment of group.split(",").filter((text) => text !== "")) {
      const values: Array<number> = []
      let value = 0
      let shift = 0
      for (const char of segment) {
        const digit = digits.indexOf(char)
        value += (digit & 31) << shift
        if (digit & 32) {
          shift += 5
        } else {
          values.push(value & 1 ? -(value >> 1) : value >> 1)
          value = 0
          shift = 0
        }
      }
      if (values.length < 4) continue
      source += values[1]!
      sourceLine += values[2]!
      segments.push({ line, source, sourceLine })
    }
  })
  return segments
}

interface Line {
  readonly name: "effect3" | "effect4"
  readonly major: 1 | 2
  /** This project's install of the line's Effect. */
  readonly effect: string
  readonly formats: ReadonlyArray<"esm" | "cjs">
}
const lines: ReadonlyArray<Line> = [
  { name: "effect3", major: 1, effect: path.join(root, "node_modules", "effect"), formats: ["esm", "cjs"] },
  { name: "effect4", major: 2, effect: path.join(root, "node_modules", "effect4"), formats: ["esm"] }
]

let work: string
interface Packed {
  readonly file: string
  readonly files: ReadonlyArray<string>
  readonly size: number
  readonly unpackedSize: number
}
const tarballs = new Map<string, Packed>()

/** A fresh app whose `effect` is the given install, with the given tarball as its dependency, installed offline. */
const makeApp = async (name: string, effect: string, tarball: string) => {
  const app = path.join(work, name)
  fs.mkdirSync(app, { recursive: true })
  fs.writeFileSync(
    path.join(app, "package.json"),
    JSON.stringify({
      name,
      private: true,
      dependencies: { "effect": `file:${effect}`, "effect-remote-cache": `file:${tarball}` },
      devDependencies: { "@types/node": `file:${path.join(root, "node_modules", "@types", "node")}` }
    })
  )
  await run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: app })
  return app
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "erc-pack-"))
  const { stdout } = await run(process.execPath, [path.join(root, "scripts", "pack.mjs"), work])
  for (const line of stdout.split("\n").filter((text) => text.startsWith("{"))) {
    const packed = JSON.parse(line) as Packed & { line: string }
    tarballs.set(packed.line, packed)
  }
}, 300_000)

afterAll(() => {
  if (work !== undefined) fs.rmSync(work, { recursive: true, force: true })
})

describe.each(lines)("the $name line", (line) => {
  let app: string
  const node = async (file: string, source: string, args: ReadonlyArray<string> = []): Promise<string> => {
    fs.writeFileSync(path.join(app, file), source)
    const { stdout } = await run(process.execPath, [...args, file], { cwd: app })
    return stdout.trim()
  }

  beforeAll(async () => {
    app = await makeApp(`app-${line.name}`, line.effect, tarballs.get(line.name)!.file)
  }, 120_000)

  it("README states the sizes npm reports for this line, within 5 %", () => {
    // "the 2.x line is a 715 kB tarball, 3.2 MB unpacked; the 1.x line (…) 842 kB and 5.4 MB"
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8").replace(/\s+/g, " ")
    const stated = new RegExp(`the ${line.major}\\.x line[^;]*?(\\d+) kB[^;]*?(\\d+(?:\\.\\d+)?) MB`).exec(readme)
    expect(stated).not.toBeNull()
    const { size, unpackedSize } = tarballs.get(line.name)!
    const off = (statedBytes: number, bytes: number) =>
      Math.abs(statedBytes / bytes - 1) < 0.05 ? "within 5 %" : `README says ${statedBytes} B, npm ${bytes} B`
    expect(off(Number(stated![1]) * 1000, size)).toBe("within 5 %")
    expect(off(Number(stated![2]) * 1e6, unpackedSize)).toBe("within 5 %")
  })

  it("the tarball holds its own face and formats, README, LICENSE and package.json, nothing else", () => {
    const { files } = tarballs.get(line.name)!
    for (const file of ["package.json", "README.md", "LICENSE"]) expect(files).toContain(file)
    for (const format of line.formats) {
      expect(files).toContain(`dist/${format}/package.json`)
      for (const module of modulesOf(line)) {
        expect(files).toContain(`dist/${format}/${module}.js`)
        expect(files).toContain(`dist/${format}/${module}.d.ts`)
      }
    }
    for (const module of omittedBy[line.name]!) {
      expect(files.filter((file) => file.includes(`/${module}.`))).toEqual([])
    }
    if (!line.formats.includes("cjs")) expect(files.filter((file) => file.startsWith("dist/cjs/"))).toEqual([])
    const other = line.name === "effect3" ? "effect4" : "effect3"
    expect(files.filter((file) => file.includes(`compat/${other}/`))).toEqual([])
    expect(files.filter((file) => !/^(dist|src)\//.test(file) && !/^(package\.json|README\.md|LICENSE)$/.test(file)))
      .toEqual([])
    expect(files.filter((file) => file.startsWith("src/") && !file.endsWith(".ts"))).toEqual([])
  })

  it("the manifest is the line's major and requires that Effect major only, as a peer", () => {
    const manifest = JSON.parse(
      fs.readFileSync(path.join(app, "node_modules/effect-remote-cache/package.json"), "utf8")
    )
    expect(manifest.version).toMatch(new RegExp(`^${line.major}\\.`))
    expect(manifest.dependencies).toBeUndefined()
    // The Effect 3 line's KeyValueStore module needs @effect/platform (Effect 3's KeyValueStore) and its Persistence
    // module @effect/experimental (Effect 3's BackingPersistence): optional peers.
    expect(Object.keys(manifest.peerDependencies)).toEqual(
      line.name === "effect3" ? ["effect", "@effect/platform", "@effect/experimental"] : ["effect"]
    )
    expect(manifest.peerDependencies.effect).toMatch(line.name === "effect3" ? /^\^3\./ : /^\^4\./)
    expect(manifest.peerDependenciesMeta).toEqual(
      line.name === "effect3"
        ? { "@effect/platform": { optional: true }, "@effect/experimental": { optional: true } }
        : undefined
    )
    expect(manifest.license).toBe("MIT")
    expect(manifest.repository).toMatchObject({ type: "git", url: expect.stringMatching(/^git\+https:\/\//) })
  })

  it("the manifest carries no scripts or devDependencies: they name files and tools the package does not hold", () => {
    const manifest = JSON.parse(
      fs.readFileSync(path.join(app, "node_modules/effect-remote-cache/package.json"), "utf8")
    )
    expect(manifest.scripts).toBeUndefined()
    expect(manifest.devDependencies).toBeUndefined()
  })

  it("every declaration has a declaration map whose sources are the TypeScript sources in the package", () => {
    const { files } = tarballs.get(line.name)!
    const installed = path.join(app, "node_modules", "effect-remote-cache")
    const declarations = files.filter((file) => file.endsWith(".d.ts"))
    expect(declarations.length).toBeGreaterThan(0)
    for (const declaration of declarations) {
      expect(files).toContain(`${declaration}.map`)
      const text = fs.readFileSync(path.join(installed, declaration), "utf8")
      expect(text.trimEnd().endsWith(`//# sourceMappingURL=${path.basename(declaration)}.map`)).toBe(true)
      const map = JSON.parse(fs.readFileSync(path.join(installed, `${declaration}.map`), "utf8"))
      expect(map.sources.length).toBeGreaterThan(0)
      for (const source of map.sources as ReadonlyArray<string>) {
        const resolved = path.resolve(path.dirname(path.join(installed, declaration)), map.sourceRoot ?? "", source)
        const inPackage = path.relative(installed, resolved).split(path.sep).join("/")
        expect(inPackage).toMatch(/^src\/.+\.ts$/)
        expect(files).toContain(inPackage)
      }
    }
  })

  it("a declaration's map leads to its definition in the shipped source (go-to-definition in an editor)", () => {
    const installed = path.join(app, "node_modules", "effect-remote-cache")
    const source = fs.readFileSync(path.join(installed, "src", "RedisClient.ts"), "utf8").split("\n")
    const defined = source.findIndex((text) => text.startsWith("export const urlConfig ="))
    for (const format of line.formats) {
      const declaration = path.join(installed, "dist", format, "RedisClient.d.ts")
      const declared = fs.readFileSync(declaration, "utf8").split("\n")
        .findIndex((text) => text.startsWith("export declare const urlConfig:"))
      const map = JSON.parse(fs.readFileSync(`${declaration}.map`, "utf8"))
      const targets = decodeMappings(map.mappings)
        .filter((segment) => segment.line === declared)
        .map((segment) => [map.sources[segment.source], segment.sourceLine])
      expect(targets).toContainEqual(["../../src/RedisClient.ts", defined])
    }
  })

  // Each consumer writes a value through MemoryBackend and reads it back, so the package's code really runs.
  const exercise = `
const program = Effect.flatMap(RemoteCacheBackend.RemoteCacheBackend, (cache) =>
  Effect.andThen(cache.set("k", { n: 1 }, "1 minute"), cache.get("k")))
const value = await Effect.runPromise(program.pipe(Effect.provide(MemoryBackendModule.layer())))
`

  it("an ES module app imports the root, a sub-path and package.json, and runs a write and a read", async () => {
    const out = await node(
      "consumer.mjs",
      `import { Effect, Option } from "effect"
import { MemoryBackend, RemoteCacheBackend, TieredCache } from "effect-remote-cache"
import * as MemoryBackendModule from "effect-remote-cache/MemoryBackend"
import manifest from "effect-remote-cache/package.json" with { type: "json" }
${exercise}
let internal = "exported"
await import("effect-remote-cache/internal/backend/codec").catch((error) => { internal = error.code })
console.log(JSON.stringify({
  value: Option.getOrNull(value),
  sameModule: MemoryBackend === MemoryBackendModule,
  tiered: typeof TieredCache.layer,
  name: manifest.name,
  internal
}))
`
    )
    expect(JSON.parse(out)).toEqual({
      value: { n: 1 },
      sameModule: true, // the root re-exports the very module a sub-path loads: one instance of each service key
      tiered: "function",
      name: "effect-remote-cache",
      internal: "ERR_PACKAGE_PATH_NOT_EXPORTED"
    })
  })

  it("a CommonJS app requires the root, every sub-path and package.json, and runs a write and a read", async () => {
    const out = await node(
      "consumer.cjs",
      `const { Effect, Option } = require("effect")
const { RemoteCacheBackend, Serializer } = require("effect-remote-cache")
const MemoryBackendModule = require("effect-remote-cache/MemoryBackend")
const load = (module) => {
  try {
    return typeof require("effect-remote-cache/" + module)
  } catch (error) {
    return error.code
  }
}
const subPaths = ${JSON.stringify(publicModules.filter((module) => module !== "index"))}
  .map((module) => [module, load(module)])
let internal = "exported"
try { require("effect-remote-cache/internal/backend/codec") } catch (error) { internal = error.code }
const main = async () => {
${exercise}
  console.log(JSON.stringify({
    value: Option.getOrNull(value),
    subPaths: Object.fromEntries(subPaths),
    json: typeof Serializer.json.encode,
    resolved: require.resolve("effect-remote-cache").split("/dist/")[1],
    name: require("effect-remote-cache/package.json").name,
    internal
  }))
}
main()
`
    )
    const result = JSON.parse(out)
    expect(result.value).toEqual({ n: 1 })
    expect(Object.keys(result.subPaths).sort()).toEqual(publicModules.filter((module) => module !== "index").sort())
    // Every sub-path loads, but on the Effect 3 line KeyValueStore and Persistence, which need the optional
    // @effect/platform and @effect/experimental (this app has neither; the root and every other module load
    // without them), and EffectRedis, which that line does not export.
    expect(result.subPaths).toEqual(
      Object.fromEntries(
        publicModules.filter((module) => module !== "index").map((module) => [
          module,
          omittedBy[line.name]!.includes(module)
            ? "ERR_PACKAGE_PATH_NOT_EXPORTED"
            : line.name === "effect3" && (module === "KeyValueStore" || module === "Persistence")
            ? "MODULE_NOT_FOUND"
            : "object"
        ])
      )
    )
    expect(result).toMatchObject({
      json: "function",
      // The Effect 4 line is ES modules only, as Effect 4 is: require() loads it through require(esm).
      resolved: line.formats.includes("cjs") ? "cjs/index.js" : "esm/index.js",
      name: "effect-remote-cache",
      internal: "ERR_PACKAGE_PATH_NOT_EXPORTED"
    })
  })

  it(
    "TypeScript (NodeNext) type-checks an .mts and a .cts consumer and the README quick start's three steps",
    async () => {
      // The @ts-expect-error lines fail the compile if a type resolved to `any`.
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
      fs.writeFileSync(path.join(app, "esm.mts"), consumer)
      fs.writeFileSync(path.join(app, "cjs.cts"), consumer)
      for (const step of quickStartSteps) fs.writeFileSync(path.join(app, `${step}.mts`), example(step))
      fs.writeFileSync(
        path.join(app, "tsconfig.json"),
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
          files: ["esm.mts", "cjs.cts", ...quickStartSteps.map((step) => `${step}.mts`)]
        })
      )
      const { stdout } = await run(process.execPath, [tsc, "-p", "tsconfig.json", "--listFiles"], { cwd: app })
      const loaded = stdout.split("\n").filter((file) => file.includes("/node_modules/effect-remote-cache/"))
      for (const format of line.formats) {
        expect(loaded).toContainEqual(expect.stringMatching(new RegExp(`/dist/${format}/index\\.d\\.ts$`)))
        expect(loaded).toContainEqual(expect.stringMatching(new RegExp(`/dist/${format}/RedisClient\\.d\\.ts$`)))
      }
    },
    120_000
  )

  it("the README quick start runs unchanged", async () => {
    const out = await node("quickstart-run.mts", quickStart, ["--import", tsx])
    expect(out).toContain("Ada")
  }, 60_000)

  it.runIf(line.name === "effect4")(
    "EffectRedis, from its own path, provides Effect 4's own Redis service",
    async () => {
      const out = await node(
        "redis.mjs",
        `import { Effect, Layer } from "effect"
import { Redis } from "effect/persistence"
import { RedisClient } from "effect-remote-cache"
import * as EffectRedis from "effect-remote-cache/EffectRedis"
const program = Effect.map(Redis.Redis, (redis) => typeof redis.send)
const layer = EffectRedis.layer().pipe(Layer.provide(RedisClient.layer({ port: 1 })))
const send = await Effect.runPromise(program.pipe(Effect.provide(layer)))
console.log(JSON.stringify({ send, same: EffectRedis.Redis === Redis.Redis }))
`
      )
      expect(JSON.parse(out)).toEqual({ send: "function", same: true })
    },
    60_000
  )

  // Last: on the Effect 3 line it adds @effect/platform to the app (this project's install, over the same `effect`).
  it(
    "KeyValueStore, from its own path, provides Effect's KeyValueStore (Effect 3: with @effect/platform)",
    async () => {
      if (line.name === "effect3") {
        fs.mkdirSync(path.join(app, "node_modules", "@effect"), { recursive: true })
        fs.symlinkSync(
          path.join(root, "node_modules", "@effect", "platform"),
          path.join(app, "node_modules", "@effect", "platform"),
          "dir"
        )
      }
      const tag = line.name === "effect3"
        ? `import { KeyValueStore as Effects } from "@effect/platform/KeyValueStore"`
        : `import { KeyValueStore as Kvs } from "effect/persistence"\nconst Effects = Kvs.KeyValueStore`
      const out = await node(
        "kvs.mjs",
        `import { Effect, Layer } from "effect"
${tag}
import { MemoryBackend } from "effect-remote-cache"
import * as KeyValueStore from "effect-remote-cache/KeyValueStore"
const program = Effect.gen(function*() {
  const store = yield* Effects
  yield* store.set("k", new Uint8Array([1, 2]))
  return { size: yield* store.size, same: KeyValueStore.KeyValueStore === Effects }
})
const layer = KeyValueStore.layer().pipe(Layer.provide(MemoryBackend.layer()))
console.log(JSON.stringify(await Effect.runPromise(program.pipe(Effect.provide(layer)))))
`
      )
      expect(JSON.parse(out)).toEqual({ size: 1, same: true })
    },
    60_000
  )

  // After it: on the Effect 3 line it adds @effect/experimental too (over the @effect/platform linked above).
  it(
    "Persistence, from its own path, backs Effect's own result persistence (Effect 3: with @effect/experimental)",
    async () => {
      if (line.name === "effect3") {
        fs.symlinkSync(
          path.join(root, "node_modules", "@effect", "experimental"),
          path.join(app, "node_modules", "@effect", "experimental"),
          "dir"
        )
      }
      const effects = line.name === "effect3"
        ? `import * as Effects from "@effect/experimental/Persistence"
const resultLayer = Effects.layerResult
const noTtl = Option.none()`
        : `import { Persistence as Effects } from "effect/persistence"
const resultLayer = Effects.layer
const noTtl = undefined`
      const out = await node(
        "persistence.mjs",
        `import { Effect, Layer, Option } from "effect"
${effects}
import { MemoryBackend } from "effect-remote-cache"
import * as Persistence from "effect-remote-cache/Persistence"
const program = Effect.gen(function*() {
  const backing = yield* Effects.BackingPersistence
  const store = yield* backing.make("users")
  yield* store.set("u1", { name: "Ada" }, noTtl)
  const found = yield* store.get("u1")
  yield* store.clear
  return { found: Option.isOption(found) ? Option.getOrUndefined(found) : found, same: Persistence.BackingPersistence === Effects.BackingPersistence }
})
const layer = Layer.merge(resultLayer, Layer.empty).pipe(
  Layer.provideMerge(Persistence.layerBackingPersistence()),
  Layer.provide(MemoryBackend.layer())
)
console.log(JSON.stringify(await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(layer)))))
`
      )
      expect(JSON.parse(out)).toEqual({ found: { name: "Ada" }, same: true })
    },
    60_000
  )
})

describe("each line refuses the other major's app", () => {
  it.each([["effect4", "Effect 3", "effect"], ["effect3", "Effect 4", "effect4"]] as const)(
    "npm will not install the %s line into an %s app",
    async (name, _app, effect) => {
      const attempt = makeApp(`wrong-${name}`, path.join(root, "node_modules", effect), tarballs.get(name)!.file)
      await expect(attempt).rejects.toThrow(/ERESOLVE|peer effect/)
    },
    120_000
  )
})
