/**
 * The test runner the shared suites use, in Effect 4's shape on Effect 3: `it.effect` runs a scoped test on the
 * test clock and `it.live` a scoped test on the live one, as `@effect/vitest` 4 does.
 */
import * as V from "@effect/vitest"
import type { DurationInput } from "effect/Duration"
import type * as Layer from "effect/Layer"

export * from "@effect/vitest"

// Callable as `it(name, fn)` is, and reading what it does not replace (`skip`, `skipIf`, `each`, ...) from `it`.
const call = function(this: unknown, ...args: Array<unknown>) {
  return (V.it as (...args: Array<unknown>) => unknown).apply(this, args)
}
const methods = Object.assign(Object.setPrototypeOf(call, V.it) as typeof V.it, V.it, {
  effect: V.it.scoped,
  live: V.it.scopedLive
})

/** A plain test: `it(name, fn, timeout)`. */
type Declare = (name: string, fn?: V.TestFunction, options?: number | V.TestOptions) => void

/** `it`, with Effect 4's meaning of `effect` and `live`. */
export const it: Declare & Omit<typeof V.it, "effect" | "live"> & {
  readonly effect: typeof V.it.scoped
  readonly live: typeof V.it.scopedLive
} = methods

// ---------------------------------------------------------------------------------------------------------------
// `layer`, for the suites that share a layer between tests (the backend contract, the Redis suites).
// ---------------------------------------------------------------------------------------------------------------

/**
 * The `it` a `layer` block hands its tests, in Effect 4's shape: `effect` is a scoped test with the layer's
 * services (on the test clock, or on the live one with `excludeTestServices`), and a nested `layer` hands on the
 * same shape. Effect 3's own `effect` (unscoped) and `scoped` are not offered, as Effect 4 has neither.
 */
export interface LayerMethods<R, ExcludeTestServices extends boolean = false>
  extends Omit<V.Vitest.MethodsNonLive<R, ExcludeTestServices>, "effect" | "scoped" | "layer">
{
  readonly effect: V.Vitest.MethodsNonLive<R, ExcludeTestServices>["scoped"]
  readonly layer: <R2, E>(layer: Layer.Layer<R2, E, R>, options?: {
    readonly timeout?: DurationInput
  }) => {
    (f: (it: LayerMethods<R | R2, ExcludeTestServices>) => void): void
    (name: string, f: (it: LayerMethods<R | R2, ExcludeTestServices>) => void): void
  }
}

type Block<R, X extends boolean> = {
  (f: (it: LayerMethods<R, X>) => void): void
  (name: string, f: (it: LayerMethods<R, X>) => void): void
}

const wrapBlock = <R, X extends boolean>(
  block: {
    (f: (it: V.Vitest.MethodsNonLive<R, X>) => void): void
    (name: string, f: (it: V.Vitest.MethodsNonLive<R, X>) => void): void
  }
): Block<R, X> =>
  ((...args: [f: (it: LayerMethods<R, X>) => void] | [name: string, f: (it: LayerMethods<R, X>) => void]) => {
    if (args.length === 1) return block((it) => args[0](layerMethods(it)))
    const [name, f] = args
    return block(name, (it) => f(layerMethods(it)))
  }) as Block<R, X>

// Effect 3's `layer` hands its tests `@effect/vitest`'s own `it` after assigning the block's testers to it, so the
// block's methods are read here, when the block runs, and kept in an object of the block's own.
const layerMethods = <R, X extends boolean>(it: V.Vitest.MethodsNonLive<R, X>): LayerMethods<R, X> =>
  Object.assign(Object.create(it) as V.Vitest.MethodsNonLive<R, X>, it, {
    effect: it.scoped,
    layer: <R2, E>(nested: Layer.Layer<R2, E, R>, options?: { readonly timeout?: DurationInput }) =>
      wrapBlock(it.layer(nested, options))
  }) as unknown as LayerMethods<R, X>

/**
 * Shares a layer between the tests of a block, as `@effect/vitest` 4's `layer` does: the block's `it.effect` runs a
 * scoped test with the layer's services.
 */
export const layer = <R, E, const ExcludeTestServices extends boolean = false>(
  layer_: Layer.Layer<R, E>,
  options?: {
    readonly memoMap?: Layer.MemoMap
    readonly timeout?: DurationInput
    readonly excludeTestServices?: ExcludeTestServices
  }
): Block<R, ExcludeTestServices> => wrapBlock(V.layer(layer_, options))
