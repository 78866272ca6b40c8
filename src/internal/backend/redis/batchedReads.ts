/**
 * Batched reads of the Redis backend: the `get`s and `getWithTtl`s of one tick beyond the first few leave together,
 * as one `MGET` or one pipelined write of `GET` + `PTTL` pairs (see `TickBatcher`), and each caller is resumed with
 * its own outcome, built in plain TypeScript.
 *
 * A batch is sent by none of its callers: through the client's callback (`submit`) when it has one, else by a
 * fiber of its own (forked with the context the backend was made in), which is also where what `submit` cannot
 * finish at once (the connection opening, room awaited) runs. Interrupting a caller then stops only its own wait
 * (its result is dropped when the reply comes), never the command the others wait for.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import type * as Exit from "#effect/Exit"
import type * as Option from "#effect/Option"
import { fitsInBatch, TickBatcher } from "../../../core/client/batch.js"
import type * as RedisClient from "../../../RedisClient.js"
import type { RedisError } from "../../../RedisError.js"
import type { CacheError, Entry } from "../../../RemoteCacheBackend.js"
import type * as Resp from "../../../Resp.js"
import type { ProbedGet, ReadProbe } from "../probe.js"
import type { RedisContext } from "./context.js"
import { exitOf, failWith, type ReadSlot, unexpected } from "./errors.js"
import { askAgain, entryOf, getAgain, getAlone, getOutcome, getWithTtlAlone, readReply } from "./reads.js"

/** Runs an effect in a fiber of its own, with the context the backend was made in (`Effect.runForkWith`). */
type Fork = ReturnType<typeof Effect.runForkWith<never>>

/**
 * The read operations of one backend, batched or not as its options say.
 *
 * @internal
 */
export interface Reads {
  readonly get: (key: string) => Effect.Effect<Option.Option<unknown>, CacheError>
  readonly getWithTtl: (key: string) => Effect.Effect<Option.Option<Entry>, CacheError>
  /** `get` told its watcher (see `internal/backend/probe.ts`), when reads are callbacks (the client's `submit`). */
  readonly probedGet: ProbedGet | undefined
}

/**
 * The reads of the backend sharing `c`, batched through fibers run by `fork` when they must run in one.
 *
 * @internal
 */
export const make = (c: RedisContext, fork: Fork): Reads => {
  const batches = new ReadBatches(c, fork)
  const probedGet = makeProbedGet(c, batches.gets)
  return { get: makeGet(c, batches.gets, probedGet), getWithTtl: makeGetWithTtl(c, batches.entries), probedGet }
}

/** The two batchers of one backend, and how their batches are sent and answered. */
class ReadBatches {
  readonly gets: TickBatcher<ReadSlot<Option.Option<unknown>>>
  readonly entries: TickBatcher<ReadSlot<Option.Option<Entry>>>

  constructor(private readonly c: RedisContext, private readonly fork: Fork) {
    this.gets = new TickBatcher(c.maxBatchSize, this.sendGets)
    this.entries = new TickBatcher(c.maxBatchSize, this.sendEntries)
  }

  /**
   * What a batch's fiber ends with: the fiber itself always succeeds (with the command's Exit), as its failure is
   * its callers', not a fiber's unhandled error to report.
   */
  private forkExit<A, E>(effect: Effect.Effect<A, E>, deliver: (exit: Exit.Exit<A, E>) => void): void {
    this.fork(Effect.exit(effect)).addObserver((outcome) =>
      deliver(outcome._tag === "Success" ? outcome.value : outcome as unknown as Exit.Exit<A, E>)
    )
  }

