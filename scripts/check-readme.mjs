// Type-checks every ```ts block of README.md (part of `npm run check`). Each block is compiled as a module of its
// own, as if it sat at the project root; "effect-remote-cache" resolves to src/, as it resolves to dist/ for a user.
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
const { options } = ts.parseJsonConfigFileContent(configFile.config, ts.sys, root)
Object.assign(options, {
  noEmit: true,
  noUnusedLocals: false,
  noUnusedParameters: false,
  baseUrl: root,
  paths: { "effect-remote-cache": ["./src/index.ts"], "effect-remote-cache/*": ["./src/*.ts"] }
})

const byFile = new Map(snippets.map((snippet) => [snippet.file, snippet]))
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
    console.error(`error TS${diagnostic.code}: ${message}`)
  } else {
    const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
    const where = snippet === undefined
      ? `${path.relative(root, diagnostic.file.fileName)}(${line + 1},${character + 1})`
      : `README.md(${snippet.line + line},${character + 1})`
    console.error(`${where}: error TS${diagnostic.code}: ${message}`)
  }
}
if (diagnostics.length > 0 || drifted > 0) {
  console.error(
    `README.md: ${diagnostics.length} type error(s) in ${snippets.length} TypeScript block(s), ${drifted} block(s) unlike their example`
  )
  process.exit(1)
}
