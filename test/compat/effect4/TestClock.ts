/** The test clock (on Effect 3 it lives in `effect`, on Effect 4 in `effect/testing`). */
export * from "effect/testing/TestClock"

import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"

/** A platform timer of 0 ms: the event loop goes round, replies that arrived meanwhile (a socket's) included. */
const timer: Effect.Effect<void> = Effect.callback<void>((resume) => {
  const handle = setTimeout(() => resume(Effect.void), 0)
  return Effect.sync(() => clearTimeout(handle))
})

/**
 * Lets the fibers that can run go on before the clock moves, as Effect 3's `TestClock.adjust` does: it waits, over
 * platform timers, until its fibers are all suspended (and its fibers resume on microtasks, so every fiber that can
 * run has run by the first timer). Effect 4's gives them one round only, so a fiber forked just before, which may
 * take several rounds to reach its sleep (an L2 read, a fork of its own), would register its timer once the time it
 * waits for had already passed. Each `yieldNow` is one turn of the event loop, in which every other fiber with work
 * queued takes one step (a number of steps, not a length of time, so the same on a loaded machine); the timers
 * between them let a reply from a server arrive, as Effect 3's do.
 */
const settle: Effect.Effect<void> = Effect.repeat(
  Effect.andThen(Effect.repeat(Effect.yieldNow, { times: 50 }), timer),
  { times: 2 }
)

/** `TestClock.adjust`, once the fibers that can run have gone on (as on Effect 3). */
export const adjust = (duration: Duration.Input): Effect.Effect<void> =>
  Effect.andThen(settle, TestClock.adjust(duration))

/** `TestClock.setTime`, once the fibers that can run have gone on (as on Effect 3). */
export const setTime = (timestamp: number): Effect.Effect<void> => Effect.andThen(settle, TestClock.setTime(timestamp))
