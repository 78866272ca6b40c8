/**
 * Sends commands to the nodes that serve them and follows what comes back: `MOVED` (the map is updated),
 * `ASK` (`ASKING` and the command in one write), `TRYAGAIN` / `CLUSTERDOWN` (a bounded backoff), and re-sends
 * after a lost connection or a timeout where that is safe, until `failoverWait`.
 *
 * @internal
 */
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import { commandName, mayResend } from "../../core/cluster/command.js"
import {
  isConnectionFailure,
  isOutcomeUnknown,
  isRedirectCode,
  redirectAction,
  retryDelay
} from "../../core/cluster/redirect.js"
import type * as RedisClient from "../../RedisClient.js"
import { RedisAuthError, type RedisError, RedisReplyError } from "../../RedisError.js"
import * as Resp from "../../Resp.js"
import { closedError, type Node, type Topology } from "./topology.js"

/**
 * One command as sent to one node: a caller's command, or one slot's part of a split one.
 *
 * @internal
 */
export interface Part {
  readonly command: RedisClient.Command
  /** -1: no key, any primary answers. */
  readonly slot: number
  /** Set after an `ASK`: sent there, preceded by `ASKING`. */
  readonly ask?: Node | undefined
  /** A read that a replica of the slot's primary may serve (with `readFromReplicas`). */
  readonly replica?: boolean | undefined
}

/** A part whose node's connection failed or timed out, and that may be sent again (see `mayResend`). */
class ConnectionFailed {
  constructor(readonly error: RedisError) {}
}

/**
 * A part that failed for good: a connection failure it cannot be re-sent after, or past `failoverWait`.
 *
 * @internal
 */
export class Failed {
  constructor(readonly error: RedisError) {}
}

type Outcome = Resp.RespValue | ConnectionFailed | Failed

/**
 * A part's outcome once nothing more is done for it.
 *
 * @internal
 */
export type Final = Resp.RespValue | Failed

const isRedirect = (reply: Outcome): reply is Resp.ErrorReply =>
  reply instanceof Resp.ErrorReply && isRedirectCode(reply.code)

/** The error `send` reports for an error reply, as the single-node client does. */
const replyError = (command: RedisClient.Command, reply: Resp.ErrorReply): RedisError =>
  reply.code === "NOAUTH"
    ? new RedisAuthError({ message: reply.message })
    : new RedisReplyError({ message: reply.message, code: reply.code, command: commandName(command) })

/**
 * A reply as `send` gives it: an error reply fails as the single-node client's `send` does.
 *
 * @internal
 */
export const toSendResult = (
  command: RedisClient.Command,
  reply: Resp.RespValue
): Effect.Effect<Resp.RespValue, RedisError> =>
  reply instanceof Resp.ErrorReply ? Effect.fail(replyError(command, reply)) : Effect.succeed(reply)

/**
 * The first part that failed for good: the command's outcome then, once every other part is answered.
 *
 * @internal
 */
export const failureOf = (outcomes: ReadonlyArray<Final>): Failed | undefined => {
  for (const outcome of outcomes) if (outcome instanceof Failed) return outcome
  return undefined
}

/**
 * Runs every node's share at once and waits for all of them. A share never fails (its node's failure is
 * recorded in the outcomes of its parts), so one node's failure neither interrupts nor hurries the others: each
 * is answered, and its connection stays in step. Each share runs in a detached fiber forked from the caller (so
 * with its services, clock, logger, tracer) that is observed rather than joined: joining is what `Effect.all`
 * with unbounded concurrency costs most for, and a share has nothing to hand back but its replies, written into
 * the caller's outcomes. Detached, and no canceller: an interrupted caller stops waiting and its shares run to
 * their end, as a command already written is answered and dropped; each is bounded by the command timeout.
 */
const sendAll = (sends: ReadonlyArray<Effect.Effect<void>>): Effect.Effect<void> =>
  Effect.flatMap(
    Effect.forEach(sends, (share) => Effect.forkDetach(Effect.exit(share))),
    (fibers) =>
      Effect.callback<void>((resume) => {
        let left = fibers.length
        // A defect of a share (there is no typed failure) is reported once every share has ended.
        let failure: Exit.Exit<void> | undefined
        for (const fiber of fibers) {
          // The share's own exit is the fiber's value (so that a defect is this wait's to report, not an
          // unhandled failure of a detached fiber); the fiber's own failure can only be an interruption.
          fiber.addObserver((exit) => {
            const share = Exit.isSuccess(exit) ? exit.value : exit
            if (Exit.isFailure(share)) failure ??= share
            if (--left === 0) resume(failure ?? Effect.void)
          })
        }
      })
  )