  private deliverGets(
    slots: ReadonlyArray<ReadSlot<Option.Option<unknown>>>,
    exit: Exit.Exit<Resp.RespValue, RedisError>
  ) {
    const c = this.c
    if (exit._tag === "Failure") {
      if (askAgain(c, exit.cause)) { for (const slot of slots) slot.resume(getAgain(c, slot.key)) }
      else for (const slot of slots) slot.resume(failWith(exit.cause, "get", slot.key))
      return
    }
    const reply = exit.value
    if (!Array.isArray(reply) || reply.length !== slots.length) {
      for (const slot of slots) slot.resume(Effect.fail(unexpected("get", slot.key, reply)))
      return
    }
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!
      slot.resume(readReply(c, "get", slot.key, reply[i]!))
    }
  }

  private readonly sendGets = (slots: ReadonlyArray<ReadSlot<Option.Option<unknown>>>): void => {
    const c = this.c
    const command = new Array<string>(slots.length + 1)
    command[0] = "MGET"
    for (let i = 0; i < slots.length; i++) command[i + 1] = c.prefix + slots[i]!.key
    // Through the client's callback when it has one: the reply (a finished Exit) is handed out at once, and a
    // fiber is forked only for what must run in one (the connection opening, room awaited).
    if (c.submit === undefined) return this.forkExit(c.sendBatch(command), (exit) => this.deliverGets(slots, exit))
    c.submit(command, (effect) => {
      const exit = exitOf(effect)
      if (exit !== undefined) this.deliverGets(slots, exit)
      else this.forkExit(effect, (exit) => this.deliverGets(slots, exit))
    })
  }

  private readonly sendEntries = (slots: ReadonlyArray<ReadSlot<Option.Option<Entry>>>): void => {
    const c = this.c
    const commands = new Array<RedisClient.Command>(slots.length * 2)
    for (let i = 0; i < slots.length; i++) {
      const fullKey = c.prefix + slots[i]!.key
      commands[2 * i] = ["GET", fullKey]
      commands[2 * i + 1] = ["PTTL", fullKey]
    }
    this.forkExit((c.seam.pipelineSettled ?? c.client.pipeline)(commands), (exit) => {
      if (exit._tag === "Failure") {
        if (askAgain(c, exit.cause)) { for (const slot of slots) slot.resume(getWithTtlAlone(c, slot.key)) }
        else for (const slot of slots) slot.resume(failWith(exit.cause, "getWithTtl", slot.key))
        return
      }
      const replies = exit.value
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i]!
        slot.resume(entryOf(c, slot.key, replies[2 * i]!, replies[2 * i + 1]!))
      }
    })
  }
}

/**
 * `get`. With the client's callback (`submit`), the probed read, unwatched (see {@link makeProbedGet}). Without, a
 * lone read sends its own GET and a batched one waits for the batch's fiber. The variant is chosen once, when the
 * backend is made, so that no read pays for the choice.
 */
const makeGet = (
  c: RedisContext,
  gets: TickBatcher<ReadSlot<Option.Option<unknown>>>,
  probed: ProbedGet | undefined
): Reads["get"] => {
  const { batchReads, client, maxArgumentLength, prefix } = c
  if (probed !== undefined) return (key) => probed(key, unwatched)
  if (!batchReads) return (key) => getAlone(c, client.send(["GET", prefix + key]), key)
  return (key) =>
    Effect.suspend(() =>
      gets.alone() || !fitsInBatch(prefix + key, maxArgumentLength)
        ? getAlone(c, client.send(["GET", prefix + key]), key)
        : Effect.callback<Option.Option<unknown>, CacheError>((resume) => {
          gets.add({ key, resume })
        })
    )
}

/** The watcher of a read nobody watches. */
const unwatched: ReadProbe<Option.Option<unknown>> = { settle: (outcome) => outcome }

/**
 * `get` told its watcher, with the client's callback (`submit`) only. A read is one Effect.callback: a lone read
 * hands its GET to the client, a batched one joins the batch, and the reply resumes the caller with its decoded
 * value, through `probe.settle`. The first reads of a tick go out at once as lone reads (see `TickBatcher`); the
 * others wait for the batch. Every read settles once: a lone read when the client calls
 * back (the reply, a typed failure, a timeout, the connection lost), a batched one when its batch does.
 */
const makeProbedGet = (
  c: RedisContext,
  gets: TickBatcher<ReadSlot<Option.Option<unknown>>>
): ProbedGet | undefined => {
  const { batchReads, maxArgumentLength, prefix, submit } = c
  if (submit === undefined) return undefined
  return (key, probe) =>
    Effect.callback<Option.Option<unknown>, CacheError>((resume) => {
      const settle = (outcome: Effect.Effect<Option.Option<unknown>, CacheError>) => resume(probe.settle(outcome))
      if (batchReads && !gets.alone() && fitsInBatch(prefix + key, maxArgumentLength)) {
        return gets.add({ key, resume: settle })
      }
      submit(["GET", prefix + key], (effect) => settle(getOutcome(c, key, effect)))
    })
}

/** `getWithTtl`: lone reads as `GET` + `PTTL` in one write, or joining the tick's batch of pairs. */
const makeGetWithTtl = (
  c: RedisContext,
  entries: TickBatcher<ReadSlot<Option.Option<Entry>>>
): Reads["getWithTtl"] => {
  if (!c.batchReads) return (key) => getWithTtlAlone(c, key)
  const { maxArgumentLength, prefix } = c
  return (key) =>
    Effect.suspend(() =>
      entries.alone() || !fitsInBatch(prefix + key, maxArgumentLength)
        ? getWithTtlAlone(c, key)
        : Effect.callback<Option.Option<Entry>, CacheError>((resume) => {
          entries.add({ key, resume })
        })
    )
}
