/**
 * A plain, comparable picture of a RESP value for test assertions: tells -0 from 0, NaN from anything else, bytes
 * from strings and an `ErrorReply` from a string.
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
