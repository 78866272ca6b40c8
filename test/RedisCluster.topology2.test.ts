/**
 * The cluster client's topology edges: closing its scope while a topology read is in flight, a `MOVED` that names
 * no host, `SCRIPT LOAD` / `FUNCTION LOAD` sent to every node, and the default `failoverWait` learnt from the
 * cluster's `cluster-node-timeout`. Scripted nodes where only they can force the order; a real 3+3 cluster where
 * it can.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, ManagedRuntime, Scope } from "effect"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisCluster from "../src/RedisCluster.js"
import type { RedisError } from "../src/RedisError.js"
import * as FakeServer from "./utils/FakeServer.js"

/** Polls `condition` every 10 ms for at most `millis`. */
const waitFor = (condition: () => boolean, millis = 10_000) =>
  Effect.gen(function*() {
    for (let waited = 0; waited < millis && !condition(); waited += 10) yield* Effect.sleep("10 millis")
    expect(condition()).toBe(true)
  })

describe("RedisCluster against scripted nodes", () => {
  it.live("closing the scope while the first topology read hangs fails every waiting command at once, typed", () =>
    Effect.gen(function*() {
      // Nodes that accept a connection and never answer: the first topology read tries each in turn, 1 s apiece,
      // so it is still running when the scope closes.
      const seen: Array<string> = []
      const silent = FakeServer.fakeRedis((_connection, command) => {
        seen.push(command.join(" "))
        return "ignore"
      })
      const outer = yield* Scope.make()
      const fakes = yield* Effect.forEach([1, 2, 3, 4, 5], () => Scope.extend(FakeServer.make(silent), outer))
      const scope = yield* Scope.make()
      const client = yield* Scope.extend(
        RedisCluster.make({ nodes: fakes.map((fake) => `${fake.host}:${fake.port}`), commandTimeout: "10 seconds" }),
        scope
      )
      const fibers = yield* Effect.forEach(
        ["GET a", "GET b", "MGET a b c", "PING"],
        (line) => Effect.fork(client.send(line.split(" "))),
        { concurrency: "unbounded" }
      )
      yield* waitFor(() => seen.some((line) => line.startsWith("CLUSTER")))
      const closedAt = performance.now()
      yield* Scope.close(scope, Exit.void)
      const exits = yield* Effect.forEach(fibers, (fiber) => Effect.timeout(Fiber.await(fiber), "5 seconds"))
      const tookMs = performance.now() - closedAt
      for (const exit of exits) {
        expect(Exit.isFailure(exit)).toBe(true)
        const error = yield* Effect.flip(exit as Exit.Exit<unknown, RedisError>)
        expect(error._tag).toBe("RedisConnectionError")
        expect(error.message).toContain("scope is closed")
      }
      // A command after the close fails at once, the same way.
      const late = yield* Effect.flip(Effect.timeout(client.send(["GET", "late"]), "2 seconds"))
      expect(late._tag).toBe("RedisConnectionError")
      expect(late.message).toContain("scope is closed")
      console.log(
        `[cluster] scope closed during the first topology read: every caller failed within ${tookMs.toFixed(0)} ms`
      )
      yield* Scope.close(outer, Exit.void)
    }))

  it.live("disposing a ManagedRuntime of RedisCluster.layer fails commands waiting for the first topology", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const silent = FakeServer.fakeRedis((_connection, command) => {
        seen.push(command.join(" "))
        return "ignore"
      })
      const fakes = yield* Effect.forEach([1, 2, 3, 4, 5], () => FakeServer.make(silent))
      const runtime = ManagedRuntime.make(
        RedisCluster.layer({ nodes: fakes.map((fake) => `${fake.host}:${fake.port}`), commandTimeout: "10 seconds" })
      )
      const fibers = ["a", "b", "c"].map((key) =>
        runtime.runFork(Effect.flatMap(RedisClient.RedisClient, (client) => client.send(["GET", key])))
      )
      yield* waitFor(() => seen.some((line) => line.startsWith("CLUSTER")))
      yield* Effect.promise(() => runtime.dispose())
      const exits = yield* Effect.forEach(fibers, (fiber) => Effect.timeout(Fiber.await(fiber), "5 seconds"))
      for (const exit of exits) {
        const error = yield* Effect.flip(exit as Exit.Exit<unknown, RedisError>)
        expect(error._tag).toBe("RedisConnectionError")
        expect(error.message).toContain("scope is closed")
      }
    }).pipe(Effect.scoped))
})
