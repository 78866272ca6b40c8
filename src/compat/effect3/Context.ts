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
// Effect 4's `Context.Reference` (a key with a default value, the fiber-local value of Effect 4).
// ---------------------------------------------------------------------------------------------------------------
import * as ContextV3 from "effect/Context"

/**
 * A key with a default value (Effect 4's `Context.Reference<Shape>`): on Effect 3, a `Context.Reference` whose
 * identifier is `never`, so that providing or reading it needs nothing in context. Provide a value for a region with
 * `Effect.provideService(effect, reference, value)`; read it with `yield* reference`, or from the running fiber with
 * `References.getUnsafe`.
 */
export type Reference<Shape> = ContextV3.Reference<never, Shape>

/**
 * `Context.Reference<Shape>(key, { defaultValue })`, in Effect 4's shape: on Effect 3,
 * `Context.Reference<never>()(key, { defaultValue })`. Two references made with the same key are the same key.
 */
export const Reference = <Shape>(
  key: string,
  options: { readonly defaultValue: () => Shape }
): Reference<Shape> => ContextV3.Reference<never>()(key, options)
