import { describe, expect, it, layer } from "@effect/vitest"
import { Cause, Effect, Either, Exit, Fiber, Option, Redacted } from "effect"
import { defaultLoneReads } from "../src/core/client/batch.js"
import { PartFailure } from "../src/core/cluster/partFailure.js"
import { keySlot } from "../src/core/cluster/slot.js"
import { ClientSeamId, type WithClientSeam } from "../src/internal/seams.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisCluster from "../src/RedisCluster.js"
import { type RedisError, RedisReplyError, RedisTimeoutError } from "../src/RedisError.js"
import type { CacheError, RemoteCacheBackendShape } from "../src/RemoteCacheBackend.js"
import * as Resp from "../src/Resp.js"
import * as Serializer from "../src/Serializer.js"
import { RedisCluster as TestCluster } from "./utils/RedisCluster.js"
import { RedisServer } from "./utils/RedisServer.js"

/** `n` times `item`: the lone reads a tick sends before it batches. */
const lone = <A>(item: A, n = defaultLoneReads): Array<A> => Array.from({ length: n }, () => item)

const errorShape = (error: CacheError) => ({
  _tag: error._tag,
  operation: error.operation,
  key: error.key,
  message: error.message,
  cause: (error.cause as { _tag?: string } | undefined)?._tag,
  code: (error.cause as { code?: string } | undefined)?.code
})

const v8Encode = Serializer.v8.encodeSync!
const v8Decode = Serializer.v8.decodeSync!

/** The value stored under `poison` makes the serializers below break their contract. */
const poison = "poison"
const isPoison = (bytes: Uint8Array) => {
  const decoded = v8Decode(bytes)
  return Either.isRight(decoded) && decoded.right === poison
}

/** A serializer whose `decodeSync` throws for one value, as its contract forbids. */
const throwingSync: Serializer.SerializerShape = Serializer.make({
  name: "throwing-sync",
  encodeSync: v8Encode,
  decodeSync: (bytes) => {
    if (isPoison(bytes)) throw new Error("decodeSync threw")
    return v8Decode(bytes)
  }
})

/** A serializer with only the Effect forms, whose `decode` throws when called for one value. */
const throwingEffect: Serializer.SerializerShape = {
  name: "throwing-effect",
  encode: Serializer.v8.encode,
  decode: (bytes) => {
    if (isPoison(bytes)) throw new Error("decode threw")
    return Serializer.v8.decode(bytes)
  }
}

/** A serializer with only the Effect forms, whose `decode` Effect dies for one value. */
const dyingEffect: Serializer.SerializerShape = {
  name: "dying-effect",
  encode: Serializer.v8.encode,
  decode: (bytes) =>
    Effect.suspend(() => isPoison(bytes) ? Effect.die(new Error("decode died")) : Serializer.v8.decode(bytes))
}

/** Runs `body` and returns the unhandled rejections and uncaught exceptions seen meanwhile (and a moment after). */
const watchingEscapes = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const escaped: Array<unknown> = []
      const listener = (reason: unknown) => void escaped.push(reason)
      process.on("unhandledRejection", listener)
      process.on("uncaughtException", listener)
      return { escaped, listener }
    }),
    ({ escaped }) =>
      Effect.map(
        Effect.zipLeft(body, Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))),
        (a) => [a, escaped] as const
      ),
    ({ listener }) =>
      Effect.sync(() => {
        process.off("unhandledRejection", listener)
        process.off("uncaughtException", listener)
      })
  )

/**
 * Whether `exit` is the defect of a read whose serializer broke its contract: a throw is turned into a defect
 * naming the serializer; an Effect that dies dies with its own defect, in its reader's fiber only.
 */
const isSerializerDefect = (exit: Exit.Exit<unknown, unknown>, serializer: string) =>
  Exit.isFailure(exit) && Cause.dieOption(exit.cause).pipe(
    Option.exists((defect) =>
      defect instanceof Error && (serializer === dyingEffect.name
        ? defect.message === "decode died"
        : defect.name === "SerializerDefect" && defect.message.includes(`"${serializer}"`) &&
          defect.cause instanceof Error && /threw$/.test(defect.cause.message))
    )
  )

