/**
 * How a typed view of a tiered cache sees stored values (see `TieredCache.forSchema`), in a module of its own so
 * that the seams list can name it without importing the cache's state.
 *
 * @internal
 */
import type * as Effect from "#effect/Effect"
import type * as TypedView from "../schemaView.js"

/**
 * How a typed view sees stored values: `decode` accepts a stored value (or not: a miss, counted and logged with
 * the operation and the key), `encode` turns a computed value into its stored form and dies on failure.
 *
 * @internal
 */
export interface View<A, R> {
  readonly decode: TypedView.DecodeOrMiss<A, R>
  readonly encode: (value: A) => Effect.Effect<unknown, never, R>
}
