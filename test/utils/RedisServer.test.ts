import { afterAll, describe, expect, it, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Scope } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Tls from "node:tls"
import * as FakeServer from "./FakeServer.js"
import type { RedisServerOptions, RedisServerShape } from "./RedisServer.js"
import { make, RedisServer } from "./RedisServer.js"
import { makeCertificateAuthority, makeTlsFiles } from "./Tls.js"

// ----------------------------------------------------------------------------------------------------------------
// Independent observers: they look at the OS and the wire, not at the helper's own bookkeeping.
// ----------------------------------------------------------------------------------------------------------------

/** The pids of redis-server processes whose parent is this test process (Linux /proc). */
const redisChildren = (): ReadonlyArray<number> =>
  Fs.readdirSync("/proc").flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return []
    try {
      const stat = Fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      const close = stat.lastIndexOf(")")
      const name = stat.slice(stat.indexOf("(") + 1, close)
      const parent = Number(stat.slice(close + 2).split(" ")[1])
      return name.startsWith("redis-server") && parent === process.pid ? [Number(entry)] : []
    } catch {
      return [] // exited while we looked
    }
  })

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

type Probe = { readonly _tag: "Reply"; readonly line: string } | { readonly _tag: "Timeout" } | {
  readonly _tag: "Error"
  readonly code: string
}

/** Opens a raw (or TLS) connection, sends PING and reports the first reply line, a timeout or the error code. */
const probe = (
  port: number,
  options: { readonly timeoutMs?: number; readonly tlsCa?: string } = {}
): Effect.Effect<Probe> =>
  Effect.async<Probe>((resume) => {
    const socket: Net.Socket = options.tlsCa === undefined
      ? Net.connect({ host: "127.0.0.1", port })
      : Tls.connect({ host: "127.0.0.1", port, ca: options.tlsCa, servername: "localhost" })
    let received = ""
    let done = false
    const finish = (result: Probe) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resume(Effect.succeed(result))
    }
    const timer = setTimeout(() => finish({ _tag: "Timeout" }), options.timeoutMs ?? 2_000)
    socket.setEncoding("utf8")
    socket.on("data", (chunk: string) => {
      received += chunk
      const end = received.indexOf("\r\n")
      if (end >= 0) finish({ _tag: "Reply", line: received.slice(0, end) })
    })
    socket.on("error", (error: NodeJS.ErrnoException) => finish({ _tag: "Error", code: error.code ?? error.message }))
    socket.on("close", () => finish({ _tag: "Error", code: "CLOSED" }))
    socket.write("*1\r\n$4\r\nPING\r\n")
    return Effect.sync(() => finish({ _tag: "Timeout" }))
  })

/** Runs `f` with its own server and checks afterwards that the process and the directory are gone. */
const withServer = <A>(
  options: RedisServerOptions,
  f: (server: RedisServerShape) => Effect.Effect<A, never, Scope.Scope>
): Effect.Effect<A> =>
  Effect.gen(function*() {
    let seen: { dir: string; pids: Array<number> } = { dir: "", pids: [] }
    const result = yield* Effect.scoped(Effect.gen(function*() {
      const server = yield* make(options)
      const pid = yield* server.pid
      seen = { dir: server.dir, pids: pid === undefined ? [] : [pid] }
      const a = yield* f(server)
      const after = yield* server.pid
      if (after !== undefined) seen.pids.push(after)
      return a
    }))
    for (const pid of seen.pids) expect(isAlive(pid)).toBe(false)
    expect(Fs.existsSync(seen.dir)).toBe(false)
    expect(redisChildren()).toEqual([])
    return result
  })

afterAll(() => {
  expect(redisChildren()).toEqual([])
})

// ----------------------------------------------------------------------------------------------------------------
// The helper as most tests use it: one server per describe block, through @effect/vitest's `layer`.
// ----------------------------------------------------------------------------------------------------------------

