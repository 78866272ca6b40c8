import * as Recording from "#test-effect/Tracer"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, HashMap, Inspectable, Logger, LogLevel, Redacted, Scope } from "effect"
import * as Crypto from "node:crypto"
import * as Net from "node:net"
import * as Util from "node:util"
import { resolveOptions } from "../../src/internal/client/options.js"
import * as Policy from "../../src/Policy.js"
import * as RedisBackend from "../../src/RedisBackend.js"
import * as RedisClient from "../../src/RedisClient.js"
import * as RemoteCache from "../../src/RemoteCache.js"
import * as Resp from "../../src/Resp.js"
import * as FakeServer from "../utils/FakeServer.js"
import * as RedisServer from "../utils/RedisServer.js"

// The password must never show: not in an error (message, String, JSON, inspection, pretty cause), not in a log
// line, not in a span (name, attributes, events, exit), not in the client's options however they are printed.
// Each test provokes failures that involve the password and scans everything the program could emit.

// Random, so that any occurrence is a leak and not a coincidence; with characters a URL must escape.
const password = `s3cr3t:p@ss/${Crypto.randomBytes(6).toString("hex")}`
const forms = [password, encodeURIComponent(password), Buffer.from(password).toString("base64")]

/** Every way an application may print a value. */
const renderings = (value: unknown): ReadonlyArray<readonly [string, string]> => {
  const out: Array<readonly [string, string]> = [
    ["String", String(value)],
    ["JSON", JSON.stringify(value) ?? ""],
    ["inspect", Util.inspect(value, { depth: 20 })],
    ["Inspectable.format", Inspectable.format(value)]
  ]
  if (typeof value === "object" && value !== null && "message" in value) out.push(["message", String(value.message)])
  return out
}

/** Everything a program emits while it runs: log lines and spans, captured whole. */
const makeObserver = Effect.gen(function*() {
  const logs: Array<string> = []
  const logger = Logger.make((options) => {
    logs.push(
      Logger.logfmtLogger.log(options),
      JSON.stringify(Logger.structuredLogger.log(options)),
      Util.inspect(options.message, { depth: 20 }),
      Cause.pretty(options.cause),
      JSON.stringify(Object.fromEntries(HashMap.toEntries(options.annotations)))
    )
  })
  const { spans, tracer } = yield* Recording.recording
  const observe = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      // A root span, so that every log line also lands on a span as an event.
      Effect.withSpan("secrets.scenario"),
      Effect.withTracer(tracer),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All)
    )
  const spanTexts = (): ReadonlyArray<readonly [string, string]> =>
    spans.flatMap((span) => {
      const texts: Array<readonly [string, string]> = [
        [`span ${span.name} name`, span.name],
        [`span ${span.name} attributes`, Util.inspect(Object.fromEntries(span.attributes), { depth: 20 })]
      ]
      const events = (span as { readonly events?: unknown }).events
      if (events !== undefined) texts.push([`span ${span.name} events`, Util.inspect(events, { depth: 20 })])
      if (span.status._tag === "Ended") {
        const exit = span.status.exit
        texts.push([`span ${span.name} exit`, Util.inspect(exit, { depth: 20 })])
        if (Exit.isFailure(exit)) texts.push([`span ${span.name} cause`, Cause.pretty(exit.cause)])
      }
      return texts
    })
  return { logs, spans, observe, spanTexts }
})

/** The labels of whatever holds the password; empty when nothing does. */
const leaks = (texts: ReadonlyArray<readonly [string, string]>): ReadonlyArray<string> =>
  texts.filter(([, text]) => forms.some((form) => text.includes(form))).map(([label]) => label)

/**
 * Runs the operations that touch the password against `options`: raw commands, the backend, and the backend
 * through `RemoteCache` with `Policy.log` (which logs each failure) and a policy that returns the errors. Every
 * error is also logged by the test, as an application would. Returns what there is to scan.
 */
const exercise = (options: RedisClient.RedisClientOptions) =>
  Effect.gen(function*() {
    const observer = yield* makeObserver
    const scope = yield* Scope.make()
    const errors: Array<unknown> = []
    const collect = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.tapErrorCause(effect, (cause) =>
        Effect.zipRight(
          Effect.sync(() => errors.push(Cause.squash(cause))),
          Effect.logError("operation failed", cause)
        )).pipe(Effect.ignore)
    const client = yield* Scope.extend(RedisClient.make(options), scope)
    yield* observer.observe(Effect.gen(function*() {
      const cache = yield* Effect.provideService(RedisBackend.make(), RedisClient.RedisClient, client)
      const logged = yield* RemoteCache.fromBackend(cache, Policy.log("Debug"))
      const recovered = yield* RemoteCache.fromBackend(cache, RemoteCache.defaultPolicy)
      yield* collect(client.send(["PING"]))
      yield* collect(client.pipeline([["GET", "k"], ["SET", "k", "v"]]))
      yield* collect(cache.get("k"))
      yield* collect(cache.set("k", "value"))
      yield* collect(logged.get("k"))
      yield* collect(logged.set("k", "value"))
      yield* recovered.get("k")
      yield* recovered.delete("k")
      yield* Scope.close(scope, Exit.void)
      // A closed client fails with an error of its own: one more to scan.
      yield* collect(client.send(["PING"]))
    }))
    const texts: Array<readonly [string, string]> = [
      ...errors.flatMap((error, i) =>
        renderings(error).map(([how, text]) =>
          [`error ${i} (${(error as { _tag?: string })._tag}) ${how}`, text] as const
        )
      ),
      ...errors.map((error, i) => [`error ${i} Cause.pretty`, Cause.pretty(Cause.fail(error))] as const),
      ...observer.logs.map((line, i) => [`log ${i}`, line] as const),
      ...observer.spanTexts(),
      ...renderings(client.options).map(([how, text]) => [`options ${how}`, text] as const),
      ["options.password String", String(client.options.password)],
      ["options.password JSON", JSON.stringify(client.options.password) ?? ""]
    ]
    return { errors, texts, logs: observer.logs, spans: observer.spans }
  })

