/**
 * Effect 4's unsafe `Deferred` constructors on Effect 3.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import type * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"

export * from "effect/Deferred"

/** A deferred made outside a fiber. */
export const makeUnsafe = <A, E = never>(): Deferred.Deferred<A, E> => Deferred.unsafeMake<A, E>(FiberId.none)
/** Completes a deferred outside a fiber (Effect 4 also says whether this call completed it; nothing here reads that). */
export const doneUnsafe = <A, E>(self: Deferred.Deferred<A, E>, effect: Effect.Effect<A, E>): void =>
  Deferred.unsafeDone(self, effect)