const backendOn = (
  server: RedisServer["Type"],
  options: RedisBackend.MakeOptions,
  client: RedisClient.RedisClientOptions = {}
) =>
  Effect.flatMap(
    RedisClient.make({ host: server.host, port: server.port, commandTimeout: "3 seconds", ...client }),
    (made) => Effect.provideService(RedisBackend.make(options), RedisClient.RedisClient, made)
  )

/** Reads `keys` concurrently (all in one tick) with `read`, each read's Exit in order. */
const readAll = <A>(
  keys: ReadonlyArray<string>,
  read: (key: string) => Effect.Effect<A, CacheError>
) => Effect.forEach(keys, (key) => Effect.exit(read(key)), { concurrency: "unbounded" })

describe("RedisBackend: a serializer that throws fails only the read of its value", () => {
  layer(RedisServer.layer(), { excludeTestServices: true })((it) => {
    for (const serializer of [throwingSync, throwingEffect, dyingEffect]) {
      it.scoped(
        `${serializer.name}: lone gets among 200 others in flight, batched or not`,
        () =>
          Effect.gen(function*() {
            const server = yield* RedisServer
            for (const batchReads of [false, true]) {
              const prefix = `s1-${serializer.name}-${batchReads}:`
              const cache = yield* backendOn(server, { prefix, serializer, batchReads })
              yield* cache.setMany([["good", "value"], ["bad", poison]])
              // The bad read among 60 others, all lone reads of their tick even with batching.
              const keys = [...lone("good", 30), "bad", ...lone("good", 30)]
              const [exits, escaped] = yield* watchingEscapes(readAll(keys, cache.get))
              expect(escaped).toStrictEqual([])
              exits.forEach((exit, i) => {
                if (keys[i] === "bad") expect(isSerializerDefect(exit, serializer.name)).toBe(true)
                else expect(exit).toStrictEqual(Exit.succeed(Option.some("value")))
              })
              // 200 other reads in flight on the same connection as the bad one (batched with it, with batching).
              const many = [...lone("good", 100), "bad", ...lone("good", 100)]
              const [manyExits] = yield* watchingEscapes(readAll(many, (key) => cache.get(key)))
              expect(manyExits.filter(Exit.isSuccess)).toHaveLength(200)
              expect(isSerializerDefect(manyExits[100]!, serializer.name)).toBe(true)
              // The connection is fine afterwards.
              expect(yield* cache.get("good")).toStrictEqual(Option.some("value"))
            }
          }).pipe(Effect.timeout("20 seconds")),
        { timeout: 30_000 }
      )

      it.scoped(
        `${serializer.name}: a batched get and getWithTtl fail alone, no escape, later reads work`,
        () =>
          Effect.gen(function*() {
            const server = yield* RedisServer
            const prefix = `s2-${serializer.name}:`
            const cache: RemoteCacheBackendShape = yield* backendOn(server, { prefix, serializer })
            yield* cache.setMany([["good", "value"], ["bad", poison]])
            // The first 64 reads of the tick go alone; the bad key is in the batch after them.
            const keys = [...lone("good"), "good", "bad", "good", "missing", "good"]
            const [exits, escaped] = yield* watchingEscapes(readAll(keys, cache.get))
            const [entryExits, entryEscaped] = yield* watchingEscapes(readAll(keys, cache.getWithTtl))
            expect(escaped).toStrictEqual([])
            expect(entryEscaped).toStrictEqual([])
            keys.forEach((key, i) => {
              if (key === "bad") {
                expect(isSerializerDefect(exits[i]!, serializer.name)).toBe(true)
                expect(isSerializerDefect(entryExits[i]!, serializer.name)).toBe(true)
                return
              }
              const value = key === "missing" ? Option.none() : Option.some("value")
              expect(exits[i]!).toStrictEqual(Exit.succeed(value))
              expect(Exit.map(entryExits[i]!, Option.map((entry) => entry.value))).toStrictEqual(Exit.succeed(value))
            })
            // As getMany, which reads them all in one call, fails.
            expect(isSerializerDefect(yield* Effect.exit(cache.getMany(["good", "bad"])), serializer.name)).toBe(true)
            // Later reads, lone and batched, are unaffected.
            const again = yield* Effect.forEach(lone("good", 100), cache.get, { concurrency: "unbounded" })
            expect(again.every((value) => Option.getOrUndefined(value) === "value")).toBe(true)
          }).pipe(Effect.timeout("20 seconds")),
        { timeout: 30_000 }
      )
    }
  })
})