const closedPort = Effect.async<number>((resume) => {
  const probe = Net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const port = (probe.address() as Net.AddressInfo).port
    probe.close(() => resume(Effect.succeed(port)))
  })
})

const tags = (errors: ReadonlyArray<unknown>) => new Set(errors.map((error) => (error as { _tag: string })._tag))

describe("Secrets", () => {
  it.scopedLive("wrong password (requirepass and ACL user): errors, logs, spans and options never hold it", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({
        args: ["--requirepass", "the-right-one"],
        aclUsers: [{ name: "app", password: "the-right-one" }]
      })
      for (const username of [undefined, "app"]) {
        const run = yield* exercise({
          host: server.host,
          port: server.port,
          username,
          password: Redacted.make(password)
        })
        expect(tags(run.errors)).toContain("RedisAuthError")
        expect(tags(run.errors)).toContain("CacheReplyError")
        // Policy.log wrote its lines, and RemoteCache its spans: they were scanned, not absent.
        expect(run.logs.some((line) => line.includes("cache get failed"))).toBe(true)
        expect(run.spans.some((span) => span.name === "RemoteCache.get")).toBe(true)
        expect(leaks(run.texts)).toEqual([])
      }
    }))

  it.scopedLive("a password sent to a server that has none: the server's complaint does not quote it", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const run = yield* exercise({ host: server.host, port: server.port, password: Redacted.make(password) })
      expect(tags(run.errors)).toContain("RedisAuthError")
      expect(leaks(run.texts)).toEqual([])
    }))

  it.scopedLive("connection refused", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const run = yield* exercise({ host: "127.0.0.1", port, password: Redacted.make(password) })
      expect(tags(run.errors)).toContain("RedisConnectionError")
      expect(leaks(run.texts)).toEqual([])
    }))

  it.scopedLive("timeouts: during the handshake and waiting for a reply", () =>
    Effect.gen(function*() {
      const silent = yield* FakeServer.make(FakeServer.silent)
      const handshake = yield* exercise({
        host: "127.0.0.1",
        port: silent.port,
        password: Redacted.make(password),
        connectTimeout: "100 millis"
      })
      expect(tags(handshake.errors)).toContain("RedisTimeoutError")
      expect(leaks(handshake.texts)).toEqual([])

      // Accepts AUTH, then never answers: a reply timeout on an authenticated connection.
      const mute = yield* FakeServer.make((socket) => {
        const parser = new Resp.Parser()
        socket.on("data", (chunk: Buffer) =>
          parser.feed(chunk, (command) => {
            const name = Buffer.from((command as ReadonlyArray<Uint8Array>)[0]!).toString()
            if (name === "AUTH") socket.write("+OK\r\n")
          }))
      })
      const reply = yield* exercise({
        host: "127.0.0.1",
        port: mute.port,
        password: Redacted.make(password),
        commandTimeout: "100 millis"
      })
      expect(tags(reply.errors)).toContain("RedisTimeoutError")
      expect(leaks(reply.texts)).toEqual([])
    }))

  it.scopedLive("a URL holding the password: options, config errors and connection errors", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const encoded = encodeURIComponent(password)
      const url = `redis://app:${encoded}@127.0.0.1:${port}/1`
      // The client did read the password from the URL: the scan below looks for the right text.
      const options = yield* resolveOptions({ url })
      expect(options.password !== undefined && Redacted.value(options.password)).toBe(password)
      const run = yield* exercise({ url })
      expect(tags(run.errors)).toContain("RedisConnectionError")
      expect(leaks(run.texts)).toEqual([])
      // Invalid URLs that hold the password: the configuration error must not echo the URL.
      for (
        const url of [
          `redis://:${encoded}@127.0.0.1:99999`,
          `http://:${encoded}@127.0.0.1`,
          `redis://:${encoded}@127.0.0.1/not-a-db`,
          `redis://:${encoded}@[bad-host/`,
          `redis://:${encoded}%E0%A4%A@127.0.0.1`
        ]
      ) {
        const exit = yield* Effect.exit(resolveOptions({ url }))
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          const error = Cause.squash(exit.cause)
          expect(leaks([...renderings(error), ["Cause.pretty", Cause.pretty(exit.cause)]])).toEqual([])
        }
      }
    }))

  it.scopedLive("a server that echoes the AUTH arguments (AUTH renamed away): the password is still not shown", () =>
    Effect.gen(function*() {
      // Redis answers an unknown command with its arguments: "ERR unknown command 'AUTH', with args beginning
      // with: '<password>'". A proxy or a managed service that does not implement AUTH answers the same way.
      const server = yield* RedisServer.make({ args: ["--rename-command", "AUTH", ""] })
      const run = yield* exercise({ host: server.host, port: server.port, password: Redacted.make(password) })
      expect(tags(run.errors)).toContain("RedisAuthError")
      expect(leaks(run.texts)).toEqual([])
    }))
})
