export * from "effect/Fiber"

// ---------------------------------------------------------------------------------------------------------------
// Whether a fiber can be interrupted at once (the two-tier cache: a refresh past its hard timeout is cut only when
// that is possible). Same name in both compat folders.
// ---------------------------------------------------------------------------------------------------------------

import * as EffectV4 from "effect/Effect"
import type * as FiberV4 from "effect/Fiber"

/**
 * Whether `fiber` is still running in an interruptible region, so that interrupting it takes effect at once (one in
 * an uninterruptible region is interrupted only when the region ends, and its result is then thrown away). Effect 4
 * keeps the flag on its fiber implementation (`interruptible`), outside the `Fiber` interface: a fiber without it
 * counts as interruptible.
 */
export const isInterruptibleNow = (fiber: FiberV4.Fiber<unknown, unknown>): EffectV4.Effect<boolean> =>
  EffectV4.sync(() =>
    fiber.pollUnsafe() === undefined && (fiber as { readonly interruptible?: boolean }).interruptible !== false
  )
// ---------------------------------------------------------------------------------------------------------------
// The fiber `Effect.withFiber` hands its callback, and `inheritAll` (neutral names, also in
// `compat/effect3/Fiber.ts`, where `inheritAll` is Effect 3's own).
// ---------------------------------------------------------------------------------------------------------------

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
