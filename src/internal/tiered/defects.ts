/**
 * The defect a tiered cache raises for a programming error, and the ones its modules raise. `TieredCache`
 * re-exports {@link TieredCacheDefect}.
 *
 * @internal
 */
import * as Data from "#effect/Data"

/**
 * A programming error in the use of a tiered cache, raised as a defect: a computation that calls `getOrCompute`
 * on its own key, `getOrCompute` after the cache's scope has closed, or a typed view's computation returning a
 * value its schema cannot encode (`cause` is then the schema's error: a `SchemaError`, the `ParseError` on Effect 3).
 *
 * @since 0.1.0
 * @category errors
 */
export class TieredCacheDefect extends Data.TaggedError("TieredCacheDefect")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** A computation called `getOrCompute` on its own key. */
export const recursionDefect = (): TieredCacheDefect =>
  new TieredCacheDefect({
    message: "TieredCache.getOrCompute: a computation called getOrCompute on the key it is computing, which " +
      "would wait for itself forever; compute the inner value directly or use another key"
  })

/** A call after the cache's scope closed. */
export const closedDefect = (): TieredCacheDefect =>
  new TieredCacheDefect({ message: "TieredCache.getOrCompute: the cache's scope is closed" })
