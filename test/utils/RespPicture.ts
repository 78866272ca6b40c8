/**
 * Helpers for RESP tests: a plain, comparable picture of a value (tells -0 from 0, NaN from anything else, bytes
 * from strings and an `ErrorReply` from a string), and chunking of a byte stream.
 */
import { ErrorReply, RespMap, RespPush, RespSet, type RespValue, VerbatimString } from "../../src/Resp.js"

export const normalize = (v: RespValue): unknown => {
  switch (typeof v) {
    case "string":
      return ["simple", v]
    case "number":
      return ["number", Object.is(v, -0) ? "-0" : String(v)]
    case "bigint":
      return ["bigint", v.toString()]
    case "boolean":
      return ["boolean", v]
  }
  if (v === null) return ["null"]
  if (v instanceof Uint8Array) return ["bulk", Buffer.from(v).toString("hex")]
  if (v instanceof ErrorReply) return ["error", v.message]
  if (v instanceof VerbatimString) return ["verbatim", v.format, Buffer.from(v.value).toString("hex")]
  if (v instanceof RespMap) return ["map", v.entries.map(([k, x]) => [normalize(k), normalize(x)])]
  if (v instanceof RespSet) return ["set", v.values.map(normalize)]
  if (v instanceof RespPush) return ["push", v.values.map(normalize)]
  return ["array", v.map(normalize)]
}

/** Splits `buf` at `points` (taken modulo its length + 1, in any order) into consecutive chunks. */
export const splitAt = (buf: Uint8Array, points: ReadonlyArray<number>): Array<Uint8Array> => {
  const sorted = points.map((p) => p % (buf.length + 1)).sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let start = 0
  for (const p of sorted) {
    chunks.push(buf.subarray(start, p))
    start = p
  }
  chunks.push(buf.subarray(start))
  return chunks
}
