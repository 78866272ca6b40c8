/**
 * The stand-in, in a merged `MGET` reply of the cluster client's `sendSettled`, for a key whose node failed.
 *
 * @internal
 */
import type { RedisError } from "../RedisError.js"
import * as Resp from "../Resp.js"

/**
 * In the array reply of an `MGET` split across nodes and sent with `sendSettled`: the place of a key whose node's
 * share failed (connection lost, timeout), carrying that node's typed error. An `ErrorReply`, so code that does not
 * know it still sees an error rather than a value; its `code` is `PARTFAILED`.
 *
 * @internal
 */
export class PartFailure extends Resp.ErrorReply {
  constructor(readonly error: RedisError) {
    super(`PARTFAILED ${error._tag}: ${error.message}`)
  }
}
