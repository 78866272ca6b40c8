/**
 * Duration options, decoded from Effect's `Duration.Input` and checked by the core's rules (`core/options/millis`):
 * the one way every module reads a duration option.
 *
 * @internal
 */
import * as Duration from "#effect/Duration"
import * as Option from "#effect/Option"
import { type CheckedMillis, checkMillis, type MillisRule } from "../core/options/millis.js"

export type { CheckedMillis, MillisRule } from "../core/options/millis.js"

/**
 * The milliseconds `input` stands for, before any rule: `NaN` for a NaN (which Effect 3's `Duration` reads as 0), a
 * negative number for a negative duration (which Effect 3 clamps to 0), `undefined` when it is no duration at all.
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
  const decoded = Duration.fromInput(input as Duration.Input)
  if (Option.isNone(decoded)) return undefined
  // Effect 4 also reads an object of units (`{ seconds: 5 }`), where a NaN, a negative or a misspelt unit becomes 0:
  // once the major has taken it for a duration, its fields are read here (Effect 3 takes no such object).
  return typeof input === "object" && input !== null && !Duration.isDuration(input)
    ? objectMillis(input)
    : Duration.toMillis(decoded.value)
}

/** Milliseconds per unit of a duration written as an object of units. */
const unitMillis: ReadonlyMap<string, number> = new Map([
  ["weeks", 604_800_000],
  ["days", 86_400_000],
  ["hours", 3_600_000],
  ["minutes", 60_000],
  ["seconds", 1_000],
  ["milliseconds", 1],
  ["microseconds", 1e-3],
  ["nanoseconds", 1e-6]
])

/** The milliseconds of an object of units, `undefined` when it names no unit or something that is not one. */
const objectMillis = (input: object): number | undefined => {
  let millis: number | undefined
  for (const [unit, value] of Object.entries(input)) {
    if (value === undefined) continue
    const factor = unitMillis.get(unit)
    if (factor === undefined || typeof value !== "number") return undefined
    millis = (millis ?? 0) + value * factor
  }
  return millis
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
