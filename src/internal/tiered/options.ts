/**
 * The freshness options of `TieredCache` (grace, backoff, timeouts, early refresh), checked and in milliseconds:
 * Effect's durations decoded here, the rules in `core/tiered/options`.
 *
 * @internal
 */
import * as Cause from "#effect/Cause"
import type * as Duration from "#effect/Duration"
import * as Result from "#effect/Result"
import { type CheckedFreshness, checkFreshnessWith, isInvalidFreshness } from "../../core/tiered/options.js"
import { durationMillis } from "../duration.js"

export type { CheckedFreshness } from "../../core/tiered/options.js"

/**
 * Milliseconds of a duration option: `Infinity` for an infinite one; `NaN` and negative ones are refused.
 *
 * @internal
 */
export const millisOf = (
  input: Duration.Input,
  name: string
): Result.Result<number, Cause.IllegalArgumentError> => {
  const checked = durationMillis(input, name, { allowZero: true })
  return checked._tag === "Invalid"
    ? Result.fail(new Cause.IllegalArgumentError(checked.message))
    : Result.succeed(checked.millis)
}

const durationOption = (input: Duration.Input, name: string) => durationMillis(input, name, { allowZero: true })

/**
 * The freshness options in milliseconds, or why they are invalid (a programming error).
 *
 * @internal
 */
export const checkFreshness = (
  given: {
    readonly grace?: Duration.Input | undefined
    readonly graceBackoff?: Duration.Input | undefined
    readonly timeout?: Duration.Input | undefined
    readonly hardTimeout?: Duration.Input | undefined
    readonly earlyRefresh?: number | undefined
  },
  label: string
): Result.Result<CheckedFreshness, Cause.IllegalArgumentError> => {
  const checked = checkFreshnessWith(given, label, durationOption)
  return isInvalidFreshness(checked)
    ? Result.fail(new Cause.IllegalArgumentError(checked.message))
    : Result.succeed(checked)
}
