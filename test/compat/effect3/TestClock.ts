/** The test clock (on Effect 3 it lives in `effect`, on Effect 4 in `effect/testing`). */
export * from "effect/TestClock"

import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as TestContext from "effect/TestContext"
import * as TestServices from "effect/TestServices"

/** Effect 4's `TestClock.withLive`: runs the effect on the live clock (Effect 3's `TestServices.provideLive`). */
export const withLive = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  TestServices.provideLive(effect)

/**
 * Effect 4's `TestClock.layer()`: a fresh test clock, for a part of a live test that runs on one (Effect 3's
 * `TestContext.TestContext`, whose test services include it).
 */
export const layer = (): Layer.Layer<TestServices.TestServices> => TestContext.TestContext
