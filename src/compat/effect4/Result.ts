/**
 * Effect 4's `Result`, plus the two field readers the face shares with Effect 3 (where the type is `Either`).
 *
 * @internal
 */
import type * as Result from "effect/Result"

export * from "effect/Result"

/** The value of a success. */
export const successValue = <A, E>(self: Result.Success<A, E>): A => self.success
/** The error of a failure. */
export const failureValue = <A, E>(self: Result.Failure<A, E>): E => self.failure
