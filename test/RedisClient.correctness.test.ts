import * as Cause from "#effect/Cause"
import * as ConfigProvider from "#effect/ConfigProvider"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Option from "#effect/Option"
import * as Redacted from "#effect/Redacted"
import * as Schedule from "#effect/Schedule"
import * as Scope from "#effect/Scope"
import { afterEach, describe, expect, it, vi } from "#test-effect/vitest"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import { resolveOptions } from "../src/internal/client/options.js"
import * as Policy from "../src/Policy.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import type { RemoteCacheBackendShape } from "../src/RemoteCacheBackend.js"
import * as Resp from "../src/Resp.js"
import * as FakeServer from "./utils/FakeServer.js"
import * as FaultProxy from "./utils/FaultProxy.js"
import * as RedisServer from "./utils/RedisServer.js"
import { text } from "./utils/RespValues.js"

// Every reply reaches its own caller, nothing hangs, nothing leaks, and errors say what went wrong.

const tagOf = (error: unknown): string => (error as { readonly _tag?: string })._tag ?? "unknown"

/** A port nothing listens on: bound, then released. */
const closedPort = Effect.callback<number>((resume) => {
  const probe = Net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const port = (probe.address() as Net.AddressInfo).port
    probe.close(() => resume(Effect.succeed(port)))
  })
})

/** How many times the server ran each command, from `INFO commandstats` (`cmdstat_client|reply` and the like). */
const commandCounts = (server: RedisServer.RedisServerShape) =>
  Effect.map(server.cli("INFO", "commandstats"), (info) => {
    const counts = new Map<string, number>()
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts.set(match[1]!, Number(match[2]))
    return counts
  })

const backendOver = (client: RedisClient.RedisClientShape) =>
  Effect.provideService(RedisBackend.make(), RedisClient.RedisClient, client) as Effect.Effect<
    RemoteCacheBackendShape
  >

afterEach(() => {
  vi.restoreAllMocks()
})

