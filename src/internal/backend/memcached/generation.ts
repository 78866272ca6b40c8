/**
 * The namespace generation of one Memcached backend: the counter under its prefix's `generationKey`, mixed into
 * every stored key, cached in memory for `generationTtl`, and incremented by `clear`.
 *
 * Freshness: a value is used for `ttlMillis` after the read that fetched it was sent, then read again before the
 * next operation goes out (one read at a time: the operations arriving meanwhile wait for it). So an operation that
 * starts more than `ttlMillis` after another process's `clear` has completed uses the new generation; within that
 * window it may still read (and write) the entries from before the clear. This backend's own `clear` takes effect
 * for it at once.
 *
 * A failed read (the counter's server down or hung) keeps the value in hand for another `ttlMillis`: the other
 * servers' keys keep working, and no other process can clear meanwhile either, since its `clear` needs the same
 * server. Without a value in hand, the operation fails with the read's error.
 *
 * @internal
 */
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Generation from "../../../core/memcached/generation.js"
import { generationKey } from "../../../core/memcached/key.js"
import type { MemcachedClientShape } from "../../../MemcachedClient.js"
import { type MemcachedError, MemcachedReplyError } from "../../../MemcachedError.js"

/** Attempts of a read or a clear that finds the counter changing under it (created, replaced) before giving up. */
const maxAttempts = 8

const unsettled = (server: string, what: string) =>
  new MemcachedReplyError({
    kind: "SERVER_ERROR",
    command: "ma",
    server,
    message: `the generation counter kept changing while ${what} (${maxAttempts} attempts)`
  })

/**
 * The generation of one prefix, as one backend instance sees it.
 *
 * @internal
 */
export class GenerationCache {
  /** The key of the counter: reserved, never equal to an item key (see `generationKey`). */
  readonly key: Uint8Array
  private value: bigint | undefined = undefined
  /** When the read (or the `clear`) that gave `value` was sent, on `performance.now()`'s clock. */
  private sentAt = -Infinity
  /** The read in flight, shared by the operations that wait for it. */
  private pending: Deferred.Deferred<bigint, MemcachedError> | undefined = undefined

  constructor(
    readonly client: MemcachedClientShape,
    prefix: string,
    readonly ttlMillis: number,
    private readonly fork: <A, E>(effect: Effect.Effect<A, E>) => unknown
  ) {
    this.key = generationKey(prefix)
  }

  /** The server that holds the counter, for the errors made here. */
  private get where(): string {
    return this.client.options.servers[this.client.serverFor(this.key)]!.where
  }

  /** Keeps `value` unless a newer read or clear has already given one (a late reply never rolls a clear back). */
  private accept(value: bigint, sentAt: number): bigint {
    if (sentAt >= this.sentAt) {
      this.value = value
      this.sentAt = sentAt
    }
    return this.value!
  }

  /**
   * Runs `f` with the current generation: at once while the value in hand is fresh (the usual case, no Effect step
   * of its own), else after one shared read.
   */
  readonly use = <A, E>(f: (generation: bigint) => Effect.Effect<A, E>): Effect.Effect<A, E | MemcachedError> => {
    if (this.value !== undefined && performance.now() - this.sentAt < this.ttlMillis) return f(this.value)
    return Effect.flatMap(this.refresh(), f)
  }

  /** One read at a time, run in a fiber of its own so that interrupting a waiting operation stops only its wait. */
  private refresh(): Effect.Effect<bigint, MemcachedError> {
    if (this.pending !== undefined) return Deferred.await(this.pending)
    const pending = Deferred.makeUnsafe<bigint, MemcachedError>()
    this.pending = pending
    const sentAt = performance.now()
    this.fork(Effect.onExit(Effect.suspend(() => this.read(0)), (exit) =>
      Effect.sync(() => {
        this.pending = undefined
        if (Exit.isSuccess(exit)) {
          Deferred.doneUnsafe(pending, Exit.succeed(this.accept(exit.value, sentAt)))
        } else if (this.value !== undefined) {
          // Keep what is in hand for another period rather than fail every key for the one server's outage.
          this.sentAt = Math.max(this.sentAt, performance.now())
          Deferred.doneUnsafe(pending, Exit.succeed(this.value))
        } else {
          Deferred.doneUnsafe(pending, exit)
        }
      })))
    return Deferred.await(pending)
  }

  /** Reads the counter, creating it with a fresh random value when it is missing. */
  private read(attempt: number): Effect.Effect<bigint, MemcachedError> {
    if (attempt >= maxAttempts) return Effect.fail(unsettled(this.where, "reading it"))
    return Effect.flatMap(this.client.metaGet(this.key, { value: true, cas: true }), (got) => {
      if (got.kind === "miss") return this.create(attempt)
      const parsed = got.value === undefined ? undefined : Generation.parse(got.value)
      if (parsed !== undefined) return Effect.succeed(parsed)
      // Not a number (written by someone else): replaced by a fresh one, unless it changed meanwhile.
      return Effect.flatMap(
        this.client.metaSet(this.key, String(Generation.fresh()), { compareCas: got.flags.cas }),
        () => this.read(attempt + 1)
      )
    })
  }

  /** `ms … MA` of a fresh value: of several processes creating it at once, one stores and the others read its. */
  private create(attempt: number): Effect.Effect<bigint, MemcachedError> {
    const value = Generation.fresh()
    return Effect.flatMap(
      this.client.metaSet(this.key, String(value), { mode: "add" }),
      (stored) => stored.kind === "stored" ? Effect.succeed(value) : this.read(attempt + 1)
    )
  }

  /**
   * `clear`: one atomic increment on the server (`ma`), so that two processes clearing at once both move the
   * counter and neither increment is lost. A missing counter is created with a fresh random value, which is as
   * good as an increment: no entry was written under it.
   */
  readonly clear: Effect.Effect<void, MemcachedError> = Effect.suspend(() => {
    const sentAt = performance.now()
    const attempt = (n: number): Effect.Effect<bigint, MemcachedError> => {
      if (n >= maxAttempts) return Effect.fail(unsettled(this.where, "clearing"))
      return this.client.metaArithmetic(this.key, { mode: "increment", value: true }).pipe(
        Effect.flatMap((result) => {
          if (result.kind === "ok" && result.value !== undefined) return Effect.succeed(result.value)
          const value = Generation.fresh()
          return Effect.flatMap(
            this.client.metaSet(this.key, String(value), { mode: "add" }),
            (stored) => stored.kind === "stored" ? Effect.succeed(value) : attempt(n + 1)
          )
        }),
        // `CLIENT_ERROR cannot increment or decrement non-numeric value`: the key holds something else; any fresh
        // value clears, so it is overwritten.
        Effect.catchIf(
          (error: MemcachedError) => error._tag === "MemcachedReplyError" && error.kind === "CLIENT_ERROR",
          () => {
            const value = Generation.fresh()
            return Effect.as(this.client.metaSet(this.key, String(value)), value)
          }
        )
      )
    }
    return Effect.map(attempt(0), (value) => {
      this.accept(value, sentAt)
    })
  })
}
