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