describe("RedisBackend: one caller's bad key fails that caller alone", () => {
  const user = { name: "limited", password: "limited-pw" }
  layer(
    RedisServer.layer({ args: ["--user", user.name, "on", `>${user.password}`, "~allowed:*", "+@all"] }),
    { excludeTestServices: true }
  )((it) => {
    it.scoped(
      "a key outside the ACL user's key pattern: 86 readable keys + 1 forbidden in one batch",
      () =>
        Effect.gen(function*() {
          const server = yield* RedisServer
          const writer = yield* backendOn(server, { prefix: "" })
          const readable = Array.from({ length: 86 }, (_, i) => `allowed:${i}`)
          yield* writer.setMany(readable.map((key, i) => [key, i]))
          yield* writer.set("allowed:first", "first")
          const cache = yield* backendOn(server, { prefix: "" }, {
            username: user.name,
            password: Redacted.make(user.password)
          })
          const loneGet = yield* Effect.flip(cache.get("forbidden:x"))
          const loneEntry = yield* Effect.flip(cache.getWithTtl("forbidden:x"))
          expect(errorShape(loneGet)).toMatchObject({ _tag: "CacheReplyError", code: "NOPERM", key: "forbidden:x" })
          expect(errorShape(loneEntry)).toMatchObject({ _tag: "CacheReplyError", key: "forbidden:x" })
          // The first 64 reads of the tick go alone; the 87 others are one batch.
          const keys = [...lone("allowed:first"), ...readable.slice(0, 40), "forbidden:x", ...readable.slice(40)]
          for (const read of ["get", "getWithTtl"] as const) {
            const exits = yield* readAll(keys, (key) =>
              read === "get"
                ? cache.get(key)
                : Effect.map(cache.getWithTtl(key), Option.map((entry) => entry.value)))
            const failed = exits.flatMap((exit, i) => Exit.isFailure(exit) ? [keys[i]] : [])
            expect(failed).toStrictEqual(["forbidden:x"])
            const failure = exits[keys.indexOf("forbidden:x")]!
            expect(Exit.isFailure(failure) && Cause.failureOption(failure.cause).pipe(Option.map(errorShape)))
              .toStrictEqual(Option.some(errorShape(read === "get" ? loneGet : loneEntry)))
            keys.forEach((key, i) => {
              if (key === "forbidden:x") return
              const expected = key === "allowed:first" ? "first" : Number(key.split(":")[1])
              expect(exits[i]!).toStrictEqual(Exit.succeed(Option.some(expected)))
            })
          }
        }).pipe(Effect.timeout("20 seconds")),
      { timeout: 30_000 }
    )
  })

  layer(RedisServer.layer(), { excludeTestServices: true })((it) => {
    it.scoped("a key over maxArgumentLength in a batch fails alone, as a lone read does", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        const cache = yield* backendOn(server, { prefix: "long:" }, { maxArgumentLength: 100 })
        yield* cache.setMany([["a", 1], ["b", 2]])
        const tooLong = "x".repeat(100)
        const loneGet = yield* Effect.flip(cache.get(tooLong))
        const loneEntry = yield* Effect.flip(cache.getWithTtl(tooLong))
        expect(loneGet._tag).toBe("CacheInputError")
        // A key of multi-byte characters whose UTF-16 length fits but whose UTF-8 length does not.
        const tooLongUtf8 = "é".repeat(49)
        const keys = [...lone("a"), "a", tooLong, "b", tooLongUtf8, "missing"]
        for (const read of ["get", "getWithTtl"] as const) {
          const exits = yield* readAll(keys, (key) =>
            read === "get"
              ? cache.get(key)
              : Effect.map(cache.getWithTtl(key), Option.map((entry) => entry.value)))
          keys.forEach((key, i) => {
            const exit = exits[i]!
            if (key === tooLong || key === tooLongUtf8) {
              const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
              expect(Option.map(error, errorShape)).toMatchObject(
                Option.some({ ...errorShape(read === "get" ? loneGet : loneEntry), message: expect.any(String), key })
              )
              return
            }
            expect(exit).toStrictEqual(
              Exit.succeed(key === "missing" ? Option.none() : Option.some(key === "a" ? 1 : 2))
            )
          })
        }
      }).pipe(Effect.timeout("20 seconds")), { timeout: 30_000 })
  })
})

