import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, Redacted, Schedule } from "effect"
import * as Net from "node:net"
import * as RedisBackend from "../../src/RedisBackend.js"
import * as RedisClient from "../../src/RedisClient.js"
import type { RemoteCacheBackendShape } from "../../src/RemoteCacheBackend.js"
import * as Resp from "../../src/Resp.js"
import * as Serializer from "../../src/Serializer.js"
import { maxAttemptsWithin } from "../utils/Backoff.js"
import * as FakeServer from "../utils/FakeServer.js"
import * as RedisServer from "../utils/RedisServer.js"
import { text } from "../utils/RespValues.js"
import * as Tls from "../utils/Tls.js"

// Bad input, one case per test. Whatever cannot succeed must fail with a typed error within a bound, and the
// connection (when there is one) must stay usable: the next command works, on the same connection where the
// protocol allows it.

/** A client and a backend over it, on the given server. */
const both = (port: number, options: RedisClient.RedisClientOptions = {}, backend: RedisBackend.MakeOptions = {}) =>
  Effect.gen(function*() {
    const client = yield* RedisClient.make({ host: "127.0.0.1", port, ...options })
    const cache: RemoteCacheBackendShape = yield* Effect.provideService(
      RedisBackend.make(backend),
      RedisClient.RedisClient,
      client
    )
    return { client, cache }
  })

/** The server-side id of the connection the client uses now: equal ids prove the connection survived. */
const connectionId = (client: RedisClient.RedisClientShape) => client.send(["CLIENT", "ID"])

const retryWhileUnavailable = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.retry(effect, {
    schedule: Schedule.spaced("20 millis"),
    times: 100,
    while: (error) => error._tag === "RedisConnectionError" || error._tag === "CacheConnectionError"
  })

/** A port nothing listens on: bound, then released. */
const closedPort = Effect.async<number>((resume) => {
  const probe = Net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const port = (probe.address() as Net.AddressInfo).port
    probe.close(() => resume(Effect.succeed(port)))
  })
})

/** The `code` of the reply error behind a backend's `CacheReplyError`. */
const replyCode = (error: { readonly cause?: unknown }) => (error.cause as { readonly code?: string } | undefined)?.code

const fakeRedis = FakeServer.fakeRedis

