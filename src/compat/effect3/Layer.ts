/**
 * Effect 4's `Layer` constructors on Effect 3: in Effect 4 `Layer.effect` and `Layer.unwrap` own a scope, which on
 * Effect 3 are `Layer.scoped` and `Layer.unwrapScoped`.
 *
 * @internal
 */
export * from "effect/Layer"
export { scoped as effect, unwrapScoped as unwrap } from "effect/Layer"
