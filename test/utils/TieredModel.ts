/**
 * The reference model of the two-tier cache, as a checker of rules over a recorded history (see `TieredHistory`).
 *
 * The model is no stricter than the documentation (README "Two-tier cache" and "Guarantees", the JSDoc of
 * `TieredCacheShape` and its options):
 *
 * - operations that overlap in time may take effect in any order; "A before B" means A answered before B was
 *   invoked (sequence numbers, so exact even within one virtual-clock millisecond);
 * - an invalidation reaches the other instances' L1 at the latest when the operation that sent it has returned
 *   (plus `busLagMs` over Redis pub/sub, which promises no bound);
 * - an entry's times are bounded from the history: it was created (a `set`'s call, a computation's start) no
 *   earlier than recorded, and stamped no later than its first L2 write was sent; its L2 life counts from no later
 *   than the end of the L2 write that stored it;
 * - a value whose L2 write failed may stay in the writer's own L1 up to `l1Ttl`.
 *
 * Rules (each violation names its rule):
 *
 * - G0: every answer is a value some operation wrote or computed for that same key (or the error of a computation
 *   of that key), created before the answer; no operation dies, and none hangs (each ends within
 *   `hangBoundMs` of virtual time, and nothing is left in flight).
 * - G1 (failure-free histories only: a failed L2 write is recovered to a no-op, so it may be lost): after
 *   `set(k, v)` returned, or a `getOrCompute` that computed `v` returned with `v` in L2, a read of `k` invoked
 *   later, on any instance, with no other change of `k` overlapping (no write, delete, expire, clear, invalidation
 *   of one of `v`'s tags, nor any other L2 write of `k`) between the start of the write and the read's answer,
 *   answers `v` while `v` is surely fresh.
 * - G2 (failure-free histories only: a failed delete or invalidation is recovered to a no-op): after a `delete`,
 *   `deleteMany`, `clear` or hard invalidation covering `k` returned, no later read answers a value of `k` created
 *   and stored before it started; after `expire` or a soft invalidation, `get` does not, and `getOrCompute` only
 *   as a stale value within its grace (see G3). Also: a read invoked after a `set`, `delete` or `clear` of `k`
 *   returned never joins a computation that began before it.
 * - G3: a value answered after its fresh period surely ended is answered only within its `ttl + grace`; after a
 *   soft invalidation, only within `grace` of the invalidation (the latest one that may have been read), and never
 *   past the entry's own `ttl + grace`. `get` answers fresh values only.
 * - G4: no instance answers a value past its L2 lifetime (its TTL plus grace from the L2 write that stored it), or,
 *   for a value whose L2 write failed, past `l1Ttl` after it was computed.
 * - G5 (failure-free histories only): after quiescence, every instance's `get(k)` answers the same (on the live
 *   clock, a key whose value's fresh period may end while the final reads run, one after another, is left out).
 *
 * @since 0.1.0
 */
import * as Option from "#effect/Option"
import type { History, OpRecord, OpSpec, ValueInfo } from "./TieredHistory.js"
import { errorName, hangBoundMs } from "./TieredHistory.js"
import type * as Slow from "./TieredSlowBackend.js"

/**
 * The rules.
 *
 * @since 0.1.0
 * @category models
 */
export type Rule = "G0" | "G1" | "G2" | "G3" | "G4" | "G5"

/**
 * One broken rule.
 *
 * @since 0.1.0
 * @category models
 */
export interface Violation {
  readonly rule: Rule
  /** The operation whose answer (or lack of one) breaks it. */
  readonly op: number
  readonly message: string
}

/**
 * What an operation answered for one key: a value, a miss (`undefined`), or a failure.
 *
 * @since 0.1.0
 * @category models
 */
export interface Answer {
  readonly op: OpRecord
  readonly key: string
  readonly value: string | undefined
  readonly error?: unknown
  /** `getOrCompute` / `getOrComputeMany`: may answer a stale value within its grace. */
  readonly staleOk: boolean
}

