/**
 * How the Memcached backend turns the client's errors into the cache's typed errors.
 *
 * @internal
 */
import type { MemcachedError } from "../../../MemcachedError.js"
import {
  CacheConnectionError,
  type CacheError,
  CacheInputError,
  CacheProtocolError,
  CacheReplyError,
  CacheTimeoutError,
  type Operation
} from "../../../RemoteCacheBackend.js"

/**
 * memcached's answer to a value over its item size (`-I`): the request, not the server, is at fault, so it is the
 * caller's input error (not retryable), as a value over the client's `maxValueLength` is.
 */
const tooLarge = /object too large/i

/**
 * The cache error of a client error, naming the operation and its key.
 *
 * @internal
 */
export const toCacheError = (operation: Operation, key: string | undefined) => (error: MemcachedError): CacheError => {
  const fields = { operation, key, message: error.message, cause: error }
  switch (error._tag) {
    case "MemcachedConnectionError":
      return new CacheConnectionError(fields)
    case "MemcachedTimeoutError":
      return new CacheTimeoutError(fields)
    case "MemcachedReplyError":
      if (error.kind === "SERVER_ERROR" && tooLarge.test(error.message)) {
        return new CacheInputError({ ...fields, message: `The server refused the value: ${error.message}` })
      }
      // The kind first, so that `CacheReplyError.code` is `SERVER_ERROR`, `CLIENT_ERROR` or `ERROR`.
      return new CacheReplyError({ ...fields, message: `${error.kind} ${error.message}` })
    case "MemcachedProtocolError":
      return new CacheProtocolError(fields)
    case "MemcachedInputError":
      // Nothing was sent (a value over maxValueLength): retrying cannot help.
      return new CacheInputError(fields)
  }
}
