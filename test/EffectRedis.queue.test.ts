// Effect's own PersistedQueue with its Redis store (`PersistedQueue.layerStoreRedis`) on EffectRedis over our
// RedisClient, against the test's own redis-server (Effect 4 only, like EffectRedis). The store polls with Lua
// scripts through `eval` and plain commands through `send` (it needs no `reserve`): offer / take / ack / retry /
// dead letter as PersistedQueue documents them, then interruption, a scope closed mid-take, a server killed while a
// worker waits, and hostile names, ids and values.
import { assert, describe, expect, it, layer } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Schedule, Schema, Scope } from "effect"
import { PersistedQueue, Redis } from "effect/persistence"
import * as EffectRedis from "../src/EffectRedis.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisServerModule from "./utils/RedisServer.js"
import { RedisServer } from "./utils/RedisServer.js"

let counter = 0
const fresh = (name: string) => `pq${process.pid}-${++counter}-${name}`

const Job = Schema.Struct({ n: Schema.Number, text: Schema.optional(Schema.String) })

/** Our client on `port`, Effect's Redis over it, and PersistedQueue's Redis store with a short poll interval. */
const queueLayer = (port: number, prefix: string, client?: Partial<RedisClient.RedisClientOptions>) =>
  PersistedQueue.layer.pipe(
    Layer.provideMerge(PersistedQueue.layerStoreRedis({ prefix, pollInterval: "20 millis" })),
    Layer.provideMerge(EffectRedis.layer()),
    Layer.provideMerge(RedisClient.layer({ host: "127.0.0.1", port, ...client }))
  )

const withQueue = <A, E>(
  prefix: string,
  effect: Effect.Effect<
    A,
    E,
    PersistedQueue.PersistedQueueFactory | PersistedQueue.PersistedQueueStore | Redis.Redis | RedisClient.RedisClient
  >
) => Effect.flatMap(RedisServer, (server) => Effect.provide(effect, queueLayer(server.port, prefix)))

const makeQueue = (name: string, options?: { readonly maxAttempts?: number }) =>
  PersistedQueue.make({
    name,
    schema: Job,
    maxAttempts: options?.maxAttempts,
    retrySchedule: Schedule.spaced("10 millis")
  })

/** A take that finds nothing within `millis`. */
const nothingWithin = <A>(
  queue: PersistedQueue.PersistedQueue<A>,
  millis = 300
) => Effect.map(Effect.timeoutOption(queue.take(() => Effect.void), millis), Option.isNone)