const writeOps = new Set<Slow.Call["operation"]>(["set", "setMany", "setIfAbsent"])
const mutatingOps = new Set<Slow.Call["operation"]>(["set", "setMany", "setIfAbsent", "delete", "deleteMany", "clear"])

/** The keys an operation changes (every key for `clear`), or the tags it invalidates. */
const keysChanged = (spec: OpSpec): ReadonlyArray<string> | "all" => {
  switch (spec.kind) {
    case "set":
    case "delete":
    case "expire":
      return [spec.key]
    case "deleteMany":
      return spec.keys
    case "clear":
      return "all"
    default:
      return []
  }
}

const touches = (spec: OpSpec, key: string): boolean => {
  const keys = keysChanged(spec)
  return keys === "all" || keys.includes(key)
}

const sharesTag = (spec: OpSpec, tags: ReadonlyArray<string>): boolean =>
  spec.kind === "invalidateTags" && spec.tags.some((tag) => tags.includes(tag))

/** Sequence number of an answer, +Infinity for an operation that never answered. */
const resOf = (op: OpRecord): number => op.resSeq < 0 ? Infinity : op.resSeq

/** Every answer of the history, one per key read. */
export const answersOf = (op: OpRecord): ReadonlyArray<Answer> => {
  const outcome = op.outcome
  if (outcome === undefined) return []
  const spec = op.spec
  switch (spec.kind) {
    case "get":
      return outcome._tag === "Option"
        ? [{ op, key: spec.key, value: Option.getOrUndefined(outcome.value) as string | undefined, staleOk: false }]
        : []
    case "getOrCompute":
      if (outcome._tag === "Value") return [{ op, key: spec.key, value: outcome.value as string, staleOk: true }]
      if (outcome._tag === "Failure") {
        return [{ op, key: spec.key, value: undefined, error: outcome.error, staleOk: true }]
      }
      return []
    case "getOrComputeMany": {
      if (outcome._tag === "Failure") {
        // The computation's failure fails the whole batch: it answers only for the keys it was asked to compute
        // (the others were found, and are not answered).
        const computed = new Set(op.runs.flatMap((run) => run.keys))
        return spec.keys.filter((key) => computed.has(key)).map((key) => ({
          op,
          key,
          value: undefined,
          error: outcome.error,
          staleOk: true
        }))
      }
      if (outcome._tag !== "Map") return []
      const map = new Map(outcome.entries)
      return spec.keys.map((key) => ({ op, key, value: map.get(key) as string | undefined, staleOk: true }))
    }
    default:
      return []
  }
}

/** What the L2 log says about one value. */
interface Stored {
  /** Every L2 write call carrying the value, in the order they started. */
  readonly writes: ReadonlyArray<Slow.Call>
  /** Latest time its fresh period may end. */
  readonly freshUpper: number
  /** Latest time its grace may end. */
  readonly graceUpper: number
  /** Latest time L2 (or, after a failed write, the writer's L1) may still hold it. */
  readonly lifeUpper: number
  /** When it was surely in L2, or answered to the caller that computed it: its first write's end, or the run's. */
  readonly firstStoredSeq: number
  /** The producing operation's (for a set) or run's end. */
  readonly producedSeq: number
  readonly producedMs: number
}

