/**
 * Splits a command into the parts the router sends (a multi-key command by slot, never `CROSSSLOT`), and puts their
 * replies back together in the caller's order.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import { isReadOnly, mergeReplies, type Route, specialKey } from "../../core/cluster/command.js"
import { PartFailure } from "../../core/cluster/partFailure.js"
import { isConnectionFailure } from "../../core/cluster/redirect.js"
import { keySlot, slotCount } from "../../core/cluster/slot.js"
import type * as RedisClient from "../../RedisClient.js"
import type { RedisError } from "../../RedisError.js"
import type * as Resp from "../../Resp.js"
import { Failed, failureOf, type Final, type Part, toSendResult } from "./router.js"

/**
 * The parts of a command and how their replies become its reply.
 *
 * @internal
 */
export interface Plan {
  readonly parts: ReadonlyArray<Part>
  readonly merge?: {
    readonly kind: "array" | "sum" | "ok"
    readonly total: number
    /** For each key of the command, the index of its part. */
    readonly partOf: ReadonlyArray<number>
    /** For each key, its index in its part's array reply, or -1 where its part is a one-key GET. */
    readonly indexIn: ReadonlyArray<number>
  }
}

/**
 * The slot of a key argument; -1 when the argument is not a key (not a string or bytes).
 *
 * @internal
 */
export const keySlotOf = (key: unknown): number =>
  typeof key === "string" || key instanceof Uint8Array ? keySlot(key) : -1

/**
 * Plans commands. It owns scratch tables of the split: the part a slot's keys go to, valid where the slot's stamp
 * is the current plan's generation. Planning is synchronous, so one plan never sees another's entries.
 *
 * @internal
 */
export class Splitter {
  private readonly slotStamp = new Uint32Array(slotCount)
  private readonly slotPart = new Int32Array(slotCount)
  private generation = 0

  /** With `readFromReplicas`, the parts of a read may be served by a replica. */
  constructor(private readonly readFromReplicas: boolean) {}

  private nextGeneration(): number {
    if (++this.generation === 0xffffffff) {
      this.slotStamp.fill(0)
      this.generation = 1
    }
    return this.generation
  }

  /** The plan of a command routed by `route`. */
  planOf(command: RedisClient.Command, route: Route): Plan {
    const plan = this.planRoute(command, route)
    if (!this.readFromReplicas || !isReadOnly(command)) return plan
    return { ...plan, parts: plan.parts.map((part) => ({ ...part, replica: part.slot >= 0 })) }
  }

  private planRoute(command: RedisClient.Command, route: Route): Plan {
    switch (route._tag) {
      case "key":
        return { parts: [{ command, slot: keySlotOf(command[route.index]) }] }
      case "none":
      case "admin":
        return { parts: [{ command, slot: -1 }] }
      case "script":
      case "streams": {
        const key = specialKey(route, command)
        return { parts: [{ command, slot: key === undefined ? -1 : keySlotOf(key) }] }
      }
      case "split": {
        const step = route.step
        if (command.length < 1 + step || (command.length - 1) % step !== 0) {
          // Malformed (MSET with a missing value): the server says so.
          return { parts: [{ command, slot: keySlotOf(command[1]) }] }
        }
        return this.split(command, step, route.merge)
      }
    }
  }

