export * from "effect/Queue"

// ---------------------------------------------------------------------------------------------------------------
// Entries for the client face (a following subscription's events): Effect 4's names and meanings on Effect 3.
// ---------------------------------------------------------------------------------------------------------------
import type * as Arr3 from "effect/Array"
import * as Effect3 from "effect/Effect"
import * as Queue3 from "effect/Queue"

export {
  /** Effect 4's `Queue.offerUnsafe`: offers an item from outside a fiber. Effect 3's `Queue.unsafeOffer`. */
  unsafeOffer as offerUnsafe
} from "effect/Queue"

/**
 * Effect 4's `Queue.takeAll`: waits for an item, then takes it with every other item already there. Effect 3's own
 * `takeAll` does not wait (it may return an empty `Chunk`): here it follows a `take`.
 */
export const takeAll = <A>(self: Queue3.Dequeue<A>): Effect3.Effect<Arr3.NonEmptyArray<A>> =>
  Effect3.flatMap(Queue3.take(self), (first) => Effect3.map(Queue3.takeAll(self), (rest) => [first, ...rest]))
