// `npm run docs`: the API reference in docs/api/, generated from the JSDoc of the public modules (src/*.ts) by
// TypeDoc with typedoc-plugin-markdown: docs/api/README.md lists every module, and each module has one page,
// grouped by `@category`, in source order. It replaces docs/api and checks nothing else.
//
// `npm run docs -- --check` (part of `npm run check`) writes nothing and fails when
//   - TypeDoc warns (warnings are errors: an unresolved {@link}, a public type that refers to one the reference
//     leaves out, a malformed tag);
//   - docs/api differs from what the sources generate now (it is regenerated into a temporary folder and compared
//     file by file: after changing a doc comment or an export, run `npm run docs` and commit docs/api);
//   - an `@example` does not type-check. Every ```ts block of an `@example` in src/ (the face, outside core/ and
//     compat/) is compiled as a module of its own against both faces, Effect 3 and Effect 4, with
//     "effect-remote-cache" resolving to src/ as it resolves to the package for a user (the mapping the
//     README's blocks are checked with). Each block carries its own imports; unused declarations are allowed.
//     An example whose first line is a comment starting `// Effect 4 only` (or `// Effect 3 only`; any case, any
//     text after it) is checked against that major alone: the marker tells the reader too, in the editor and in
//     docs/api.
//   `--examples` checks the examples only (no TypeDoc run).
//
// The reference shows the face as the Effect 4 line (2.x) types it, the vocabulary the face is written in, and as a
// user writes it: Effect's types qualified by their module (`Effect.Effect`, `Layer.Layer`, where TypeDoc would
// print a bare `Effect`); a class made by an Effect constructor extends what its source says
// (`Context.Service<RedisClient, RedisClientShape>()("…")`); a public alias of an internal type
// (`RedisClient.LayerConfigInput`) shows that type's definition and stands for it wherever it is used. The first doc
// comment of a module file is the module's description (TypeDoc would want an `@module` tag there), and the entry
// page, docs/api/README.md, lists every module with its line from src/index.ts.
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import {
  Application,
  Comment,
  CommentTag,
  Converter,
  MinimalSourceFile,
  ReferenceType,
  ReflectionKind,
  UnionType,
  UnknownType
} from "typedoc"
import ts from "typescript"
import { faces, typeCheckModules } from "./typecheck-modules.mjs"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const target = path.join(root, "docs", "api")
const args = process.argv.slice(2)
const check = args.includes("--check")
const examplesOnly = args.includes("--examples")
const unknown = args.filter((arg) => arg !== "--check" && arg !== "--examples")
if (unknown.length > 0) {
  console.error(`usage: node scripts/docs.mjs [--check] [--examples] (unknown: ${unknown.join(" ")})`)
  process.exit(2)
}

const effect4 = path.join(root, "node_modules", "effect4", "dist")
const effect4Paths = {
  "effect": [`${effect4}/index.d.ts`],
  "effect/*": [`${effect4}/*.d.ts`, `${effect4}/*/index.d.ts`]
}
const publicModules = fs.readdirSync(path.join(root, "src"))
  .filter((file) => file.endsWith(".ts") && file !== "index.ts")
  .sort()

// ---------------------------------------------------------------------------------------------------------------
// The reference
// ---------------------------------------------------------------------------------------------------------------

/** Union members by their text, `null` and `undefined` last as people write them. */
const byUnionOrder = (a, b) => {
  const rank = (type) => ["null", "undefined"].indexOf(type.toString()) + 1
  return rank(a) - rank(b) || (a.toString() < b.toString() ? -1 : a.toString() > b.toString() ? 1 : 0)
}

