/**
 * The stand-in, in a merged `MGET` reply of the cluster client's `sendSettled`, for a key whose node failed.
 *
 * @internal
 */
import { ErrorReply } from "../resp/resp.js"

/**
 * The typed error of a failed part, as far as the merge needs it (the client's `RedisError`s are such values).
 *
 * @internal
 */
export interface PartError {
  readonly _tag: string
  readonly message: string
}

/**
 * In the array reply of an `MGET` split across nodes and sent with `sendSettled`: the place of a key whose node's
 * share failed (connection lost, timeout), carrying that node's typed error. An `ErrorReply`, so code that does not
 * know it still sees an error rather than a value; its `code` is `PARTFAILED`.
 *
 * @internal
 */
export class PartFailure<E extends PartError = PartError> extends ErrorReply {
  constructor(readonly error: E) {
    super(`PARTFAILED ${error._tag}: ${error.message}`)
  }
}
