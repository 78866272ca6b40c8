/**
 * What every operation of one Redis backend shares: its client and what the client offers beyond its public
 * shape, the prefix and codec, the options, the commands that send with typed errors, and the delete command
 * learnt from the server.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import type * as RedisClient from "../../../RedisClient.js"
import type { CacheError, Operation } from "../../../RemoteCacheBackend.js"
import { type ClientSeam, clientSeamOf } from "../../seams.js"
import type * as Codec from "../codec.js"
import { isOutcomeUnknown, replyErrorOf, toCacheError } from "./errors.js"

/**
 * The options of a backend, resolved.
 *
 * @internal
 */
export interface Resolved {
  readonly prefix: string
  readonly codec: Codec.ValueCodec
  readonly batchReads: boolean
  readonly maxBatchSize: number
  readonly scanCount: string
}

/**
 * The shared part of one Redis backend.
 *
 * @internal
 */
export class RedisContext {
  readonly prefix: string
  readonly codec: Codec.ValueCodec
  readonly batchReads: boolean
  readonly maxBatchSize: number
  readonly scanCount: string
  readonly seam: ClientSeam
  /** The client's callback-level `send`, absent on a cluster client. */
  readonly submit: ClientSeam["submit"]
  /** A batch's MGET on a cluster: each node's share answers its own keys, whatever another node's share does. */
  readonly sendBatch: RedisClient.RedisClientShape["send"]
  /** Whether one command may be split over several nodes (a cluster client), each with its own fate. */
  readonly spansNodes: boolean
  readonly maxArgumentLength: number
  /** Servers before 4.0 lack UNLINK; learnt on the first "unknown command" reply. */
  deleteCommand = "UNLINK"

  constructor(readonly client: RedisClient.RedisClientShape, resolved: Resolved) {
    this.prefix = resolved.prefix
    this.codec = resolved.codec
    this.batchReads = resolved.batchReads
    this.maxBatchSize = resolved.maxBatchSize
    this.scanCount = resolved.scanCount
    this.seam = clientSeamOf(client)
    this.submit = this.seam.submit
    this.sendBatch = this.seam.sendSettled ?? client.send
    this.spansNodes = client.primaries !== undefined
    this.maxArgumentLength = client.options.maxArgumentLength
  }

  /** `command`, its failure as the cache's typed error for `operation` on `key`. */
  readonly send = (operation: Operation, key: string | undefined, command: RedisClient.Command) =>
    Effect.mapError(this.client.send(command), toCacheError(operation, key))

  /** `commands` in one write; the first error reply among them fails the whole, as `send` would have. */
  readonly pipeline = (
    operation: Operation,
    key: string | undefined,
    commands: ReadonlyArray<RedisClient.Command>
  ): Effect.Effect<void, CacheError> =>
    Effect.flatMap(
      Effect.mapError(this.client.pipeline(commands), toCacheError(operation, key)),
      (replies) => {
        for (let i = 0; i < replies.length; i++) {
          const error = replyErrorOf(operation, key, replies[i]!, String(commands[i]![0]))
          if (error !== undefined) return Effect.fail(error)
        }
        return Effect.void
      }
    )

  /**
   * Removes `fullKeys` with one `UNLINK` (or `DEL`, on servers without it). A cluster does not re-send a written
   * UNLINK whose node failed (a second run answers another count), but for a delete the count does not matter:
   * it is sent once more, and the cluster waits for the failover if it must.
   */
  readonly remove = (
    operation: Operation,
    key: string | undefined,
    fullKeys: ReadonlyArray<string | Uint8Array>
  ): Effect.Effect<void, CacheError> =>
    fullKeys.length === 0 ? Effect.void : this.send(operation, key, [this.deleteCommand, ...fullKeys]).pipe(
      Effect.catchIf(
        (error) =>
          this.deleteCommand === "UNLINK" && error._tag === "CacheReplyError" &&
          /unknown command/i.test(error.message),
        () => {
          this.deleteCommand = "DEL"
          return this.send(operation, key, ["DEL", ...fullKeys])
        }
      ),
      Effect.catchIf(
        (error) => this.spansNodes && isOutcomeUnknown(error),
        () => this.send(operation, key, [this.deleteCommand, ...fullKeys])
      ),
      Effect.asVoid
    )
}