/** Generates the reference into `out`; returns the number of TypeDoc warnings and errors. */
const generate = async (out, scratch) => {
  // The Effect 4 face, sources only (tsconfig.effect4.json also holds the tests).
  const tsconfig = path.join(scratch, "tsconfig.docs.json")
  fs.writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: path.join(root, "tsconfig.base.json"),
      compilerOptions: {
        noEmit: true,
        typeRoots: [path.join(root, "node_modules", "@types")],
        paths: { ...effect4Paths, "#effect/*": [path.join(root, "src", "compat", "effect4", "*.ts")] }
      },
      include: [path.join(root, "src")],
      exclude: [path.join(root, "src", "compat", "effect3")]
    })
  )
  const app = await Application.bootstrapWithPlugins({
    entryPoints: publicModules.map((file) => path.join(root, "src", file)),
    tsconfig,
    plugin: ["typedoc-plugin-markdown"],
    out,
    name: "effect-remote-cache",
    readme: "none",
    logLevel: "Warn",
    // Links to source lines would change with every edit anywhere above them.
    disableSources: true,
    excludePrivate: true,
    excludeInternal: true,
    excludeExternals: true,
    sort: ["source-order"],
    validation: { notExported: true, invalidLink: true, rewrittenLink: true, notDocumented: false },
    // typedoc-plugin-markdown
    outputFileStrategy: "modules",
    entryFileName: "README.md",
    hidePageHeader: true,
    hideBreadcrumbs: true
  })

  // A module's description is its file's first doc comment (TypeDoc wants an `@module` tag there; the face keeps
  // the docgen style, a plain header with `@since`).
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
    if (!reflection.kindOf(ReflectionKind.Module) || reflection.comment !== undefined) return
    const file = path.join(root, "src", `${reflection.name}.ts`)
    const header = /^\/\*\*([\s\S]*?)\*\//.exec(fs.readFileSync(file, "utf8"))
    if (header === null) return
    const lines = header[1].split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n").trim().split("\n")
    const firstTag = lines.findIndex((line) => line.startsWith("@"))
    const body = (firstTag === -1 ? lines : lines.slice(0, firstTag)).join("\n").trim()
    const tags = firstTag === -1 ? [] : lines.slice(firstTag).join("\n").split(/\n(?=@)/)
    const { content } = app.converter.parseRawComment(new MinimalSourceFile(body, file), context.project.files)
    reflection.comment = new Comment(
      content,
      tags.map((tag) => {
        const [, name, text] = /^(@\S+)\s*([\s\S]*)$/.exec(tag.trim())
        return new CommentTag(name, [{ kind: "text", text: text.trim() }])
      })
    )
  })

  // Source text on one line: `{ a: A\n b: B }` reads `{ a: A; b: B }`.
  const oneLine = (text) =>
    text.replace(/\(\s+/g, "(").replace(/\s+\)/g, ")").replace(/\{\s+/g, "{ ").replace(/\s+\}/g, " }")
      .replace(/\s*\n\s*/g, "; ")
  const sources = new Map()
  const parse = (file) => {
    if (!sources.has(file)) {
      sources.set(file, ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true))
    }
    return sources.get(file)
  }
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, ({ project }) => {
    // A class built by an Effect constructor (`Context.Service<…>()("…")`, `Data.TaggedError("…")<…>`) extends
    // what its source says, not the structural type that constructor returns.
    for (const reflection of project.getReflectionsByKind(ReflectionKind.Class)) {
      const id = project.getSymbolIdFromReflection(reflection)
      if (id === undefined || reflection.extendedTypes === undefined) continue
      const declaration = parse(id.fileName).statements.find((statement) =>
        ts.isClassDeclaration(statement) && statement.name?.text === reflection.name
      )
      const base = declaration?.heritageClauses?.find((clause) => clause.token === ts.SyntaxKind.ExtendsKeyword)
        ?.types[0]
      let root = base?.expression
      while (root !== undefined && !ts.isIdentifier(root)) root = root.expression
      const effectImport = root !== undefined &&
        parse(id.fileName).statements.some((statement) =>
          ts.isImportDeclaration(statement) && statement.moduleSpecifier.text.startsWith("#effect/") &&
          statement.importClause?.namedBindings !== undefined &&
          ts.isNamespaceImport(statement.importClause.namedBindings) &&
          statement.importClause.namedBindings.name.text === root.text
        )
      if (!effectImport || !ts.isCallExpression(base.expression)) continue
      reflection.extendedTypes = [new UnknownType(oneLine(base.getText()))]
    }
  })
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    const { project } = context
    // A public alias of an internal type (`RedisClient.LayerConfigInput` of `ConfigInput`) stands for it: the
    // alias shows the internal type's definition, and every other reference to the internal type links to it.
    const aliases = new Map()
    for (const reflection of project.getReflectionsByKind(ReflectionKind.TypeAlias)) {
      const type = reflection.type
      if (!(type instanceof ReferenceType) || type.reflection !== undefined || type.package !== "effect-remote-cache") {
        continue
      }
      const id = type.symbolId
      const source = parse(id.fileName)
      const declaration = source.statements.find((statement) =>
        ts.isTypeAliasDeclaration(statement) && statement.name.text === id.qualifiedName
      )
      if (declaration === undefined) continue
      aliases.set(`${id.fileName}:${id.qualifiedName}`, reflection)
      reflection.type = new UnknownType(oneLine(declaration.type.getText(source)))
    }
    // Effect's types as a user writes them: `Effect.Effect`, `Layer.Layer` (TypeDoc shows the bare name).
    const seen = new Set()
    const visit = (value, owner, key) => {
      if (value === null || typeof value !== "object" || seen.has(value)) return
      seen.add(value)
      if (value instanceof ReferenceType && value.reflection === undefined) {
        const id = value.symbolId
        const alias = id && aliases.get(`${id.fileName}:${id.qualifiedName}`)
        const module = /\/effect4\/(?:dist|src)\/(\w+)\.(?:d\.)?ts$/.exec(id?.fileName ?? "")?.[1]
        if (alias !== undefined) {
          const replaced = ReferenceType.createResolvedReference(alias.name, alias, project)
          replaced.typeArguments = value.typeArguments
          owner[key] = replaced
          value = replaced
        } else if (module !== undefined && !value.name.includes(".")) {
          value.name = `${module}.${value.name}`
        }
      }
      // A union's members in one order: the checker's order follows the order types were first met, so an
      // unrelated change in the sources would flip `A | B` and put the reference out of date.
      if (value instanceof UnionType) value.types.sort(byUnionOrder)
      for (const [name, child] of Object.entries(value)) {
        if (name !== "parent" && name !== "project") visit(child, value, name)
      }
    }
    for (const reflection of Object.values(project.reflections)) visit(reflection)
  })

  const project = await app.convert()
  if (project === undefined) return Math.max(1, app.logger.errorCount + app.logger.warningCount)
  app.validate(project)
  if (app.logger.errorCount + app.logger.warningCount > 0) return app.logger.errorCount + app.logger.warningCount
  await app.generateOutputs(project)
  const pages = listFiles(out).filter((file) => file !== "README.md")
  const { text, unlisted } = index(pages)
  fs.writeFileSync(path.join(out, "README.md"), text)
  for (const name of unlisted) console.error(`docs: src/index.ts does not re-export the module ${name}`)
  return app.logger.errorCount + app.logger.warningCount + unlisted.length
}

