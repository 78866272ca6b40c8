/**
 * Duration options, decoded from Effect's `DurationInput` and checked by the core's rules (`core/options/millis`):
 * the one way every module reads a duration option.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { type CheckedMillis, checkMillis, type MillisRule } from "../core/options/millis.js"

export type { CheckedMillis, MillisRule } from "../core/options/millis.js"

/**
 * The milliseconds `input` stands for, before any rule: `NaN` for a NaN (which `Duration.decode` reads as 0), a
 * negative number for a negative duration (which it clamps to 0), `undefined` when it is no duration at all.
 *
 * @internal
 */
export const rawMillis = (input: unknown): number | undefined => {
  switch (typeof input) {
    case "number":
      return input
    case "bigint":
      return Number(input) / 1e6
    case "string": {
      const text = input.trim()
      if (text.startsWith("-")) {
        const millis = rawMillis(text.slice(1))
        return millis === undefined ? undefined : -millis
      }
      break
    }
    case "object":
      if (Array.isArray(input)) {
        const [seconds, nanos] = input as ReadonlyArray<unknown>
        return input.length === 2 && typeof seconds === "number" && typeof nanos === "number"
          ? seconds * 1000 + nanos / 1e6
          : undefined
      }
  }
  const decoded = Duration.decodeUnknown(input)
  return Option.isSome(decoded) ? Duration.toMillis(decoded.value) : undefined
}

/**
 * The option `name`'s milliseconds checked against `rule`, or a message saying what is wrong with it.
 *
 * @internal
 */
export const durationMillis = (input: unknown, name: string, rule?: MillisRule): CheckedMillis => {
  const millis = rawMillis(input)
  return millis === undefined
    ? { _tag: "Invalid", message: `${name} is not a duration` }
    : checkMillis(millis, name, rule)
}