layer(RedisServer.layer())("RedisServer.layer", (it) => {
  // `it.effect` runs under the TestClock: the helper must not need the clock to move.
  it.effect("answers PING via redis-cli", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer
      expect(yield* server.cli("PING")).toBe("PONG")
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`)
      expect(server.tlsPort).toBeUndefined()
      expect(yield* server.cli("CONFIG", "GET", "save")).toBe("save")
      expect(yield* server.cli("CONFIG", "GET", "appendonly")).toBe("appendonly\nno")
      expect(Fs.existsSync(server.logFile)).toBe(true)
    }))

  it.effect("survives a restart inside the shared layer", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer
      const port = server.port
      yield* server.restart
      expect(server.port).toBe(port)
      expect(yield* server.cli("PING")).toBe("PONG")
    }))
})

describe("RedisServer", () => {
  it.live("kill then start: same port, data gone", () =>
    withServer({}, (server) =>
      Effect.gen(function*() {
        expect(yield* server.cli("SET", "k", "v")).toBe("OK")
        const port = server.port
        const before = yield* server.pid
        yield* server.kill
        expect(yield* server.pid).toBeUndefined()
        expect(isAlive(before!)).toBe(false)
        expect(yield* probe(port)).toEqual({ _tag: "Error", code: "ECONNREFUSED" })
        yield* server.kill // idempotent
        yield* server.start
        expect(server.port).toBe(port)
        expect(yield* server.pid).not.toBe(before)
        expect(yield* server.cli("EXISTS", "k")).toBe("0")
        yield* server.start // a no-op while running
        expect(yield* server.cli("PING")).toBe("PONG")
      })))

  it.live("stop is a graceful shutdown; restart twice in a row", () =>
    withServer({}, (server) =>
      Effect.gen(function*() {
        yield* server.stop
        expect(yield* server.pid).toBeUndefined()
        expect(Fs.readFileSync(server.logFile, "utf8")).toMatch(/ready to exit, bye bye/i)
        yield* server.start
        yield* server.restart
        yield* server.restart
        expect(yield* server.cli("PING")).toBe("PONG")
      })))

  it.live("start waits for a port that is still taken", () =>
    withServer({}, (server) =>
      Effect.gen(function*() {
        yield* server.kill
        const squatter = Net.createServer()
        yield* Effect.async<void>((resume) => {
          squatter.listen(server.port, "127.0.0.1", () => resume(Effect.void))
        })
        const logBefore = Fs.readFileSync(server.logFile, "utf8").length
        const starting = yield* Effect.fork(server.start)
        // Until an attempt has met the squatter (a busy machine may take its time to make one), there is nothing
        // to check; once one has, start must still be waiting.
        while (!Fs.readFileSync(server.logFile, "utf8").slice(logBefore).includes("Address already in use")) {
          yield* Effect.sleep("10 millis")
        }
        expect(yield* server.pid).toBeUndefined()
        yield* Effect.async<void>((resume) => {
          squatter.close(() => resume(Effect.void))
        })
        yield* starting.await
        expect(yield* server.cli("PING")).toBe("PONG")
        expect(Fs.readFileSync(server.logFile, "utf8")).toMatch(/Address already in use/)
      })))

  it.live("pause withholds answers, resume delivers them", () =>
    withServer({}, (server) =>
      Effect.gen(function*() {
        yield* server.pause
        expect(yield* probe(server.port, { timeoutMs: 300 })).toEqual({ _tag: "Timeout" })
        // A request sent while paused is answered once the process runs again.
        const pending = yield* Effect.fork(probe(server.port, { timeoutMs: 5_000 }))
        yield* Effect.sleep("50 millis")
        yield* server.resume
        expect(yield* pending.await.pipe(Effect.flatten)).toEqual({ _tag: "Reply", line: "+PONG" })
        expect(yield* probe(server.port)).toEqual({ _tag: "Reply", line: "+PONG" })
      })))

  it.live("a paused server is still killed when the scope closes", () => withServer({}, (server) => server.pause))

  it.live("requirepass and ACL users, kept across a restart", () =>
    withServer(
      { args: ["--requirepass", "s3cret"], aclUsers: [{ name: "alice", password: "wonder land" }] },
      (server) =>
        Effect.gen(function*() {
          expect(server.password).toBe("s3cret")
          expect(yield* probe(server.port)).toEqual({
            _tag: "Reply",
            line: "-NOAUTH Authentication required."
          })
          expect(yield* server.cli("PING")).toBe("PONG")
          expect(yield* server.cli("--user", "alice", "--pass", "wonder land", "ACL", "WHOAMI")).toBe("alice")
          // redis-cli reports the failed AUTH on stderr and sends the command unauthenticated anyway.
          expect(yield* server.cli("--user", "alice", "--pass", "wrong", "PING")).toMatch(/^NOAUTH/)
          yield* server.restart
          expect(yield* server.cli("--user", "alice", "--pass", "wonder land", "ACL", "WHOAMI")).toBe("alice")
        })
    ))

  it.live("a server that cannot start is a defect carrying its log", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(make({ args: ["--no-such-directive", "1"] })))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) expect(Cause.pretty(exit.cause)).toMatch(/Bad directive/)
      expect(redisChildren()).toEqual([])
    }))
})

describe("RedisServer with TLS", () => {
  it.live("serves TLS next to plain TCP", () =>
    Effect.gen(function*() {
      const files = yield* makeTlsFiles
      yield* withServer({ tls: files }, (server) =>
        Effect.gen(function*() {
          expect(server.tlsPort).toBeDefined()
          expect(server.tlsPort).not.toBe(server.port)
          expect(yield* probe(server.tlsPort!, { tlsCa: files.ca })).toEqual({ _tag: "Reply", line: "+PONG" })
          expect(yield* server.cli("PING")).toBe("PONG")
          yield* server.restart
          expect(yield* probe(server.tlsPort!, { tlsCa: files.ca })).toEqual({ _tag: "Reply", line: "+PONG" })
        }))
    }).pipe(Effect.scoped))

  it.live("TLS only: redis-cli goes over TLS, a foreign CA is rejected", () =>
    Effect.gen(function*() {
      const files = yield* makeTlsFiles
      const foreign = yield* makeCertificateAuthority("someone else")
      yield* withServer({ tls: files, plainPort: false }, (server) =>
        Effect.gen(function*() {
          expect(server.port).toBe(server.tlsPort)
          expect(server.url).toBe(`rediss://127.0.0.1:${server.port}`)
          expect(yield* server.cli("PING")).toBe("PONG")
          expect(yield* probe(server.port, { tlsCa: files.ca })).toEqual({ _tag: "Reply", line: "+PONG" })
          const rejected = yield* probe(server.port, { tlsCa: foreign.ca })
          // Which verification error depends on whether the server sends its CA along with the leaf.
          expect(rejected).toEqual({
            _tag: "Error",
            code: expect.stringMatching(/^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/)
          })
          // Plain bytes on the TLS port get no RESP answer.
          const plain = yield* probe(server.port, { timeoutMs: 500 })
          expect(plain._tag).not.toBe("Reply")
        }))
      expect(Fs.existsSync(files.dir)).toBe(true) // the certificates belong to the outer scope
    }).pipe(Effect.scoped))
})

