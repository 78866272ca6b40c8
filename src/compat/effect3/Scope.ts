export * from "effect/Scope"

// ---------------------------------------------------------------------------------------------------------------
// Entry for the cluster face (a node's client lives in a scope of its own, forked from the cluster client's).
// ---------------------------------------------------------------------------------------------------------------
import type * as Effect3 from "effect/Effect"
import * as ExecutionStrategy3 from "effect/ExecutionStrategy"
import * as Scope3 from "effect/Scope"

/**
 * Effect 4's `Scope.fork(scope, finalizerStrategy?)`: a child scope closed when `scope` closes, its finalizers run
 * one after another unless `"parallel"` is given. Effect 3's `Scope.fork` takes an `ExecutionStrategy` instead.
 */
export const fork = (
  scope: Scope3.Scope,
  finalizerStrategy?: "sequential" | "parallel"
): Effect3.Effect<Scope3.CloseableScope> =>
  Scope3.fork(scope, finalizerStrategy === "parallel" ? ExecutionStrategy3.parallel : ExecutionStrategy3.sequential)
// Entry for the shared test suites.
// ---------------------------------------------------------------------------------------------------------------

/** Effect 4's `Scope.provide(scope)`: runs an effect in `scope` (Effect 3's `Scope.extend`). */
export { extend as provide } from "effect/Scope"

// ---------------------------------------------------------------------------------------------------------------
// Entry for the client face (a following subscription listens on a node in a scope it closes when it moves).
// ---------------------------------------------------------------------------------------------------------------
import type { CloseableScope as CloseableScope3 } from "effect/Scope"

/** Effect 4's `Scope.Closeable` (a scope its owner closes): Effect 3's `Scope.CloseableScope`. */
export type Closeable = CloseableScope3