/**
 * Routes parts to nodes and follows their redirections, over a topology whose slot map it updates on `MOVED`;
 * `maxRedirections` bounds the rounds of redirections one command follows.
 *
 * @internal
 */
export class Router {
  private readonly slots: Topology["slots"]

  constructor(private readonly topology: Topology, private readonly maxRedirections: number) {
    this.slots = topology.slots
  }

  /**
   * Sends the parts, each to its node, every node's share in one pipelined write and the nodes in parallel, then
   * follows redirections and re-sends what a failed connection allows; the outcomes come back in the parts'
   * order, error replies as values and a part that failed for good as `Failed`. `redirections` counts the rounds
   * of `MOVED`/`ASK`/`TRYAGAIN`/`CLUSTERDOWN` (bounded by `maxRedirections`), `attempt` every round (the backoff),
   * and `deadline` bounds re-sends after connection failures (`failoverWait`).
   */
  readonly execParts = (
    parts: ReadonlyArray<Part>,
    attempt: number,
    redirections: number,
    deadline: number | undefined
  ): Effect.Effect<Array<Final>, RedisError> =>
    this.topology.primaries.length > 0
      ? this.sendParts(parts, attempt, redirections, deadline)
      : Effect.flatMap(this.topology.ready, () => this.sendParts(parts, attempt, redirections, deadline))

  private readonly targetOf = (part: Part): Node | undefined =>
    part.ask ?? (part.slot >= 0 ? this.slots[part.slot] : undefined) ?? this.topology.anyPrimary()

  /** Where a part goes and whether that is a replica (then `READONLY` precedes it). */
  private readonly routeTo = (part: Part): readonly [Node | undefined, boolean] => {
    const primary = this.targetOf(part)
    if (part.replica !== true || part.ask !== undefined || primary === undefined) return [primary, false]
    // In turn, passing over a replica marked as failing: the primary when every replica is.
    const replica = this.topology.pickReplica(primary)
    return replica === undefined ? [primary, false] : [replica, true]
  }

  private readonly sendParts = (
    parts: ReadonlyArray<Part>,
    attempt: number,
    redirections: number,
    deadline: number | undefined
  ): Effect.Effect<Array<Final>, RedisError> => {
    const n = parts.length
    const outcomes = new Array<Outcome>(n)
    // The nodes in order of first use, each with the indices of its parts; a cluster has few nodes, so a scan
    // of this short list beats a Map.
    const targets: Array<Node> = []
    const groups: Array<Array<number>> = []
    // Whether any part needs a command before it (ASKING, READONLY): rare, so the common write is the parts as
    // they are.
    let prefixed: Array<boolean> | undefined
    for (let i = 0; i < n; i++) {
      const part = parts[i]!
      let node: Node | undefined
      if (part.ask !== undefined) {
        node = part.ask
        ;(prefixed ??= new Array<boolean>(n).fill(false))[i] = true
      } else if (part.replica === true) {
        const [target, replica] = this.routeTo(part)
        node = target
        if (replica) (prefixed ??= new Array<boolean>(n).fill(false))[i] = true
      } else {
        node = (part.slot >= 0 ? this.slots[part.slot] : undefined) ?? this.topology.anyPrimary()
      }
      if (node === undefined) {
        outcomes[i] = new Resp.ErrorReply("CLUSTERDOWN no primary is known for this slot")
        continue
      }
      let g = 0
      while (g < targets.length && targets[g] !== node) g++
      if (g === targets.length) {
        targets.push(node)
        groups.push([i])
      } else groups[g]!.push(i)
    }
    let sent: Effect.Effect<void>
    if (targets.length === 0) sent = Effect.void
    else if (targets.length === 1) sent = this.sendGroup(parts, prefixed, outcomes, targets[0]!, groups[0]!)
    else {
      const sends = new Array<Effect.Effect<void>>(targets.length)
      for (let g = 0; g < targets.length; g++) {
        sends[g] = this.sendGroup(parts, prefixed, outcomes, targets[g]!, groups[g]!)
      }
      sent = sendAll(sends)
    }
    return Effect.flatMap(sent, () => this.settle(parts, outcomes, attempt, redirections, deadline))
  }

