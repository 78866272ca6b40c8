/**
 * Running an effect on a scheduler the test steps by hand: every task the fibers schedule waits until the test
 * drains the queue, so the test knows when no fiber can move (Effect 3's `Scheduler.ControlledScheduler`; Effect 4
 * has none, and gets one built on its `Scheduler` interface).
 */
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
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

/** Tasks by priority (lower first), each priority's in the order they came: as Effect's own schedulers keep them. */
class ControlledScheduler implements Scheduler.Scheduler {
  readonly executionMode = "async" as const
  private readonly yielding = new Scheduler.MixedScheduler()
  buckets: Array<[priority: number, tasks: Array<() => void>]> = []

  shouldYield(fiber: Fiber.Fiber<unknown, unknown>): boolean {
    return this.yielding.shouldYield(fiber)
  }

  makeDispatcher(): Scheduler.SchedulerDispatcher {
    return {
      scheduleTask: (task, priority) => this.schedule(task, priority),
      flush: () => {
        while (this.buckets.length > 0) this.step()
      }
    }
  }

  private schedule(task: () => void, priority: number): void {
    let index = 0
    while (index < this.buckets.length && this.buckets[index]![0] < priority) index++
    const bucket = this.buckets[index]
    if (bucket !== undefined && bucket[0] === priority) bucket[1].push(task)
    else this.buckets.splice(index, 0, [priority, [task]])
  }

  /** Runs the tasks queued now (those they queue wait for the next step). */
  step(): void {
    const buckets = this.buckets
    this.buckets = []
    for (const [, tasks] of buckets) {
      for (const task of tasks) task()
    }
  }
}

/** Starts the effect on a controlled scheduler: it runs at once until its first suspension. */
export const run = <A, E>(effect: Effect.Effect<A, E>): Controlled<A, E> => {
  const scheduler = new ControlledScheduler()
  const fiber = Effect.runFork(effect, { scheduler })
  return {
    drain: (limit = 1_000_000) => {
      for (let i = 0; i < limit && scheduler.buckets.length > 0; i++) scheduler.step()
    },
    poll: () => fiber.pollUnsafe(),
    interrupt: () => fiber.interruptUnsafe()
  }
}
