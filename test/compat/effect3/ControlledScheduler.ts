/**
 * Running an effect on a scheduler the test steps by hand: every task the fibers schedule waits until the test
 * drains the queue, so the test knows when no fiber can move (Effect 3's `Scheduler.ControlledScheduler`; Effect 4
 * has none, and gets one built on its `Scheduler` interface).
 */
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Scheduler from "effect/Scheduler"

/** A fiber on a controlled scheduler. */
export interface Controlled<A, E> {
  /** Runs every queued task, and those they queue, up to `limit` rounds. */
  readonly drain: (limit?: number) => void
  /** The fiber's exit, once it has ended. */
  readonly poll: () => Exit.Exit<A, E> | undefined
  /** Asks the fiber to stop; its interruption runs as the queue is drained. */
  readonly interrupt: () => void
}

/** Starts the effect on a controlled scheduler: it runs at once until its first suspension. */
export const run = <A, E>(effect: Effect.Effect<A, E>): Controlled<A, E> => {
  const scheduler = new Scheduler.ControlledScheduler()
  const fiber = Effect.runFork(effect, { scheduler, immediate: true })
  return {
    drain: (limit = 1_000_000) => {
      for (let i = 0; i < limit && scheduler.tasks.buckets.length > 0; i++) scheduler.step()
    },
    poll: () => fiber.unsafePoll() ?? undefined,
    interrupt: () => fiber.unsafeInterruptAsFork(fiber.id())
  }
}
