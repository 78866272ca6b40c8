/**
 * Effect 4's `Semaphore` module on Effect 3, where a semaphore is made by `Effect.makeSemaphore` (the semaphore
 * itself, with `withPermits`, `take` and `release`, is the same).
 *
 * @internal
 */
import * as Effect from "effect/Effect"

/** A semaphore. */
export type Semaphore = Effect.Semaphore

/** Makes a semaphore with `permits` permits. */
export const make: (permits: number) => Effect.Effect<Semaphore> = Effect.makeSemaphore

/** Makes a semaphore outside a fiber. */
export const makeUnsafe: (permits: number) => Semaphore = Effect.unsafeMakeSemaphore