/**
 * A cluster client by hand: keys under `down:` live on a node that answers nothing (its share times out), keys
 * under `acl:` on a node whose share is answered `NOPERM` for the one key `acl:no`. `sendSettled` answers a split
 * `MGET` share by share, `send` and `pipeline` fail whole when any share does, as a cluster client's do.
 */
const fakeCluster = Effect.gen(function*() {
  // Never connects: every command is answered below.
  const base = yield* RedisClient.make({ host: "127.0.0.1", port: 1 })
  const store = new Map<string, Uint8Array>()
  const sent: Array<string> = []
  const timeout = (command: string) =>
    new RedisTimeoutError({ message: "timed out", phase: "reply", timeoutMillis: 100, command })
  const noperm = (command: string) =>
    new RedisReplyError({ message: "NOPERM No permissions to access a key", code: "NOPERM", command })
  const valueOf = (key: Resp.RespValue | string | Uint8Array) => store.get(String(key)) ?? null
  // One key's reply in a lone command: its node's error, else its value.
  const lone = (command: string, key: string) =>
    key.startsWith("down:")
      ? Effect.fail(timeout(command))
      : key === "acl:no"
      ? Effect.fail(noperm(command))
      : Effect.succeed(valueOf(key))
  const shareFailure = (keys: ReadonlyArray<string>) =>
    keys.some((key) => key.startsWith("down:"))
      ? timeout("MGET")
      : keys.includes("acl:no")
      ? noperm("MGET")
      : undefined
  const settled = (keys: ReadonlyArray<string>): Array<Resp.RespValue> => {
    const down = shareFailure(keys.filter((key) => key.startsWith("down:")))
    const acl = shareFailure(keys.filter((key) => key.startsWith("acl:")))
    return keys.map((key) =>
      key.startsWith("down:")
        ? new PartFailure(down!)
        : key.startsWith("acl:") && acl !== undefined
        ? new PartFailure(acl)
        : valueOf(key)
    )
  }
  const sendSettled = (command: RedisClient.Command) =>
    Effect.sync(() => {
      const keys = command.slice(1).map(String)
      sent.push(`settled MGET/${keys.length}`)
      return settled(keys)
    })
  const client: RedisClient.RedisClientShape & WithClientSeam = {
    ...base,
    [ClientSeamId]: { sendSettled },
    primaries: Effect.succeed([]),
    send: (command) =>
      Effect.suspend((): Effect.Effect<Resp.RespValue, RedisError> => {
        const [name, ...args] = command.map(String)
        sent.push(`${name}/${args.length}`)
        if (name === "GET") return lone("GET", args[0]!)
        if (name === "MGET") {
          const failure = shareFailure(args)
          return failure !== undefined ? Effect.fail(failure) : Effect.succeed(args.map(valueOf))
        }
        if (name === "MSET") {
          for (let i = 0; i < args.length; i += 2) store.set(args[i]!, command[i + 2] as Uint8Array)
          return Effect.succeed("OK")
        }
        return Effect.die(`unexpected command ${name}`)
      }),
    pipeline: (commands) =>
      Effect.suspend(() => {
        sent.push(`pipeline/${commands.length}`)
        const keys = commands.map((command) => String(command[1]))
        if (keys.some((key) => key.startsWith("down:"))) return Effect.fail(timeout("GET"))
        return Effect.succeed(commands.map((command) => {
          const key = String(command[1])
          if (key === "acl:no") return new Resp.ErrorReply("NOPERM No permissions to access a key")
          return command[0] === "PTTL" ? (store.has(key) ? -1 : -2) : valueOf(key)
        }))
      })
  }
  return { client, sent }
})

