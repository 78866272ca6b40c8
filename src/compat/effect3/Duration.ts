/**
 * Effect 4's `Duration.Input` and `Duration.fromInput` on Effect 3.
 *
 * @internal
 */
import * as Duration from "effect/Duration"

export * from "effect/Duration"

/** What a duration may be written as (Effect 3's `DurationInput`). */
export type Input = Duration.DurationInput

/** Reads an input as a duration, or `undefined` when it is not one (Effect 4's `fromInput`). */
export const fromInput = (input: Input): Duration.Duration | undefined => {
  try {
    return Duration.decode(input)
  } catch {
    return undefined
  }
}
