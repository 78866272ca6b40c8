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
