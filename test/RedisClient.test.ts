import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import {
  Cause,
  ConfigProvider,
  Deferred,
  Effect,
  Exit,
  Fiber,
  FiberId,
  Redacted,
  Runtime,
  Schedule,
  Scope
} from "effect"
import * as Net from "node:net"
import { Duplex } from "node:stream"
import { inspect } from "node:util"
import { resolveOptions } from "../src/internal/client/options.js"
import * as RedisClient from "../src/RedisClient.js"
import * as Resp from "../src/Resp.js"
import { maxAttemptsWithin } from "./utils/Backoff.js"
import * as FakeServer from "./utils/FakeServer.js"
import * as RedisServer from "./utils/RedisServer.js"
import { text } from "./utils/RespValues.js"
import * as Tls from "./utils/Tls.js"

/** Builds a client for the given server in the current scope. */
const clientFor = (server: RedisServer.RedisServerShape, options: RedisClient.RedisClientOptions = {}) =>
  RedisClient.make({ host: server.host, port: server.port, ...options })

afterEach(() => {
  vi.restoreAllMocks()
})

describe("RedisClient", () => {
  describe("round trips", () => {
    it.scopedLive("PING, SET, GET, DEL", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const client = yield* clientFor(server)
        expect(yield* client.send(["PING"])).toBe("PONG")
        expect(yield* client.send(["SET", "k", "v"])).toBe("OK")
        expect(text(yield* client.send(["GET", "k"]))).toBe("v")
        expect(yield* client.send(["DEL", "k"])).toBe(1)
        expect(yield* client.send(["GET", "k"])).toBe(null)
        const error = yield* Effect.flip(client.send(["NOSUCHCOMMAND"]))
        expect(error._tag).toBe("RedisReplyError")
        expect(error._tag === "RedisReplyError" && error.code).toBe("ERR")
        // An error reply leaves the connection usable.
        expect(yield* client.send(["PING"])).toBe("PONG")
      }))

    it.scopedLive("binary values with every byte, a 16 MiB value, Unicode keys", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const client = yield* clientFor(server)
        const bytes = new Uint8Array(256 * 4)
        for (let i = 0; i < bytes.length; i++) bytes[i] = i % 256
        yield* client.send(["SET", "bin", bytes])
        expect(Buffer.compare(Buffer.from((yield* client.send(["GET", "bin"])) as Uint8Array), bytes)).toBe(0)

        const big = Buffer.alloc(16 * 1024 * 1024)
        for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 251
        yield* client.send(["SET", "big", big])
        const back = (yield* client.send(["GET", "big"])) as Uint8Array
        expect(back.length).toBe(big.length)
        expect(Buffer.compare(Buffer.from(back), big)).toBe(0)

        const keys = ["ключ", "键🔑", "emoji-😀", "a\r\nb", "nul\u0000byte"]
        for (const key of keys) yield* client.send(["SET", key, `value of ${key}`])
        for (const key of keys) expect(text(yield* client.send(["GET", key]))).toBe(`value of ${key}`)
        expect(yield* server.cli("GET", "键🔑")).toBe("value of 键🔑")
      }))

    it.scopedLive("10,000 concurrent commands, each reply matched to its own key", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const client = yield* clientFor(server)
        const n = 10_000
        yield* Effect.forEach(
          Array.from({ length: n }, (_, i) => i),
          (i) => client.send(["SET", `key:${i}`, `value:${i}`]),
          { concurrency: "unbounded", discard: true }
        )
        const replies = yield* Effect.forEach(
          Array.from({ length: n }, (_, i) => i),
          (i) => Effect.map(client.send(["GET", `key:${i}`]), (reply) => [i, text(reply)] as const),
          { concurrency: "unbounded" }
        )
        for (const [i, reply] of replies) expect(reply).toBe(`value:${i}`)
      }))

    it.scopedLive("pipeline: one write, replies in order, error replies as values", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const client = yield* clientFor(server)
        const replies = yield* client.pipeline([["SET", "a", "1"], ["INCR", "a"], ["HGET", "a", "f"], ["GET", "a"]])
        expect(replies[0]).toBe("OK")
        expect(replies[1]).toBe(2)
        expect(replies[2]).toBeInstanceOf(Resp.ErrorReply)
        expect((replies[2] as Resp.ErrorReply).code).toBe("WRONGTYPE")
        expect(text(replies[3]!)).toBe("2")
        expect(yield* client.pipeline([])).toEqual([])
      }))

    it.scopedLive("send and pipeline effects send their commands anew on every run", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const client = yield* clientFor(server)
        const incr = client.send(["INCR", "n"])
        const both = client.pipeline([["INCR", "n"], ["INCR", "n"]])
        expect(yield* incr).toBe(1)
        expect(yield* incr).toBe(2)
        expect(yield* both).toEqual([3, 4])
        expect(yield* both).toEqual([5, 6])
        // Also on a fresh connection: the first run opens it.
        yield* server.restart
        const again = client.pipeline([["INCR", "m"]])
        expect(yield* Effect.retry(again, { times: 50, schedule: Schedule.spaced("20 millis") })).toEqual([1])
        expect(yield* again).toEqual([2])
      }))

    it.scopedLive("commands sent in the same tick leave in one socket write", () =>
      Effect.gen(function*() {
        // A peer that records each chunk it reads and answers every PING: 100 PINGs sent at once must arrive as
        // one chunk (one write of ~1.4 KB), whereas one write per command would arrive as many.
        const chunks: Array<number> = []
        const fake = yield* FakeServer.make((socket) => {
          socket.on("data", (chunk: Buffer) => {
            chunks.push(chunk.length)
            const pings = chunk.toString("latin1").split("PING").length - 1
            socket.write("+PONG\r\n".repeat(pings))
          })
        })
        const client = yield* RedisClient.make({ host: "127.0.0.1", port: fake.port })
        expect(yield* client.send(["PING"])).toBe("PONG")
        chunks.length = 0
        const replies = yield* Effect.forEach(Array.from({ length: 100 }), () => client.send(["PING"]), {
          concurrency: "unbounded"
        })
        expect(replies.every((reply) => reply === "PONG")).toBe(true)
        expect(chunks).toEqual([100 * "*1\r\n$4\r\nPING\r\n".length])
      }))

    it.scopedLive("commands sent from separate callbacks of one turn, others in flight, leave in one write", () =>
      Effect.gen(function*() {
        // Replies read in several reads of one turn (a batch of replies larger than one read) resume their
        // callers from separate callbacks while the rest of the batch is still in flight: what they send next goes
        // out together once the turn's I/O is done. Two immediates of one check phase stand for two reads; a HOLD the server
        // answers only after both PINGs stands for the rest of the batch.
        let held = false
        const holdReceived = Deferred.unsafeMake<void>(FiberId.none)
        let pingsWhileHeld = 0
        const fake = yield* FakeServer.make((socket) => {
          socket.on("data", (chunk: Buffer) => {
            const text = chunk.toString("latin1")
            const pings = text.split("PING").length - 1
            if (text.includes("HOLD")) {
              held = true
              Deferred.unsafeDone(holdReceived, Exit.void)
            }
            if (!held) return void socket.write("+PONG\r\n".repeat(pings))
            pingsWhileHeld += pings
            if (pingsWhileHeld === 2) socket.write("+HELD\r\n+PONG\r\n+PONG\r\n")
          })
        })
        const client = yield* RedisClient.make({ host: "127.0.0.1", port: fake.port })
        expect(yield* client.send(["PING"])).toBe("PONG")
        const hold = yield* Effect.fork(client.send(["HOLD"]))
        yield* Deferred.await(holdReceived)
        const write = vi.spyOn(Duplex.prototype, "write")
        const runtime = yield* Effect.runtime<never>()
        const replies = yield* Effect.async<ReadonlyArray<unknown>>((resume) => {
          const results: Array<unknown> = []
          const fire = () =>
            Runtime.runCallback(runtime)(client.send(["PING"]), {
              onExit: (exit) => {
                results.push(Exit.isSuccess(exit) ? exit.value : exit)
                if (results.length === 2) resume(Effect.succeed(results))
              }
            })
          // Two immediates queued together run in one check phase, each a callback of its own (Node drains the
          // nextTick queue between them); two timers may fall into different turns on a busy machine.
          setImmediate(fire)
          setImmediate(fire)
        })
        expect(replies).toEqual(["PONG", "PONG"])
        expect(yield* Fiber.join(hold)).toBe("HELD")
        const ours = write.mock.contexts.filter((socket) =>
          socket instanceof Net.Socket && socket.remotePort === fake.port
        )
        expect(ours).toHaveLength(1)
      }))

    it.scopedLive("backpressure past maxInFlight: every command still completes", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const client = yield* clientFor(server, { maxInFlight: 8 })
        const replies = yield* Effect.forEach(
          Array.from({ length: 2_000 }, (_, i) => i),
          (i) => client.send(["ECHO", `m${i}`]),
          { concurrency: "unbounded" }
        )
        replies.forEach((reply, i) => expect(text(reply)).toBe(`m${i}`))
        const batch = yield* client.pipeline(Array.from({ length: 50 }, (_, i) => ["ECHO", `b${i}`]))
        batch.forEach((reply, i) => expect(text(reply)).toBe(`b${i}`))
      }))
  })

  describe("failures", () => {
    it.scopedLive("server killed: typed error, then the same client recovers after a restart on the same port", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const client = yield* clientFor(server, { reconnectMaxDelay: "200 millis" })
        yield* client.send(["SET", "k", "v"])
        yield* server.kill
        const error = yield* Effect.flip(client.send(["GET", "k"]))
        expect(error._tag).toBe("RedisConnectionError")
        // While down, commands fail fast.
        const started = Date.now()
        const again = yield* Effect.flip(client.send(["GET", "k"]))
        expect(again._tag).toBe("RedisConnectionError")
        expect(Date.now() - started).toBeLessThan(1_000)
        yield* server.start
        const reply = yield* client.send(["PING"]).pipe(
          Effect.retry({
            schedule: Schedule.spaced("50 millis"),
            times: 60,
            while: (e) => e._tag === "RedisConnectionError"
          })
        )
        expect(reply).toBe("PONG")
      }))

    it.scopedLive("server paused: timeout within commandTimeout, and no later command ever sees an earlier reply", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const client = yield* clientFor(server, { commandTimeout: "300 millis" })
        yield* client.send(["SET", "a", "value-a"])
        yield* client.send(["SET", "b", "value-b"])
        yield* server.pause
        const started = Date.now()
        const fibers = yield* Effect.forEach(["a", "a", "a"], (key) => Effect.fork(client.send(["GET", key])))
        const exits = yield* Effect.forEach(fibers, Fiber.await)
        const elapsed = Date.now() - started
        expect(elapsed).toBeGreaterThanOrEqual(250)
        expect(elapsed).toBeLessThan(2_000)
        const tags = exits.map((exit) =>
          Exit.isFailure(exit) ? (Cause.squash(exit.cause) as { _tag: string })._tag : "ok"
        )
        expect(tags[0]).toBe("RedisTimeoutError")
        expect(tags.slice(1).every((tag) => tag === "RedisConnectionError" || tag === "RedisTimeoutError")).toBe(true)
        yield* server.resume
        // The replies to the GETs above are now sent by the server, on the dead connection only.
        for (let i = 0; i < 20; i++) {
          const reply = yield* client.send(["GET", "b"]).pipe(
            Effect.retry({
              schedule: Schedule.spaced("50 millis"),
              times: 40,
              while: (e) => e._tag === "RedisConnectionError"
            })
          )
          expect(text(reply)).toBe("value-b")
        }
      }))

    it.scopedLive("interrupting a waiting fiber does not desynchronise the connection", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const client = yield* clientFor(server)
        for (let round = 0; round < 50; round++) {
          yield* client.send(["SET", `k${round}`, `v${round}`])
          const fiber = yield* Effect.fork(client.send(["GET", `k${round}`]))
          if (round % 2 === 0) yield* Effect.yieldNow()
          yield* Fiber.interrupt(fiber)
          expect(text(yield* client.send(["ECHO", `after${round}`]))).toBe(`after${round}`)
        }
      }))

    it.scopedLive("closing the scope fails every waiting command with a typed error", () =>
      Effect.gen(function*() {
        const fake = yield* FakeServer.make(FakeServer.silent)
        const scope = yield* Scope.make()
        const client = yield* RedisClient.make({ host: "127.0.0.1", port: fake.port }).pipe(Scope.extend(scope))
        const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(client.send(["PING"])))
        yield* Effect.sleep("100 millis")
        yield* Scope.close(scope, Exit.void)
        for (const fiber of fibers) {
          const exit = yield* Fiber.await(fiber)
          expect(Exit.isFailure(exit) && (Cause.squash(exit.cause) as { _tag: string })._tag).toBe(
            "RedisConnectionError"
          )
        }
        const after = yield* Effect.flip(client.send(["PING"]))
        expect(after._tag).toBe("RedisConnectionError")
      }))

    it.scopedLive("a server answering garbage: RedisProtocolError and the connection is dropped", () =>
      Effect.gen(function*() {
        const fake = yield* FakeServer.make(FakeServer.garbage)
        const client = yield* RedisClient.make({ host: "127.0.0.1", port: fake.port, reconnectBaseDelay: 1 })
        const error = yield* Effect.flip(client.send(["PING"]))
        expect(error._tag).toBe("RedisProtocolError")
        yield* Effect.sleep("20 millis")
        const second = yield* Effect.flip(client.send(["PING"]))
        expect(second._tag).toBe("RedisProtocolError")
        // Each protocol error finished its connection: the second command needed a new one.
        expect(fake.connections).toBe(2)
      }))

    it.scopedLive("a closed port: fail fast, and reconnection attempts are spaced by the backoff", () =>
      Effect.gen(function*() {
        const fake = yield* FakeServer.make(FakeServer.closeImmediately)
        const client = yield* RedisClient.make({
          host: "127.0.0.1",
          port: fake.port,
          reconnectBaseDelay: "100 millis",
          reconnectMaxDelay: "2 seconds"
        })
        const started = Date.now()
        for (let i = 0; i < 30; i++) {
          const error = yield* Effect.flip(client.send(["PING"]))
          expect(error._tag).toBe("RedisConnectionError")
          yield* Effect.sleep("5 millis")
        }
        const elapsed = Date.now() - started
        // Each command fails at once: one that waited for an attempt of its own would wait out the backoff, over
        // 40 s for the thirty.
        expect(elapsed).toBeLessThan(10_000)
        // Attempts are spaced by the backoff (100, 200, 400 ms…), not one per command, however long the loop took.
        expect(fake.connections).toBeLessThanOrEqual(maxAttemptsWithin(elapsed, 100, 2_000))
      }))

    it.scopedLive("a host that does not resolve fails with RedisConnectionError", () =>
      Effect.gen(function*() {
        const client = yield* RedisClient.make({ host: "no-such-host.invalid", connectTimeout: "2 seconds" })
        const error = yield* Effect.flip(client.send(["PING"]))
        expect(["RedisConnectionError", "RedisTimeoutError"]).toContain(error._tag)
      }))

    it.scopedLive("a silent server: connect+handshake bounded by connectTimeout", () =>
      Effect.gen(function*() {
        const fake = yield* FakeServer.make(FakeServer.silent)
        const client = yield* RedisClient.make({
          host: "127.0.0.1",
          port: fake.port,
          password: Redacted.make("pw"),
          connectTimeout: "200 millis"
        })
        const started = Date.now()
        const error = yield* Effect.flip(client.send(["PING"]))
        expect(error._tag).toBe("RedisTimeoutError")
        expect(error._tag === "RedisTimeoutError" && error.phase).toBe("connect")
        expect(Date.now() - started).toBeLessThan(1_500)
      }))
  })

  describe("handshake", () => {
    it.scopedLive("AUTH with an ACL user, a wrong password is a typed auth error carrying the server's text", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make({ aclUsers: [{ name: "app", password: "s3cret-pw" }] })
        const good = yield* clientFor(server, { username: "app", password: Redacted.make("s3cret-pw") })
        expect(yield* good.send(["PING"])).toBe("PONG")
        expect(yield* good.send(["ACL", "WHOAMI"]).pipe(Effect.map(text))).toBe("app")

        const bad = yield* clientFor(server, { username: "app", password: Redacted.make("wrong-pw") })
        const error = yield* Effect.flip(bad.send(["PING"]))
        expect(error._tag).toBe("RedisAuthError")
        expect(error.message).toMatch(/WRONGPASS|invalid/i)
        expect(error.message).not.toContain("wrong-pw")
        // Not retried in a loop: the next command fails fast with the same error.
        const again = yield* Effect.flip(bad.send(["PING"]))
        expect(again._tag).toBe("RedisAuthError")
      }))

    it.scopedLive("requirepass with the password alone", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make({ args: ["--requirepass", "only-pw"] })
        const client = yield* clientFor(server, { password: Redacted.make("only-pw") })
        expect(yield* client.send(["PING"])).toBe("PONG")
        // No password against requirepass: the server's NOAUTH is an authentication error, for send and pipeline.
        const none = yield* clientFor(server)
        const error = yield* Effect.flip(none.send(["PING"]))
        expect(error._tag).toBe("RedisAuthError")
        expect(error.message).toMatch(/^NOAUTH/)
        const batch = yield* Effect.flip(none.pipeline([["PING"], ["GET", "k"]]))
        expect(batch._tag).toBe("RedisAuthError")
      }))

    it.scopedLive("SELECT 3 isolates keys; CLIENT SETNAME is applied", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const db0 = yield* clientFor(server)
        const db3 = yield* clientFor(server, { db: 3, clientName: "cache-test" })
        yield* db3.send(["SET", "k", "in-3"])
        expect(yield* db0.send(["GET", "k"])).toBe(null)
        expect(text(yield* db3.send(["GET", "k"]))).toBe("in-3")
        expect(yield* server.cli("-n", "3", "GET", "k")).toBe("in-3")
        expect(text(yield* db3.send(["CLIENT", "GETNAME"]))).toBe("cache-test")
      }))

    it.scopedLive("a db out of range is a typed reply error", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const client = yield* clientFor(server, { db: 999 })
        const error = yield* Effect.flip(client.send(["PING"]))
        expect(error._tag).toBe("RedisReplyError")
      }))

    it.scopedLive("TLS with a CA the test made; an unrelated CA is rejected; plain to TLS port fails", () =>
      Effect.gen(function*() {
        const files = yield* Tls.makeTlsFiles
        const server = yield* RedisServer.make({ tls: files })
        const tlsPort = server.tlsPort!
        const secure = yield* RedisClient.make({ host: "127.0.0.1", port: tlsPort, tls: { ca: files.ca } })
        expect(yield* secure.send(["SET", "t", "over tls"])).toBe("OK")
        expect(text(yield* secure.send(["GET", "t"]))).toBe("over tls")

        // A client certificate's key is used for the connection but hidden from printed options.
        const withKey = yield* RedisClient.make({
          host: "127.0.0.1",
          port: tlsPort,
          tls: { ca: files.ca, cert: files.cert, key: files.key, passphrase: "not-a-real-passphrase" }
        })
        expect(yield* withKey.send(["PING"])).toBe("PONG")
        const printed = JSON.stringify(withKey.options) + inspect(withKey.options, { depth: 5 })
        expect(printed).not.toContain("PRIVATE KEY")
        expect(printed).not.toContain("not-a-real-passphrase")

        const other = yield* Tls.makeCertificateAuthority("another CA")
        const untrusted = yield* RedisClient.make({ host: "127.0.0.1", port: tlsPort, tls: { ca: other.ca } })
        expect((yield* Effect.flip(untrusted.send(["PING"])))._tag).toBe("RedisConnectionError")

        const noCa = yield* RedisClient.make({ url: `rediss://127.0.0.1:${tlsPort}` })
        expect((yield* Effect.flip(noCa.send(["PING"])))._tag).toBe("RedisConnectionError")

        const plainToTls = yield* RedisClient.make({
          host: "127.0.0.1",
          port: tlsPort,
          commandTimeout: "500 millis",
          connectTimeout: "500 millis"
        })
        expect(["RedisConnectionError", "RedisTimeoutError", "RedisProtocolError"]).toContain(
          (yield* Effect.flip(plainToTls.send(["PING"])))._tag
        )
        const tlsToPlain = yield* RedisClient.make({
          host: "127.0.0.1",
          port: server.port,
          tls: { ca: files.ca },
          connectTimeout: "500 millis"
        })
        expect(["RedisConnectionError", "RedisTimeoutError"]).toContain(
          (yield* Effect.flip(tlsToPlain.send(["PING"])))._tag
        )
      }))
  })

  describe("options", () => {
    it.effect("a URL gives host, port, user, password, db and TLS; explicit options win", () =>
      Effect.gen(function*() {
        const options = yield* resolveOptions({ url: "rediss://us%40er:p%3Ass@example.org:6380/4" })
        expect(options.host).toBe("example.org")
        expect(options.port).toBe(6380)
        expect(options.db).toBe(4)
        expect(options.username).toBe("us@er")
        expect(Redacted.value(options.password!)).toBe("p:ss")
        expect(options.tls).toEqual({})
        expect(JSON.stringify(options)).not.toContain("p:ss")
        expect(String(options.password)).not.toContain("p:ss")
        const overridden = yield* resolveOptions({ url: "redis://h:1/2", port: 7000, db: 0 })
        expect([overridden.host, overridden.port, overridden.db, overridden.tls]).toEqual(["h", 7000, 0, undefined])
        const defaults = yield* resolveOptions()
        expect([defaults.host, defaults.port, defaults.connectTimeoutMillis, defaults.commandTimeoutMillis]).toEqual([
          "localhost",
          6379,
          5_000,
          5_000
        ])
      }))

    it.effect("invalid options are a RedisConfigError that never echoes a password", () =>
      Effect.gen(function*() {
        for (
          const options of [
            { url: "http://x" },
            { url: "redis://:hunter2@host:99999" },
            { port: 0 },
            { db: -1 },
            { db: 1.5 },
            { commandTimeout: Number.NaN },
            { maxInFlight: 0 },
            { url: "redis://h/abc" }
          ]
        ) {
          const error = yield* Effect.flip(resolveOptions(options))
          expect(error._tag).toBe("RedisConfigError")
          expect(error.message).not.toContain("hunter2")
        }
      }))

    it.effect("layerConfig reads REDIS_URL", () =>
      Effect.gen(function*() {
        const options = yield* RedisClient.RedisClient.pipe(
          Effect.map((client) => client.options),
          Effect.provide(RedisClient.layerConfig()),
          // A map provider, so the test never reads the real environment.
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["REDIS_URL", "redis://127.0.0.1:6390/2"]])))
        )
        expect([options.host, options.port, options.db]).toEqual(["127.0.0.1", 6390, 2])
      }))
  })
})
