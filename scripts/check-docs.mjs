// Checks the documentation (part of `npm run check`): README.md, CONTRIBUTING.md, bench/README.md and every page
// under docs/ (the generated API reference under docs/api/ has its own check).
//
// Every ```ts block is type-checked against both faces: once with Effect 3 and once with Effect 4, since a user of
// either line copies the same blocks. A block right after a line `<!-- effect 3 only -->` (or
// `<!-- effect 4 only -->`) is checked against that major alone. Each block is compiled as a module of its own, as if
// it sat at the project root; "effect-remote-cache" resolves to src/, as it resolves to the package for a user.
// Diagnostics name the page and line. Blocks are meant to be copied, so each one carries its own imports; unused
// declarations are allowed, since a snippet often just shows how a value is built.
// A block right after a line `<!-- same as examples/x.ts -->` must equal that file from its first import on (with
// "../src/index.js" read as "effect-remote-cache"), so the runnable example and the page cannot drift apart.
//
// Every link is checked too: a relative link (or one into this repository's main branch on GitHub, as the README
// uses since npm shows it away from the repository) must name a file that exists, and its `#anchor` a heading of
// that page (GitHub's rules: lower case, punctuation dropped, spaces as hyphens, repeats numbered).
import * as fs from "node:fs"
import * as path from "node:path"
import { faces, typeCheckModules } from "./typecheck-modules.mjs"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const repository = "https://github.com/effect-remote-cache/effect-remote-cache/"

/** The pages checked, relative to the root. */
const pages = [
  "README.md",
  "CONTRIBUTING.md",
  "bench/README.md",
  ...fs.readdirSync(path.join(root, "docs"), { recursive: true })
    .map((file) => path.join("docs", String(file)))
    .filter((file) => file.endsWith(".md") && !file.startsWith(path.join("docs", "api") + path.sep))
    .sort()
]

/** @type {Array<{ file: string, page: string, line: number, text: string, only: string | undefined }>} */
const snippets = []
let drifted = 0
let broken = 0
for (const page of pages) {
  const lines = fs.readFileSync(path.join(root, page), "utf8").split("\n")
  collectSnippets(page, lines)
  broken += checkLinks(page, lines)
}

/** Collects the ```ts blocks of a page, and compares each one marked `same as` with its example. */
function collectSnippets(page, lines) {
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ts\s*$/.test(lines[i])) continue
    const start = i + 1
    let end = start
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++
    const snippet = {
      file: path.join(root, `${page.replaceAll("/", "_")}.${snippets.length + 1}.ts`),
      page,
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
        console.error(`${page}(${snippet.line}): the block differs from ${same[1]} (from its first import on)`)
        drifted++
      }
    }
    i = end
  }
}

/** GitHub's anchors of a page's headings. */
function anchorsOf(file) {
  const anchors = new Set()
  const seen = new Map()
  let fenced = false
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (/^\s*```/.test(line)) fenced = !fenced
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (heading === null) continue
    const text = heading[1].replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    const slug = text.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replaceAll(" ", "-")
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    anchors.add(count === 0 ? slug : `${slug}-${count}`)
  }
  return anchors
}

/** Checks the relative links of a page (and those into this repository on GitHub); returns how many are broken. */
function checkLinks(page, lines) {
  let count = 0
  let fenced = false
  lines.forEach((line, index) => {
    if (/^\s*```/.test(line)) fenced = !fenced
    if (fenced) return
    const targets = [
      ...[...line.replace(/`[^`]*`/g, "").matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]),
      ...[...line.matchAll(/^\[[^\]]+\]:\s+(\S+)/g)].map((match) => match[1])
    ]
    for (const target of targets) {
      const problem = linkProblem(page, target)
      if (problem !== undefined) {
        console.error(`${page}(${index + 1}): broken link ${target}: ${problem}`)
        count++
      }
    }
  })
  return count
}

/** Why a link is broken, or undefined when it is fine (links outside this repository are not followed). */
function linkProblem(page, target) {
  let file
  let anchor
  if (target.startsWith(repository)) {
    const match = /^(?:blob|tree)\/main\/([^#]*)(?:#(.*))?$/.exec(target.slice(repository.length))
    if (match === null) return undefined
    file = path.join(root, match[1])
    anchor = match[2]
  } else if (/^[a-z]+:/.test(target)) {
    return undefined
  } else {
    const [relative, hash] = target.split("#")
    file = relative === "" ? path.join(root, page) : path.resolve(path.dirname(path.join(root, page)), relative)
    anchor = hash
  }
  if (!fs.existsSync(file)) return "no such file"
  if (anchor !== undefined && file.endsWith(".md") && !anchorsOf(file).has(anchor)) return `no heading #${anchor}`
  return undefined
}

if (snippets.length === 0) {
  console.error("no ```ts block found in the documentation")
  process.exit(1)
}

let failed = 0
for (const face of faces) {
  const checked = snippets.filter((snippet) => snippet.only === undefined || snippet.only === face.major)
  const errors = typeCheckModules(
    face,
    new Map(checked.map((snippet) => [snippet.file, snippet])),
    (snippet, line, character) => `${snippet.page}(${snippet.line + line},${character + 1})`
  )
  for (const error of errors) console.error(error)
  failed += errors.length
}
if (failed > 0 || drifted > 0 || broken > 0) {
  console.error(
    `documentation: ${failed} type error(s) in ${snippets.length} TypeScript block(s), ${drifted} block(s) unlike ` +
      `their example, ${broken} broken link(s)`
  )
  process.exit(1)
}
