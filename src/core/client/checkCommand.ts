/**
 * Which commands can be sent as given: the check every command passes before anything of it is queued.
 *
 * @internal
 */
import type { InputFields } from "./failure.js"

/** Names of commands that do not get exactly one reply (or that undo the connection's handshake). */
const unsupported = new Set(
  ["SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE", "SSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR", "RESET"]
    .concat(["SYNC", "PSYNC"])
)

/**
 * Which (name length, initial letter) pairs an unsupported name has: a cheap filter that spares almost every
 * command the upper-casing and the lookup (`MGET` and `MSET` share `MONITOR`'s initial, not its length).
 */
const unsupportedShape = new Uint8Array(16 * 32)
for (const name of [...unsupported, "CLIENT"]) unsupportedShape[name.length * 32 + (name.charCodeAt(0) & 31)] = 1

const isUnsupported = (name: string, args: ReadonlyArray<string | Uint8Array>): boolean => {
  if (name.length >= 16 || unsupportedShape[name.length * 32 + (name.charCodeAt(0) & 31)] === 0) return false
  const upper = name.toUpperCase()
  if (upper === "CLIENT") {
    const sub = args[1]
    return sub !== undefined && argumentText(sub).toUpperCase() === "REPLY"
  }
  return unsupported.has(upper)
}

const argumentText = (arg: string | Uint8Array): string =>
  typeof arg === "string" ? arg : Buffer.from(arg.buffer, arg.byteOffset, Math.min(arg.byteLength, 64)).toString()

const describeValue = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : typeof value

/**
 * Why a command cannot be sent, or `undefined` when it can: see `RedisInputError`. Its `describeLimit` words the
 * limit an argument is over (default: `maxArgumentLength`).
 *
 * @internal
 */
export type CheckCommand<I> = (
  args: ReadonlyArray<string | Uint8Array>,
  maxArgumentLength: number,
  describeLimit?: (limit: number) => string
) => I | undefined

/**
 * The command check of a face, whose `input` makes its error for a command that cannot be sent (called only then).
 * The check runs on every command sent, before anything of it is queued; it reads each argument's type and length
 * once, and a command's name only when it is one of the few lengths and initials of an unsupported command. Made
 * once per face: the check itself is one plain function, no call more per command than before.
 *
 * @internal
 */
export const makeCheckCommand = <I>(input: (fields: InputFields) => I): CheckCommand<I> =>
(
  args: ReadonlyArray<string | Uint8Array>,
  maxArgumentLength: number,
  describeLimit: (limit: number) => string = describeConfiguredLimit
): I | undefined => {
  if (!Array.isArray(args)) {
    return input({ message: `a command must be an array, got ${describeValue(args)}`, command: "" })
  }
  const n = args.length
  if (n === 0) {
    return input({ message: "an empty command cannot be sent: Redis would not answer it", command: "" })
  }
  for (let i = 0; i < n; i++) {
    const arg: unknown = args[i]
    let length: number
    if (typeof arg === "string") {
      // A UTF-16 code unit takes 1 to 3 bytes in UTF-8: the exact count only matters near the limit.
      length = arg.length * 3 <= maxArgumentLength ? 0 : Buffer.byteLength(arg)
    } else if (arg instanceof Uint8Array) {
      length = arg.byteLength
    } else {
      return input({
        message: `argument ${i} of ${commandLabel(args)} is ${describeValue(arg)}: only strings and Uint8Arrays ` +
          "can be sent",
        command: commandLabel(args)
      })
    }
    if (length > maxArgumentLength) {
      return input({
        message: `argument ${i} of ${commandLabel(args)} is ${length} bytes, over ` +
          `${describeLimit(maxArgumentLength)}: the server would close the connection`,
        command: commandLabel(args)
      })
    }
  }
  const first = args[0]!
  if (isUnsupported(typeof first === "string" ? first : argumentText(first), args)) {
    const label = commandLabel(args)
    return input({
      message: `${label} is not supported by send or pipeline: ` + (label === "RESET"
        ? "it would undo the connection's handshake (AUTH, SELECT, CLIENT SETNAME) for every command after it"
        : "it does not get exactly one reply, so every later reply would reach the wrong command" +
          (label.includes("SUBSCRIBE") ? " (use subscribe)" : "")),
      command: label
    })
  }
  return undefined
}

const describeConfiguredLimit = (limit: number): string => `maxArgumentLength (${limit})`

/** The command's name for a message: upper-cased, with `CLIENT`'s subcommand, never an argument's value. */
const commandLabel = (args: ReadonlyArray<unknown>): string => {
  const first = args[0]
  const name = typeof first === "string" || first instanceof Uint8Array ? argumentText(first).slice(0, 32) : "?"
  const upper = name.toUpperCase()
  const sub = args[1]
  return upper === "CLIENT" && (typeof sub === "string" || sub instanceof Uint8Array)
    ? `CLIENT ${argumentText(sub).slice(0, 32).toUpperCase()}`
    : upper
}
