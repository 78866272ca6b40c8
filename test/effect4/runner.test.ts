import * as Effect from "#effect/Effect"
import * as TestClock from "#test-effect/TestClock"
import { it } from "#test-effect/vitest"
import { expect } from "vitest"

it.effect("the Effect 4 run resolves the Effect 4 adapters and the test clock", () =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.sleep("1 second"))
    yield* TestClock.adjust("1 second")
    yield* Effect.promise(() => Promise.resolve())
    expect(fiber).toBeDefined()
  }))