const storedOf = (history: History, info: ValueInfo): Stored => {
  const writes = history.calls.filter((call) =>
    writeOps.has(call.operation) && call.keys.some((key, i) => key === info.key && call.values[i] === info.value)
  )
  const producer = history.ops[info.op]!
  const producedSeq = info.run !== undefined
    ? (info.run.endSeq < 0 ? Infinity : info.run.endSeq)
    : resOf(producer)
  const producedMs = info.run !== undefined
    ? (info.run.endMs < 0 ? Infinity : info.run.endMs)
    : (producer.resMs < 0 ? Infinity : producer.resMs)
  // A header's fresh end is its write's send time plus the TTL; a plain value's, its L2 expiry (from the moment
  // L2 applied the write). Both are before the end of the write call.
  const stampUpper = writes.length > 0 ? Math.max(...writes.map((w) => w.endMs < 0 ? Infinity : w.endMs)) : producedMs
  const freshUpper = stampUpper + info.ttl
  const graceUpper = freshUpper + info.grace
  const writeFailed = writes.length === 0 || writes.some((w) => w.failed)
  const lifeUpper = Math.max(
    graceUpper,
    history.failed && writeFailed ? producedMs + history.spec.cache.l1Ttl : -Infinity
  )
  const firstStoredSeq = writes.length > 0 ? (writes[0]!.endSeq < 0 ? Infinity : writes[0]!.endSeq) : producedSeq
  return { writes, freshUpper, graceUpper, lifeUpper, firstStoredSeq, producedSeq, producedMs }
}

/**
 * Checks every rule over `history`. `slackMs`: the tolerance of time comparisons (a millisecond on the virtual clock,
 * more on the live clock).
 *
 * @since 0.1.0
 * @category checking
 */