  /** A multi-key command split by slot: one part per slot, in order of first use. */
  private split(command: RedisClient.Command, step: 1 | 2, merge: "array" | "sum" | "ok"): Plan {
    const { slotPart, slotStamp } = this
    // One pass, no Map: a slot's part is found through the stamped scratch tables (a slot is stamped with
    // this plan's generation when its part is made), so a call over 100 slots allocates its parts and nothing
    // else.
    const generation = this.nextGeneration()
    const name = command[0]!
    const total = (command.length - 1) / step
    // Plain arrays of small integers: cheaper to make than typed arrays for a hundred keys.
    const partOf = new Array<number>(total)
    const indexIn = new Array<number>(total)
    const args: Array<Array<string | Uint8Array>> = []
    const partSlots: Array<number> = []
    for (let i = 1, k = 0; i < command.length; i += step, k++) {
      const key = command[i]!
      const slot = keySlotOf(key)
      if (slot >= 0 && slotStamp[slot] === generation) {
        const at = slotPart[slot]!
        const part = args[at]!
        partOf[k] = at
        indexIn[k] = (part.length - 1) / step
        part.push(key)
        if (step === 2) part.push(command[i + 1]!)
      } else {
        // A new slot (or -1, not a key, which the check before planning rejects anyway): a part of its own.
        const at = args.length
        if (slot >= 0) {
          slotStamp[slot] = generation
          slotPart[slot] = at
        }
        args.push(step === 1 ? [name, key] : [name, key, command[i + 1]!])
        partSlots.push(slot)
        partOf[k] = at
        indexIn[k] = 0
      }
    }
    const count = args.length
    if (count === 1) return { parts: [{ command, slot: partSlots[0]! }] }
    const parts = new Array<Part>(count)
    const mget = merge === "array"
    for (let p = 0; p < count; p++) {
      const part = args[p]!
      // A slot with one key of an MGET is asked with GET: its reply is the value itself, not an array holding
      // it, and the server does a little less.
      if (mget && part.length === 2) part[0] = "GET"
      parts[p] = { command: part, slot: partSlots[p]! }
    }
    if (mget) { for (let k = 0; k < total; k++) if (args[partOf[k]!]!.length === 2) indexIn[k] = -1 }
    return { parts, merge: { kind: merge, total, partOf, indexIn } }
  }
}

/**
 * A command's reply from its parts' replies.
 *
 * @internal
 */
export const replyOf = (plan: Plan, replies: ReadonlyArray<Resp.RespValue>): Resp.RespValue =>
  plan.merge === undefined
    ? replies[0]!
    : mergeReplies(plan.merge.kind, plan.merge.total, plan.merge.partOf, plan.merge.indexIn, replies)

/**
 * A command's reply from its parts' outcomes; with `settled`, an `MGET`'s failed parts are `PartFailure`s.
 *
 * @internal
 */
export const resultOf = (
  command: RedisClient.Command,
  plan: Plan,
  outcomes: Array<Final>,
  settled: boolean
): Effect.Effect<Resp.RespValue, RedisError> => {
  const failed = failureOf(outcomes)
  if (failed !== undefined) {
    if (!settled || plan.merge?.kind !== "array") return Effect.fail(failed.error)
    // Only a node that failed (connection, timeout) is stood in for; any other failure is the command's.
    for (const outcome of outcomes) {
      if (outcome instanceof Failed && !isConnectionFailure(outcome.error)) return Effect.fail(outcome.error)
    }
    for (let p = 0; p < outcomes.length; p++) {
      const outcome = outcomes[p]!
      if (outcome instanceof Failed) outcomes[p] = new PartFailure(outcome.error)
    }
  }
  return toSendResult(command, replyOf(plan, outcomes as Array<Resp.RespValue>))
}

/**
 * A pipeline's replies, one per plan, from the outcomes of all their parts in order. As on one node, the batch
 * fails when a connection does; settled, a failed node's commands' places hold a `PartFailure` instead.
 *
 * @internal
 */
export const pipelineResultOf = (
  plans: ReadonlyArray<Plan>,
  outcomes: Array<Final>,
  settled: boolean
): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> => {
  // Every node's share has been answered by then.
  const failed = failureOf(outcomes)
  if (failed !== undefined) {
    if (!settled) return Effect.fail(failed.error)
    for (let p = 0; p < outcomes.length; p++) {
      const outcome = outcomes[p]!
      if (!(outcome instanceof Failed)) continue
      if (!isConnectionFailure(outcome.error)) return Effect.fail(outcome.error)
      outcomes[p] = new PartFailure(outcome.error)
    }
  }
  const replies = outcomes as Array<Resp.RespValue>
  const out = new Array<Resp.RespValue>(plans.length)
  let at = 0
  for (let i = 0; i < plans.length; i++) {
    const plan = plans[i]!
    out[i] = replyOf(plan, replies.slice(at, at + plan.parts.length))
    at += plan.parts.length
  }
  return Effect.succeed(out)
}
