/**
 * The synchronous functions behind a serializer, for the backends' hot paths.
 *
 * A serializer's public form returns an Effect per value, which costs several steps of the fiber runtime on every
 * `get` and `set` and one Effect per entry of a `getMany` or `setMany`. The library's own serializers are plain
 * synchronous functions underneath; they register those here, and a backend that finds them calls them directly.
 * Any other serializer (a user's, or `Serializer.schema`, which may be asynchronous) is used through its Effects.
 *
 * @internal
 */
import type * as Either from "effect/Either"
import type { SerializationError, SerializerShape } from "../Serializer.js"

/**
 * What `encode` and `decode` of the registered serializer do, without an Effect around them. They never throw.
 *
 * @internal
 */
export interface SyncSerializer {
  readonly encode: (value: unknown) => Either.Either<Uint8Array, SerializationError>
  readonly decode: (bytes: Uint8Array) => Either.Either<unknown, SerializationError>
}

// Keyed by the serializer itself: a copy or a wrapper of it (another object) is not registered, and goes the
// Effect way, as it must, since it may behave differently.
const registry = new WeakMap<SerializerShape, SyncSerializer>()

/**
 * Registers the synchronous functions that `serializer` runs, and returns `serializer`.
 *
 * @internal
 */
export const register = (serializer: SerializerShape, sync: SyncSerializer): SerializerShape => {
  registry.set(serializer, sync)
  return serializer
}

/**
 * The synchronous functions of `serializer`, when it registered them.
 *
 * @internal
 */
export const lookup = (serializer: SerializerShape): SyncSerializer | undefined => registry.get(serializer)
