/**
 * The freshness options of `TieredCache` (grace, backoff, timeouts, early refresh), checked and in milliseconds:
 * Effect's durations decoded here, the rules in `core/tiered/options`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { type CheckedFreshness, checkFreshnessWith, isInvalidFreshness } from "../../core/tiered/options.js"
import { durationMillis } from "../duration.js"

export type { CheckedFreshness } from "../../core/tiered/options.js"

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

const durationOption = (input: Duration.DurationInput, name: string) => durationMillis(input, name, { allowZero: true })

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
  const checked = checkFreshnessWith(given, label, durationOption)
  return isInvalidFreshness(checked)
    ? Either.left(new Cause.IllegalArgumentException(checked.message))
    : Either.right(checked)
}
