/**
 * What every backend decides the same way: the default prefix, the serializer it uses, and how it reads the
 * entries of a `setMany`.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import * as Option from "#effect/Option"
import * as Serializer from "../../Serializer.js"

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

/**
 * How many commands of one `deleteMany` are in flight at once. A few keep the round trips of a long list few (each
 * command removes up to a batch of keys), while a bound keeps it from flooding the connection: every command waits
 * at most behind a few of its own, never past its command timeout behind thousands, and other callers' commands
 * still get through between them.
 *
 * @internal
 */
export const deleteManyConcurrency = 8

/**
 * The commands of a `deleteMany` on one node: the full keys in the order given, in chunks of at most `maxSize`. A
 * full key over `maxArgumentLength` is a command of its own, so that it fails alone (nothing is sent for it) and
 * takes no other key with it.
 *
 * @internal
 */
export const deleteChunks = (
  fullKeys: ReadonlyArray<string>,
  maxSize: number,
  fits: (fullKey: string) => boolean
): Array<Array<string>> => {
  const chunks: Array<Array<string>> = []
  let chunk: Array<string> = []
  for (const fullKey of fullKeys) {
    if (!fits(fullKey)) {
      chunks.push([fullKey])
      continue
    }
    chunk.push(fullKey)
    if (chunk.length >= maxSize) {
      chunks.push(chunk)
      chunk = []
    }
  }
  if (chunk.length > 0) chunks.push(chunk)
  return chunks
}

/**
 * The commands of a `deleteMany` on a cluster: the full keys grouped by slot, whole groups packed into commands of
 * at most `maxSize` keys (a group larger than that in chunks of its own), so that each slot's keys go out in one
 * `UNLINK` when the cluster client splits a command by slot, and no command grows past the bound. Full keys over
 * `maxArgumentLength` are commands of their own, as in {@link deleteChunks}.
 *
 * @internal
 */
export const deleteChunksBySlot = (
  fullKeys: ReadonlyArray<string>,
  maxSize: number,
  fits: (fullKey: string) => boolean,
  slotOf: (fullKey: string) => number
): Array<Array<string>> => {
  const chunks: Array<Array<string>> = []
  const bySlot = new Map<number, Array<string>>()
  for (const fullKey of fullKeys) {
    if (!fits(fullKey)) {
      chunks.push([fullKey])
      continue
    }
    const slot = slotOf(fullKey)
    const group = bySlot.get(slot)
    if (group === undefined) bySlot.set(slot, [fullKey])
    else group.push(fullKey)
  }
  let chunk: Array<string> = []
  for (const group of bySlot.values()) {
    if (chunk.length > 0 && chunk.length + group.length > maxSize) {
      chunks.push(chunk)
      chunk = []
    }
    // A group larger than a command: whole commands of its keys alone, its rest starting the next one.
    let start = 0
    while (group.length - start > maxSize) {
      chunks.push(group.slice(start, start + maxSize))
      start += maxSize
    }
    for (let i = start; i < group.length; i++) chunk.push(group[i]!)
  }
  if (chunk.length > 0) chunks.push(chunk)
  return chunks
}
