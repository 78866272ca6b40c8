// Type-checks TypeScript modules held in memory (documentation blocks, JSDoc examples) as if each sat at the
// project root, against one Effect face: "effect-remote-cache" resolves to src/, as it resolves to the package for
// a user, and `#effect/*` to that face's adapters. Shared by scripts/check-docs.mjs and scripts/docs.mjs.
import * as path from "node:path"
import ts from "typescript"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const effect4 = "./node_modules/effect4/dist"

/** The two faces a user may copy a block into. */
export const faces = [
  { name: "Effect 3", major: "3", adapters: "effect3", paths: {} },
  {
    name: "Effect 4",
    major: "4",
    adapters: "effect4",
    paths: {
      "effect": [`${effect4}/index.d.ts`],
      "effect/testing": [`${effect4}/testing/index.d.ts`],
      "effect/*": [`${effect4}/*.d.ts`, `${effect4}/*/index.d.ts`],
      // @effect/vitest 4, from the Effect 4 test stack (`npm run check` installs it first).
      "@effect/vitest": ["./test/effect4/node_modules/@effect/vitest/dist/index.d.ts"]
    }
  }
]

/**
 * The diagnostics of `modules` (a Map from a file name under the root to `{ text }`) against `face`, each with
 * `where`: `file(line,column)` in the project, or what `locate(module, line, column)` says for a module of the map.
 * Only the modules' own diagnostics (and the program's): src/ itself is type-checked by tsc in `npm run check`.
 */
export const typeCheckModules = (face, modules, locate) => {
  const configFile = ts.readConfigFile(path.join(root, "tsconfig.base.json"), ts.sys.readFile)
  const { options } = ts.parseJsonConfigFileContent(configFile.config, ts.sys, root)
  Object.assign(options, {
    noEmit: true,
    // A block often just shows how a value is built.
    noUnusedLocals: false,
    noUnusedParameters: false,
    baseUrl: root,
    paths: {
      ...face.paths,
      "effect-remote-cache": ["./src/index.ts"],
      "effect-remote-cache/*": ["./src/*.ts"],
      "#effect/*": [`./src/compat/${face.adapters}/*.ts`]
    }
  })
  const host = ts.createCompilerHost(options)
  const { fileExists, readFile, getSourceFile } = host
  host.fileExists = (file) => modules.has(file) || fileExists.call(host, file)
  host.readFile = (file) => modules.get(file)?.text ?? readFile.call(host, file)
  host.getSourceFile = (file, languageVersion, ...rest) => {
    const module = modules.get(file)
    return module === undefined
      ? getSourceFile.call(host, file, languageVersion, ...rest)
      : ts.createSourceFile(file, module.text, languageVersion, true)
  }
  const program = ts.createProgram([...modules.keys()], options, host)
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...[...modules.keys()].flatMap((file) => {
      const source = program.getSourceFile(file)
      return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]
    })
  ]
  return diagnostics.map((diagnostic) => {
    const message = `error TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")}`
    if (diagnostic.file === undefined || diagnostic.start === undefined) return `${message} [${face.name}]`
    const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
    const module = modules.get(diagnostic.file.fileName)
    const where = module === undefined
      ? `${path.relative(root, diagnostic.file.fileName)}(${line + 1},${character + 1})`
      : locate(module, line, character)
    return `${where} [${face.name}]: ${message}`
  })
}