describe("RedisBackend on a cluster client: a failed node's share fails only its own keys' reads", () => {
  {
    it.scoped("batched gets through sendSettled: healthy nodes answer, a hung node's keys fail with its error", () =>
      Effect.gen(function*() {
        const { client, sent } = yield* fakeCluster
        const cache = yield* Effect.provideService(
          RedisBackend.make({ prefix: "" }),
          RedisClient.RedisClient,
          client
        )
        yield* cache.setMany([["a", 1], ["b", 2], ["down:c", 3], ["acl:d", 4], ["acl:no", 5]])
        sent.length = 0
        const keys = [...lone("a"), "a", "down:c", "b", "acl:d", "acl:no", "missing", "down:c"]
        const exits = yield* readAll(keys, cache.get)
        expect(sent.slice(defaultLoneReads - 4)).toStrictEqual([
          ...lone("GET/1", 4),
          "settled MGET/7",
          // Every failed share's keys are asked again alone: the NOPERM share's (the refusal may be another key's)
          // and the hung node's (a lone read waits out a failover, which the settled MGET does not).
          "GET/1",
          "GET/1",
          "GET/1",
          "GET/1"
        ])
        keys.forEach((key, i) => {
          const exit = exits[i]!
          if (key === "down:c") {
            const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
            expect(Option.map(error, errorShape)).toStrictEqual(Option.some({
              _tag: "CacheTimeoutError",
              operation: "get",
              key,
              message: "timed out",
              cause: "RedisTimeoutError",
              code: undefined
            }))
          } else if (key === "acl:no") {
            const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
            expect(Option.map(error, errorShape)).toMatchObject(
              Option.some({ _tag: "CacheReplyError", key, code: "NOPERM" })
            )
          } else {
            const expected = { a: 1, b: 2, "acl:d": 4 }[key]
            expect(exit).toStrictEqual(Exit.succeed(Option.fromNullable(expected)))
          }
        })
      }))

    it.scoped("batched getWithTtl over several nodes: a hung node fails only its own keys' reads", () =>
      Effect.gen(function*() {
        const { client } = yield* fakeCluster
        const cache = yield* Effect.provideService(
          RedisBackend.make({ prefix: "" }),
          RedisClient.RedisClient,
          client
        )
        yield* cache.setMany([["a", 1], ["b", 2], ["down:c", 3]])
        const keys = [...lone("a"), "a", "down:c", "b", "missing"]
        const exits = yield* readAll(keys, (key) => Effect.map(cache.getWithTtl(key), Option.map((e) => e.value)))
        keys.forEach((key, i) => {
          const exit = exits[i]!
          if (key === "down:c") {
            const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
            expect(Option.map(error, (e) => e._tag)).toStrictEqual(Option.some("CacheTimeoutError"))
          } else {
            expect(exit).toStrictEqual(Exit.succeed(Option.fromNullable({ a: 1, b: 2 }[key])))
          }
        })
      }))
  }
})

