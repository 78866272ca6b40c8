import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, TestClock } from "effect"
import * as Net from "node:net"
import { reconnectDelayMillis } from "../src/internal/client/connect.js"
import * as RedisClient from "../src/RedisClient.js"
import * as FakeServer from "./utils/FakeServer.js"

// The reconnection backoff and the subscriber's health check run on Effect's Clock: a TestClock moves them on, so
// these tests never wait out a delay in real time.

/** A port nothing listens on: bound, then released. */
const closedPort = Effect.async<number>((resume) => {
  const probe = Net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const port = (probe.address() as Net.AddressInfo).port
    probe.close(() => resume(Effect.succeed(port)))
  })
})

/** Waits on the platform's timers, so it works under the `TestClock` as well. */
const realSleep = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** Polls `check` on the platform's timers until it yields a value, failing the test after 10 s of real time. */
const waitFor = <A>(check: Effect.Effect<A | undefined>): Effect.Effect<A> =>
  Effect.gen(function*() {
    const deadline = Date.now() + 10_000
    for (;;) {
      const value = yield* check
      if (value !== undefined) return value
      if (Date.now() > deadline) return yield* Effect.dieMessage("condition not met within 10 s")
      yield* realSleep(10)
    }
  })

const waitUntil = (check: () => boolean) => waitFor(Effect.sync(() => check() ? true : undefined))

/** The first pending sleep of the TestClock that ends within `horizon` ms from now, as its delay from now. */
const pendingDelay = (horizon: number) =>
  waitFor(Effect.gen(function*() {
    const now = yield* TestClock.currentTimeMillis
    const delays = Chunk.toReadonlyArray(yield* TestClock.sleeps()).map((end) => end - now)
    return delays.find((delay) => delay > 0 && delay <= horizon)
  }))

const nextAttemptIn = (message: string): number => Number(/next attempt in (\d+) ms/.exec(message)?.[1])

describe("RedisClient backoff", () => {
  it("one delay function: it doubles per failure, its jitter stays within ±20%, reconnectMaxDelay caps it", () => {
    const options = { reconnectBaseDelayMillis: 100, reconnectMaxDelayMillis: 1_000 }
    // The delay without jitter, then its least and greatest value with jitter.
    const expected = [[100, 80, 120], [200, 160, 240], [400, 320, 480], [800, 640, 960], [1_000, 800, 1_000]]
    expected.forEach(([nominal, low, high], failures) => {
      expect(reconnectDelayMillis(options, failures, 0.5)).toBe(nominal)
      expect(reconnectDelayMillis(options, failures, 0)).toBe(low)
      expect(reconnectDelayMillis(options, failures, 0.999999)).toBe(high)
    })
    // No overflow however long the server stays away.
    expect(reconnectDelayMillis(options, 10_000, 0.999999)).toBe(1_000)
    expect(reconnectDelayMillis({ reconnectBaseDelayMillis: 0.001, reconnectMaxDelayMillis: 3_600_000 }, 40, 0.5))
      .toBe(3_600_000)
    // Base and maximum equal: jitter only ever shortens the delay.
    expect(reconnectDelayMillis({ reconnectBaseDelayMillis: 200, reconnectMaxDelayMillis: 200 }, 3, 0.999999))
      .toBe(200)
  })

  it.scoped("commands: the next attempt waits for the delay on the Clock, which doubles and is capped", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const client = yield* RedisClient.make({
        host: "127.0.0.1",
        port,
        reconnectBaseDelay: "100 millis",
        reconnectMaxDelay: "1 second"
      })
      const bounds = [[80, 120], [160, 240], [320, 480], [640, 960], [800, 1_000], [800, 1_000]]
      // The first attempt, made by a command, refused.
      const refused = yield* Effect.flip(client.send(["PING"]))
      expect(refused.message).toMatch(/ECONNREFUSED/)
      expect(refused.message).not.toMatch(/next attempt/)
      for (const [low, high] of bounds) {
        // Until the delay has passed on the Clock, commands fail fast without an attempt.
        const wait = nextAttemptIn((yield* Effect.flip(client.send(["PING"]))).message)
        expect(wait).toBeGreaterThanOrEqual(low!)
        expect(wait).toBeLessThanOrEqual(high!)
        yield* TestClock.adjust(wait - 1)
        expect(nextAttemptIn((yield* Effect.flip(client.send(["PING"]))).message)).toBe(1)
        yield* TestClock.adjust(1)
        // The delay has passed: the client's background retry makes the next attempt, with no command to ask for
        // it, and it is refused; commands are told the next delay once it has been.
        yield* waitFor(Effect.match(client.send(["PING"]), {
          onFailure: (error) => nextAttemptIn(error.message) > 1 ? true : undefined,
          onSuccess: () => undefined
        }))
      }
    }))

  it.scoped("subscriber: attempts wait for the same delays on the Clock", () =>
    Effect.gen(function*() {
      // Accepts and hangs up at once: every session fails before the server answers anything.
      const fake = yield* FakeServer.make(FakeServer.closeImmediately)
      const client = yield* RedisClient.make({
        host: fake.host,
        port: fake.port,
        connectTimeout: "10 seconds",
        reconnectBaseDelay: "100 millis",
        reconnectMaxDelay: "300 millis"
      })
      const subscription = yield* Effect.fork(Effect.scoped(client.subscribe("ch", { onMessage: () => {} })))
      const bounds = [[80, 120], [160, 240], [240, 300], [240, 300]]
      for (const [index, [low, high]] of bounds.entries()) {
        yield* waitUntil(() => fake.connections === index + 1)
        const delay = yield* pendingDelay(1_000)
        expect(delay).toBeGreaterThanOrEqual(low!)
        expect(delay).toBeLessThanOrEqual(high!)
        yield* TestClock.adjust(delay - 1)
        // The absence of an attempt, given a moment of real time to show up if it were wrongly made.
        yield* realSleep(50)
        expect(fake.connections).toBe(index + 1)
        yield* TestClock.adjust(1)
      }
      yield* waitUntil(() => fake.connections === bounds.length + 1)
      yield* Fiber.interrupt(subscription)
    }))
})

