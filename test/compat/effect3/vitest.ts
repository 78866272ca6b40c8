/**
 * The test runner the shared suites use, in Effect 4's shape on Effect 3: `it.effect` runs a scoped test on the
 * test clock and `it.live` a scoped test on the live one, as `@effect/vitest` 4 does.
 */
import * as V from "@effect/vitest"

export * from "@effect/vitest"

const methods = Object.assign(Object.create(V.it) as typeof V.it, V.it, {
  effect: V.it.scoped,
  live: V.it.scopedLive
})

/** `it`, with Effect 4's meaning of `effect` and `live`. */
export const it: Omit<typeof V.it, "effect" | "live"> & {
  readonly effect: typeof V.it.scoped
  readonly live: typeof V.it.scopedLive
} = methods