describe("PersistedQueue.layerStoreRedis on EffectRedis", () => {
  layer(RedisServer.layer(), { excludeTestServices: true })((it) => {
    it.effect("offer / take: the value and its metadata, completed on success, never delivered again", () => {
      const prefix = `${fresh("p")}:`
      return withQueue(
        prefix,
        Effect.gen(function*() {
          const redis = yield* Redis.Redis
          const queue = yield* makeQueue("jobs")
          const id = yield* queue.offer({ n: 1, text: "one" })
          const seen = yield* queue.take((value, meta) => Effect.succeed({ value, meta }))
          expect(seen).toStrictEqual({ value: { n: 1, text: "one" }, meta: { id, attempts: 1 } })
          expect(yield* nothingWithin(queue)).toBe(true)
          // Completed: no pending entry, no attempts left, no lock owner.
          expect(yield* redis.send("HLEN", `${prefix}jobs:pending`)).toBe(0)
          expect(yield* redis.send("HLEN", `${prefix}jobs:attempts`)).toBe(0)
          expect(yield* redis.send("HLEN", `${prefix}jobs:owners`)).toBe(0)
        })
      )
    })

    it.effect("offers are taken in order; a custom id is stored once (idempotency key)", () =>
      withQueue(
        `${fresh("p")}:`,
        Effect.gen(function*() {
          const queue = yield* makeQueue("order")
          yield* queue.offer({ n: 1 }, { id: "same" })
          yield* queue.offer({ n: 2 })
          yield* queue.offer({ n: 99 }, { id: "same" })
          yield* queue.offer({ n: 3 })
          const taken: Array<number> = []
          for (let i = 0; i < 3; i++) yield* queue.take((value) => Effect.sync(() => taken.push(value.n)))
          expect(taken).toStrictEqual([1, 2, 3])
          expect(yield* nothingWithin(queue)).toBe(true)
          // Still reserved after completion ("untilRemoved"); "untilExecuted" re-opens it.
          yield* queue.offer({ n: 4 }, { id: "same" })
          expect(yield* nothingWithin(queue)).toBe(true)
          yield* queue.offer({ n: 5 }, { id: "same", deduplicate: "untilExecuted" })
          expect(yield* queue.take((value, meta) => Effect.succeed([value.n, meta.id]))).toStrictEqual([5, "same"])
        })
      ))

    it.effect("a failed handler is retried with the next attempt; the failure reaches the caller", () =>
      withQueue(
        `${fresh("p")}:`,
        Effect.gen(function*() {
          const queue = yield* makeQueue("retry")
          const id = yield* queue.offer({ n: 7 })
          const first = yield* Effect.flip(queue.take(() => Effect.fail("boom" as const)))
          expect(first).toBe("boom")
          const second = yield* queue.take((value, meta) => Effect.succeed([value.n, meta.id, meta.attempts]))
          expect(second).toStrictEqual([7, id, 2])
          expect(yield* nothingWithin(queue)).toBe(true)
        })
      ))

    it.effect("past maxAttempts the element is dead-lettered in the failed list and not delivered again", () => {
      const prefix = `${fresh("p")}:`
      return withQueue(
        prefix,
        Effect.gen(function*() {
          const redis = yield* Redis.Redis
          const queue = yield* makeQueue("dead", { maxAttempts: 2 })
          const id = yield* queue.offer({ n: 1 })
          const attempts: Array<number> = []
          for (let i = 0; i < 2; i++) {
            yield* Effect.flip(
              queue.take((_, meta) =>
                Effect.andThen(Effect.sync(() => attempts.push(meta.attempts)), Effect.fail("no"))
              )
            )
          }
          expect(attempts).toStrictEqual([1, 2])
          expect(yield* nothingWithin(queue)).toBe(true)
          const failed = yield* redis.send<Array<string>>("LRANGE", `${prefix}dead:failed`, "0", "-1")
          expect(failed).toHaveLength(1)
          const record = JSON.parse(failed[0]!)
          expect(record).toMatchObject({ id, element: { n: 1 }, attempts: 2 })
          expect(record.lastFailure).toContain("no")
        })
      )
    })

    it.effect("cleanup: completed ids past timeToLive go, dead letters only with failedTimeToLive; ids free again", () => {
      const prefix = `${fresh("p")}:`
      return withQueue(
        prefix,
        Effect.gen(function*() {
          const redis = yield* Redis.Redis
          const store = yield* PersistedQueue.PersistedQueueStore
          const queue = yield* makeQueue("cleanup", { maxAttempts: 1 })
          yield* queue.offer({ n: 1 }, { id: "done" })
          yield* queue.offer({ n: 2 }, { id: "dead" })
          yield* queue.take(() => Effect.void)
          yield* Effect.flip(queue.take(() => Effect.fail("no")))
          const ids = redis.send<Array<string>>("ZRANGE", `${prefix}cleanup:ids`, "0", "-1")
          const failed = redis.send<number>("LLEN", `${prefix}cleanup:failed`)
          expect([...(yield* ids)].sort()).toStrictEqual(["dead", "done"])
          // The cutoff is "completed before now": repeated until the clock has passed the completion.
          const cleanUntil = <A>(
            options: Parameters<typeof store.cleanup>[0],
            read: Effect.Effect<A, unknown>,
            done: (a: A) => boolean
          ) =>
            store.cleanup(options).pipe(
              Effect.andThen(read),
              Effect.repeat({ until: done, schedule: Schedule.spaced("20 millis") }),
              Effect.timeout("10 seconds")
            )
          yield* cleanUntil(
            { timeToLive: Duration.zero, failedTimeToLive: undefined },
            ids,
            (left) => left.length === 1
          )
          expect(yield* ids).toStrictEqual(["dead"])
          expect(yield* failed).toBe(1)
          yield* cleanUntil(
            { timeToLive: Duration.zero, failedTimeToLive: Duration.zero },
            failed,
            (left) => left === 0
          )
          expect(yield* ids).toStrictEqual([])
          // Both ids can be offered again and are delivered.
          yield* queue.offer({ n: 3 }, { id: "done" })
          yield* queue.offer({ n: 4 }, { id: "dead" })
          const seen: Array<string> = []
          for (let i = 0; i < 2; i++) yield* queue.take((_, meta) => Effect.sync(() => seen.push(meta.id)))
          expect(seen).toStrictEqual(["done", "dead"])
        })
      )
    })

    it.effect("a delayed offer is not delivered before its delay", () =>
      withQueue(
        `${fresh("p")}:`,
        Effect.gen(function*() {
          const queue = yield* makeQueue("delayed")
          const offeredAt = Date.now()
          yield* queue.offer({ n: 1 }, { delay: "400 millis" })
          yield* queue.take(() => Effect.void)
          expect(Date.now() - offeredAt).toBeGreaterThanOrEqual(400)
        })
      ))

    it.effect("a payload the schema cannot decode is dead-lettered and the next element is taken", () => {
      const prefix = `${fresh("p")}:`
      return withQueue(
        prefix,
        Effect.gen(function*() {
          const redis = yield* Redis.Redis
          const queue = yield* makeQueue("bad")
          yield* redis.send("RPUSH", `${prefix}bad`, JSON.stringify({ id: "bad", element: { n: "not a number" } }))
          yield* queue.offer({ n: 2 })
          expect(yield* queue.take((value) => Effect.succeed(value.n))).toBe(2)
          const failed = yield* redis.send<Array<string>>("LRANGE", `${prefix}bad:failed`, "0", "-1")
          expect(failed.map((record) => JSON.parse(record).id)).toStrictEqual(["bad"])
        })
      )
    })

    it.effect("interrupting a take that waits on an empty queue leaves no phantom taker", () =>
      withQueue(
        `${fresh("p")}:`,
        Effect.gen(function*() {
          const queue = yield* makeQueue("interrupt-waiting")
          const waiting = yield* Effect.forkChild(queue.take(() => Effect.void))
          yield* Effect.sleep("100 millis")
          yield* Fiber.interrupt(waiting)
          yield* queue.offer({ n: 1 })
          const seen = yield* queue.take((value, meta) => Effect.succeed([value.n, meta.attempts]))
          expect(seen).toStrictEqual([1, 1])
        })
      ))

    it.effect("interrupting a handler releases the element without counting the attempt", () =>
      withQueue(
        `${fresh("p")}:`,
        Effect.gen(function*() {
          const queue = yield* makeQueue("interrupt-handler", { maxAttempts: 1 })
          const started = yield* Deferred.make<void>()
          yield* queue.offer({ n: 1 })
          const handler = yield* Effect.forkChild(
            queue.take(() => Effect.andThen(Deferred.succeed(started, undefined), Effect.never))
          )
          yield* Deferred.await(started)
          yield* Fiber.interrupt(handler)
          // maxAttempts is 1: had the interruption counted, the element would be dead.
          expect(yield* queue.take((value, meta) => Effect.succeed([value.n, meta.attempts]))).toStrictEqual([1, 1])
        })
      ))

    it.effect("closing the layer's scope mid-take requeues the element for the next worker", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        const prefix = `${fresh("p")}:`
        const started = yield* Deferred.make<number>()
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(queueLayer(server.port, prefix), scope)
        yield* Effect.gen(function*() {
          const queue = yield* makeQueue("scope")
          yield* queue.offer({ n: 1 })
          yield* queue.offer({ n: 2 })
          // The worker runs in the same scope, as under `Layer.launch`: closing it interrupts the worker first.
          yield* Effect.forkIn(
            queue.take((value) => Effect.andThen(Deferred.succeed(started, value.n), Effect.never)),
            scope
          )
        }).pipe(Effect.provide(context))
        expect(yield* Deferred.await(started)).toBe(1)
        yield* Scope.close(scope, Exit.void)
        // A new worker (a new client, store and factory) gets both, the interrupted one not counted as an attempt.
        const seen = yield* Effect.gen(function*() {
          const queue = yield* makeQueue("scope")
          const out: Array<[number, number]> = []
          for (let i = 0; i < 2; i++) {
            yield* queue.take((value, meta) => Effect.sync(() => out.push([value.n, meta.attempts])))
          }
          return out.sort()
        }).pipe(Effect.provide(queueLayer(server.port, prefix)))
        expect(seen).toStrictEqual([[1, 1], [2, 1]])
      }))

    it.effect("hostile queue names, ids and values: globs, hash tags, separators, unicode, JSON lookalikes", () =>
      withQueue(
        `${fresh("p")}*?[x]{t}:`,
        Effect.gen(function*() {
          const queue = yield* makeQueue("we{ird} *?[q]\\ ñ 🚀:pending")
          const values = [
            { n: 1, text: "\"}],\u0000\n\r{\"id\":\"forged\"" },
            { n: 2, text: "🚀".repeat(1000) },
            { n: 3, text: "" }
          ]
          const ids = ["id:{x}*?", "ñ 🚀 \u0000", "\"quoted\""]
          for (let i = 0; i < 3; i++) expect(yield* queue.offer(values[i]!, { id: ids[i]! })).toBe(ids[i])
          const seen: Array<[string, unknown]> = []
          for (let i = 0; i < 3; i++) yield* queue.take((value, meta) => Effect.sync(() => seen.push([meta.id, value])))
          expect(seen).toStrictEqual(ids.map((id, i) => [id, values[i]]))
        })
      ))
  })

  // Its own server, paused (SIGSTOP: it keeps its sockets and answers nothing) while a handler finishes.
  it.live("a server paused while a handler finishes: the acknowledgement waits for it, the element is not redelivered", () =>
    Effect.gen(function*() {
      const server = yield* RedisServerModule.make()
      const prefix = `${fresh("p")}:`
      yield* Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const queue = yield* makeQueue("paused")
        yield* queue.offer({ n: 1 })
        const taking = yield* Effect.forkChild(queue.take((value) => Effect.as(server.pause, value.n)))
        // The handler has succeeded; its completion cannot reach the server, so take has not returned.
        const early = yield* Effect.timeoutOption(Fiber.await(taking), "1 second")
        expect(Option.isNone(early)).toBe(true)
        yield* server.resume
        expect(yield* Fiber.join(taking).pipe(Effect.timeout("30 seconds"))).toBe(1)
        expect(yield* redis.send("HLEN", `${prefix}paused:pending`)).toBe(0)
        expect(yield* nothingWithin(queue)).toBe(true)
      }).pipe(
        Effect.provide(
          queueLayer(server.port, prefix, { commandTimeout: "300 millis", connectTimeout: "500 millis" })
        )
      )
    }).pipe(Effect.scoped))

  // Its own server, killed and started again on the same port (no persistence: the keys are gone).
  it.live("a server killed while a worker waits: offers fail typed, the worker takes again once it is back", () =>
    Effect.gen(function*() {
      const server = yield* RedisServerModule.make()
      const prefix = `${fresh("p")}:`
      yield* Effect.gen(function*() {
        const queue = yield* makeQueue("outage")
        const waiting = yield* Effect.forkChild(queue.take((value) => Effect.succeed(value.n)))
        yield* Effect.sleep("100 millis")
        yield* server.kill
        const error = yield* Effect.flip(queue.offer({ n: 1 }))
        assert.instanceOf(error, PersistedQueue.PersistedQueueError)
        assert.instanceOf(error.cause, Error)
        yield* server.start
        // The offer is retried by the caller once the client has reconnected.
        yield* queue.offer({ n: 2 }).pipe(Effect.retry(Schedule.spaced("50 millis")), Effect.timeout("20 seconds"))
        expect(yield* Fiber.join(waiting)).toBe(2)
      }).pipe(
        Effect.provide(
          queueLayer(server.port, prefix, { commandTimeout: "500 millis", connectTimeout: "500 millis" })
        )
      )
    }).pipe(Effect.scoped))
})
