import * as Effect from "effect/Effect"
import { CacheInputError, CacheSerializationError, type Operation } from "../RemoteCacheBackend.js"
import type * as Serializer from "../Serializer.js"

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
 * Serializes a value for a backend, naming the operation and the key on failure.
 *
 * @internal
 */
export const encode = (
  serializer: Serializer.SerializerShape,
  operation: Operation,
  key: string,
  value: unknown
): Effect.Effect<Uint8Array, CacheSerializationError> =>
  Effect.mapError(serializer.encode(value), (cause) => encodeError(operation, key, cause))

/**
 * Decodes stored bytes for a backend, naming the operation and the key on failure.
 *
 * @internal
 */
export const decode = (
  serializer: Serializer.SerializerShape,
  operation: Operation,
  key: string,
  bytes: Uint8Array
): Effect.Effect<unknown, CacheSerializationError> =>
  Effect.mapError(serializer.decode(bytes), (cause) => decodeError(operation, key, cause))

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
