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
