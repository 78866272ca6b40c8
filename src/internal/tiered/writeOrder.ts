/**
 * The order of one `TieredCache` instance's L2 writes of each key.
 *
 * @internal
 */
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"

/**
 * Orders this instance's L2 writes of one key: each waits for the previous one to be answered, so that a write
 * issued after another returned (a `set` after a background refresh started writing) lands after it, whatever
 * the latencies of the two requests.
 *
 * @internal
 */
export class WriteOrder {
  /** The last L2 write of each key made by this instance and not yet answered. */
  private readonly writing = new Map<string, Deferred.Deferred<void>>()

  /**
   * `write`, once every earlier write of one of `keys` made here has been answered. Registered in an
   * uninterruptible region and released from the write's own handler however it ends (interruption included),
   * so a write interrupted anywhere never leaves later writes of its keys waiting.
   */
  chained<A>(keys: ReadonlyArray<string>, write: Effect.Effect<A>): Effect.Effect<A> {
    return Effect.uninterruptibleMask((restore) => {
      const previous: Array<Deferred.Deferred<void>> = []
      const done = Deferred.makeUnsafe<void>()
      for (const key of keys) {
        const last = this.writing.get(key)
        if (last !== undefined) previous.push(last)
        this.writing.set(key, done)
      }
      const release = (): void => {
        for (const key of keys) {
          if (this.writing.get(key) === done) this.writing.delete(key)
        }
        Deferred.doneUnsafe(done, Exit.void)
      }
      const run = previous.length === 0
        ? write
        : Effect.andThen(Effect.forEach(previous, Deferred.await, { discard: true }), write)
      return Effect.matchCauseEffect(restore(run), {
        onFailure: (cause) => {
          release()
          return Effect.failCause(cause)
        },
        onSuccess: (value) => {
          release()
          return Effect.succeed(value)
        }
      })
    })
  }

  /** Waits for every L2 write of this instance in flight (a `clear` must land after them). */
  readonly afterAll: Effect.Effect<void> = Effect.suspend(() =>
    Effect.forEach(Array.from(new Set(this.writing.values())), Deferred.await, { discard: true })
  )
}
