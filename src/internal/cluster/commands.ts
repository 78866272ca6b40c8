/**
 * The cluster client's `send` and `pipeline` (and their settled forms): each command checked, routed by its key,
 * split by slot when it has several, run on every node when it must be, and answered as one node would.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import { broadcastOf, isReadOnly, type Route, routeOf } from "../../core/cluster/command.js"
import { isClusterFailure } from "../../core/cluster/redirect.js"
import type * as RedisClient from "../../RedisClient.js"
import type { RedisError } from "../../RedisError.js"
import type * as Resp from "../../Resp.js"
import { checkCommand } from "../client/connection.js"
import { broadcast } from "./broadcast.js"
import type { Part, Router } from "./router.js"
import { toSendResult } from "./router.js"
import { keySlotOf, pipelineResultOf, resultOf, type Splitter } from "./splitter.js"
import type { Topology } from "./topology.js"

/**
 * The command entry points of a cluster client.
 *
 * @internal
 */
export interface Commands {
  readonly send: (command: RedisClient.Command) => Effect.Effect<Resp.RespValue, RedisError>
  /** `send`, but a split `MGET` whose node failed answers the other keys, a `PartFailure` in the failed ones' place. */
  readonly sendSettled: (command: RedisClient.Command) => Effect.Effect<Resp.RespValue, RedisError>
  readonly pipeline: (
    batch: ReadonlyArray<RedisClient.Command>
  ) => Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError>
  /** `pipeline`, but a failed node's commands' places hold a `PartFailure`, the others their replies. */
  readonly pipelineSettled: (
    batch: ReadonlyArray<RedisClient.Command>
  ) => Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError>
}

/**
 * The commands of a cluster client, over its topology, router and splitter.
 *
 * @internal
 */
export const make = (topology: Topology, router: Router, splitter: Splitter): Commands => {
  const { slots } = topology
  const { execParts, recover } = router
  const firstClient = topology.firstNode.client
  const readFromReplicas = topology.settings.readFromReplicas
  const maxArgumentLength = topology.resolved.maxArgumentLength

  const invalid = (batch: ReadonlyArray<RedisClient.Command>) => {
    for (const command of batch) {
      const error = checkCommand(command, maxArgumentLength)
      if (error !== undefined) return error
    }
    return undefined
  }

  /** A command through the planner: split, replica reads, keyless, or a slot not known yet. */
  const sendPlanned = (
    command: RedisClient.Command,
    route: Route,
    settled: boolean
  ): Effect.Effect<Resp.RespValue, RedisError> => {
    const error = invalid([command])
    if (error !== undefined) return Effect.fail(error)
    if (route._tag === "admin") {
      const where = broadcastOf(command)
      if (where !== undefined) {
        return Effect.flatMap(broadcast(topology, command, where), (reply) => toSendResult(command, reply))
      }
    }
    const plan = splitter.planOf(command, route)
    // Settled, a failed node's share is not waited for (a deadline already past): the others' callers are answered
    // as soon as it has failed once, and its keys' readers ask again alone, riding out a failover on their own.
    return Effect.flatMap(
      execParts(plan.parts, 0, 0, settled ? -Infinity : undefined),
      (outcomes) => resultOf(command, plan, outcomes, settled)
    )
  }

  const send = (command: RedisClient.Command): Effect.Effect<Resp.RespValue, RedisError> => {
    if (!Array.isArray(command) || command.length === 0) return firstClient.send(command)
    const route = routeOf(command)
    if (route._tag === "key" && !(readFromReplicas && isReadOnly(command))) {
      // The hot path: one slot lookup, then the node's own send.
      const slot = keySlotOf(command[route.index])
      const node = slot >= 0 ? slots[slot] : undefined
      if (node !== undefined) {
        return Effect.catchIf(
          node.client.send(command),
          isClusterFailure,
          (error) => recover(command, slot, node, error)
        )
      }
    }
    return sendPlanned(command, route, false)
  }

  const sendSettled = (command: RedisClient.Command): Effect.Effect<Resp.RespValue, RedisError> => {
    if (!Array.isArray(command) || command.length === 0) return send(command)
    const route = routeOf(command)
    return route._tag === "split" && route.merge === "array" ? sendPlanned(command, route, true) : send(command)
  }

  const pipeline = (
    batch: ReadonlyArray<RedisClient.Command>
  ): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> => pipelineWith(batch, false)

  const pipelineSettled = (
    batch: ReadonlyArray<RedisClient.Command>
  ): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> => pipelineWith(batch, true)

  /**
   * A pipeline routed command by command. Settled, a failed node's share is not waited for (as for `sendSettled`):
   * its commands' places hold a `PartFailure`, the others their replies.
   */
  const pipelineWith = (
    batch: ReadonlyArray<RedisClient.Command>,
    settled: boolean
  ): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> => {
    if (batch.length === 0) {
      return Effect.succeed([])
    }
    // Every command is checked before any is sent, as on one node.
    const error = invalid(batch)
    if (error !== undefined) {
      return Effect.fail(error)
    }
    let broadcasting = false
    const plans = batch.map((command) => {
      const route = routeOf(command)
      if (route._tag === "admin" && broadcastOf(command) !== undefined) broadcasting = true
      return splitter.planOf(command, route)
    })
    if (broadcasting) return pipelineAround(batch)
    const parts: Array<Part> = []
    for (const plan of plans) for (const part of plan.parts) parts.push(part)
    return Effect.flatMap(
      execParts(parts, 0, 0, settled ? -Infinity : undefined),
      (outcomes) => pipelineResultOf(plans, outcomes, settled)
    )
  }

  /**
   * A pipeline holding a command that runs on every node (`SCRIPT LOAD`…): the commands before it, it, then the
   * ones after, so an `EVALSHA` after a `SCRIPT LOAD` in the same batch finds the script wherever it goes.
   */
  const pipelineAround = (
    batch: ReadonlyArray<RedisClient.Command>
  ): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> =>
    Effect.gen(function*() {
      const out: Array<Resp.RespValue> = []
      let start = 0
      for (let i = 0; i <= batch.length; i++) {
        const command = batch[i]
        const where = command !== undefined && routeOf(command)._tag === "admin" ? broadcastOf(command) : undefined
        if (command !== undefined && where === undefined) continue
        if (i > start) out.push(...(yield* pipeline(batch.slice(start, i))))
        if (command !== undefined) out.push(yield* broadcast(topology, command, where!))
        start = i + 1
      }
      return out
    })

  return { send, sendSettled, pipeline, pipelineSettled }
}
