/**
 * A load for topology-change tests: fibers reading and writing keys whose values encode the key, each key written
 * by one fiber only, so every read can be checked against what that fiber knows was (or may have been) written.
 *
 * @since 0.1.0
 */
import { Effect, Fiber, Option } from "effect"
import type { RemoteCacheBackendShape } from "../../src/RemoteCacheBackend.js"

const absent = "<absent>"

/**
 * What the load saw.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoadReport {
  readonly ops: number
  /** Every failure a caller saw: when its operation started and failed (performance.now()), and what. */
  readonly errors: ReadonlyArray<{ readonly startedAt: number; readonly at: number; readonly message: string }>
  /**
   * Reads that returned a value the key may not hold: of another key, never written to it (`foreign`), or an
   * older or absent one after a newer write was acknowledged (`regressed`: what a promoted replica lacks when its
   * primary died before replicating an acknowledged write, Redis' asynchronous replication).
   */
  readonly wrong: ReadonlyArray<string>
  /** The reads of `wrong` that returned a value of another key or one never written to this key: corruption. */
  readonly foreign: ReadonlyArray<string>
  /** The keys of the reads of `wrong` that returned an older value of the key, or none. */
  readonly regressed: ReadonlySet<string>
  /** The slowest operation, in ms. */
  readonly slowestMillis: number
  /** Per key, the values it may hold now: the last acknowledged write and any failed write since. */
  readonly possible: ReadonlyMap<string, ReadonlySet<string>>
}

/**
 * Runs `fibers` fibers over `keys` (key i belongs to fiber i mod fibers) until `stop()` is true or each fiber has
 * done `maxOps` operations: sets, gets, getWithTtl and getMany of a few of its own keys.
 *
 * @since 0.1.0
 * @category constructors
 */
export const startLoad = (
  backend: RemoteCacheBackendShape,
  keys: ReadonlyArray<string>,
  options: {
    readonly fibers: number
    readonly stop: () => boolean
    readonly maxOps?: number
    /** Values written before the load started. */
    readonly initial?: ReadonlyMap<string, string>
  }
) =>
  Effect.gen(function*() {
    const errors: Array<{ startedAt: number; at: number; message: string }> = []
    const wrong: Array<string> = []
    const foreign: Array<string> = []
    const regressed = new Set<string>()
    // Every value ever written to each key, acknowledged or not.
    const written = new Map<string, Set<string>>()
    const possible = new Map<string, Set<string>>()
    for (const [key, value] of options.initial ?? []) {
      possible.set(key, new Set([value]))
      written.set(key, new Set([value]))
    }
    let ops = 0
    let slowest = 0
    const maxOps = options.maxOps ?? 1_000_000

    const check = (key: string, value: Option.Option<unknown>) => {
      const allowed = possible.get(key)
      if (Option.isNone(value)) {
        if (allowed !== undefined && !allowed.has(absent)) {
          wrong.push(`${key}: none, expected one of ${[...allowed].join(" ")}`)
          regressed.add(key)
        }
        return
      }
      const text = value.value
      if (typeof text !== "string" || !text.startsWith(`${key}#`)) {
        wrong.push(`${key}: value of another key ${text}`)
        foreign.push(`${key}: value of another key ${text}`)
      } else if (allowed === undefined || !allowed.has(text)) {
        if (written.get(key)?.has(text)) {
          wrong.push(`${key}: ${text} is older than the last acknowledged write`)
          regressed.add(key)
        } else {
          wrong.push(`${key}: ${text} was never written`)
          foreign.push(`${key}: ${text} was never written`)
        }
      }
    }

    const worker = (index: number) =>
      Effect.gen(function*() {
        const mine = keys.filter((_, i) => i % options.fibers === index)
        let n = 0
        for (let step = 0; step < maxOps && !options.stop(); step++) {
          const key = mine[step % mine.length]!
          const roll = (step * 7 + index) % 10
          const started = performance.now()
          let outcome: Effect.Effect<void, unknown>
          if (roll < 5) {
            const value = `${key}#${index}.${n++}`
            const all = written.get(key) ?? new Set<string>()
            all.add(value)
            written.set(key, all)
            outcome = Effect.matchEffect(backend.set(key, value), {
              onSuccess: () => Effect.sync(() => possible.set(key, new Set([value]))),
              onFailure: (error) =>
                Effect.zipRight(
                  Effect.sync(() => {
                    // Never acknowledged: the key may still be absent.
                    const set = possible.get(key) ?? new Set<string>([absent])
                    set.add(value)
                    possible.set(key, set)
                  }),
                  Effect.fail(error)
                )
            })
          } else if (roll < 7) {
            outcome = Effect.map(backend.get(key), (value) => check(key, value))
          } else if (roll < 8) {
            outcome = Effect.map(backend.getWithTtl(key), (entry) => check(key, Option.map(entry, (e) => e.value)))
          } else {
            const some = [key, ...mine.slice(0, 3)]
            outcome = Effect.map(
              backend.getMany(some),
              (values) => values.forEach((value, i) => check(some[i]!, value))
            )
          }
          const result = yield* Effect.either(outcome)
          const took = performance.now() - started
          if (took > slowest) slowest = took
          ops++
          if (result._tag === "Left") {
            const error = result.left as { message?: string; _tag?: string }
            errors.push({ startedAt: started, at: performance.now(), message: `${error._tag}: ${error.message}` })
          }
        }
      })

    const fibers = yield* Effect.forEach(
      Array.from({ length: options.fibers }, (_, i) => i),
      (i) => Effect.fork(worker(i))
    )
    return Effect.map(Fiber.joinAll(fibers), (): LoadReport => ({
      ops,
      errors,
      wrong,
      foreign,
      regressed,
      slowestMillis: slowest,
      possible
    }))
  })

/**
 * Reads every key written by the load and lists those whose value is not one the load may have left: a lost
 * acknowledged write.
 *
 * @since 0.1.0
 * @category constructors
 */
export const lostWrites = (backend: RemoteCacheBackendShape, report: LoadReport) =>
  Effect.gen(function*() {
    const keys = [...report.possible.keys()]
    const values = yield* backend.getMany(keys)
    const lost: Array<string> = []
    values.forEach((value, i) => {
      const key = keys[i]!
      const allowed = report.possible.get(key)!
      const ok = Option.isNone(value)
        ? allowed.has(absent)
        : typeof value.value === "string" && allowed.has(value.value)
      if (!ok) {
        lost.push(`${key}: ${Option.getOrUndefined(value)} not in ${[...allowed].join(" ")}`)
      }
    })
    return lost
  })
