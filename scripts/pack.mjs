// `npm run pack`: builds both release lines and packs each with `npm pack`, into the given folder (default: the
// project root). The tarballs are exactly what `npm publish build/effect3` and `npm publish build/effect4` upload
// (each line's manifest carries its dist-tag). Prints one JSON line per tarball: { line, file, files, size, unpackedSize }
// (bytes, as npm reports them).
// `node scripts/pack.mjs <folder> effect4` packs one line.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { lines } from "./lines.mjs"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const destination = path.resolve(process.argv[2] ?? root)
fs.mkdirSync(destination, { recursive: true })

const names = process.argv.length > 3 ? process.argv.slice(3) : Object.keys(lines)
const build = spawnSync(process.execPath, [path.join(root, "scripts", "build.mjs"), ...names], { stdio: "inherit" })
if (build.status !== 0) process.exit(build.status ?? 1)

const npm = process.platform === "win32" ? "npm.cmd" : "npm"
for (const name of names) {
  const packed = spawnSync(npm, ["pack", "--json", "--pack-destination", destination], {
    cwd: path.join(root, "build", name),
    encoding: "utf8"
  })
  if (packed.status !== 0) {
    process.stderr.write(packed.stderr)
    process.exit(packed.status ?? 1)
  }
  const [report] = JSON.parse(packed.stdout)
  const file = path.join(destination, report.filename)
  console.log(JSON.stringify({
    line: name,
    file,
    files: report.files.map((entry) => entry.path),
    size: report.size,
    unpackedSize: report.unpackedSize
  }))
}
