import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as Redacted from "#effect/Redacted"
import * as Logs from "#test-effect/Logger"
import * as TestClock from "#test-effect/TestClock"
import { describe, expect, it } from "#test-effect/vitest"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as FakeServer from "./utils/FakeServer.js"
import * as RedisServer from "./utils/RedisServer.js"
import { realSleep, waitUntil } from "./utils/Wait.js"

// The client's own log of its connection: which server it reached, when it cannot reach it (with why, never a
// secret), again while it lasts, and when it is back, seen by its background retry even without traffic.

/** Runs `body` with every log line, at every level, captured (its own fibers' and those they fork). */
const withLogs = <A, E, R>(
  body: (logs: { readonly lines: ReadonlyArray<Logs.CapturedLine> }) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => Effect.flatMap(Logs.capture, (logs) => Effect.provide(body(logs), logs.layer))

const loud = (lines: ReadonlyArray<Logs.CapturedLine>) =>
  lines.filter((line) => line.level === "WARN" || line.level === "INFO").map((line) => `${line.level} ${line.message}`)

const password = "s3cret-Passw0rd-never-logged"

/** A fake Redis that refuses AUTH (as with a wrong password) while `refusing.now`, and answers PING. */
const authServer = (refusing: { now: boolean }) =>
  FakeServer.make(FakeServer.fakeRedis((_, command) => {
    const name = command[0]!.toUpperCase()
    if (name === "AUTH") {
      return refusing.now ? Buffer.from("-WRONGPASS invalid username-password pair or user is disabled.\r\n") : "OK"
    }
    if (name === "PING") return "PONG"
    return Buffer.from(`-ERR unknown command '${name}'\r\n`)
  }))

describe("RedisClient: the connection's log", () => {
  it.effect("wrong password: a Warning with the diagnosis (never the password), repeated every 5 minutes, recovery seen without traffic", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        const refusing = { now: true }
        const fake = yield* authServer(refusing)
        const where = `127.0.0.1:${fake.port}`
        const client = yield* RedisClient.make({
          host: fake.host,
          port: fake.port,
          password: Redacted.make(password),
          reconnectBaseDelay: "100 millis",
          reconnectMaxDelay: "1 second"
        })
        expect(client.diagnosis?.()).toBeUndefined()
        // One command: one failed attempt, not yet an outage (a restart may be over a moment later).
        const refused = yield* Effect.flip(client.send(["PING"]))
        expect(refused._tag).toBe("RedisAuthError")
        expect(loud(logs.lines)).toStrictEqual([])
        const diagnosis =
          `authentication to ${where} failed: WRONGPASS invalid username-password pair or user is disabled.`
        expect(client.diagnosis?.()).toBe(diagnosis)
        // The background retry's attempt, no command needed: the second failure in a row is the outage.
        yield* TestClock.adjust("200 millis")
        yield* waitUntil(() => loud(logs.lines).length === 1, "the first Warning")
        expect(loud(logs.lines)).toStrictEqual([
          `WARN redis: cannot reach ${where}: ${diagnosis}; retrying in the background`
        ])
        expect(logs.lines.find((line) => line.level === "WARN")!.annotations).toStrictEqual({ "redis.server": where })
        // It keeps trying, at most a second apart, and says nothing more for 5 minutes.
        const attempts = fake.connections
        for (let i = 0; i < 5; i++) {
          yield* TestClock.adjust("1 second")
          yield* waitUntil(() => fake.connections > attempts + i, "another attempt")
        }
        expect(loud(logs.lines).length).toBe(1)
        // (Jumping 5 minutes may also time out an attempt in flight: the repeat then says that, which is as true.)
        yield* TestClock.adjust("5 minutes")
        yield* waitUntil(() => loud(logs.lines).length === 2, "the repeated Warning")
        expect(loud(logs.lines)[1]).toMatch(
          new RegExp(
            `^WARN redis: 127\\.0\\.0\\.1:${fake.port} still unreachable after 5 min( \\d+ s)? \\(\\d+ failed attempts\\): `
          )
        )
        // The password is mended on the server; no command is sent: the background retry sees it.
        refusing.now = false
        yield* TestClock.adjust("1 second")
        yield* waitUntil(() => loud(logs.lines).length === 3, "the recovery")
        expect(loud(logs.lines)[2]).toMatch(
          new RegExp(`^INFO redis: connected to ${where} after 5 min( \\d+ s)? \\(\\d+ failed attempts\\)$`)
        )
        expect(client.diagnosis?.()).toBeUndefined()
        expect(yield* client.send(["PING"])).toBe("PONG")
        for (const line of logs.lines) expect(line.formatted).not.toContain(password)
        expect(loud(logs.lines).length).toBe(3)
      })
    ))

  it.effect("the background retry stops once no command has needed the server for 10 minutes; the next command starts it again", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        const fake = yield* authServer({ now: true })
        const client = yield* RedisClient.make({
          host: fake.host,
          port: fake.port,
          password: Redacted.make(password),
          reconnectBaseDelay: "100 millis",
          reconnectMaxDelay: "1 second"
        })
        yield* Effect.flip(client.send(["PING"]))
        const paused = () => logs.lines.some((line) => line.message.includes("reconnecting again at the next command"))
        // Ten minutes of nobody asking, a minute at a time: attempts go on, then stop.
        for (let minute = 0; minute < 11 && !paused(); minute++) {
          const before = fake.connections
          yield* TestClock.adjust("1 minute")
          yield* waitUntil(() => fake.connections > before || paused(), "an attempt or the pause")
        }
        yield* waitUntil(paused, "the retry's pause")
        const stoppedAt = fake.connections
        yield* TestClock.adjust("30 minutes")
        // A check that nothing happens can only give it a moment: on a slow machine it is weaker, never flaky.
        yield* realSleep(100)
        expect(fake.connections).toBe(stoppedAt)
        // The next command dials again, and the retry resumes behind it.
        yield* Effect.flip(client.send(["PING"]))
        expect(fake.connections).toBe(stoppedAt + 1)
        yield* TestClock.adjust("2 seconds")
        yield* waitUntil(() => fake.connections > stoppedAt + 1, "the resumed retry")
        for (const line of logs.lines) expect(line.formatted).not.toContain(password)
      })
    ))

  it.live("a killed and restarted redis-server: connected, a Warning with ECONNREFUSED, then back after its duration, without traffic", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const where = `127.0.0.1:${server.port}`
        const client = yield* RedisClient.make({
          host: server.host,
          port: server.port,
          reconnectBaseDelay: "20 millis",
          reconnectMaxDelay: "100 millis"
        })
        expect(yield* client.send(["PING"])).toBe("PONG")
        expect(loud(logs.lines)).toStrictEqual([`INFO redis: connected to ${where}`])
        yield* server.kill
        // The command in flight or the next one sees the loss; the attempt it makes is refused.
        yield* Effect.exit(client.send(["PING"]))
        yield* Effect.exit(client.send(["PING"]))
        yield* waitUntil(() => loud(logs.lines).length === 2, "the Warning")
        expect(loud(logs.lines)[1]).toMatch(
          new RegExp(`^WARN redis: cannot reach ${where}: cannot connect to ${where}: connect ECONNREFUSED`)
        )
        expect(client.diagnosis?.()).toMatch(/ECONNREFUSED/)
        yield* server.start
        // No command: the client's background retry reconnects and says so.
        yield* waitUntil(() => loud(logs.lines).length === 3, "the recovery")
        expect(loud(logs.lines)[2]).toMatch(
          new RegExp(`^INFO redis: connected to ${where} again after [\\d.]+ m?s \\(\\d+ failed attempts\\)$`)
        )
        expect(client.diagnosis?.()).toBeUndefined()
        expect(yield* client.send(["PING"])).toBe("PONG")
      })
    ))

  it.live("a RemoteCache over a killed server: its Warning carries the client's diagnosis, its Info the duration", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const where = `127.0.0.1:${server.port}`
        yield* Effect.gen(function*() {
          const cache = yield* Effect.map(
            Layer.build(
              RemoteCache.layer(RemoteCache.defaultPolicy).pipe(
                Layer.provide(
                  RedisBackend.layer({
                    host: server.host,
                    port: server.port,
                    reconnectBaseDelay: "20 millis",
                    reconnectMaxDelay: "100 millis"
                  })
                )
              )
            ),
            Context.get(RemoteCache.RemoteCache)
          )
          yield* cache.set("k", 1)
          yield* server.kill
          for (let i = 0; i < 3; i++) expect(yield* cache.get("k")).toStrictEqual(Option.none())
          // Both the cache's outage (two failed operations) and the client's (two failed attempts, the second its
          // background retry's) before the server comes back: one refused attempt alone is not an outage.
          yield* waitUntil(
            () =>
              loud(logs.lines).some((line) => line.startsWith("WARN cache backend failing")) &&
              loud(logs.lines).some((line) => line.startsWith("WARN redis: cannot reach")),
            "the Warnings"
          )
          yield* server.start
          yield* waitUntil(
            () =>
              loud(logs.lines).some((line) => line.startsWith("INFO redis: connected to") && line.includes("again")),
            `the client's recovery in ${JSON.stringify(loud(logs.lines))}`
          )
          expect(yield* cache.get("k")).toStrictEqual(Option.none())
        })
        const cacheLines = loud(logs.lines).filter((line) => line.includes("cache backend"))
        // Said with the client's words (the refused attempt, or the lost connection), not the operation's error.
        expect(cacheLines[0]).toMatch(
          new RegExp(`^WARN cache backend failing: (cannot connect to ${where}|the connection to ${where} was lost)`)
        )
        expect(cacheLines[1]).toMatch(/^INFO cache backend working again after [\d.]+ m?s \(\d+ failed operations\)$/)
      })
    ))
})
