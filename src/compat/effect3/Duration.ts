/**
 * Effect 4's `Duration.Input` and `Duration.fromInput` on Effect 3.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

export * from "effect/Duration"

/** What a duration may be written as (Effect 3's `DurationInput`). */
export type Input = Duration.DurationInput

/**
 * Reads an input as a duration, `None` when it is not one (Effect 4's `fromInput`; Effect 3's `decode` throws).
 * Effect 3 reads a negative or `NaN` number as zero where Effect 4 keeps the sign.
 */
export const fromInput = (input: Input): Option.Option<Duration.Duration> => {
  try {
    return Option.some(Duration.decode(input))
  } catch {
    return Option.none()
  }
}