// Modules the package root does not load, imported from their own path only: on Effect 3 `KeyValueStore` needs
// `@effect/platform` and `Persistence` `@effect/experimental`, optional peers (scripts/check-core.mjs keeps them
// out of src/index.ts); `EffectRedis` exists in the Effect 4 line only (Effect 3 has no `Redis` service).
const subPathOnly = new Set(["KeyValueStore", "Persistence", "EffectRedis"])

/** The line of a module of {@link subPathOnly}: its header's first paragraph, and where to import it from. */
const subPathSummary = (name) => {
  if (!subPathOnly.has(name)) return undefined
  const header = /^\/\*\*([\s\S]*?)\*\//.exec(fs.readFileSync(path.join(root, "src", `${name}.ts`), "utf8"))
  const text = (header?.[1] ?? "").split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n").trim()
  const first = text.split("\n\n")[0].replace(/\s+/g, " ").trim()
  const only = name === "EffectRedis" ? " In the Effect 4 line (2.x) only." : ""
  return `${first} Imported from its own path only: \`effect-remote-cache/${name}\`.${only}`
}

/** The entry page: what the reference is, and every module page with its line from src/index.ts. */
const index = (pages) => {
  const source = ts.createSourceFile(
    "index.ts",
    fs.readFileSync(path.join(root, "src", "index.ts"), "utf8"),
    ts.ScriptTarget.Latest,
    true
  )
  const summaries = new Map()
  for (const statement of source.statements) {
    if (!ts.isExportDeclaration(statement) || statement.exportClause === undefined) continue
    if (!ts.isNamespaceExport(statement.exportClause)) continue
    const comment = ts.getJSDocCommentsAndTags(statement).find(ts.isJSDoc)?.comment
    const text = typeof comment === "string" ? comment : ts.getTextOfJSDocComment(comment) ?? ""
    summaries.set(statement.exportClause.name.text, text.split("\n\n")[0].replace(/\s+/g, " ").trim())
  }
  const unlisted = []
  const modules = pages.map((page) => {
    const name = page.replace(/\.md$/, "")
    const summary = summaries.get(name) ?? subPathSummary(name)
    if (summary === undefined) unlisted.push(name)
    return `- [${name}](${page})${summary ? `: ${summary}` : ""}`
  })
  const text = `# effect-remote-cache API reference

Every public module, as generated from the doc comments in \`src/\` by \`npm run docs\` (do not edit these pages:
change the doc comment and run \`npm run docs\`). A module is imported from the package root
(\`import { RedisClient } from "effect-remote-cache"\`) or from its own path (\`effect-remote-cache/RedisClient\`).
The [README](../../README.md) is the guide, and [the documentation pages](../README.md) explain each part.

Signatures are shown as the Effect 4 line (2.x) types them. The Effect 3 line (1.x) has the same modules (but
EffectRedis, Effect 4's own \`Redis\` service, which Effect 3 does not have), names and options, with Effect 3's
types where the two majors differ (an \`Either\` where Effect 4 has a \`Result\`). An example whose first line reads
\`// Effect 4 only\` says what to write on Effect 3 instead.

## Modules

${modules.join("\n")}
`
  return { text, unlisted }
}

