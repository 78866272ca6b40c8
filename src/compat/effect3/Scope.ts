export * from "effect/Scope"

// ---------------------------------------------------------------------------------------------------------------
// Entry for the shared test suites.
// ---------------------------------------------------------------------------------------------------------------

/** Effect 4's `Scope.provide(scope)`: runs an effect in `scope` (Effect 3's `Scope.extend`). */
export { extend as provide } from "effect/Scope"
