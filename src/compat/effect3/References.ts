/**
 * Effect 4's `References` on Effect 3, for what the face reads, and `getUnsafe`, the neutral form of Effect 4's
 * `fiber.getRef(ref)`: a fiber-local value read straight from the fiber that `Effect.withFiber` hands its callback,
 * with no effect of its own.
 *
 * On Effect 3 a fiber keeps its values in three places, which `getUnsafe` reads as Effect 3 itself does: a
 * `FiberRef` (`References.TracerEnabled` is `FiberRef.currentTracerEnabled`), a `Context.Reference` (in the fiber's
 * context, else its default) or one of the default services (`Clock.Clock`, `Tracer.Tracer`, ...).
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"

/** Whether spans are made (Effect 4's `References.TracerEnabled`): Effect 3's `FiberRef.currentTracerEnabled`. */
export const TracerEnabled: FiberRef.FiberRef<boolean> = FiberRef.currentTracerEnabled

/**
 * What `getUnsafe` reads: Effect 4's `Context.Reference<A>`. On Effect 3, a `FiberRef`, a `Context.Reference`, or the
 * tag of a default service (`Clock.Clock`, `Tracer.Tracer`).
 */
export type Readable<A> = FiberRef.FiberRef<A> | Context.Reference<never, A> | Context.Tag<any, A>

/**
 * The value of `ref` on `fiber` (Effect 4's `fiber.getRef(ref)`): `fiber.getFiberRef(ref)` for a `FiberRef`, its
 * default services for their tags (`Clock.Clock`, `Tracer.Tracer`), else its context (or the reference's default).
 * Told apart by the key, which every tag has and no `FiberRef` has: the reads that run on every cache operation
 * (the clock, the tracer) cost two lookups in a map, no more than reading them from the fiber directly.
 */
export const getUnsafe = <A>(fiber: Fiber.RuntimeFiber<unknown, unknown>, ref: Readable<A>): A => {
  const key = (ref as { readonly key?: unknown }).key
  if (typeof key !== "string") return fiber.getFiberRef(ref as FiberRef.FiberRef<A>)
  const services = fiber.currentDefaultServices.unsafeMap
  return services.has(key)
    ? services.get(key) as A
    : Context.get(fiber.currentContext, ref as Context.Reference<never, A>)
}
