export * from "effect/Fiber"

// ---------------------------------------------------------------------------------------------------------------
// The fiber running now, and whether a fiber can be interrupted at once (the two-tier cache: its synchronous
// bookkeeping reads the caller's clock, and a refresh past its hard timeout is cut only when that is possible).
// ---------------------------------------------------------------------------------------------------------------

import * as EffectV3 from "effect/Effect"
import * as FiberV3 from "effect/Fiber"
import * as OptionV3 from "effect/Option"
import * as RuntimeFlagsV3 from "effect/RuntimeFlags"

/** Effect 4's `Fiber.getCurrent`: the fiber running now, `undefined` outside any fiber (Effect 3: an `Option`). */
export const getCurrent = (): FiberV3.Fiber<any, any> | undefined => OptionV3.getOrUndefined(FiberV3.getCurrentFiber())

/**
 * Whether `fiber` is still running in an interruptible region, so that interrupting it takes effect at once (one in
 * an uninterruptible region is interrupted only when the region ends). Effect 3 reads it from the fiber's status;
 * `fiber` is a running fiber (as `Effect.forkChild` gives).
 */
export const isInterruptibleNow = (fiber: FiberV3.Fiber<unknown, unknown>): EffectV3.Effect<boolean> =>
  EffectV3.map(
    FiberV3.status(fiber as FiberV3.RuntimeFiber<unknown, unknown>),
    (status) => status._tag !== "Done" && RuntimeFlagsV3.interruptible(status.runtimeFlags)
  )

// ---------------------------------------------------------------------------------------------------------------
// The fiber `Effect.withFiber` hands its callback (neutral name, also in `compat/effect4/Fiber.ts`).
// ---------------------------------------------------------------------------------------------------------------

/**
 * The running fiber, as `Effect.withFiber` hands it to its callback: Effect 3's `RuntimeFiber` (Effect 4's `Fiber`,
 * which reads its own values with `getRef`). Read its values with `References.getUnsafe`.
 */
export type Current = FiberV3.RuntimeFiber<unknown, unknown>
