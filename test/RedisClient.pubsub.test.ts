import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Logger, Schedule, Scope, TestClock } from "effect"
import * as RedisClient from "../src/RedisClient.js"
import * as FaultProxy from "./utils/FaultProxy.js"
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

  it.scopedLive("onDisconnected says when the connection is lost, before onSubscribed says it is back", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const client = yield* RedisClient.make({ host: server.host, port: server.port, reconnectMaxDelay: "200 millis" })
      const events: Array<string> = []
      yield* client.subscribe("ch", {
        onMessage: () => {},
        onSubscribed: () => events.push("subscribed"),
        onDisconnected: (error) => events.push(error._tag)
      })
      yield* server.restart
      yield* eventually(() => events.filter((e) => e === "subscribed").length === 2)
      expect(events[0]).toBe("subscribed")
      expect(events[1]).toBe("RedisConnectionError")
      expect(events[events.length - 1]).toBe("subscribed")
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

/** Waits on the platform's timers, so it works under the `TestClock` as well. */
const realSleep = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** Polls `check` on the platform's timers until it holds, failing the test after `millis` of real time. */
const waitUntil = (check: () => boolean, millis = 10_000, step: Effect.Effect<void> = Effect.void) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`condition not met within ${millis} ms`)
      yield* step
      yield* realSleep(10)
    }
  })

/** A logger that keeps every line, for tests that check what was logged. */
const captureLogs = () => {
  const lines: Array<{ readonly level: string; readonly message: string; readonly cause: string }> = []
  const logger = Logger.make(({ cause, logLevel, message }) => {
    lines.push({
      level: logLevel.label,
      message: Array.isArray(message) ? message.join(" ") : String(message),
      cause: Cause.pretty(cause)
    })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

describe("RedisClient pub/sub health check", () => {
  it.scoped("PINGs for the life of the connection: a connection lost without FIN after the first PING is replaced", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* FaultProxy.make({ upstreamPort: server.port })
      const client = yield* RedisClient.make({
        host: proxy.host,
        port: proxy.port,
        commandTimeout: "1 second",
        reconnectMaxDelay: "200 millis"
      })
      let stats = yield* proxy.stats
      const refresh = Effect.flatMap(proxy.stats, (s) => Effect.sync(() => (stats = s)))
      // Moves the TestClock on in small steps until `check` holds: each step lets the client's timers fire.
      const driveUntil = (check: () => boolean) =>
        waitUntil(check, 10_000, Effect.zipRight(TestClock.adjust("100 millis"), refresh))
      let subscribed = 0
      yield* client.subscribe("ch", { onMessage: () => {}, onSubscribed: () => subscribed++ })
      expect(subscribed).toBe(1)
      yield* refresh
      const before = stats
      // The first PING is answered and its reply has reached the client.
      yield* driveUntil(() => stats.bytesUp > before.bytesUp && stats.bytesDown > before.bytesDown)
      // From now on nothing the server sends reaches the client, and no FIN either: a black hole.
      yield* proxy.setMode(FaultProxy.stall)
      const afterFirst = stats
      // A second PING goes out, and when it goes unanswered the connection is dropped.
      yield* driveUntil(() => stats.bytesUp > afterFirst.bytesUp)
      yield* driveUntil(() => stats.accepted >= 2)
      yield* proxy.setMode(FaultProxy.pass)
      yield* driveUntil(() => subscribed === 2)
    }))

  it.scopedLive("a server that hangs after the first PING is detected; after it resumes the subscriber re-subscribes", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* FaultProxy.make({ upstreamPort: server.port })
      const client = yield* RedisClient.make({
        host: proxy.host,
        port: proxy.port,
        commandTimeout: "300 millis",
        reconnectMaxDelay: "200 millis"
      })
      let subscribed = 0
      yield* client.subscribe("ch", { onMessage: () => {}, onSubscribed: () => subscribed++ })
      const before = yield* proxy.stats
      yield* eventually(() => Effect.runSync(proxy.stats).bytesDown > before.bytesDown)
      yield* server.pause
      // Only a PING sent while the server is hung can reveal it: the connection is then dropped and retried.
      yield* eventually(() => Effect.runSync(proxy.stats).accepted >= 2)
      yield* server.resume
      yield* eventually(() => subscribed >= 2)
    }))
})

