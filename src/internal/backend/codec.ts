import * as Effect from "#effect/Effect"
import * as Option from "#effect/Option"
import * as Result from "#effect/Result"
import { CacheInputError, CacheSerializationError, type Operation } from "../../RemoteCacheBackend.js"
import type * as Serializer from "../../Serializer.js"

/**
 * The backend error for a value that could not be serialized. The serializer's message is safe to pass on: by
 * its contract it never quotes the value.
 *
 * @internal
 */
export const encodeError = (
  operation: Operation,
  key: string,
  cause: Serializer.SerializationError
): CacheSerializationError =>
  new CacheSerializationError({ operation, key, message: `Cannot store the value: ${cause.message}`, cause })

/**
 * The backend error for stored bytes that could not be decoded.
 *
 * @internal
 */
export const decodeError = (
  operation: Operation,
  key: string,
  cause: Serializer.SerializationError
): CacheSerializationError =>
  new CacheSerializationError({ operation, key, message: `Cannot read the stored value: ${cause.message}`, cause })

/**
 * The defect of a read whose serializer threw while decoding instead of failing (a failed `Result`, or a failed
 * Effect), which its contract forbids. It names the serializer, the operation and the key; what was thrown is its
 * `cause`, not quoted in the message (it may quote the bytes).
 *
 * @internal
 */
export class SerializerDefect extends Error {
  constructor(serializer: string, operation: Operation, key: string, thrown: unknown) {
    super(
      `serializer "${serializer}" threw while decoding the value of key "${key}" (${operation}) instead of ` +
        "failing: a serializer must never throw",
      { cause: thrown }
    )
    this.name = "SerializerDefect"
  }
}

/**
 * A backend's serializer, with the operation and the key named on every failure.
 *
 * The choice between a serializer's synchronous forms and its Effects is made once, here, when the backend is
 * built: a backend calls these functions the same way for every serializer. With synchronous forms, a value or a
 * batch costs no Effect of its own (the library's serializers, and any built with `Serializer.make`); without,
 * each value runs the serializer's Effect.
 *
 * @internal
 */
export interface ValueCodec {
  /**
   * Serializes `value` and passes the bytes to `use`. With a synchronous serializer the work happens during this
   * call, and `use` is called directly (no Effect step between them, which a `set` would pay on every call): call
   * it when the operation's effect runs (inside `Effect.suspend` or a continuation), so that each run serializes
   * anew.
   */
  readonly encode: <A, E>(
    operation: Operation,
    key: string,
    value: unknown,
    use: (bytes: Uint8Array) => Effect.Effect<A, E>
  ) => Effect.Effect<A, E | CacheSerializationError>
  /** Serializes every entry's value, in order, failing at the first that cannot be; same timing as `encode`. */
  readonly encodeAll: (
    operation: Operation,
    entries: ReadonlyArray<readonly [key: string, value: unknown]>
  ) => Effect.Effect<ReadonlyArray<Uint8Array>, CacheSerializationError>
  /** Decodes stored bytes into `Some` of the value. */
  readonly decode: (
    operation: Operation,
    key: string,
    bytes: Uint8Array
  ) => Effect.Effect<Option.Option<unknown>, CacheSerializationError>
  /**
   * Decodes stored bytes into `Some(f(value))`. With a synchronous serializer both happen during this call (a
   * finished Effect, no step of its own), which a read that wraps its value (an entry with its TTL) would otherwise
   * pay in an `Effect.map`.
   */
  readonly decodeAs: <B>(
    operation: Operation,
    key: string,
    bytes: Uint8Array,
    f: (value: unknown) => B
  ) => Effect.Effect<Option.Option<B>, CacheSerializationError>
  /**
   * Decodes the stored bytes of `keys` (`null` or `undefined`: a miss), in order, failing at the first that cannot
   * be decoded.
   */
  readonly decodeAll: (
    operation: Operation,
    keys: ReadonlyArray<string>,
    items: ReadonlyArray<Uint8Array | null | undefined>
  ) => Effect.Effect<ReadonlyArray<Option.Option<unknown>>, CacheSerializationError>
}

/**
 * The {@link ValueCodec} of `serializer`: its synchronous forms when it has both, its Effects otherwise.
 *
 * @internal
 */
