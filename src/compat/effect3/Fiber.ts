export * from "effect/Fiber"

// ---------------------------------------------------------------------------------------------------------------
// The fiber `Effect.withFiber` hands its callback (neutral name, also in `compat/effect4/Fiber.ts`).
// ---------------------------------------------------------------------------------------------------------------
import type * as FiberV3 from "effect/Fiber"

/**
 * The running fiber, as `Effect.withFiber` hands it to its callback: Effect 3's `RuntimeFiber` (Effect 4's `Fiber`,
 * which reads its own values with `getRef`). Read its values with `References.getUnsafe`.
 */
export type Current = FiberV3.RuntimeFiber<unknown, unknown>