describe("RedisClient pub/sub listeners", () => {
  it.scopedLive("a throwing onMessage is logged; the other listeners and the connection are unaffected", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      const server = yield* RedisServer.make()
      const client = yield* RedisClient.make({ host: server.host, port: server.port }).pipe(Effect.provide(logs.layer))
      let subscribedA = 0
      let subscribedB = 0
      const sameChannel: Array<string> = []
      const otherChannel: Array<string> = []
      yield* client.subscribe("a", {
        onMessage: () => {
          throw new Error("listener bug")
        },
        onSubscribed: () => subscribedA++
      })
      yield* client.subscribe("a", { onMessage: (m) => sameChannel.push(Buffer.from(m).toString()) })
      yield* client.subscribe("b", {
        onMessage: (m) => otherChannel.push(Buffer.from(m).toString()),
        onSubscribed: () => subscribedB++
      })
      for (let i = 0; i < 20; i++) {
        yield* client.publish("a", `a${i}`)
        yield* client.publish("b", `b${i}`)
      }
      yield* eventually(() => sameChannel.length === 20 && otherChannel.length === 20)
      expect(otherChannel).toEqual(Array.from({ length: 20 }, (_, i) => `b${i}`))
      // Never re-subscribed: the connection was not dropped.
      expect([subscribedA, subscribedB]).toEqual([1, 1])
      const errors = logs.lines.filter((line) => line.level === "ERROR")
      expect(errors.length).toBe(20)
      expect(errors[0]!.message).toContain("onMessage threw")
      expect(errors[0]!.cause).toContain("listener bug")
    }))

  it.scopedLive("a throwing onSubscribed is logged; pub/sub keeps working for every listener, after reconnection too", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      const server = yield* RedisServer.make()
      const client = yield* RedisClient.make({
        host: server.host,
        port: server.port,
        connectTimeout: "2 seconds",
        reconnectMaxDelay: "200 millis"
      }).pipe(Effect.provide(logs.layer))
      let throwingCalls = 0
      let subscribed = 0
      const throwing: Array<string> = []
      const other: Array<string> = []
      yield* client.subscribe("x", {
        onMessage: (m) => throwing.push(Buffer.from(m).toString()),
        onSubscribed: () => {
          throwingCalls++
          throw new Error("onSubscribed bug")
        }
      })
      yield* client.subscribe("y", {
        onMessage: (m) => other.push(Buffer.from(m).toString()),
        onSubscribed: () => subscribed++
      })
      expect([throwingCalls, subscribed]).toEqual([1, 1])
      yield* client.publish("x", "x1")
      yield* client.publish("y", "y1")
      yield* eventually(() => throwing.length === 1 && other.length === 1)
      yield* server.restart
      yield* eventually(() => throwingCalls === 2 && subscribed === 2)
      yield* client.publish("x", "x2").pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 40 }))
      yield* client.publish("y", "y2")
      yield* eventually(() => throwing.length === 2 && other.length === 2)
      const errors = logs.lines.filter((line) => line.level === "ERROR")
      expect(errors.length).toBe(2)
      expect(errors[0]!.message).toContain("onSubscribed threw")
      expect(errors[0]!.cause).toContain("onSubscribed bug")
    }))
})

describe("RedisClient pub/sub confirmation", () => {
  it.scopedLive("a second subscribe to a channel whose SUBSCRIBE is in flight returns only once it is confirmed", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* FaultProxy.make({ upstreamPort: server.port })
      const client = yield* RedisClient.make({ host: proxy.host, port: proxy.port })
      const publisher = yield* RedisClient.make({ host: server.host, port: server.port })
      // The subscriber connection exists and is healthy.
      yield* client.subscribe("other", { onMessage: () => {} })
      yield* proxy.setMode(FaultProxy.stall)
      const before = yield* proxy.stats
      let firstConfirmed = 0
      yield* Effect.fork(client.subscribe("ch", { onMessage: () => {}, onSubscribed: () => firstConfirmed++ }))
      // The first SUBSCRIBE is written; its confirmation is held by the proxy.
      yield* waitUntil(() => Effect.runSync(proxy.stats).bytesUp > before.bytesUp)
      // Lets the confirmation through later, whatever the second subscribe does meanwhile.
      yield* Effect.fork(Effect.zipRight(realSleep(300), proxy.setMode(FaultProxy.pass)))
      const received: Array<string> = []
      yield* client.subscribe("ch", { onMessage: (m) => received.push(Buffer.from(m).toString()) })
      expect(firstConfirmed).toBe(1)
      expect(yield* publisher.publish("ch", "right after")).toBe(1)
      yield* eventually(() => received.length === 1)
    }))
})