/** The files under `dir`, relative, sorted. */
const listFiles = (dir) =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { recursive: true })
      .filter((file) => fs.statSync(path.join(dir, file)).isFile())
      .map((file) => file.split(path.sep).join("/"))
      .sort()
    : []

/** Puts the generated pages in the project's format (dprint, as `npm run format`), so the format check passes. */
const format = async (dir) => {
  const { createContext } = await import("@dprint/formatter")
  const markdown = await import("@dprint/markdown")
  const typescript = await import("@dprint/typescript")
  const config = JSON.parse(fs.readFileSync(path.join(root, "dprint.json"), "utf8"))
  const { typescript: tsConfig = {}, markdown: mdConfig = {}, json: _json, excludes: _e, plugins: _p, ...global } =
    config
  const context = createContext(global)
  context.addPlugin(fs.readFileSync(typescript.getPath()), tsConfig)
  context.addPlugin(fs.readFileSync(markdown.getPath()), mdConfig)
  for (const file of listFiles(dir)) {
    const full = path.join(dir, file)
    const text = fs.readFileSync(full, "utf8")
    const formatted = context.formatText({ filePath: full, fileText: text })
    if (formatted !== text) fs.writeFileSync(full, formatted)
  }
}

/** Generates into a scratch folder; with `--check` compares it to docs/api, otherwise replaces docs/api by it. */
const reference = async (scratch) => {
  const out = path.join(scratch, "api")
  const problems = await generate(out, scratch)
  if (problems > 0) {
    console.error(`docs: TypeDoc reported ${problems} warning(s)/error(s) (treated as errors)`)
    return false
  }
  await format(out)
  if (!check) {
    fs.rmSync(target, { recursive: true, force: true })
    fs.mkdirSync(path.dirname(target), { recursive: true })
    fs.cpSync(out, target, { recursive: true })
    console.log(`docs: wrote ${listFiles(target).length} file(s) to ${path.relative(root, target)}`)
    return true
  }
  const generated = listFiles(out)
  const committed = listFiles(target)
  const stale = [
    ...generated.filter((file) => !committed.includes(file)).map((file) => `missing: docs/api/${file}`),
    ...committed.filter((file) => !generated.includes(file)).map((file) => `not generated: docs/api/${file}`),
    ...generated.filter((file) =>
      committed.includes(file) &&
      fs.readFileSync(path.join(out, file), "utf8") !== fs.readFileSync(path.join(target, file), "utf8")
    ).map((file) => `out of date: docs/api/${file}`)
  ]
  for (const line of stale) console.error(line)
  if (stale.length > 0) {
    console.error("docs: docs/api is not what the sources generate; run npm run docs and commit docs/api")
    return false
  }
  return true
}