describe("RedisClient subscriber health check", () => {
  /** A peer that confirms subscriptions and counts the PINGs it gets; `answer` says whether it answers one. */
  const pingServer = (answer: (connection: number) => boolean) => {
    const pings: Array<number> = []
    const handler = FakeServer.fakeRedis((connection, command) => {
      const name = command[0]!.toUpperCase()
      if (name === "SUBSCRIBE") return ["subscribe", command[1]!, 1]
      if (name === "PING") {
        pings.push(connection)
        return answer(connection) ? "PONG" : "ignore"
      }
      return "ignore"
    })
    return { pings, handler }
  }

  it.scoped("a PING every min(commandTimeout, 2 s) on the Clock, for the life of the connection", () =>
    Effect.gen(function*() {
      const { handler, pings } = pingServer(() => true)
      const fake = yield* FakeServer.make(handler)
      const client = yield* RedisClient.make({ host: fake.host, port: fake.port, commandTimeout: "10 seconds" })
      yield* client.subscribe("ch", { onMessage: () => {} })
      for (let n = 1; n <= 4; n++) {
        // The next PING is due in 2 s exactly, counted from the previous reply.
        expect(yield* pendingDelay(5_000)).toBe(2_000)
        yield* TestClock.adjust(1_999)
        yield* realSleep(50)
        expect(pings.length).toBe(n - 1)
        yield* TestClock.adjust(1)
        yield* waitUntil(() => pings.length === n)
      }
      expect(fake.connections).toBe(1)
    }))

  it.scoped("a PING unanswered within commandTimeout replaces the connection, which re-subscribes", () =>
    Effect.gen(function*() {
      // The first connection goes silent after confirming the subscription; the next one is healthy.
      const { handler, pings } = pingServer((connection) => connection > 1)
      const fake = yield* FakeServer.make(handler)
      const client = yield* RedisClient.make({ host: fake.host, port: fake.port, commandTimeout: "1 second" })
      let subscribed = 0
      yield* client.subscribe("ch", { onMessage: () => {}, onSubscribed: () => subscribed++ })
      expect(subscribed).toBe(1)
      // min(1 s, 2 s): the PING goes out after 1 s.
      expect(yield* pendingDelay(5_000)).toBe(1_000)
      yield* TestClock.adjust(1_000)
      yield* waitUntil(() => pings.length === 1)
      // Unanswered for commandTimeout: the connection is dropped, and one that worked is replaced at once.
      expect(yield* pendingDelay(5_000)).toBe(1_000)
      yield* TestClock.adjust(1_000)
      yield* waitUntil(() => fake.connections === 2 && subscribed === 2)
    }))
})