describe("Bad input", () => {
  it.scopedLive("empty key: stored under the prefix alone, and it round-trips on the same connection", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const { cache, client } = yield* both(server.port)
      const id = yield* connectionId(client)
      yield* cache.set("", { empty: true })
      expect(yield* cache.get("")).toStrictEqual(Option.some({ empty: true }))
      expect(yield* client.send(["EXISTS", "ac:"])).toBe(1)
      yield* cache.delete("")
      expect(yield* cache.get("")).toStrictEqual(Option.none())
      expect(yield* connectionId(client)).toBe(id)
    }))

  it.scopedLive("1 MB key: round-trips through the backend and the client", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const { cache, client } = yield* both(server.port)
      const id = yield* connectionId(client)
      // Multi-byte characters, so the byte length (what RESP declares) differs from the string length.
      const key = "ключ-".repeat(1024 * 1024 / 9) + "end"
      expect(Buffer.byteLength(key)).toBeGreaterThan(1024 * 1024 - 16)
      yield* cache.set(key, "big key")
      expect(yield* cache.get(key)).toStrictEqual(Option.some("big key"))
      expect(yield* cache.get(key.slice(0, -1))).toStrictEqual(Option.none())
      expect(yield* client.send(["STRLEN", `ac:${key}`])).toBeGreaterThan(0)
      yield* cache.delete(key)
      expect(yield* cache.get(key)).toStrictEqual(Option.none())
      expect(yield* connectionId(client)).toBe(id)
    }))

  it.scopedLive("key holding CR LF and NUL: binary safe, stored byte for byte, no command injection", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const { cache, client } = yield* both(server.port)
      const id = yield* connectionId(client)
      // Were keys written inline, this one would be three commands, the second a FLUSHALL.
      const key = "a\r\nFLUSHALL\r\nb\u0000c\r\n"
      yield* cache.set("witness", 1)
      yield* cache.set(key, "nasty")
      expect(yield* cache.get(key)).toStrictEqual(Option.some("nasty"))
      expect(yield* cache.get("witness")).toStrictEqual(Option.some(1))
      const scanned = (yield* client.send(["SCAN", "0", "MATCH", "ac:a*", "COUNT", "1000"])) as [
        Uint8Array,
        ReadonlyArray<Uint8Array>
      ]
      expect(scanned[1].map((bytes) => Buffer.from(bytes).toString("hex"))).toEqual([
        Buffer.from(`ac:${key}`).toString("hex")
      ])
      expect(yield* client.send(["DBSIZE"])).toBe(2)
      expect(yield* connectionId(client)).toBe(id)
    }))

  it.scopedLive("value that cannot be serialized: CacheSerializationError, nothing sent, connection usable", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const { cache, client } = yield* both(server.port)
      const json = yield* Effect.provideService(
        RedisBackend.make({ prefix: "json:", serializer: Serializer.json }),
        RedisClient.RedisClient,
        client
      )
      const id = yield* connectionId(client)
      const before = yield* server.cli("INFO", "commandstats")
      for (const value of [() => 1, Symbol("s"), { nested: [new WeakMap()] }]) {
        const error = yield* Effect.flip(cache.set("v8", value))
        expect(error._tag).toBe("CacheSerializationError")
        expect(error.key).toBe("v8")
      }
      const cyclic: Record<string, unknown> = {}
      cyclic["self"] = cyclic
      for (const value of [10n, cyclic]) {
        expect((yield* Effect.flip(json.set("json", value)))._tag).toBe(
          "CacheSerializationError"
        )
      }
      const setMany = yield* Effect.flip(cache.setMany([["ok", 1], ["bad", () => 2]]))
      expect(setMany._tag).toBe("CacheSerializationError")
      // Nothing reached the server: no SET, MSET or DEL counted, no key written.
      const after = yield* server.cli("INFO", "commandstats")
      const writes = (info: string) => info.split("\n").filter((line) => /^cmdstat_(set|mset|del|unlink):/.test(line))
      expect(writes(after)).toEqual(writes(before))
      expect(yield* client.send(["DBSIZE"])).toBe(0)
      yield* cache.set("fine", new Map([[1, 2]]))
      expect(yield* cache.get("fine")).toStrictEqual(Option.some(new Map([[1, 2]])))
      expect(yield* connectionId(client)).toBe(id)
    }))

  it.scopedLive("value over the server's proto-max-bulk-len: a typed error, then the client works again", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ args: ["--proto-max-bulk-len", "1mb"] })
      const { cache, client } = yield* both(server.port, { reconnectBaseDelay: "10 millis" })
      yield* cache.set("small", "fits")
      const huge = Buffer.alloc(2 * 1024 * 1024, 0x61)
      const started = Date.now()
      // The client reads the server's limit (CONFIG GET) before sending an argument over 1 MiB: nothing is sent.
      const raw = yield* Effect.flip(client.send(["SET", "huge", huge]))
      expect(raw._tag).toBe("RedisInputError")
      expect(raw.message).toContain("proto-max-bulk-len (1048576)")
      const viaBackend = yield* Effect.flip(retryWhileUnavailable(cache.set("huge", huge.toString("latin1"))))
      expect(viaBackend._tag).toBe("CacheInputError")
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(yield* retryWhileUnavailable(cache.get("small"))).toStrictEqual(Option.some("fits"))
      expect(yield* cache.get("huge")).toStrictEqual(Option.none())
      // And a value just under the limit goes through.
      yield* cache.set("large", "b".repeat(1024 * 1024 - 64))
      expect(yield* cache.get("large")).toStrictEqual(Option.some("b".repeat(1024 * 1024 - 64)))
    }))

  it.scopedLive("NaN TTL: CacheInputError, nothing sent, the earlier value untouched", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const { cache, client } = yield* both(server.port)
      const id = yield* connectionId(client)
      yield* cache.set("k", "before")
      for (const ttl of [Number.NaN, [Number.NaN, 0] as const, [1, Number.NaN] as const]) {
        const error = yield* Effect.flip(cache.set("k", "after", ttl))
        expect(error._tag).toBe("CacheInputError")
        expect(error.key).toBe("k")
        expect((yield* Effect.flip(cache.setMany([["k", "after"]], ttl)))._tag).toBe("CacheInputError")
      }
      // A NaN read as zero would have deleted the key: it is still there, with no expiry.
      expect(yield* cache.get("k")).toStrictEqual(Option.some("before"))
      expect(yield* client.send(["PTTL", "ac:k"])).toBe(-1)
      expect(yield* connectionId(client)).toBe(id)
    }))

  it.scopedLive("host that does not resolve: a typed connection error, fast, every time", () =>
    Effect.gen(function*() {
      // An empty label makes the resolver fail before it sends any query: the test stays on this machine.
      const client = yield* RedisClient.make({ host: "no-such-host..invalid", connectTimeout: "2 seconds" })
      const cache = yield* Effect.provideService(RedisBackend.make(), RedisClient.RedisClient, client)
      const started = Date.now()
      const error = yield* Effect.flip(client.send(["PING"]))
      expect(error._tag).toBe("RedisConnectionError")
      expect(error.message).toContain("no-such-host..invalid")
      for (let i = 0; i < 5; i++) {
        expect((yield* Effect.flip(cache.get("k")))._tag).toBe("CacheConnectionError")
        yield* Effect.sleep("30 millis")
      }
      expect(Date.now() - started).toBeLessThan(2_000)
    }))

  it.scopedLive("closed port: refused at once with a typed error; the same client connects once a server is up", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      yield* server.kill
      const { cache } = yield* both(server.port, { reconnectMaxDelay: "200 millis" })
      const started = Date.now()
      const error = yield* Effect.flip(cache.get("k"))
      expect(error._tag).toBe("CacheConnectionError")
      expect(error.message).toMatch(/ECONNREFUSED/)
      expect(Date.now() - started).toBeLessThan(1_000)
      yield* server.start
      yield* retryWhileUnavailable(cache.set("k", "up"))
      expect(yield* cache.get("k")).toStrictEqual(Option.some("up"))
    }))

  it.scopedLive("wrong password: CacheReplyError from the server's text, not retried in a loop", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ args: ["--requirepass", "right-password"] })
      const stat = Effect.map(
        server.cli("INFO", "stats"),
        (info) => Number(/total_connections_received:(\d+)/.exec(info)![1])
      )
      const { cache } = yield* both(server.port, {
        password: Redacted.make("wrong-password"),
        reconnectBaseDelay: "100 millis",
        reconnectMaxDelay: "2 seconds"
      })
      const before = yield* stat
      const started = Date.now()
      for (let i = 0; i < 30; i++) {
        const error = yield* Effect.flip(cache.get("k"))
        expect(error._tag).toBe("CacheReplyError")
        expect((error.cause as { _tag: string })._tag).toBe("RedisAuthError")
        expect(error.message).toMatch(/WRONGPASS|invalid/)
        yield* Effect.sleep("5 millis")
      }
      const elapsed = Date.now() - started
      // Each get fails at once, and the attempts are spaced by the backoff (100, 200, 400 ms…), not one per get,
      // however long a loaded machine takes over the loop. The cli's own connection counts too.
      expect(elapsed).toBeLessThan(10_000)
      expect((yield* stat) - before).toBeLessThanOrEqual(1 + maxAttemptsWithin(elapsed, 100, 2_000))
      const { cache: good } = yield* both(server.port, { password: Redacted.make("right-password") })
      yield* good.set("k", "v")
      expect(yield* good.get("k")).toStrictEqual(Option.some("v"))
    }))

  it.scopedLive("TLS to a plain port: a typed error within connectTimeout, the server unharmed", () =>
    Effect.gen(function*() {
      const files = yield* Tls.makeTlsFiles
      const server = yield* RedisServer.make()
      const { cache } = yield* both(server.port, { tls: { ca: files.ca }, connectTimeout: "1 second" })
      const started = Date.now()
      const error = yield* Effect.flip(cache.get("k"))
      expect(["CacheConnectionError", "CacheTimeoutError"]).toContain(error._tag)
      // The message names the step that failed, not just a timeout.
      expect(error.message).toMatch(/TLS/)
      expect(Date.now() - started).toBeLessThan(2_500)
      const { cache: plain } = yield* both(server.port)
      yield* plain.set("k", "plain")
      expect(yield* plain.get("k")).toStrictEqual(Option.some("plain"))
    }))

  it.scopedLive("plain to a TLS port: a typed error within the timeouts, the server unharmed", () =>
    Effect.gen(function*() {
      const files = yield* Tls.makeTlsFiles
      const server = yield* RedisServer.make({ tls: files, plainPort: false })
      const { cache } = yield* both(server.port, { connectTimeout: "1 second", commandTimeout: "1 second" })
      const started = Date.now()
      const error = yield* Effect.flip(cache.get("k"))
      expect(["CacheConnectionError", "CacheTimeoutError", "CacheProtocolError"]).toContain(error._tag)
      expect(Date.now() - started).toBeLessThan(2_500)
      const { cache: secure } = yield* both(server.port, { tls: { ca: files.ca } })
      yield* secure.set("k", "tls")
      expect(yield* secure.get("k")).toStrictEqual(Option.some("tls"))
    }))

  it.scopedLive("server closing during the handshake: a typed error, then the handshake succeeds on a new connection", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const fake = yield* FakeServer.make(fakeRedis((connection, command) => {
        seen.push(`${connection}:${command[0]}`)
        // First connection: hang up on AUTH. Second: half a reply to AUTH, then silence. Then a healthy server.
        if (connection === 1) return "close"
        if (connection === 2) return command[0] === "AUTH" ? Buffer.from("+O") : "ignore"
        switch (command[0]) {
          case "PING":
            return "PONG"
          case "GET":
            return null
          default:
            return "OK"
        }
      }))
      const { client } = yield* both(fake.port, {
        password: Redacted.make("pw"),
        db: 2,
        reconnectBaseDelay: "10 millis",
        connectTimeout: "300 millis"
      })
      const first = yield* Effect.flip(client.send(["PING"]))
      expect(first._tag).toBe("RedisConnectionError")
      // The partial "+O" never completes: the connect timeout bounds the wait.
      yield* Effect.sleep("30 millis")
      const started = Date.now()
      const second = yield* Effect.flip(client.send(["PING"]))
      expect(second._tag === "RedisTimeoutError" && second.phase).toBe("connect")
      expect(Date.now() - started).toBeLessThan(1_500)
      const reply = yield* client.send(["PING"]).pipe(
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 50 })
      )
      expect(reply).toBe("PONG")
      expect(yield* client.send(["PING"])).toBe("PONG")
      // The healthy connection ran the full handshake before the command: AUTH, SELECT, then PING.
      const third = seen.filter((entry) => !entry.startsWith("1:") && !entry.startsWith("2:"))
      expect(third.slice(0, 3).map((entry) => entry.split(":")[1])).toEqual(["AUTH", "SELECT", "PING"])
      expect(fake.connections).toBe(3)
    }))

  describe("error replies keep the connection", () => {
    it.scopedLive("-LOADING while the server loads its dataset: typed, and the same connection answers after", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make({
          // Slow loading down (microseconds per key) and let the server answer while it loads.
          args: [
            "--enable-debug-command",
            "yes",
            "--key-load-delay",
            "100",
            "--loading-process-events-interval-bytes",
            "1024"
          ]
        })
        yield* server.cli("DEBUG", "POPULATE", "10000", "k")
        yield* server.cli("SAVE")
        const { cache, client } = yield* both(server.port, {
          commandTimeout: "5 seconds",
          reconnectBaseDelay: "10 millis",
          reconnectMaxDelay: "50 millis"
        })
        // The helper's restart returns once the server answers PING, that is once loading is over.
        const restart = yield* Effect.fork(server.restart)
        let id: Resp.RespValue = null
        let loading: { readonly message: string; readonly backend: unknown } | undefined
        for (let i = 0; i < 500 && loading === undefined; i++) {
          // Both in one write, so the server reads them together: both are answered while it loads, or neither.
          const [raw, viaBackend] = yield* Effect.all(
            [Effect.either(client.send(["GET", "k:1"])), Effect.either(cache.get("k:1"))],
            { concurrency: "unbounded" }
          )
          if (raw._tag === "Left" && raw.left._tag === "RedisReplyError" && raw.left.code === "LOADING") {
            loading = { message: raw.left.message, backend: viaBackend._tag === "Left" ? viaBackend.left : undefined }
            id = yield* connectionId(client)
          } else {
            yield* Effect.sleep("10 millis")
          }
        }
        expect(loading?.message).toMatch(/^LOADING/)
        const backendError = loading?.backend as { readonly _tag: string; readonly cause?: unknown } | undefined
        expect(backendError?._tag).toBe("CacheReplyError")
        expect(replyCode(backendError ?? {})).toBe("LOADING")
        yield* Fiber.join(restart)
        expect(text(yield* client.send(["GET", "k:1"]))).toBe("value:1")
        expect(yield* connectionId(client)).toBe(id)
      }))

    it.scopedLive("-READONLY on a replica: typed on client and backend, the same connection keeps working", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const { cache, client } = yield* both(server.port)
        yield* cache.set("k", "before")
        const id = yield* connectionId(client)
        // A replica of a master that does not exist: reads are served (stale data allowed), writes are refused.
        yield* client.send(["REPLICAOF", "127.0.0.1", String(yield* closedPort)])
        const raw = yield* Effect.flip(client.send(["SET", "k", "x"]))
        expect(raw._tag).toBe("RedisReplyError")
        expect(raw._tag === "RedisReplyError" && raw.code).toBe("READONLY")
        const error = yield* Effect.flip(cache.set("k", "after"))
        expect(error._tag).toBe("CacheReplyError")
        expect(replyCode(error)).toBe("READONLY")
        expect((yield* Effect.flip(cache.delete("k")))._tag).toBe("CacheReplyError")
        // The pipelined path (SET … PX for each entry) reports the same refusal.
        const batch = yield* Effect.flip(cache.setMany([["k", "after"], ["j", "after"]], "1 minute"))
        expect(batch._tag).toBe("CacheReplyError")
        expect(batch.message).toMatch(/^READONLY/)
        expect(yield* cache.get("k")).toStrictEqual(Option.some("before"))
        expect(yield* connectionId(client)).toBe(id)
        yield* client.send(["REPLICAOF", "NO", "ONE"])
        yield* cache.set("k", "after")
        expect(yield* cache.get("k")).toStrictEqual(Option.some("after"))
        expect(yield* connectionId(client)).toBe(id)
      }))

    it.scopedLive("-OOM under maxmemory with noeviction: typed on client and backend, reads and deletes still work", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make({ args: ["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"] })
        const { cache, client } = yield* both(server.port)
        const id = yield* connectionId(client)
        const raw = yield* Effect.flip(client.send(["SET", "k", "x".repeat(100_000)]))
        expect(raw._tag).toBe("RedisReplyError")
        expect(raw._tag === "RedisReplyError" && raw.code).toBe("OOM")
        const error = yield* Effect.flip(cache.set("k", "x".repeat(100_000)))
        expect(error._tag).toBe("CacheReplyError")
        expect(replyCode(error)).toBe("OOM")
        expect(error.message).toMatch(/^OOM/)
        expect(yield* cache.get("k")).toStrictEqual(Option.none())
        yield* cache.delete("k")
        expect(yield* connectionId(client)).toBe(id)
      }))

    it.scopedLive("-LOADING, -READONLY, -OOM from a fake peer mid-pipeline: one connection throughout", () =>
      Effect.gen(function*() {
        const fake = yield* FakeServer.make(fakeRedis((_, command) => {
          switch (command[1]) {
            case "ac:loading":
              return new Resp.ErrorReply("LOADING Redis is loading the dataset in memory")
            case "ac:readonly":
              return new Resp.ErrorReply("READONLY You can't write against a read only replica.")
            case "ac:oom":
              return new Resp.ErrorReply("OOM command not allowed when used memory > 'maxmemory'.")
          }
          return command[0] === "GET" ? null : "OK"
        }))
        const { cache, client } = yield* both(fake.port)
        const results = yield* Effect.all(
          ["loading", "readonly", "oom", "fine"].map((key) => Effect.either(cache.get(key))),
          { concurrency: "unbounded" }
        )
        expect(results.map((r) => r._tag === "Left" ? replyCode(r.left) : "ok")).toEqual([
          "LOADING",
          "READONLY",
          "OOM",
          "ok"
        ])
        expect(results.slice(0, 3).every((r) => r._tag === "Left" && r.left._tag === "CacheReplyError")).toBe(true)
        for (const key of ["loading", "readonly", "oom"]) {
          const raw = yield* Effect.flip(client.send(["SET", `ac:${key}`, "v"]))
          expect(raw._tag === "RedisReplyError" && raw.code).toBe(key.toUpperCase())
        }
        expect(yield* client.send(["SET", "ac:fine", "v"])).toBe("OK")
        expect(fake.connections).toBe(1)
      }))
  })
})
