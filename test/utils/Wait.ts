/**
 * Waiting on the platform's timers, for tests that run under the `TestClock` (whose `Effect.sleep` only moves when
 * the test adjusts it) and must still wait for something outside the fiber: a server, a socket, a log line.
 */
import * as Effect from "#effect/Effect"

/** Sleeps `millis` of real time. */
export const realSleep = (millis: number): Effect.Effect<void> =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** Polls `check` every 5 ms of real time until it holds; dies naming `what` after 20 s. */
export const waitUntil = (check: () => boolean, what: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + 20_000
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`not seen within 20 s: ${what}`))
      yield* realSleep(5)
    }
  })
