/**
 * The place, in the merged reply of a command split across cluster nodes, of a key whose node failed.
 *
 * @internal
 */
import type { RedisError } from "../RedisError.js"
import * as Resp from "../Resp.js"

/**
 * An element of the array reply of `RedisClientShape.sendSettled` standing for a key whose node's share failed:
 * it carries that node's typed error, so the key's reader fails with it while the other keys keep their values.
 *
 * @internal
 */
export class PartFailure extends Resp.ErrorReply {
  constructor(readonly error: RedisError) {
    super(error.message)
  }
}