describe("RedisBackend on a real cluster with one primary hung", () => {
  // No failover while the test runs: the primary stays hung, as one that is slow to be replaced.
  layer(TestCluster.layer({ nodeTimeoutMillis: 60_000 }), { excludeTestServices: true, timeout: 120_000 })((it) => {
    it.scoped("300 gets, then 300 getWithTtl, in one tick: every read of a key on a healthy primary succeeds", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        yield* cluster.waitUntilOk
        // failoverWait as short: a hung node's readers, asked again alone, stop waiting for a failover that is not
        // coming (its default is learnt from the 60 s node timeout here).
        const client = yield* RedisCluster.make({
          nodes: cluster.urls,
          commandTimeout: "1 second",
          failoverWait: "1 second"
        })
        const cache = yield* Effect.provideService(
          RedisBackend.make({ prefix: "hung:" }),
          RedisClient.RedisClient,
          client
        )
        const keys = Array.from({ length: 300 }, (_, i) => `key:${i}`)
        yield* cache.setMany(keys.map((key, i) => [key, i]))
        const victim = yield* cluster.ownerOf(keySlot("hung:key:0"))
        const owners = yield* Effect.forEach(keys, (key) => cluster.ownerOf(keySlot(`hung:${key}`)))
        const healthy = keys.flatMap((_, i) => owners[i] === victim ? [] : [i])
        yield* Effect.acquireRelease(cluster.pause(victim), () => cluster.resume(victim))
        for (const read of ["get", "getWithTtl"] as const) {
          const startedAt = performance.now()
          const exits = yield* readAll(keys, (key) =>
            read === "get"
              ? cache.get(key)
              : Effect.map(cache.getWithTtl(key), Option.map((entry) => entry.value)))
          const tookMs = Math.round(performance.now() - startedAt)
          const failedHealthy = healthy.filter((i) => Exit.isFailure(exits[i]!))
          console.log(
            `[hung primary] ${read}: ${failedHealthy.length} of ${healthy.length} healthy-node reads failed, ` +
              `${tookMs} ms`
          )
          expect(failedHealthy).toStrictEqual([])
          for (const i of healthy) expect(exits[i]!).toStrictEqual(Exit.succeed(Option.some(i)))
          keys.forEach((_, i) => {
            if (owners[i] !== victim) return
            const exit = exits[i]!
            const tag = Exit.isFailure(exit)
              ? Option.map(Cause.failureOption(exit.cause), (e) => e._tag)
              : Option.none()
            expect(["CacheTimeoutError", "CacheConnectionError"]).toContain(Option.getOrUndefined(tag))
          })
        }
      }))

    it.scoped("with the default failoverWait, a hung node's readers wait for it alone: the others are answered", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        yield* cluster.waitUntilOk
        // The default failoverWait, learnt from the 60 s node timeout: a hung node's readers wait up to two minutes.
        const client = yield* RedisCluster.make({ nodes: cluster.urls, commandTimeout: "1 second" })
        const cache = yield* Effect.provideService(
          RedisBackend.make({ prefix: "hung2:" }),
          RedisClient.RedisClient,
          client
        )
        const keys = Array.from({ length: 300 }, (_, i) => `key:${i}`)
        yield* cache.setMany(keys.map((key, i) => [key, i]))
        const victim = yield* cluster.ownerOf(keySlot("hung2:key:0"))
        const owners = yield* Effect.forEach(keys, (key) => cluster.ownerOf(keySlot(`hung2:${key}`)))
        yield* Effect.acquireRelease(cluster.pause(victim), () => cluster.resume(victim))
        const healthy = keys.flatMap((_, i) => owners[i] === victim ? [] : [i])
        for (const read of ["get", "getWithTtl"] as const) {
          const startedAt = performance.now()
          const tookMs = new Array<number>(keys.length).fill(-1)
          const results = new Array<unknown>(keys.length)
          // Every read in one tick; those of the hung node's keys are interrupted once the others are in.
          const fiber = yield* Effect.fork(
            Effect.forEach(
              keys,
              (key, i) =>
                Effect.map(
                  read === "get" ? cache.get(key) : Effect.map(cache.getWithTtl(key), Option.map((e) => e.value)),
                  (value) => {
                    tookMs[i] = performance.now() - startedAt
                    results[i] = Option.getOrUndefined(value)
                  }
                ),
              { concurrency: "unbounded", discard: true }
            )
          )
          const deadline = performance.now() + 30_000
          while (healthy.some((i) => tookMs[i]! < 0) && performance.now() < deadline) yield* Effect.sleep("50 millis")
          const slowest = Math.round(Math.max(...healthy.map((i) => tookMs[i]!)))
          const hungAnswered = keys.filter((_, i) => owners[i] === victim && tookMs[i]! >= 0).length
          console.log(
            `[hung primary, default failoverWait] ${read}: healthy-node reads answered, slowest ${slowest} ms`
          )
          expect(healthy.filter((i) => tookMs[i]! < 0)).toStrictEqual([])
          for (const i of healthy) expect(results[i]).toBe(i)
          // Their wait is the hung share's first timeout, not the failover wait the hung node's readers get.
          expect(slowest).toBeLessThan(15_000)
          expect(hungAnswered).toBe(0)
          yield* Fiber.interrupt(fiber)
        }
      }))
  })
})
