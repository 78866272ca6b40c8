// Type-checks every ```ts block of README.md (part of `npm run check`) against both faces: once with Effect 3 and
// once with Effect 4, since a user of either line copies the same blocks. A block right after a line
// `<!-- effect 3 only -->` (or `<!-- effect 4 only -->`) is checked against that major alone. Each block is compiled as a module of its own, as if it
// sat at the project root; "effect-remote-cache" resolves to src/, as it resolves to the package for a user.
// Diagnostics name the README line. Blocks are meant to be copied, so each one carries its own imports; unused
// declarations are allowed, since a snippet often just shows how a value is built.
// A block right after a line `<!-- same as examples/x.ts -->` must equal that file from its first import on (with
// "../src/index.js" read as "effect-remote-cache"), so the runnable example and the README cannot drift apart.
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const readmePath = path.join(root, "README.md")
const lines = fs.readFileSync(readmePath, "utf8").split("\n")

/** @type {Array<{ file: string, line: number, text: string }>} */
const snippets = []
let drifted = 0
for (let i = 0; i < lines.length; i++) {
  if (!/^```ts\s*$/.test(lines[i])) continue
  const start = i + 1
  let end = start
  while (end < lines.length && !/^```\s*$/.test(lines[end])) end++
  const snippet = {
    file: path.join(root, `README.md.${snippets.length + 1}.ts`),
    only: /^<!-- effect ([34]) only -->$/.exec(lines[i - 1] ?? "")?.[1] ??
      /^<!-- effect ([34]) only -->$/.exec(lines[i - 2] ?? "")?.[1],
    line: start + 1, // 1-based line of the block's first line of code
    text: lines.slice(start, end).join("\n") + "\n"
  }
  snippets.push(snippet)
  const same = /^<!-- same as (\S+) -->$/.exec(lines[i - 1] ?? "") ??
    /^<!-- same as (\S+) -->$/.exec(lines[i - 2] ?? "")
  if (same !== null) {
    const source = fs.readFileSync(path.join(root, same[1]), "utf8")
    const expected = source.slice(source.search(/^import /m)).replaceAll(
      "\"../src/index.js\"",
      "\"effect-remote-cache\""
    )
    if (expected !== snippet.text) {
      console.error(`README.md(${snippet.line}): the block differs from ${same[1]} (from its first import on)`)
      drifted++
    }
  }
  i = end
}
if (snippets.length === 0) {
  console.error("README.md: no ```ts block found")
  process.exit(1)
}

const configFile = ts.readConfigFile(path.join(root, "tsconfig.base.json"), ts.sys.readFile)
const { options: baseOptions } = ts.parseJsonConfigFileContent(configFile.config, ts.sys, root)
const effect4 = "./node_modules/effect4/dist"
const faces = [
  { name: "Effect 3", adapters: "effect3", paths: {} },
  {
    name: "Effect 4",
    adapters: "effect4",
    paths: {
      "effect": [`${effect4}/index.d.ts`],
      "effect/testing": [`${effect4}/testing/index.d.ts`],
      "effect/*": [`${effect4}/*.d.ts`],
      // @effect/vitest 4, from the Effect 4 test stack (`npm run check` installs it first).
      "@effect/vitest": ["./test/effect4/node_modules/@effect/vitest/dist/index.d.ts"]
    }
  }
]

let failed = 0
for (const face of faces) {
  const checked = snippets.filter((snippet) => snippet.only === undefined || `effect${snippet.only}` === face.adapters)
  failed += check(face, checked)
}
if (failed > 0 || drifted > 0) {
  console.error(
    `README.md: ${failed} type error(s) in ${snippets.length} TypeScript block(s), ${drifted} block(s) unlike their example`
  )
  process.exit(1)
}

/** Type-checks the blocks against one face; returns the number of errors, printed with their README lines. */
function check(face, checked) {
  const options = { ...baseOptions }
  Object.assign(options, {
    noEmit: true,
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

  const byFile = new Map(checked.map((snippet) => [snippet.file, snippet]))
  const host = ts.createCompilerHost(options)
  const { fileExists, readFile, getSourceFile } = host
  host.fileExists = (file) => byFile.has(file) || fileExists.call(host, file)
  host.readFile = (file) => byFile.get(file)?.text ?? readFile.call(host, file)
  host.getSourceFile = (file, languageVersion, ...rest) => {
    const snippet = byFile.get(file)
    return snippet === undefined
      ? getSourceFile.call(host, file, languageVersion, ...rest)
      : ts.createSourceFile(file, snippet.text, languageVersion, true)
  }

  const program = ts.createProgram([...byFile.keys()], options, host)
  const diagnostics = ts.getPreEmitDiagnostics(program)
  for (const diagnostic of diagnostics) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")
    const snippet = diagnostic.file && byFile.get(diagnostic.file.fileName)
    if (diagnostic.file === undefined || diagnostic.start === undefined) {
      console.error(`error TS${diagnostic.code}: ${message} [${face.name}]`)
    } else {
      const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
      const where = snippet === undefined
        ? `${path.relative(root, diagnostic.file.fileName)}(${line + 1},${character + 1})`
        : `README.md(${snippet.line + line},${character + 1}) [${face.name}]`
      console.error(`${where}: error TS${diagnostic.code}: ${message}`)
    }
  }
  return diagnostics.length
}
