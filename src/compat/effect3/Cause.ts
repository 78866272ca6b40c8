/**
 * Effect 4's `Cause` names on Effect 3.
 *
 * @internal
 */
import * as Cause from "effect/Cause"

export * from "effect/Cause"
export {
  failureOption as findErrorOption,
  IllegalArgumentException as IllegalArgumentError,
  isIllegalArgumentException as isIllegalArgumentError,
  isInterruptedOnly as hasInterruptsOnly
} from "effect/Cause"

/** Whether the cause holds a defect. */
export const hasDies = <E>(self: Cause.Cause<E>): boolean => Cause.isDie(self)
/** Whether the cause holds a typed failure. */
export const hasFails = <E>(self: Cause.Cause<E>): boolean => Cause.isFailure(self)

// ---------------------------------------------------------------------------------------------------------------
// Entries for the shared test suites.
// ---------------------------------------------------------------------------------------------------------------
import * as Either from "effect/Either"
import * as Option from "effect/Option"

/** Effect 4's `findDefect`: the first defect of the cause, or the cause itself when it holds none. */
export const findDefect = <E>(self: Cause.Cause<E>): Either.Either<unknown, Cause.Cause<E>> =>
  Option.match(Cause.dieOption(self), {
    onNone: () => Either.left(self),
    onSome: (defect) => Either.right(defect)
  })