export const check = (
  history: History,
  options: { readonly slackMs?: number; readonly stats?: Map<string, number> } = {}
): ReadonlyArray<Violation> => {
  const slack = options.slackMs ?? (history.backend === "memory" ? 1 : 10)
  /** Counts what was checked (for the coverage report). */
  const count = (what: string) => options.stats?.set(what, (options.stats.get(what) ?? 0) + 1)
  const violations: Array<Violation> = []
  const violate = (rule: Rule, op: OpRecord, message: string) => violations.push({ rule, op: op.id, message })
  const failureFree = !history.failed
  const stored = new Map<string, Stored>()
  const storedFor = (info: ValueInfo) => {
    let s = stored.get(info.value)
    if (s === undefined) {
      s = storedOf(history, info)
      stored.set(info.value, s)
    }
    return s
  }
  const ops = history.ops.filter((op) => op.invSeq >= 0)
  /** Whether `reader`'s instance may not yet have heard what `op` (on another instance) sent. */
  const lagging = (op: OpRecord, reader: OpRecord) =>
    history.busLagMs > 0 && !reader.quiescence && op.spec.instance !== reader.spec.instance &&
    reader.invMs < op.resMs + history.busLagMs

  // ----- G0: attribution, no defect, no hang ---------------------------------------------------------------
  for (const what of history.unfinished) {
    violations.push({ rule: "G0", op: -1, message: `still in flight after ${hangBoundMs} ms: ${what}` })
  }
  for (const op of ops) {
    if (op.outcome === undefined) {
      if (history.unfinished.length === 0) violate("G0", op, "never answered")
      continue
    }
    if (op.resMs - op.invMs > hangBoundMs) violate("G0", op, `answered after ${op.resMs - op.invMs} ms`)
    if (op.outcome._tag === "Defect") violate("G0", op, `died: ${op.outcome.cause}`)
    if (op.outcome._tag === "Map" && op.spec.kind === "getOrComputeMany") {
      for (const [key] of op.outcome.entries) {
        if (!op.spec.keys.includes(key)) violate("G0", op, `answered key ${key}, which it was not asked for`)
      }
    }
    for (const answer of answersOf(op)) {
      if (answer.error !== undefined) {
        // A failure is the failure of a computation of this key, its own or one it joined; a batch's is its own
        // computation's, whichever keys that was asked for.
        const ok = history.ops.some((producer) =>
          producer.runs.some((run) =>
            run.outcome === "failure" && errorName(producer.id, run.run) === answer.error &&
            (op.spec.kind === "getOrComputeMany" ? producer.id === op.id : run.keys.includes(answer.key)) &&
            run.startSeq < resOf(op)
          )
        )
        if (!ok) {
          violate("G0", op, `failed with ${String(answer.error)}, not a failure of a computation of ${answer.key}`)
        }
        continue
      }
      if (answer.value === undefined) continue
      const info = typeof answer.value === "string" ? history.values.get(answer.value) : undefined
      if (info === undefined) {
        violate("G0", op, `answered ${String(answer.value)} for ${answer.key}: no operation produced it`)
      } else if (info.key !== answer.key) {
        violate("G0", op, `answered ${info.value} for ${answer.key}: it was produced for ${info.key}`)
      } else if (info.createdSeq > resOf(op)) {
        violate("G0", op, `answered ${info.value} before it was produced`)
      }
    }
  }

  const answers = ops.flatMap(answersOf).filter((a) =>
    a.value !== undefined && history.values.get(a.value) !== undefined
  )
  /** Whether the answer is the answering operation's own computation (a fresh value of its own making). */
  const own = (answer: Answer, info: ValueInfo) => info.op === answer.op.id && info.run !== undefined

  // ----- G3 / G4: fresh, grace and L2 lifetime bounds ----------------------------------------------------------
  for (const answer of answers) {
    const info = history.values.get(answer.value!)!
    if (info.key !== answer.key || own(answer, info)) continue
    const s = storedFor(info)
    const op = answer.op
    if (op.invMs > s.lifeUpper + slack) {
      violate(
        "G4",
        op,
        `answered ${info.value} for ${answer.key} at +${
          op.invMs - s.lifeUpper
        } ms past its L2 life (ttl ${info.ttl} + grace ${info.grace} from its write)`
      )
      continue
    }
    if (op.invMs > s.freshUpper + slack) count(answer.staleOk ? "G3 stale answers" : "G3 stale answers of get")
    if (!answer.staleOk) {
      if (op.invMs > s.freshUpper + slack) {
        violate("G3", op, `get answered ${info.value}, stale since ${op.invMs - s.freshUpper} ms (ttl ${info.ttl})`)
      }
    } else if (op.invMs > s.freshUpper + slack && op.resMs > s.graceUpper + slack) {
      violate(
        "G3",
        op,
        `answered ${info.value} at ${op.resMs - s.graceUpper} ms past its grace (ttl ${info.ttl}, grace ${info.grace})`
      )
    }
  }

  // ----- G2: nothing deleted or invalidated comes back -------------------------------------------------------
  if (failureFree && options.stats !== undefined) {
    // Coverage: reads made after a change that covers a value stored before it (where a defect would show).
    for (const answer of ops.flatMap(answersOf)) {
      const reader = answer.op
      for (const d of ops) {
        if (d.resSeq < 0 || d.resSeq >= reader.invSeq || lagging(d, reader)) continue
        const covered = Array.from(history.values.values()).some((info) => {
          if (info.key !== answer.key) return false
          const s = storedFor(info)
          const stampedBefore = info.createdSeq < d.invSeq &&
            (s.writes.length > 0 ? s.writes[0]!.startSeq < d.invSeq : s.producedSeq < d.invSeq)
          return d.spec.kind === "invalidateTags" ?
            sharesTag(d.spec, info.tags) && stampedBefore :
            touches(d.spec, info.key) && s.firstStoredSeq < d.invSeq
        })
        if (!covered) continue
        const kind = d.spec.kind === "invalidateTags" ? `invalidateTags${d.spec.hard ? " hard" : ""}` : d.spec.kind
        if (kind !== "set") count(`G2 reads after ${kind}`)
      }
    }
  }
  if (failureFree) {
    for (const answer of answers) {
      const info = history.values.get(answer.value!)!
      if (info.key !== answer.key || own(answer, info)) continue
      const s = storedFor(info)
      const reader = answer.op
      const producer = history.ops[info.op]!
      for (const d of ops) {
        if (d.resSeq < 0 || d.resSeq >= reader.invSeq || lagging(d, reader)) continue
        const spec = d.spec
        // Stored before `d` started: its first L2 write ended (or, never written, the computation ended), and the
        // set that made it returned.
        const storedBefore = s.firstStoredSeq < d.invSeq && (info.run !== undefined || resOf(producer) < d.invSeq)
        // Stamped before `d` started: its first L2 write was sent (a tag invalidation covers it).
        const stampedBefore = info.createdSeq < d.invSeq &&
          (s.writes.length > 0 ? s.writes[0]!.startSeq < d.invSeq : s.producedSeq < d.invSeq)
        /** An L2 rewrite of the value (an `expire`) overlapping `d` and the read: it may be read, stale. */
        const rewritten = s.writes.slice(1).some((w) => w.endSeq > d.invSeq && w.startSeq < reader.resSeq)
        const deleteLike = ((spec.kind === "delete" || spec.kind === "deleteMany" || spec.kind === "clear") &&
          touches(spec, info.key)) ||
          (spec.kind === "expire" && spec.key === info.key && info.grace === 0)
        if (deleteLike && storedBefore && (!answer.staleOk || !rewritten)) {
          violate("G2", reader, `answered ${info.value}, stored before #${d.id} ${spec.kind} removed ${info.key}`)
          continue
        }
        if (spec.kind === "invalidateTags" && spec.hard && sharesTag(spec, info.tags) && stampedBefore) {
          violate("G2", reader, `answered ${info.value}, created before #${d.id} invalidated its tags hard`)
          continue
        }
        const softened = (spec.kind === "expire" && spec.key === info.key && storedBefore) ||
          (spec.kind === "invalidateTags" && !spec.hard && sharesTag(spec, info.tags) && stampedBefore)
        if (softened && !answer.staleOk) {
          violate("G2", reader, `get answered ${info.value}, made stale by #${d.id} ${spec.kind}`)
          continue
        }
        if (softened && spec.kind === "invalidateTags") {
          // Grace after an invalidation counts from the latest invalidation of its tags that may have been read.
          const latest = Math.max(
            ...ops.filter((i) =>
              i.spec.kind === "invalidateTags" && !i.spec.hard && sharesTag(i.spec, info.tags) &&
              i.invSeq < reader.resSeq
            ).map((i) => i.resMs < 0 ? Infinity : i.resMs)
          )
          const bound = Math.min(s.graceUpper, latest + info.grace)
          if (reader.resMs > bound + slack) {
            violate(
              "G3",
              reader,
              `answered ${info.value} ${
                reader.resMs - bound
              } ms past its grace (${info.grace}) after #${d.id} invalidated its tags`
            )
          }
        }
      }
      // A read invoked after a set, delete or clear of the key returned never joins a computation begun before.
      if (info.run !== undefined && info.op !== reader.id) {
        const run = info.run
        // A write sent before the answer may have landed (and be read) before its reply: across instances an
        // overtaken write is undone only after its reply, and "between the two requests" the value can be read.
        const neverStored = !s.writes.some((w) => w.startSeq < reader.resSeq)
        const change = ops.find((d) =>
          (d.spec.kind === "set" || d.spec.kind === "delete" || d.spec.kind === "deleteMany" ||
            d.spec.kind === "clear") &&
          touches(d.spec, info.key) && d.resSeq >= 0 && d.resSeq < reader.invSeq && run.startSeq < d.invSeq &&
          !lagging(d, reader)
        )
        if (neverStored && change !== undefined) {
          violate(
            "G2",
            reader,
            `answered ${info.value}, computed by #${info.op} from before #${change.id} ${change.spec.kind} of ${info.key} and never stored`
          )
        }
      }
    }
  }

  // ----- G1: no lost write -----------------------------------------------------------------------------------
  if (failureFree) {
    const reads = ops.filter((op) =>
      op.outcome !== undefined &&
      (op.spec.kind === "get" || op.spec.kind === "getOrCompute" || op.spec.kind === "getOrComputeMany")
    )
    for (const info of history.values.values()) {
      const w = history.ops[info.op]!
      if (w.resSeq < 0) continue
      if (info.run !== undefined) {
        // A getOrCompute that computed v: it answered its own value, and v reached L2.
        if (w.spec.kind !== "getOrCompute") continue
        if (w.outcome?._tag !== "Value" || w.outcome.value !== info.value) continue
      } else if (w.outcome?._tag !== "Done") continue
      const s = storedFor(info)
      if (!s.writes.some((call) => call.applied && !call.failed)) continue
      const settled = Math.max(w.resSeq, s.firstStoredSeq)
      const startSeq = Math.min(w.invSeq, info.createdSeq)
      for (const reader of reads) {
        if (reader.invSeq <= settled || reader.id === w.id) continue
        if (!answersOf(reader).some((a) => a.key === info.key)) continue
        if (lagging(w, reader)) continue
        if (!(reader.resMs + slack < info.createdMs + info.ttl)) continue
        const interfering = ops.some((m) =>
          m.id !== w.id && m.invSeq < reader.resSeq && resOf(m) > startSeq &&
          (touches(m.spec, info.key) || sharesTag(m.spec, info.tags))
        ) || history.calls.some((call) =>
          mutatingOps.has(call.operation) &&
          (call.operation === "clear" ||
            call.keys.some((key, i) => key === info.key && call.values[i] !== info.value)) &&
          call.startSeq < reader.resSeq && (call.endSeq < 0 || call.endSeq > startSeq) &&
          // The reader's own computations do not excuse it.
          !call.values.some((value) => value !== undefined && history.values.get(value)?.op === reader.id)
        )
        if (interfering) continue
        count("G1 write-read pairs")
        for (const answer of answersOf(reader)) {
          if (answer.key !== info.key || answer.value === info.value) continue
          violate(
            "G1",
            reader,
            `answered ${
              answer.value ?? (answer.error !== undefined ? `failure ${String(answer.error)}` : "a miss")
            } for ${info.key}; #${w.id} stored ${info.value} (fresh until at least +${
              info.createdMs + info.ttl - reader.resMs
            } ms) and nothing changed ${info.key} since`
          )
        }
      }
    }
  }

  // ----- G5: convergence -------------------------------------------------------------------------------------
  if (failureFree && history.unfinished.length === 0) {
    const finalReads = ops.filter((op) => op.quiescence)
    const readsFrom = Math.min(...finalReads.map((op) => op.invMs))
    const readsTo = Math.max(...finalReads.map((op) => op.resMs))
    /** Whether `value`'s fresh period may end while the final reads run (its earliest end: first write + TTL). */
    const expiresDuring = (value: string | undefined) => {
      if (value === undefined) return false
      const info = history.values.get(value)!
      const s = storedFor(info)
      const freshLower = (s.writes.length > 0 ? s.writes[0]!.startMs : s.producedMs) + info.ttl
      return freshLower <= readsTo + slack && s.freshUpper >= readsFrom - slack
    }
    for (const key of history.spec.keys) {
      const seen = finalReads.filter((op) => op.spec.kind === "get" && op.spec.key === key).map((op) => ({
        op,
        value: answersOf(op)[0]?.value
      }))
      const distinct = new Set(seen.map((s) => s.value ?? "none"))
      // On the live clock (Redis) the final reads take real time, one after another: a value whose fresh period
      // may end between the first of them and the last is fresh for the early readers and gone for the late ones.
      if (history.backend === "redis" && distinct.size > 1 && seen.some((s) => expiresDuring(s.value))) {
        count("G5 keys left out (a fresh period ending during the final reads, live clock)")
        continue
      }
      count(distinct.has("none") ? "G5 keys compared (a miss)" : "G5 keys compared (a value)")
      // Exact, the millisecond a value's fresh period ends included: L1 and L2 both keep it fresh through it.
      if (distinct.size > 1) {
        violate(
          "G5",
          seen[0]!.op,
          `after quiescence the instances disagree on ${key}: ${
            seen.map((s) => `i${s.op.spec.instance}=${s.value ?? "none"}`).join(" ")
          }`
        )
      }
    }
  }
  return violations
}

/**
 * The violations, one per line.
 *
 * @since 0.1.0
 * @category printing
 */
export const formatViolations = (violations: ReadonlyArray<Violation>): string =>
  violations.map((v) => `${v.rule} #${v.op}: ${v.message}`).join("\n")