// ---------------------------------------------------------------------------------------------------------------
// The examples
// ---------------------------------------------------------------------------------------------------------------

/** Every ```ts block of every `@example` in the face, with the source line of its first line of code. */
const collectExamples = () => {
  const examples = []
  const src = path.join(root, "src")
  const files = fs.readdirSync(src, { recursive: true })
    .map((file) => file.split(path.sep).join("/"))
    .filter((file) => file.endsWith(".ts") && !/^(core|compat)\//.test(file))
    .sort()
  for (const file of files) {
    const text = fs.readFileSync(path.join(src, file), "utf8")
    for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
      const firstLine = text.slice(0, comment.index).split("\n").length
      const lines = comment[0].split("\n").map((line) => line.replace(/^\s*\/?\*+\/?( ?)/, ""))
      let inExample = false
      for (let i = 0; i < lines.length; i++) {
        if (/^@\w+/.test(lines[i])) inExample = /^@example\b/.test(lines[i])
        if (!inExample || !/^```(ts|typescript)\b/.test(lines[i])) continue
        let end = i + 1
        while (end < lines.length && !/^```\s*$/.test(lines[end])) end++
        const code = lines.slice(i + 1, end)
        const only = /^\/\/\s*effect ([34]) only\b/i.exec(code[0] ?? "")?.[1]
        examples.push({
          file: path.join(root, `src/${file}.example-${examples.length + 1}.ts`),
          where: `src/${file}`,
          line: firstLine + i + 1,
          only,
          text: code.join("\n") + "\n"
        })
        i = end
      }
    }
  }
  return examples
}

const examples = () => {
  const all = collectExamples()
  let failed = 0
  for (const face of faces) {
    const checked = all.filter((example) => example.only === undefined || example.only === face.major)
    const errors = typeCheckModules(
      face,
      new Map(checked.map((example) => [example.file, example])),
      (example, line, character) => `${example.where}(${example.line + line},${character + 1}) @example`
    )
    for (const error of errors) console.error(error)
    failed += errors.length
  }
  if (failed > 0) console.error(`docs: ${failed} type error(s) in ${all.length} @example block(s)`)
  return failed === 0
}

// ---------------------------------------------------------------------------------------------------------------

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "erc-docs-"))
let ok = true
try {
  if (check || examplesOnly) ok = examples() && ok
  if (!examplesOnly) ok = (await reference(scratch)) && ok
} finally {
  fs.rmSync(scratch, { recursive: true, force: true })
}
process.exit(ok ? 0 : 1)