  /** One node's share of the parts, in one pipelined write; its replies or its failure go into `outcomes`. */
  private readonly sendGroup = (
    parts: ReadonlyArray<Part>,
    prefixed: ReadonlyArray<boolean> | undefined,
    outcomes: Array<Outcome>,
    node: Node,
    indices: ReadonlyArray<number>
  ): Effect.Effect<void> => {
    const count = indices.length
    let commands: Array<RedisClient.Command>
    let at: Array<number> | undefined
    if (prefixed === undefined) {
      commands = new Array<RedisClient.Command>(count)
      for (let k = 0; k < count; k++) commands[k] = parts[indices[k]!]!.command
    } else {
      commands = []
      at = new Array<number>(count)
      for (let k = 0; k < count; k++) {
        const i = indices[k]!
        const part = parts[i]!
        if (prefixed[i]) commands.push(part.ask !== undefined ? ["ASKING"] : ["READONLY"])
        at[k] = commands.length
        commands.push(part.command)
      }
    }
    return Effect.matchEffect(node.client.pipeline(commands), {
      onSuccess: (replies) => {
        if (node.failedAt !== 0) node.failedAt = 0
        if (at === undefined) { for (let k = 0; k < count; k++) outcomes[indices[k]!] = replies[k]! }
        else for (let k = 0; k < count; k++) outcomes[indices[k]!] = replies[at[k]!]!
        return Effect.void
      },
      onFailure: (error) => {
        // Recorded per part, never failing the share: the other nodes' shares are answered all the same.
        if (!isConnectionFailure(error)) {
          for (const i of indices) outcomes[i] = new Failed(error)
          return Effect.void
        }
        this.topology.markFailed(node, error)
        const unknown = isOutcomeUnknown(error)
        for (const i of indices) {
          outcomes[i] = mayResend(parts[i]!.command, unknown) ? new ConnectionFailed(error) : new Failed(error)
        }
        return this.topology.refreshSoon
      }
    })
  }

