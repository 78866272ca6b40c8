/**
 * The base of the library's error classes: a `Data.TaggedError` whose prototype carries its module's type id, as
 * Effect's own `TypeIdError` does, so that each class declares only its fields and what it adds.
 *
 * @internal
 */
import type * as Cause from "#effect/Cause"
import * as Data from "#effect/Data"
import type * as Types from "#effect/Types"

/**
 * A tagged error class marked with `typeId` (found by `Predicate.hasProperty(u, typeId)`).
 *
 * @internal
 */
export const TypeIdError = <const TypeId extends symbol, const Tag extends string>(
  typeId: TypeId,
  tag: Tag
): new<A extends Record<string, any> = {}>(
  args: Types.Equals<A, {}> extends true ? void : { readonly [P in keyof A as P extends "_tag" ? never : P]: A[P] }
) => Cause.YieldableError & { readonly _tag: Tag } & Readonly<Record<TypeId, TypeId>> & Readonly<A> => {
  // A class of its own per call: marking its prototype marks no other error.
  const Base = Data.TaggedError(tag)
  Object.defineProperty(Base.prototype, typeId, { value: typeId })
  return Base as any
}
