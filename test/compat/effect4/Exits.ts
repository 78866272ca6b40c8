/**
 * Exits compared whole: Effect 4 annotates each reason of a failure's cause (a stack frame, a span), which a
 * comparison with `Exit.fail(e)` would trip on; Effect 3 does not. `plain(exit)` is the exit without them.
 */
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"

const plainReason = <E>(reason: Cause.Reason<E>): Cause.Reason<E> =>
  Cause.isFailReason(reason)
    ? Cause.makeFailReason(reason.error)
    : Cause.isDieReason(reason)
    ? Cause.makeDieReason(reason.defect)
    : Cause.makeInterruptReason(reason.fiberId)

/** The exit with the same reasons, in the same order, without their annotations. */
export const plain = <A, E>(exit: Exit.Exit<A, E>): Exit.Exit<A, E> =>
  Exit.isSuccess(exit) ? exit : Exit.failCause(Cause.fromReasons(exit.cause.reasons.map(plainReason)))
