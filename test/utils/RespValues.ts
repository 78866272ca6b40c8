/**
 * RESP values in tests: their wire form, for fake servers and parser tests (the client itself only ever sends
 * commands, through `Resp.encodeCommand`), and the text of a string reply.
 */
import { Buffer } from "node:buffer"
import { ErrorReply, RespMap, RespPush, RespSet, type RespValue, VerbatimString } from "../../src/Resp.js"

const hasLineBreak = (s: string): boolean => s.indexOf("\r") !== -1 || s.indexOf("\n") !== -1

const formatDouble = (d: number): string => {
  if (d === Infinity) return "inf"
  if (d === -Infinity) return "-inf"
  if (d !== d) return "nan"
  return Object.is(d, -0) ? "-0" : String(d)
}

const encodeInto = (value: RespValue, parts: Array<string | Uint8Array>): void => {
  switch (typeof value) {
    case "string":
      if (hasLineBreak(value)) throw new TypeError("a RESP simple string cannot contain CR or LF")
      parts.push(`+${value}\r\n`)
      return
    case "number":
      parts.push(
        Number.isSafeInteger(value) && !Object.is(value, -0) ? `:${value}\r\n` : `,${formatDouble(value)}\r\n`
      )
      return
    case "bigint":
      parts.push(`(${value}\r\n`)
      return
    case "boolean":
      parts.push(value ? "#t\r\n" : "#f\r\n")
      return
  }
  if (value === null) {
    parts.push("_\r\n")
  } else if (value instanceof Uint8Array) {
    parts.push(`$${value.length}\r\n`, value, "\r\n")
  } else if (value instanceof ErrorReply) {
    if (hasLineBreak(value.message)) {
      // A simple error cannot hold a line break; the bulk form can, and parses back to the same value.
      const bytes = Buffer.from(value.message, "utf8")
      parts.push(`!${bytes.length}\r\n`, bytes, "\r\n")
    } else {
      parts.push(`-${value.message}\r\n`)
    }
  } else if (value instanceof VerbatimString) {
    const format = Buffer.from(value.format, "latin1")
    if (value.format.length !== 3 || format.toString("latin1") !== value.format) {
      throw new TypeError("a RESP verbatim string format is exactly three Latin-1 characters")
    }
    parts.push(`=${value.value.length + 4}\r\n`, format, ":", value.value, "\r\n")
  } else if (value instanceof RespMap) {
    parts.push(`%${value.entries.length}\r\n`)
    for (const [k, v] of value.entries) {
      encodeInto(k, parts)
      encodeInto(v, parts)
    }
  } else if (value instanceof RespSet) {
    parts.push(`~${value.values.length}\r\n`)
    for (const v of value.values) encodeInto(v, parts)
  } else if (value instanceof RespPush) {
    parts.push(`>${value.values.length}\r\n`)
    for (const v of value.values) encodeInto(v, parts)
  } else {
    parts.push(`*${value.length}\r\n`)
    for (const v of value) encodeInto(v, parts)
  }
}

/**
 * Encodes any {@link RespValue} in its RESP3 wire form, for tests and fake servers: a safe integer is `:`, any
 * other number a double `,` (`inf`, `-inf`, `nan`, `-0`), a bigint a big number `(`, and an {@link ErrorReply}
 * whose message holds a line break a bulk error `!`.
 *
 * Throws a `TypeError` for a value that has no wire form: a simple string containing CR or LF, or a
 * {@link VerbatimString} whose format is not three Latin-1 characters.
 */
export const encodeValue = (value: RespValue): Buffer => {
  const parts: Array<string | Uint8Array> = []
  encodeInto(value, parts)
  let size = 0
  for (const part of parts) size += typeof part === "string" ? Buffer.byteLength(part, "utf8") : part.length
  const out = Buffer.allocUnsafe(size)
  let pos = 0
  for (const part of parts) {
    if (typeof part === "string") pos += out.write(part, pos, "utf8")
    else {
      out.set(part, pos)
      pos += part.length
    }
  }
  return out
}

/** The text of a bulk or simple string reply, decoded as UTF-8; any other reply fails the test. */
export const text = (value: RespValue): string => {
  if (value instanceof Uint8Array) return Buffer.from(value).toString("utf8")
  if (typeof value === "string") return value
  throw new Error(`not a string reply: ${String(value)}`)
}
