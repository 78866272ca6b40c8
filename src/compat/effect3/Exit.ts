export * from "effect/Exit"

// ---------------------------------------------------------------------------------------------------------------
// Entries for the two-tier test suites: Effect 4's names on Effect 3.
// ---------------------------------------------------------------------------------------------------------------
import * as Exit3 from "effect/Exit"

/** Effect 4's `Exit.hasInterrupts`: a failure whose cause holds an interruption (Effect 3's `Exit.isInterrupted`). */
export const hasInterrupts = <A, E>(self: Exit3.Exit<A, E>): self is Exit3.Failure<A, E> => Exit3.isInterrupted(self)
