export * from "effect/Fiber"

// ---------------------------------------------------------------------------------------------------------------
// The fiber `Effect.withFiber` hands its callback, and `inheritAll` (neutral names, also in
// `compat/effect3/Fiber.ts`, where `inheritAll` is Effect 3's own).
// ---------------------------------------------------------------------------------------------------------------
import * as EffectV4 from "effect/Effect"
import type * as FiberV4 from "effect/Fiber"

/**
 * The running fiber, as `Effect.withFiber` hands it to its callback (on Effect 3, a `RuntimeFiber`). Read its values
 * with `References.getUnsafe`.
 */
export type Current = FiberV4.Fiber<unknown, unknown>

/**
 * Effect 3's `Fiber.inheritAll`: the fiber-local values a finished fiber set, merged into the current fiber. Effect 4
 * has no such values: its fiber-local values are `Context.Reference`s, provided for a region and never written back
 * (Effect 4's own `race` and `timeout` inherit nothing from the winner), so there is nothing to merge.
 */
export const inheritAll = <A, E>(_self: FiberV4.Fiber<A, E>): EffectV4.Effect<void> => EffectV4.void
