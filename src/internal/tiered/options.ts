/**
 * The freshness options of `TieredCache` (grace, backoff, timeouts, early refresh), checked and in milliseconds.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { durationMillis } from "../duration.js"

/**
 * Milliseconds of a duration option: `Infinity` for an infinite one; `NaN` and negative ones are refused.
 *
 * @internal
 */
export const millisOf = (
  input: Duration.DurationInput,
  name: string
): Either.Either<number, Cause.IllegalArgumentException> => {
  const checked = durationMillis(input, name, { allowZero: true })
  return checked._tag === "Invalid"
    ? Either.left(new Cause.IllegalArgumentException(checked.message))
    : Either.right(checked.millis)
}

/**
 * The freshness options in milliseconds (`Infinity` for an infinite duration).
 *
 * @internal
 */
export interface CheckedFreshness {
  readonly grace?: number | undefined
  readonly graceBackoff?: number | undefined
  readonly timeout?: number | undefined
  readonly hardTimeout?: number | undefined
  readonly earlyRefresh?: number | undefined
}

/**
 * The freshness options in milliseconds, or why they are invalid (a programming error).
 *
 * @internal
 */
export const checkFreshness = (
  given: {
    readonly grace?: Duration.DurationInput | undefined
    readonly graceBackoff?: Duration.DurationInput | undefined
    readonly timeout?: Duration.DurationInput | undefined
    readonly hardTimeout?: Duration.DurationInput | undefined
    readonly earlyRefresh?: number | undefined
  },
  label: string
): Either.Either<CheckedFreshness, Cause.IllegalArgumentException> => {
  const result: Record<string, number | undefined> = {}
  for (const name of ["grace", "graceBackoff", "timeout", "hardTimeout"] as const) {
    const input = given[name]
    if (input === undefined) continue
    const millis = millisOf(input, `${label} ${name}`)
    if (Either.isLeft(millis)) return Either.left(millis.left)
    result[name] = millis.right
  }
  if (result["hardTimeout"] === 0) {
    return Either.left(new Cause.IllegalArgumentException(`${label} hardTimeout must be a positive duration`))
  }
  const early = given.earlyRefresh
  if (early !== undefined) {
    if (!(early > 0 && early < 1)) {
      return Either.left(
        new Cause.IllegalArgumentException(`${label} earlyRefresh must be a fraction between 0 and 1, got ${early}`)
      )
    }
    result["earlyRefresh"] = early
  }
  return Either.right(result)
}
