/**
 * Exits compared whole: Effect 4 annotates each reason of a failure's cause (a stack frame, a span), which a
 * comparison with `Exit.fail(e)` would trip on; Effect 3 does not. `plain(exit)` is the exit without them.
 */
import type * as Exit from "effect/Exit"

/** The exit as it is (Effect 3 attaches no annotations to a cause). */
export const plain = <A, E>(exit: Exit.Exit<A, E>): Exit.Exit<A, E> => exit