describe("RedisClient correctness", () => {
  describe("every reply to its own caller", () => {
    it.live("commands that do not get exactly one reply are rejected typed, and nothing of them is sent", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const client = yield* RedisClient.make({ host: server.host, port: server.port })
        yield* client.send(["SET", "a", "value-a"])
        yield* client.send(["SET", "b", "value-b"])
        const id = yield* client.send(["CLIENT", "ID"])
        const before = yield* commandCounts(server)
        const rejected: ReadonlyArray<RedisClient.Command> = [
          [],
          ["CLIENT", "REPLY", "OFF"],
          ["client", "reply", "skip"],
          ["CLIENT", Buffer.from("Reply"), "ON"],
          ["SUBSCRIBE", "x", "y"],
          ["psubscribe", "p*"],
          ["SSUBSCRIBE", "x"],
          ["UNSUBSCRIBE"],
          ["PUNSUBSCRIBE"],
          ["SUNSUBSCRIBE"],
          [Buffer.from("subscribe"), "x"],
          ["MONITOR"],
          ["Reset"],
          ["SYNC"],
          ["PSYNC", "?", "-1"]
        ]
        for (const command of rejected) {
          // Each one sent together with two reads, as in the report: the reads must get their own values.
          const [error, a, b] = yield* Effect.all([
            Effect.flip(client.send(command)),
            client.send(["GET", "a"]),
            client.send(["GET", "b"])
          ], { concurrency: "unbounded" })
          expect(error._tag).toBe("RedisInputError")
          expect(text(a)).toBe("value-a")
          expect(text(b)).toBe("value-b")
        }
        // In a pipeline, one such command rejects the whole batch before anything of it is sent.
        const batch = yield* Effect.flip(client.pipeline([["SET", "c", "1"], ["CLIENT", "REPLY", "OFF"], ["GET", "a"]]))
        expect(batch._tag).toBe("RedisInputError")
        expect(yield* client.send(["EXISTS", "c"])).toBe(0)
        const after = yield* commandCounts(server)
        for (const name of ["client|reply", "subscribe", "psubscribe", "ssubscribe", "monitor", "reset", "sync"]) {
          expect(after.get(name) ?? 0).toBe(before.get(name) ?? 0)
        }
        expect(yield* client.send(["ECHO", "still in step"])).toEqual(Buffer.from("still in step"))
        expect(yield* client.send(["CLIENT", "ID"])).toBe(id)
      }))

    it.live("an argument that is not a string or bytes (from JavaScript) fails typed, not in the write", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const client = yield* RedisClient.make({ host: server.host, port: server.port })
        const id = yield* client.send(["CLIENT", "ID"])
        for (const bad of [1, undefined, null, { a: 1 }, ["x"]]) {
          const command = ["SET", "k", bad] as unknown as RedisClient.Command
          const error = yield* Effect.flip(client.send(command))
          expect(error._tag).toBe("RedisInputError")
          expect(error.message).toMatch(/argument 2 of SET/)
          expect((yield* Effect.flip(client.pipeline([["PING"], command])))._tag).toBe("RedisInputError")
        }
        expect((yield* Effect.flip(client.send("PING" as unknown as RedisClient.Command)))._tag).toBe("RedisInputError")
        // Nothing was written, so the connection is the same and in step.
        expect(yield* client.send(["CLIENT", "ID"])).toBe(id)
        expect(yield* client.send(["EXISTS", "k"])).toBe(0)
      }))
  })

  describe("nothing hangs", () => {
    it.live("a command sent while the client's scope is closing fails typed instead of hanging", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const scope = yield* Scope.make()
        const client = yield* RedisClient.make({ host: server.host, port: server.port }).pipe(Scope.provide(scope))
        let outcome: Option.Option<Exit.Exit<Resp.RespValue, unknown>> | undefined
        // Added after the client's own finalizer, so it runs first: the scope is closing, the client not yet closed,
        // and no connection is open (connections are lazy), so this command starts a connection attempt.
        yield* Scope.addFinalizer(
          scope,
          Effect.exit(client.send(["PING"])).pipe(
            Effect.timeout("3 seconds"),
            Effect.option,
            Effect.map((exit) => {
              outcome = exit
            })
          )
        )
        yield* Scope.close(scope, Exit.void)
        expect(outcome).toBeDefined()
        expect(Option.isSome(outcome!)).toBe(true)
        const exit = Option.getOrThrow(outcome!)
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) expect(tagOf(Cause.squash(exit.cause))).toBe("RedisConnectionError")
      }))

    it.live("a wall clock stepped back an hour delays neither a reply timeout nor a reconnection", () =>
      Effect.gen(function*() {
        const realNow = Date.now.bind(Date)
        let offset = 0
        vi.spyOn(Date, "now").mockImplementation(() => realNow() - offset)
        const silent = yield* FakeServer.make(FakeServer.silent)
        const client = yield* RedisClient.make({
          host: silent.host,
          port: silent.port,
          commandTimeout: "300 millis"
        })
        const waiting = yield* Effect.forkChild(Effect.flip(client.send(["PING"])))
        // Written with its deadline; then the clock goes back (NTP, a VM resumed).
        yield* Effect.sleep("50 millis")
        offset += 3_600_000
        const started = performance.now()
        const error = yield* Fiber.join(waiting).pipe(Effect.timeout("5 seconds"))
        expect(error._tag).toBe("RedisTimeoutError")
        expect(performance.now() - started).toBeLessThan(3_000)

        const port = yield* closedPort
        const down = yield* RedisClient.make({ host: "127.0.0.1", port, reconnectBaseDelay: "50 millis" })
        expect((yield* Effect.flip(down.send(["PING"]))).message).toMatch(/ECONNREFUSED/)
        offset += 3_600_000
        // Well past the backoff: attempts go on (the client's background retry, or this command's own) instead of
        // waiting out the stepped clock, so a command is told of a delay of the backoff's size, never of an hour.
        yield* Effect.sleep("300 millis")
        const again = yield* Effect.flip(down.send(["PING"]))
        expect(again.message).toMatch(/ECONNREFUSED/)
        const wait = /next attempt in (\d+) ms/.exec(again.message)?.[1]
        if (wait !== undefined) expect(Number(wait)).toBeLessThanOrEqual(2_000)
      }))

    it.live("under backpressure, every command ends within commandTimeout of being sent", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const proxy = yield* FaultProxy.make({ upstreamPort: server.port, mode: FaultProxy.latency(50) })
        const client = yield* RedisClient.make({
          host: proxy.host,
          port: proxy.port,
          maxInFlight: 1,
          commandTimeout: "300 millis",
          connectTimeout: "1 second"
        })
        yield* client.send(["PING"])
        // About 100 ms per round trip, one at a time: 60 commands would need 6 s without a deadline while waiting.
        const results = yield* Effect.forEach(
          Array.from({ length: 60 }, (_, i) => i),
          (i) =>
            Effect.suspend(() => {
              const started = performance.now()
              return Effect.map(Effect.exit(client.send(["ECHO", `m${i}`])), (exit) => ({
                exit,
                i,
                millis: performance.now() - started
              }))
            }),
          { concurrency: "unbounded" }
        )
        // The documented bound is connectTimeout + commandTimeout (1.3 s); the margin is for a busy machine.
        expect(Math.max(...results.map((result) => result.millis))).toBeLessThan(2_500)
        for (const { exit, i } of results) {
          if (Exit.isSuccess(exit)) expect(text(exit.value)).toBe(`m${i}`)
          else expect(["RedisTimeoutError", "RedisConnectionError"]).toContain(tagOf(Cause.squash(exit.cause)))
        }
        expect(results.some(({ exit }) => Exit.isSuccess(exit))).toBe(true)
        const timedOut = results.map(({ exit }) => exit).filter(Exit.isFailure).map((exit) => Cause.squash(exit.cause))
        // Waiting commands share their deadline with the one in flight (all were sent at once): depending on which
        // the timer meets first they end "never sent" or with the replaced connection. Either way, within the bound.
        expect(timedOut.length).toBeGreaterThan(0)
        // Commands that timed out while waiting were never written: the connection is still in step.
        expect(yield* client.send(["ECHO", "after"]).pipe(Effect.retry({ times: 3 }))).toEqual(Buffer.from("after"))
      }))
  })

  describe("batches are written whole or not at all", () => {
    it.live("a pipeline interrupted while it waits for room writes none of it; one admitted writes all", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const proxy = yield* FaultProxy.make({ upstreamPort: server.port })
        const client = yield* RedisClient.make({ host: proxy.host, port: proxy.port, maxInFlight: 1 })
        const backend = yield* backendOver(client)
        yield* client.send(["PING"])
        yield* proxy.setMode(FaultProxy.stall)
        // Takes the only slot; its reply is held by the proxy.
        const held = yield* Effect.forkChild(client.send(["PING"]))
        yield* Effect.sleep("50 millis")
        const direct = yield* Effect.flip(
          client.pipeline([["SET", "a", "1"], ["SET", "b", "1"], ["SET", "c", "1"]]).pipe(
            Effect.timeoutOrElse({ duration: "100 millis", orElse: () => Effect.fail({ _tag: "Timeout" as const }) })
          )
        )
        expect(direct._tag).toBe("Timeout")
        // The backend's setMany with a TTL is such a pipeline, cancelled here by the policy's timeout.
        const timed = yield* Policy.timeout("100 millis").wrap(backend)
        const viaBackend = yield* Effect.flip(timed.setMany([["x", 1], ["y", 2], ["z", 3]], "1 minute"))
        expect(viaBackend._tag).toBe("CacheTimeoutError")
        yield* proxy.setMode(FaultProxy.pass)
        expect(yield* Fiber.join(held)).toBe("PONG")
        yield* client.send(["PING"])
        expect(yield* server.cli("EXISTS", "a", "b", "c", "ac:x", "ac:y", "ac:z")).toBe("0")

        // Admitted, it goes whole even when its awaiter leaves right after.
        yield* proxy.setMode(FaultProxy.stall)
        const held2 = yield* Effect.forkChild(client.send(["PING"]))
        yield* Effect.sleep("50 millis")
        const admitted = yield* Effect.forkChild(
          client.pipeline([["SET", "d", "1"], ["SET", "e", "1"], ["SET", "f", "1"]])
        )
        // Waiting for room before the room is made: a forked fiber may not have started yet (Effect 4 starts it after
        // the turn's I/O, which could bring the reply that makes room), and one interrupted then sends nothing.
        yield* Effect.sleep("50 millis")
        yield* proxy.setMode(FaultProxy.pass)
        yield* Fiber.join(held2)
        yield* Fiber.interrupt(admitted)
        yield* client.send(["PING"])
        expect(yield* server.cli("EXISTS", "d", "e", "f")).toBe("3")
      }))
  })

  describe("leaks, storms and wrong errors", () => {
    it.live("invalid options are rejected before any socket is opened", () =>
      Effect.gen(function*() {
        const fake = yield* FakeServer.make(FakeServer.silent)
        const base = { host: fake.host, port: fake.port }
        const invalid: ReadonlyArray<RedisClient.RedisClientOptions> = [
          { maxBulkLength: -1 },
          { maxBulkLength: Number.NaN },
          { maxBulkLength: 1.5 },
          { maxArgumentLength: 0 },
          { maxArgumentLength: Number.POSITIVE_INFINITY },
          { clientName: "café" },
          { clientName: "a b" },
          { reconnectBaseDelay: "1 second", reconnectMaxDelay: "100 millis" },
          { db: 1e20 },
          { db: 2 ** 31 },
          { url: `redis://user@127.0.0.1:${fake.port}` },
          { username: "user" },
          { url: `redis://127.0.0.1:${fake.port}?database=2` },
          { url: `redis://127.0.0.1:${fake.port}/1?db=2` },
          { url: `redis://127.0.0.1:${fake.port}?db=x` },
          { host: "" },
          { host: 1 as unknown as string },
          { tls: "yes" as unknown as boolean },
          { password: "plain" as unknown as Redacted.Redacted<string> }
        ]
        for (const options of invalid) {
          const error = yield* Effect.flip(Effect.scoped(RedisClient.make({ ...base, ...options })))
          expect(error._tag).toBe("RedisConfigError")
        }
        expect(fake.connections).toBe(0)
        // `?db=` is read, as the path is.
        const resolved = yield* resolveOptions({ url: "redis://h:1?db=3" })
        expect(resolved.db).toBe(3)
        // A larger base delay with no explicit maximum raises the maximum instead of failing.
        const slow = yield* resolveOptions({ reconnectBaseDelay: "5 seconds" })
        expect(slow.reconnectMaxDelayMillis).toBe(5_000)
      }))

    it.live("the reconnection delay, jitter included, never exceeds reconnectMaxDelay", () =>
      Effect.gen(function*() {
        // The largest jitter there is.
        vi.spyOn(Math, "random").mockReturnValue(0.999999)
        const port = yield* closedPort
        const client = yield* RedisClient.make({
          host: "127.0.0.1",
          port,
          reconnectBaseDelay: "200 millis",
          reconnectMaxDelay: "200 millis"
        })
        yield* Effect.flip(client.send(["PING"]))
        const error = yield* Effect.flip(client.send(["PING"]))
        const wait = Number(/next attempt in (\d+) ms/.exec(error.message)?.[1])
        expect(wait).toBeGreaterThan(0)
        expect(wait).toBeLessThanOrEqual(200)
      }))

    it.live("a server that answers every connection with an error and hangs up is not hammered", () =>
      Effect.gen(function*() {
        // What Redis does at maxclients.
        const fake = yield* FakeServer.make((socket) => {
          socket.end("-ERR max number of clients reached\r\n")
        })
        const client = yield* RedisClient.make({
          host: fake.host,
          port: fake.port,
          reconnectBaseDelay: "50 millis",
          reconnectMaxDelay: "2 seconds"
        })
        const messages = new Set<string>()
        const deadline = performance.now() + 1_000
        yield* Effect.forEach(
          Array.from({ length: 64 }, (_, i) => i),
          () =>
            Effect.whileLoop({
              while: () => performance.now() < deadline,
              body: () =>
                Effect.andThen(
                  Effect.map(Effect.flip(client.send(["PING"])), (error) => messages.add(error.message)),
                  Effect.sleep("2 millis")
                ),
              step: () => {}
            }),
          { concurrency: "unbounded", discard: true }
        )
        // Attempts at about 0, 50, 150, 350 and 750 ms; each answered by an error, which is not a working connection.
        expect(fake.connections).toBeLessThanOrEqual(10)
        expect([...messages].some((message) => /max number of clients reached/.test(message))).toBe(true)
      }))

    it.live("only credential errors in the handshake are RedisAuthError", () =>
      Effect.gen(function*() {
        const fake = yield* FakeServer.make(FakeServer.fakeRedis((_, command) =>
          command[0] === "AUTH" ? new Resp.ErrorReply("ERR max number of clients reached") : "OK"
        ))
        const client = yield* RedisClient.make({
          host: fake.host,
          port: fake.port,
          password: Redacted.make("pw"),
          reconnectBaseDelay: "1 second"
        })
        const error = yield* Effect.flip(client.send(["PING"]))
        expect(error._tag).toBe("RedisReplyError")
        expect(error.message).toMatch(/max number of clients reached/)
        // While the backoff runs it fails fast as unavailable, not as an authentication failure.
        const again = yield* Effect.flip(client.send(["PING"]))
        expect(again._tag).toBe("RedisConnectionError")
        expect(again.message).toMatch(/max number of clients reached/)

        const wrong = yield* FakeServer.make(FakeServer.fakeRedis((_, command) =>
          command[0] === "AUTH"
            ? new Resp.ErrorReply("WRONGPASS invalid username-password pair or user is disabled.")
            : "OK"
        ))
        const rejected = yield* RedisClient.make({ host: wrong.host, port: wrong.port, password: Redacted.make("pw") })
        expect((yield* Effect.flip(rejected.send(["PING"])))._tag).toBe("RedisAuthError")
      }))

    it.live("no password against requirepass: the auth error, from the client and through the backend", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make({ args: ["--requirepass", "pw"] })
        const client = yield* RedisClient.make({ host: server.host, port: server.port })
        const backend = yield* backendOver(client)
        expect((yield* Effect.flip(client.send(["GET", "k"])))._tag).toBe("RedisAuthError")
        expect((yield* Effect.flip(client.pipeline([["GET", "k"], ["PTTL", "k"]])))._tag).toBe("RedisAuthError")
        for (
          const operation of [
            backend.get("k"),
            backend.getWithTtl("k"),
            backend.set("k", 1),
            backend.setMany([["a", 1], ["b", 2]], "1 minute")
          ]
        ) {
          const error = yield* Effect.flip(operation as Effect.Effect<unknown, { _tag: string; cause?: unknown }>)
          expect(error._tag).toBe("CacheReplyError")
          expect(tagOf(error.cause)).toBe("RedisAuthError")
        }
      }))

    it.live("error and status replies longer than 64 KiB keep the connection, first reply or pipelined", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const client = yield* RedisClient.make({ host: server.host, port: server.port })
        const longError = ["EVAL", "return redis.error_reply('ERR ' .. string.rep('x', 70000))", "0"]
        // As the very first reply of a connection.
        const first = yield* Effect.flip(client.send(longError))
        expect(first._tag).toBe("RedisReplyError")
        expect(first.message.length).toBeGreaterThan(70_000)
        const id = yield* client.send(["CLIENT", "ID"])
        const replies = yield* client.pipeline([
          longError,
          ["EVAL", "return redis.status_reply(string.rep('y', 70000))", "0"],
          ["PING"]
        ])
        expect(replies[0]).toBeInstanceOf(Resp.ErrorReply)
        expect(replies[1]).toBe("y".repeat(70_000))
        expect(replies[2]).toBe("PONG")
        expect(yield* client.send(["CLIENT", "ID"])).toBe(id)
      }))

    it.live("a value over maxArgumentLength: typed, not retried, nothing sent, no other command harmed", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make({ args: ["--proto-max-bulk-len", "1mb"] })
        const client = yield* RedisClient.make({
          host: server.host,
          port: server.port,
          maxArgumentLength: 1024 * 1024
        })
        const backend = yield* backendOver(client)
        yield* backend.set("k", "v")
        const id = yield* client.send(["CLIENT", "ID"])
        const huge = Buffer.alloc(2 * 1024 * 1024, 0x61)
        const direct = yield* Effect.flip(client.send(["SET", "huge", huge]))
        expect(direct._tag).toBe("RedisInputError")
        expect(direct.message).toMatch(/maxArgumentLength/)
        expect((yield* Effect.flip(client.send(["SET", "huge", huge.toString("latin1")])))._tag).toBe("RedisInputError")
        const before = yield* commandCounts(server)
        let attempts = 0
        const counted: RemoteCacheBackendShape = {
          ...backend,
          set: (key, value, ttl) =>
            Effect.suspend(() => {
              attempts++
              return backend.set(key, value, ttl)
            })
        }
        const retrying = yield* Policy.retry(Schedule.recurs(5)).wrap(counted)
        const retried = retrying.set("huge", huge.toString("latin1"))
        const [error, gets] = yield* Effect.all([
          Effect.flip(retried),
          Effect.forEach(Array.from({ length: 200 }, () => backend.get("k")), (get) => get, {
            concurrency: "unbounded"
          })
        ], { concurrency: "unbounded" })
        expect(error._tag).toBe("CacheInputError")
        expect(attempts).toBe(1)
        expect(gets.every((got) => Option.isSome(got) && got.value === "v")).toBe(true)
        expect((yield* commandCounts(server)).get("set")).toBe(before.get("set"))
        expect(yield* client.send(["CLIENT", "ID"])).toBe(id)
      }))
  })

  describe("errors that name their cause", () => {
    it.live("TLS to a server that never answers: the message says the TLS handshake did not complete", () =>
      Effect.gen(function*() {
        const fake = yield* FakeServer.make(FakeServer.silent)
        const client = yield* RedisClient.make({
          host: fake.host,
          port: fake.port,
          tls: true,
          connectTimeout: "300 millis"
        })
        const error = yield* Effect.flip(client.send(["PING"]))
        expect(error._tag).toBe("RedisTimeoutError")
        expect(error.message).toMatch(/TLS handshake .* did not complete/)
        expect(error.message).toMatch(/may not speak TLS/)
      }))

    it.live("TLS to a server answering in plain text fails at once, saying it may not speak TLS", () =>
      Effect.gen(function*() {
        const fake = yield* FakeServer.make(FakeServer.respondWith("-ERR unknown command\r\n"))
        const client = yield* RedisClient.make({
          host: fake.host,
          port: fake.port,
          tls: true,
          connectTimeout: "5 seconds"
        })
        const started = performance.now()
        const error = yield* Effect.flip(client.send(["PING"]))
        expect(performance.now() - started).toBeLessThan(2_500)
        expect(error._tag).toBe("RedisConnectionError")
        expect(error.message).toMatch(/may not speak TLS/)
      }))

    it.live("a port that accepts and never answers: the message says the server did not answer", () =>
      Effect.gen(function*() {
        const fake = yield* FakeServer.make(FakeServer.silent)
        const client = yield* RedisClient.make({ host: fake.host, port: fake.port, commandTimeout: "300 millis" })
        const error = yield* Effect.flip(client.send(["PING"]))
        expect(error._tag).toBe("RedisTimeoutError")
        expect(error.message).toMatch(/accepted the connection but did not answer PING/)
        const withAuth = yield* RedisClient.make({
          host: fake.host,
          port: fake.port,
          password: Redacted.make("pw"),
          connectTimeout: "300 millis"
        })
        const handshake = yield* Effect.flip(withAuth.send(["PING"]))
        expect(handshake._tag).toBe("RedisTimeoutError")
        expect(handshake.message).toMatch(/accepted the connection but did not answer the handshake/)
      }))

    it.live("a protocol error keeps the parser's error as its cause", () =>
      Effect.gen(function*() {
        const fake = yield* FakeServer.make(FakeServer.garbage)
        const client = yield* RedisClient.make({ host: fake.host, port: fake.port })
        const error = yield* Effect.flip(client.send(["PING"]))
        expect(error._tag).toBe("RedisProtocolError")
        expect(error._tag === "RedisProtocolError" && error.cause).toBeInstanceOf(Resp.ProtocolError)
      }))

    it.effect("REDIS_URL that is not a URL names REDIS_URL; an empty one falls back to the default", () =>
      Effect.gen(function*() {
        const withEnv = (env: ReadonlyArray<readonly [string, string]>) =>
          RedisClient.RedisClient.pipe(
            Effect.map((client) => client.options),
            Effect.provide(RedisClient.layerConfig()),
            Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: Object.fromEntries(env) })))
          )
        const error = yield* Effect.flip(withEnv([["REDIS_URL", "not-a-url"]]))
        expect(String(error)).toMatch(/REDIS_URL/)
        const secret = yield* Effect.flip(withEnv([["REDIS_URL", "redis://u:hunter2@h:1/x"]]))
        expect(String(secret)).toMatch(/REDIS_URL/)
        expect(String(secret)).not.toMatch(/hunter2/)
        const empty = yield* withEnv([["REDIS_URL", ""]])
        expect([empty.host, empty.port, empty.db]).toEqual(["localhost", 6379, 0])
        const missing = yield* withEnv([])
        expect([missing.host, missing.port]).toEqual(["localhost", 6379])
      }))

    it.effect("the URL is Redacted as urlConfig reads it, and a Redacted url option is used like a string", () =>
      Effect.gen(function*() {
        const url = yield* RedisClient.urlConfig().pipe(
          Effect.provide(
            ConfigProvider.layer(ConfigProvider.fromEnv({ env: { REDIS_URL: "redis://u:hunter2@h:7/3" } }))
          )
        )
        expect(String(url)).not.toMatch(/hunter2/)
        expect(Redacted.value(url)).toBe("redis://u:hunter2@h:7/3")
        const client = yield* RedisClient.make({ url })
        expect([client.options.host, client.options.port, client.options.db, client.options.username]).toEqual([
          "h",
          7,
          3,
          "u"
        ])
        expect(client.options.password && Redacted.value(client.options.password)).toBe("hunter2")
      }).pipe(Effect.scoped))
  })
})