  /** Follows the redirections among the outcomes (bounded), re-sending those parts; the rest stay as they are. */
  private readonly settle = (
    parts: ReadonlyArray<Part>,
    outcomes: Array<Outcome>,
    attempt: number,
    redirections: number,
    deadline: number | undefined
  ): Effect.Effect<Array<Final>, RedisError> => {
    // Run once the parts' replies are in (it follows them in a flatMap), so the outcomes are read as they are.
    let again: Array<number> | undefined
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i]!
      if (outcome instanceof ConnectionFailed || (outcome instanceof Resp.ErrorReply && isRedirect(outcome))) {
        ;(again ??= []).push(i)
      }
    }
    // Every outcome is final now (no ConnectionFailed left).
    if (again === undefined) return Effect.succeed(outcomes as Array<Final>)
    return this.redirect(parts, outcomes, attempt, redirections, deadline, again)
  }

  /**
   * Which of `again` are sent again: a connection failure until `deadline` (`failoverWait` after the first one),
   * a redirection while fewer than `maxRedirections` rounds of them were followed. The others become final.
   */
  private readonly selectResends = (
    outcomes: Array<Outcome>,
    again: ReadonlyArray<number>,
    redirections: number,
    until: number
  ): { readonly resend: Array<number>; readonly redirected: boolean } => {
    const now = performance.now()
    const resend: Array<number> = []
    let redirected = false
    for (const i of again) {
      const outcome = outcomes[i]!
      if (outcome instanceof ConnectionFailed) {
        // Once the client's scope is closed every node's client fails: nothing to wait for.
        if (this.topology.closed || now > until) outcomes[i] = new Failed(outcome.error)
        else resend.push(i)
      } else if (this.topology.closed) {
        outcomes[i] = new Failed(closedError())
      } else if (redirections < this.maxRedirections) {
        resend.push(i)
        redirected = true
      }
      // Past the bound the redirection itself is the outcome: `send` fails with it as a RedisReplyError.
    }
    return { resend, redirected }
  }

  private readonly redirect = (
    parts: ReadonlyArray<Part>,
    outcomes: Array<Outcome>,
    attempt: number,
    redirections: number,
    deadline: number | undefined,
    again: ReadonlyArray<number>
  ): Effect.Effect<Array<Final>, RedisError> =>
    Effect.suspend(() => {
      const until = deadline ??
        (again.some((i) => outcomes[i] instanceof ConnectionFailed)
          ? performance.now() + this.topology.failoverWaitMillis
          : undefined)
      const { redirected, resend } = this.selectResends(outcomes, again, redirections, until ?? Infinity)
      if (resend.length === 0) return Effect.succeed(outcomes as Array<Final>)
      // A connection failure is bounded by the deadline, a redirection by the count of redirection rounds.
      return Effect.flatMap(this.prepare(parts, outcomes, resend, attempt), (next) =>
        Effect.map(
          this.execParts(next, attempt + 1, redirected ? redirections + 1 : redirections, until),
          (replies) => {
            for (let k = 0; k < resend.length; k++) outcomes[resend[k]!] = replies[k]!
            return outcomes as Array<Final>
          }
        ))
    })

  /**
   * The parts to send again for the outcomes at `resend`, once it is time: after a `MOVED` the map is updated (and
   * read again soon), after a failed primary a refreshed map is awaited, and `TRYAGAIN` / `CLUSTERDOWN` (or a node
   * that did not change) pause a little first.
   */
  private readonly prepare = (
    parts: ReadonlyArray<Part>,
    outcomes: ReadonlyArray<Outcome>,
    resend: ReadonlyArray<number>,
    attempt: number
  ): Effect.Effect<Array<Part>> => {
    // The node each part was sent to, read before this round's MOVED update the map: an empty host in a
    // redirection names that node's host.
    const answered = resend.map((i) => this.targetOf(parts[i]!))
    const self = this
    return Effect.gen(function*() {
      const next: Array<Part> = []
      let pause = false
      let moved = false
      // Keyed parts whose primary failed: they wait for a refreshed map (a replica promoted) before going again.
      let waiting: Array<Part> | undefined
      for (let k = 0; k < resend.length; k++) {
        const i = resend[k]!
        const part = parts[i]!
        const outcome = outcomes[i]!
        if (outcome instanceof ConnectionFailed) {
          // A keyless command goes to another primary (the failed one is marked) at once, a read that a
          // replica failed to its primary; a keyed one to its slot's primary once the map is read again.
          const retry: Part = { command: part.command, slot: part.slot }
          next.push(retry)
          if (part.slot >= 0 && part.replica !== true) (waiting ??= []).push(retry)
          else if (part.slot < 0 && self.topology.primaries.every((node) => !self.topology.isHealthy(node))) {
            pause = true
          }
          continue
        }
        const reply = outcome as Resp.ErrorReply
        const action = redirectAction(reply.code, reply.message)
        switch (action._tag) {
          case "Malformed": {
            next.push({ command: part.command, slot: part.slot })
            pause = true
            break
          }
          case "Moved":
          case "Ask": {
            const { port, slot } = action
            const target = action.host !== undefined
              ? yield* self.topology.nodeAt({ host: action.host, port })
              : yield* self.topology.nodeAtAnswering({ host: "", port }, answered[k])
            if (action._tag === "Moved") {
              self.slots[slot] = target
              moved = true
              next.push({ command: part.command, slot: part.slot, replica: part.replica })
            } else {
              next.push({ command: part.command, slot: part.slot, ask: target })
            }
            break
          }
          case "Retry": {
            // TRYAGAIN (a multi-key command while its slot migrates) or CLUSTERDOWN: the same, a little later.
            pause = true
            if (action.refresh) moved = true
            next.push({ command: part.command, slot: part.slot, replica: part.replica })
          }
        }
      }
      if (moved) yield* self.topology.refreshSoon
      if (waiting !== undefined) {
        // A failed node: see whether a replica has taken its slots (or it is back) before sending again.
        const before = waiting.map(self.targetOf)
        yield* Effect.ignore(self.topology.refreshThrottled)
        if (waiting.every((part, k) => self.targetOf(part) === before[k])) pause = true
      }
      if (pause) yield* Effect.sleep(Duration.millis(retryDelay(attempt)))
      return next
    })
  }

  /** After the first try of a keyed command, sent straight to `node`, failed in a way the cluster handles. */
  readonly recover = (
    command: RedisClient.Command,
    slot: number,
    node: Node,
    error: RedisError
  ): Effect.Effect<Resp.RespValue, RedisError> => {
    const part: ReadonlyArray<Part> = [{ command, slot }]
    const finish = (outcomes: Array<Final>) => {
      const outcome = outcomes[0]!
      return outcome instanceof Failed ? Effect.fail(outcome.error) : toSendResult(command, outcome)
    }
    if (error._tag === "RedisReplyError") {
      return Effect.flatMap(this.settle(part, [new Resp.ErrorReply(error.message)], 0, 0, undefined), finish)
    }
    this.topology.markFailed(node, error)
    // Never written (refused, not open): always sent again; written, only when running it twice is harmless.
    if (mayResend(command, isOutcomeUnknown(error))) {
      return Effect.andThen(
        this.topology.refreshSoon,
        Effect.flatMap(this.settle(part, [new ConnectionFailed(error)], 0, 0, undefined), finish)
      )
    }
    return Effect.andThen(this.topology.refreshSoon, Effect.fail(error))
  }
}
