import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Schedule, Scope } from "effect"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisServer from "./utils/RedisServer.js"

/** Polls `check` every 20 ms until it holds, failing the test after `millis`. */
const eventually = (check: () => boolean, millis = 5_000) =>
  Effect.suspend(() => check() ? Effect.void : Effect.fail("not yet")).pipe(
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: Math.ceil(millis / 20) }),
    Effect.orDie
  )

describe("RedisClient pub/sub", () => {
  it.scopedLive("subscribe receives what publish sends, as bytes; commands keep working alongside", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const client = yield* RedisClient.make({ host: server.host, port: server.port })
      const received: Array<string> = []
      let subscribed = 0
      yield* client.subscribe("events", {
        onMessage: (message) => received.push(Buffer.from(message).toString("utf8")),
        onSubscribed: () => subscribed++
      })
      expect(subscribed).toBe(1)
      expect(yield* client.publish("events", "one")).toBe(1)
      yield* client.publish("events", Buffer.from("twö"))
      yield* client.publish("other", "not for us")
      expect(yield* client.send(["PING"])).toBe("PONG")
      yield* eventually(() => received.length === 2)
      expect(received).toEqual(["one", "twö"])
    }))

  it.scopedLive("closing the subscription's scope unsubscribes", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const client = yield* RedisClient.make({ host: server.host, port: server.port })
      const scope = yield* Scope.make()
      const received: Array<string> = []
      yield* client.subscribe("ch", { onMessage: (m) => received.push(Buffer.from(m).toString()) }).pipe(
        Scope.extend(scope)
      )
      const second: Array<string> = []
      yield* client.subscribe("ch", { onMessage: (m) => second.push(Buffer.from(m).toString()) })
      yield* client.publish("ch", "a")
      yield* eventually(() => received.length === 1 && second.length === 1)
      yield* Scope.close(scope, Exit.void)
      yield* client.publish("ch", "b")
      yield* eventually(() => second.length === 2)
      expect(received).toEqual(["a"])
    }))

  it.scopedLive("after the server restarts, the subscriber reconnects, re-subscribes and says so", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const client = yield* RedisClient.make({
        host: server.host,
        port: server.port,
        reconnectMaxDelay: "200 millis"
      })
      const received: Array<string> = []
      let subscribed = 0
      yield* client.subscribe("ch", {
        onMessage: (m) => received.push(Buffer.from(m).toString()),
        onSubscribed: () => subscribed++
      })
      yield* server.restart
      yield* eventually(() => subscribed === 2)
      yield* client.publish("ch", "after restart").pipe(
        Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 40 })
      )
      yield* eventually(() => received.includes("after restart"))
    }))

  it.scopedLive("a hung server is detected by the health check; after it resumes the subscriber re-subscribes", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const client = yield* RedisClient.make({
        host: server.host,
        port: server.port,
        commandTimeout: "300 millis",
        reconnectMaxDelay: "200 millis"
      })
      let subscribed = 0
      yield* client.subscribe("ch", { onMessage: () => {}, onSubscribed: () => subscribed++ })
      yield* server.pause
      // The PING every 300 ms times out after 300 ms more: the connection is dropped and retried.
      yield* Effect.sleep("1 second")
      yield* server.resume
      yield* eventually(() => subscribed >= 2)
    }))

  it.scopedLive("subscribe returns after connectTimeout when the server is down, and subscribes once it is up", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      yield* server.kill
      const client = yield* RedisClient.make({
        host: server.host,
        port: server.port,
        connectTimeout: "300 millis",
        reconnectMaxDelay: "200 millis"
      })
      let subscribed = 0
      const started = Date.now()
      yield* client.subscribe("ch", { onMessage: () => {}, onSubscribed: () => subscribed++ })
      expect(Date.now() - started).toBeLessThan(2_000)
      expect(subscribed).toBe(0)
      yield* server.start
      yield* eventually(() => subscribed === 1)
    }))
})
