/**
 * The commands the cluster client runs on every node rather than routing them: `SCRIPT LOAD`, `FUNCTION LOAD`…
 * (see `broadcastOf`), so that an `EVALSHA` or `FCALL` finds its script on whichever node serves its key.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import { adminName, type BroadcastOutcome, mergeBroadcast } from "../../core/cluster/command.js"
import type * as RedisClient from "../../RedisClient.js"
import { RedisConnectionError, type RedisError } from "../../RedisError.js"
import type * as Resp from "../../Resp.js"
import { closedError, type Node, type Topology } from "./topology.js"

/**
 * `SCRIPT LOAD`, `FUNCTION LOAD`… (see `broadcastOf`): run on every primary, and with `"nodes"` every healthy
 * replica too, of a fresh map when one can be had (a node added since the last map must get the script too);
 * the reply is the first primary's when all agree, an error reply naming a node that refused otherwise, a
 * connection error naming a primary that could not be asked. Error replies are values here, as in a pipeline.
 *
 * @internal
 */
export const broadcast = (
  topology: Topology,
  command: RedisClient.Command,
  where: "nodes" | "primaries"
): Effect.Effect<Resp.RespValue, RedisError> =>
  Effect.gen(function*() {
    if (topology.closed) return yield* Effect.fail(closedError())
    yield* topology.refreshOrKnown
    const targets: Array<Node> = [...topology.primaries]
    const primaryCount = targets.length
    if (where === "nodes") {
      for (const replica of topology.healthyReplicas) {
        const node = yield* topology.nodeAt(replica)
        if (!targets.includes(node)) targets.push(node)
      }
    }
    const outcomes = yield* Effect.forEach(
      targets,
      (node, k) =>
        Effect.match(node.client.pipeline([command]), {
          onSuccess: ([reply]): BroadcastOutcome | undefined => ({ address: node.address, reply: reply! }),
          // A replica that cannot be reached is skipped: it is not about to be promoted, and should it be, its
          // NOSCRIPT says so. A primary that cannot be reached fails the command.
          onFailure: (error): BroadcastOutcome | undefined =>
            k < primaryCount ? { address: node.address, failure: error.message } : undefined
        }),
      { concurrency: "unbounded" }
    )
    const merged = mergeBroadcast(
      adminName(command),
      outcomes.filter((outcome): outcome is BroadcastOutcome => outcome !== undefined)
    )
    return "reply" in merged
      ? merged.reply
      : yield* Effect.fail(new RedisConnectionError({ message: merged.connection }))
  })
