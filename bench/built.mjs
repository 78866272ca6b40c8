// Loaded with `node --import ./bench/built.mjs`: every import of the library's sources (`src/…`) resolves to the
// build of the Effect 3 line (`build/effect3/dist/esm`) instead, so the benchmark measures the JavaScript users run,
// and every `#effect/<Module>` to that build's adapters, the ones the library itself runs on. Run under a TypeScript
// loader (tsx), the sources would be transformed with their function names kept (`keepNames`), which wraps every
// closure made per operation in one more call: a cost the published build does not have, and the peers do not pay.
import { register } from "node:module"

register(
  `data:text/javascript,${
    encodeURIComponent(`
const src = new URL("../src/", ${JSON.stringify(import.meta.url)}).href
const dist = new URL("../build/effect3/dist/esm/", ${JSON.stringify(import.meta.url)}).href
const adapters = dist + "compat/effect3/"
export async function resolve(specifier, context, next) {
  if (specifier.startsWith("#effect/")) {
    return { url: adapters + specifier.slice(8) + ".js", format: "module", shortCircuit: true }
  }
  if (context.parentURL !== undefined && (specifier.startsWith(".") || specifier.startsWith("file:"))) {
    const url = new URL(specifier, context.parentURL).href
    if (url.startsWith(src)) {
      return { url: dist + url.slice(src.length).replace(/\\.ts$/, ".js"), format: "module", shortCircuit: true }
    }
  }
  return next(specifier, context)
}`)
  }`
)
