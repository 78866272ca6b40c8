/**
 * Effect 4's `References`, plus `getUnsafe`, the neutral form of `fiber.getRef(ref)` that the face shares with
 * Effect 3 (see `compat/effect3/References.ts`).
 *
 * @internal
 */
import type * as Context from "effect/Context"
import type * as Fiber from "effect/Fiber"

export * from "effect/References"

/** What `getUnsafe` reads: a `Context.Reference` (`Clock.Clock`, `Tracer.Tracer`, `References.*`, our own). */
export type Readable<A> = Context.Reference<A>

/** The value of `ref` on `fiber`, the fiber `Effect.withFiber` hands its callback: `fiber.getRef(ref)`. */
export const getUnsafe = <A>(fiber: Fiber.Fiber<unknown, unknown>, ref: Readable<A>): A => fiber.getRef(ref)
