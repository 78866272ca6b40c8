/**
 * Effect 4's `Context.Service` on Effect 3, where a service key is a `Context.Tag`.
 *
 * @internal
 */
import * as Context from "effect/Context"

export * from "effect/Context"

/** `Context.Service<Self, Shape>()(key)`: on Effect 3, the class of `Context.Tag(key)<Self, Shape>()`. */
export const Service = <Self, Shape>() => <const Key extends string>(key: Key): Context.TagClass<Self, Key, Shape> =>
  Context.Tag(key)<Self, Shape>()

// ---------------------------------------------------------------------------------------------------------------
// Effect 4's `Context.Reference`, the fiber-local value that replaces `FiberRef` (the two-tier cache marks the
// computations a fiber runs with one). Effect 3 has references too (since 3.11), made as classes:
// `Context.Reference<Self>()(key, options)`. Read with `yield* ref` (its default when none is provided), set for
// one effect with `Effect.provideService(effect, ref, value)`, inherited by forked fibers, on both majors.
// ---------------------------------------------------------------------------------------------------------------

/** Effect 4's `Context.Reference<Shape>`: a key whose value defaults to `defaultValue()` (Effect 3: no identifier). */
export interface Reference<Shape> extends Context.Reference<never, Shape> {}

/** Effect 4's `Context.Reference(key, { defaultValue })`. */
export const Reference = <Shape>(key: string, options: { readonly defaultValue: () => Shape }): Reference<Shape> =>
  Context.Reference<never>()(key, options)