describe("FakeServer", () => {
  it.live("respondWith answers each chunk and counts connections", () =>
    Effect.gen(function*() {
      const fake = yield* FakeServer.make(FakeServer.respondWith("+PONG\r\n"))
      expect(fake.connections).toBe(0)
      expect(yield* probe(fake.port)).toEqual({ _tag: "Reply", line: "+PONG" })
      expect(yield* probe(fake.port)).toEqual({ _tag: "Reply", line: "+PONG" })
      expect(fake.connections).toBe(2)
    }).pipe(Effect.scoped))

  it.live("garbage, silent and closeImmediately", () =>
    Effect.gen(function*() {
      const garbage = yield* FakeServer.make(FakeServer.garbage)
      expect(yield* probe(garbage.port)).toEqual({ _tag: "Reply", line: "HTTP/1.1 400 Bad Request" })
      const silent = yield* FakeServer.make(FakeServer.silent)
      expect(yield* probe(silent.port, { timeoutMs: 200 })).toEqual({ _tag: "Timeout" })
      const closing = yield* FakeServer.make(FakeServer.closeImmediately)
      expect(yield* probe(closing.port)).toEqual({ _tag: "Error", code: "CLOSED" })
    }).pipe(Effect.scoped))

  it.live("closing the scope drops open connections and the listener", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      // Silent, but counting what it read: the PING must be read before the scope closes, or the kernel answers
      // the unread bytes with a reset (ECONNRESET) instead of a close, which a loaded machine made happen.
      let read = 0
      const fake = yield* FakeServer.make((socket) => socket.on("data", (chunk: Buffer) => (read += chunk.length)))
        .pipe(Scope.extend(scope))
      const pending = yield* Effect.fork(probe(fake.port, { timeoutMs: 5_000 }))
      while (read < "*1\r\n$4\r\nPING\r\n".length) yield* Effect.sleep("5 millis")
      yield* Scope.close(scope, Exit.void)
      expect(yield* pending.await.pipe(Effect.flatten)).toEqual({ _tag: "Error", code: "CLOSED" })
      expect(yield* probe(fake.port)).toEqual({ _tag: "Error", code: "ECONNREFUSED" })
    }))
})