export const make = (serializer: Serializer.SerializerShape): ValueCodec => {
  const { decodeSync, encodeSync, name } = serializer
  if (encodeSync !== undefined && decodeSync !== undefined) {
    // A decode may run in a socket's read callback (a reply resuming its reader): what a serializer throws there,
    // against its contract, must become that read's own defect, not an exception in the connection's parser that
    // fails every other read on it and never resumes this one. A try costs nothing when nothing is thrown.
    const decodeOrDie = (operation: Operation, key: string, bytes: Uint8Array) => {
      try {
        return decodeSync(bytes)
      } catch (thrown) {
        return new SerializerDefect(name, operation, key, thrown)
      }
    }
    const encode = <A, E>(
      operation: Operation,
      key: string,
      value: unknown,
      use: (bytes: Uint8Array) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | CacheSerializationError> => {
      const result = encodeSync(value)
      return Result.isSuccess(result)
        ? use(Result.successValue(result))
        : Effect.fail(encodeError(operation, key, Result.failureValue(result)))
    }
    const decode = (operation: Operation, key: string, bytes: Uint8Array) => {
      const result = decodeOrDie(operation, key, bytes)
      if (result instanceof SerializerDefect) return Effect.die(result)
      return Result.isSuccess(result)
        ? Effect.succeed(Option.some(Result.successValue(result)))
        : Effect.fail(decodeError(operation, key, Result.failureValue(result)))
    }
    return {
      encode,
      encodeAll: (operation, entries) => {
        const encoded = new Array<Uint8Array>(entries.length)
        for (let i = 0; i < entries.length; i++) {
          const [key, value] = entries[i]!
          const result = encodeSync(value)
          if (Result.isFailure(result)) return Effect.fail(encodeError(operation, key, Result.failureValue(result)))
          encoded[i] = Result.successValue(result)
        }
        return Effect.succeed(encoded)
      },
      decode,
      decodeAs: (operation, key, bytes, f) => {
        const result = decodeOrDie(operation, key, bytes)
        if (result instanceof SerializerDefect) return Effect.die(result)
        return Result.isSuccess(result)
          ? Effect.succeed(Option.some(f(Result.successValue(result))))
          : Effect.fail(decodeError(operation, key, Result.failureValue(result)))
      },
      decodeAll: (operation, keys, items) => {
        const values = new Array<Option.Option<unknown>>(items.length)
        for (let i = 0; i < items.length; i++) {
          const bytes = items[i]
          if (bytes === null || bytes === undefined) {
            values[i] = Option.none()
            continue
          }
          const result = decodeOrDie(operation, keys[i]!, bytes)
          if (result instanceof SerializerDefect) return Effect.die(result)
          if (Result.isFailure(result)) {
            return Effect.fail(decodeError(operation, keys[i]!, Result.failureValue(result)))
          }
          values[i] = Option.some(Result.successValue(result))
        }
        return Effect.succeed(values)
      }
    }
  }
  const encodeBytes = (operation: Operation, key: string, value: unknown) =>
    Effect.mapError(serializer.encode(value), (cause) => encodeError(operation, key, cause))
  // As above: `decode` is called (its Effect made) where the reply arrives, perhaps in a socket's read callback;
  // an Effect that dies runs in the reader's fiber, so it fails that read alone.
  const decode = (
    operation: Operation,
    key: string,
    bytes: Uint8Array
  ): Effect.Effect<Option.Option<unknown>, CacheSerializationError> => {
    let decoded: Effect.Effect<unknown, Serializer.SerializationError>
    try {
      decoded = serializer.decode(bytes)
    } catch (thrown) {
      return Effect.die(new SerializerDefect(name, operation, key, thrown))
    }
    return Effect.mapBoth(decoded, {
      onFailure: (cause) => decodeError(operation, key, cause),
      onSuccess: Option.some
    })
  }
  return {
    encode: (operation, key, value, use) => Effect.flatMap(encodeBytes(operation, key, value), use),
    encodeAll: (operation, entries) => Effect.forEach(entries, ([key, value]) => encodeBytes(operation, key, value)),
    decode,
    decodeAs: (operation, key, bytes, f) => Effect.map(decode(operation, key, bytes), Option.map(f)),
    decodeAll: (operation, keys, items) =>
      Effect.forEach(
        items,
        (bytes, i) => bytes === null || bytes === undefined ? Effect.succeedNone : decode(operation, keys[i]!, bytes)
      )
  }
}

/**
 * The failure of a write whose TTL is invalid; nothing has been sent or stored.
 *
 * @internal
 */
export const invalidTtl = (
  operation: Operation,
  key: string | undefined,
  reason: string
): Effect.Effect<never, CacheInputError> =>
  Effect.fail(new CacheInputError({ operation, key, message: `Invalid TTL: ${reason}` }))
