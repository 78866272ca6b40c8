/**
 * What every backend decides the same way: the default prefix, the serializer it uses, and how it reads the
 * entries of a `setMany`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Serializer from "../Serializer.js"

/**
 * The key prefix of a backend given none.
 *
 * @internal
 */
export const defaultPrefix = "ac:"

/**
 * The serializer a backend uses: the one in its options, else the `Serializer` service when one is provided, else
 * `Serializer.v8`.
 *
 * @internal
 */
export const resolveSerializer = (
  given: Serializer.SerializerShape | undefined
): Effect.Effect<Serializer.SerializerShape> =>
  given !== undefined
    ? Effect.succeed(given)
    : Effect.map(Effect.serviceOption(Serializer.Serializer), Option.getOrElse(() => Serializer.v8))

/**
 * The entries of a batch write as an array, read once, at call time: a retried effect must write the same
 * entries even when they came from a one-shot iterator, or from an array the caller changes afterwards.
 *
 * @internal
 */
export const entriesOf = <A>(
  entries: Iterable<readonly [key: string, value: A]>
): ReadonlyArray<readonly [key: string, value: A]> => Array.from(entries, ([key, value]) => [key, value] as const)

/**
 * The most keys a backend reads in one batch when none is given.
 *
 * @internal
 */
export const defaultMaxBatchSize = 1_000

/**
 * The bound on a batched read's keys, from the option as given: the default when there is none (or it is `NaN`),
 * an integer of at least 1 otherwise.
 *
 * @internal
 */
export const batchSizeOf = (given: number | undefined): number =>
  given === undefined || Number.isNaN(given) ? defaultMaxBatchSize : Math.max(1, Math.floor(given))
