import * as ConfigProvider from "#effect/ConfigProvider"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Layer from "#effect/Layer"
import * as Scope from "#effect/Scope"
import * as Logs from "#test-effect/Logger"
import { describe, expect, it } from "#test-effect/vitest"
import * as Net from "node:net"
import { parseServers, resolveOptions } from "../src/internal/memcached/options.js"
import * as MemcachedClient from "../src/MemcachedClient.js"
import * as FaultProxy from "./utils/FaultProxy.js"
import * as MemcachedServer from "./utils/MemcachedServer.js"
import { realSleep, waitUntil } from "./utils/Wait.js"

const clientFor = (
  servers: ReadonlyArray<MemcachedServer.MemcachedServerShape>,
  options: MemcachedClient.MemcachedClientOptions = {}
) => MemcachedClient.make({ servers: servers.map((server) => server.address), ...options })

const text = (value: Uint8Array | undefined) => value === undefined ? undefined : Buffer.from(value).toString("utf8")

const valueOf = (result: MemcachedClient.MetaGetResult | MemcachedClient.MetaGetManyResult) =>
  result.kind === "hit" ? text(result.value) : result.kind

const serviceOf = Effect.gen(function*() {
  return yield* MemcachedClient.MemcachedClient
})

describe("MemcachedClient", () => {
  describe("round trips", () => {
    it.live("mg, ms, md, ma and mn against a real memcached", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const client = yield* clientFor([server])
        expect((yield* client.metaGet("k", { value: true })).kind).toBe("miss")
        const stored = yield* client.metaSet("k", "v1", { ttl: 100, clientFlags: 7, returnCas: true })
        expect(stored.kind).toBe("stored")
        expect(typeof stored.flags.cas).toBe("bigint")
        const hit = yield* client.metaGet("k", {
          value: true,
          ttl: true,
          clientFlags: true,
          cas: true,
          key: true,
          size: true
        })
        expect(hit.kind).toBe("hit")
        expect(valueOf(hit)).toBe("v1")
        expect(hit.flags.clientFlags).toBe(7)
        expect(hit.flags.size).toBe(2)
        expect(hit.flags.cas).toBe(stored.flags.cas)
        expect(hit.flags.ttl).toBeGreaterThan(90)
        expect(Buffer.from(hit.flags.key!).toString()).toBe("k")
        // Without `value`, a hit is HD.
        expect(yield* client.metaGet("k")).toMatchObject({ kind: "hit", value: undefined })
        // CAS: a stale CAS is refused, the right one stores.
        expect((yield* client.metaSet("k", "v2", { compareCas: stored.flags.cas! + 1n })).kind).toBe("exists")
        expect((yield* client.metaSet("k", "v2", { compareCas: stored.flags.cas! })).kind).toBe("stored")
        // Modes.
        expect((yield* client.metaSet("k", "x", { mode: "add" })).kind).toBe("notStored")
        expect((yield* client.metaSet("k", "3", { mode: "append" })).kind).toBe("stored")
        expect((yield* client.metaSet("k", "<", { mode: "prepend" })).kind).toBe("stored")
        expect(valueOf(yield* client.metaGet("k", { value: true }))).toBe("<v23")
        expect((yield* client.metaSet("missing", "x", { mode: "replace" })).kind).toBe("notStored")
        // Delete.
        expect((yield* client.metaDelete("k")).kind).toBe("deleted")
        expect((yield* client.metaDelete("k")).kind).toBe("notFound")
        // Arithmetic.
        expect(yield* client.metaArithmetic("n", { value: true })).toMatchObject({ kind: "notFound" })
        expect(yield* client.metaArithmetic("n", { vivify: 0, initial: 10, value: true })).toMatchObject({
          kind: "ok",
          value: 10n
        })
        expect(yield* client.metaArithmetic("n", { delta: 5, value: true })).toMatchObject({ value: 15n })
        expect(yield* client.metaArithmetic("n", { mode: "decrement", delta: 100, value: true })).toMatchObject({
          value: 0n
        })
        yield* client.noop
      })))

    it.live("win tokens: vivify on miss, stale marks, recache", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const client = yield* clientFor([server])
        const first = yield* client.metaGet("w", { value: true, vivify: 30 })
        expect(first.kind).toBe("hit")
        expect(first.flags).toMatchObject({ win: true, alreadyWon: false })
        const second = yield* client.metaGet("w", { value: true, vivify: 30 })
        expect(second.flags).toMatchObject({ win: false, alreadyWon: true })
        // The winner fills it; an invalidation then marks it stale and hands out one win token.
        yield* client.metaSet("w", "filled", { ttl: 30 })
        expect((yield* client.metaDelete("w", { invalidate: true, ttl: 30 })).kind).toBe("deleted")
        const stale = yield* client.metaGet("w", { value: true })
        expect(stale.flags).toMatchObject({ stale: true, win: true })
        expect(valueOf(stale)).toBe("filled")
        expect((yield* client.metaGet("w", { value: true })).flags).toMatchObject({ stale: true, alreadyWon: true })
        // Recache: under R seconds left, one caller wins.
        yield* client.metaSet("r", "v", { ttl: 10 })
        expect((yield* client.metaGet("r", { value: true, recache: 30 })).flags.win).toBe(true)
        expect((yield* client.metaGet("r", { value: true, recache: 30 })).flags.alreadyWon).toBe(true)
      })))

    it.live("hostile keys: binary, spaces, CRLF, NUL, Unicode, the longest; too long and empty are input errors", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const client = yield* clientFor([server])
        const keys: Array<MemcachedClient.Key> = [
          "with space",
          "crlf\r\nmg x v\r\n",
          "nul\u0000nul",
          "ключ 🔑",
          new Uint8Array([0, 255, 13, 10, 32]),
          "k".repeat(186),
          new Uint8Array(186).fill(0xff)
        ]
        for (const [i, key] of keys.entries()) yield* client.metaSet(key, `v${i}`)
        for (const [i, key] of keys.entries()) {
          expect(valueOf(yield* client.metaGet(key, { value: true }))).toBe(`v${i}`)
        }
        const many = yield* client.getMany(keys)
        expect(many.map(valueOf)).toEqual(keys.map((_, i) => `v${i}`))
        for (const bad of ["k".repeat(187), "", "é".repeat(94)]) {
          const error = yield* Effect.flip(client.metaGet(bad))
          expect(error._tag).toBe("MemcachedInputError")
          expect((yield* Effect.flip(client.getMany(["ok", bad])))._tag).toBe("MemcachedInputError")
        }
        expect((yield* Effect.flip(client.metaSet("k", "v", { ttl: 2 ** 40 })))._tag).toBe("MemcachedInputError")
        // Nothing of those was sent: the connection is fine.
        expect(valueOf(yield* client.metaGet(keys[0]!, { value: true }))).toBe("v0")
      })))

    it.live("flags: checked and sent as read on each call, frozen or not; a bad set is never sent", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const client = yield* clientFor([server])
        yield* client.metaSet("k", "v", { ttl: 100 })
        const frozen: MemcachedClient.MetaGetFlags = Object.freeze({ value: true, ttl: true })
        for (let i = 0; i < 3; i++) {
          const got = yield* client.metaGet("k", frozen)
          expect([valueOf(got), got.kind === "hit" && got.flags.ttl !== undefined]).toStrictEqual(["v", true])
        }
        // The same object, changed between calls: each call reads it as it is then.
        const mutable: { value?: boolean; ttl?: boolean; touch?: number } = { value: true }
        const first = yield* client.metaGet("k", mutable)
        expect(first.kind === "hit" && first.flags.ttl).toBe(undefined)
        mutable.ttl = true
        const second = yield* client.metaGet("k", mutable)
        expect(second.kind === "hit" && typeof second.flags.ttl).toBe("number")
        mutable.touch = 2 ** 40
        expect((yield* Effect.flip(client.metaGet("k", mutable)))._tag).toBe("MemcachedInputError")
        // A frozen set that is invalid is refused every time, in singles and batches alike.
        const bad: MemcachedClient.MetaGetFlags = Object.freeze({ value: true, vivify: 1.5 })
        for (let i = 0; i < 2; i++) {
          expect((yield* Effect.flip(client.metaGet("k", bad)))._tag).toBe("MemcachedInputError")
          expect((yield* Effect.flip(client.getMany(["k"], bad)))._tag).toBe("MemcachedInputError")
        }
        expect((yield* client.getMany(["k"], frozen)).map(valueOf)).toStrictEqual(["v"])
      })))

    it.live("values: empty, near the item size, over it (SERVER_ERROR, connection kept)", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make({ itemSize: "1m" })
        const client = yield* clientFor([server])
        yield* client.metaSet("empty", new Uint8Array(0))
        const empty = yield* client.metaGet("empty", { value: true })
        expect(empty.kind === "hit" && empty.value?.byteLength).toBe(0)
        const near = new Uint8Array(1024 * 1024 - 512)
        for (let i = 0; i < near.length; i++) near[i] = (i * 31) & 0xff
        expect((yield* client.metaSet("near", near)).kind).toBe("stored")
        const back = yield* client.metaGet("near", { value: true })
        expect(back.kind === "hit" && Buffer.compare(Buffer.from(back.value!), Buffer.from(near))).toBe(0)
        const error = yield* Effect.flip(client.metaSet("big", new Uint8Array(2 * 1024 * 1024)))
        expect(error._tag).toBe("MemcachedReplyError")
        expect(error._tag === "MemcachedReplyError" && error.kind).toBe("SERVER_ERROR")
        expect(error.message).toContain("too large")
        expect((yield* client.metaGet("big")).kind).toBe("miss")
        expect(valueOf(yield* client.metaGet("empty", { value: true }))).toBe("")
        const small = yield* MemcachedClient.make({ servers: [server.address], maxValueLength: 10 })
        expect((yield* Effect.flip(small.metaSet("k", "12345678901")))._tag).toBe("MemcachedInputError")
      })))
  })

  describe("batches", () => {
    it.live("setMany stores every entry on its server; one value too large fails alone", () =>
      Effect.scoped(Effect.gen(function*() {
        const servers = [
          yield* MemcachedServer.make({ itemSize: "1m" }),
          yield* MemcachedServer.make({ itemSize: "1m" })
        ]
        const client = yield* clientFor(servers)
        const keys = Array.from({ length: 100 }, (_, i) => `set:${i}`)
        const results = yield* client.setMany(keys.map((key, i) => ({
          key,
          value: i === 37 ? new Uint8Array(2 * 1024 * 1024) : key,
          flags: { ttl: 60, clientFlags: i }
        })))
        for (let i = 0; i < keys.length; i++) {
          expect(results[i]!.kind, keys[i]).toBe(i === 37 ? "error" : "stored")
        }
        const bad = results[37]!
        expect(bad.kind === "error" && bad.error._tag).toBe("MemcachedReplyError")
        const back = yield* client.getMany(keys, { value: true, clientFlags: true })
        for (let i = 0; i < keys.length; i++) {
          expect(valueOf(back[i]!)).toBe(i === 37 ? "miss" : keys[i])
          const entry = back[i]!
          if (i !== 37) expect(entry.kind === "hit" && entry.flags.clientFlags).toBe(i)
        }
        const modes = yield* client.setMany([
          { key: "set:1", value: "x", flags: { mode: "add" } },
          { key: "fresh", value: "y", flags: { mode: "add" } }
        ])
        expect(modes.map((result) => result.kind)).toEqual(["notStored", "stored"])
        expect(yield* client.setMany([])).toEqual([])
        expect(yield* client.getMany([])).toEqual([])
        expect((yield* Effect.flip(client.setMany([{ key: "", value: "v" }])))._tag).toBe("MemcachedInputError")
      })))
  })

  describe("pipelining", () => {
    it.live("10,000 commands in flight from as many fibers: every caller gets its own key's value", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const client = yield* clientFor([server])
        const n = 10_000
        yield* Effect.forEach(
          Array.from({ length: n }, (_, i) => i),
          (i) => client.metaSet(`key:${i}`, `value:${i}:${"x".repeat(i % 97)}`),
          { concurrency: "unbounded", discard: true }
        )
        const values = yield* Effect.forEach(
          Array.from({ length: n }, (_, i) => i),
          (i) => Effect.map(client.metaGet(`key:${i}`, { value: true }), valueOf),
          { concurrency: "unbounded" }
        )
        for (let i = 0; i < n; i++) expect(values[i]).toBe(`value:${i}:${"x".repeat(i % 97)}`)
        const many = yield* client.getMany(
          Array.from({ length: n }, (_, i) => i % 3 === 0 ? `absent:${i}` : `key:${i}`)
        )
        for (let i = 0; i < n; i++) {
          expect(valueOf(many[i]!)).toBe(i % 3 === 0 ? "miss" : `value:${i}:${"x".repeat(i % 97)}`)
        }
      })))

    it.live("a small maxInFlight makes commands wait their turn, in order, and an interrupted waiter is never sent", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const client = yield* clientFor([server], { maxInFlight: 4 })
        const results = yield* Effect.forEach(
          Array.from({ length: 500 }, (_, i) => i),
          (i) =>
            Effect.andThen(
              client.metaSet(`m${i}`, String(i)),
              Effect.map(client.metaGet(`m${i}`, { value: true }), valueOf)
            ),
          { concurrency: "unbounded" }
        )
        expect(results).toEqual(Array.from({ length: 500 }, (_, i) => String(i)))
        // Interrupted callers, whether written or still waiting: nobody else's reply shifts.
        const fibers = yield* Effect.forEach(
          Array.from({ length: 200 }, (_, i) => i),
          // Forked by the test's own fiber: a child of a forEach worker would end with that worker.
          (i) => Effect.forkChild(client.metaGet(`m${i}`, { value: true }))
        )
        yield* Effect.forEach(fibers.filter((_, i) => i % 2 === 0), Fiber.interrupt, { discard: true })
        const kept = yield* Effect.forEach(fibers.filter((_, i) => i % 2 === 1), Fiber.join)
        expect(kept.map(valueOf)).toEqual(Array.from({ length: 100 }, (_, i) => String(i * 2 + 1)))
        expect(valueOf(yield* client.metaGet("m7", { value: true }))).toBe("7")
      })))
  })

  describe("attacks", () => {
    it.live("callers interrupted at random points (waiting for room, written, mid-batch) never shift anyone's reply", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const client = yield* clientFor([server], { maxInFlight: 16 })
        const n = 2_000
        const keys = Array.from({ length: n }, (_, i) => `storm:${i}`)
        yield* Effect.forEach(keys, (key) => client.metaSet(key, key), { concurrency: 64, discard: true })
        // Each caller gives up after 0 to 2 ms: some before being written, some while waiting for room, some after.
        yield* Effect.forEach(keys, (key, i) =>
          Effect.exit(Effect.timeout(
            i % 5 === 0
              ? Effect.asVoid(client.getMany([key, keys[(i + 1) % n]!]))
              : Effect.asVoid(client.metaGet(key, { value: true })),
            i % 3
          )), { concurrency: "unbounded", discard: true })
        const singles = yield* Effect.forEach(keys, (key) => client.metaGet(key, { value: true }), {
          concurrency: "unbounded"
        })
        expect(singles.map(valueOf)).toEqual(keys)
        const many = yield* client.getMany(keys)
        expect(many.map(valueOf)).toEqual(keys)
      })))

    it.live("a server that answers with another request's token, or garbage, fails typed and is never trusted again", () =>
      Effect.scoped(Effect.gen(function*() {
        // Answers every line with `answer(line)`.
        const fake = (answer: (line: string) => string) =>
          Effect.acquireRelease(
            Effect.promise(() =>
              new Promise<Net.Server>((resolve) => {
                const server = Net.createServer((socket) => {
                  let buffered = ""
                  socket.on("data", (chunk) => {
                    buffered += chunk.toString("latin1")
                    for (let end = buffered.indexOf("\r\n"); end !== -1; end = buffered.indexOf("\r\n")) {
                      socket.write(answer(buffered.slice(0, end)))
                      buffered = buffered.slice(end + 2)
                    }
                  })
                  socket.on("error", () => {})
                })
                server.listen(0, "127.0.0.1", () => resolve(server))
              })
            ),
            (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
          )
        const addressOf = (server: Net.Server) => `127.0.0.1:${(server.address() as Net.AddressInfo).port}`
        const wrongToken = yield* fake((line) => line.startsWith("mn") ? "MN\r\n" : "VA 5 O999999\r\nother\r\n")
        const garbage = yield* fake(() => "VALUE k 0 1\r\nx\r\nEND\r\n")
        for (const server of [wrongToken, garbage]) {
          const client = yield* MemcachedClient.make({ servers: [addressOf(server)] })
          const errors = yield* Effect.forEach(
            ["a", "b", "c"],
            (key) => Effect.flip(client.metaGet(key, { value: true })),
            { concurrency: "unbounded" }
          )
          for (const error of errors) expect(error._tag).toBe("MemcachedProtocolError")
          const many = yield* client.getMany(["a", "b"])
          for (const entry of many) expect(entry.kind).toBe("error")
        }
      })))

    it.live("through a fault proxy (replies dripped byte by byte, cut mid-reply, truncated): no value for a wrong key", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const proxy = yield* FaultProxy.make({ upstreamPort: server.port })
        const client = yield* MemcachedClient.make({
          servers: [`127.0.0.1:${proxy.port}`],
          commandTimeout: "1 second",
          reconnectBaseDelay: "10 millis",
          reconnectMaxDelay: "50 millis"
        })
        const keys = Array.from({ length: 300 }, (_, i) => `chaos:${i}`)
        yield* client.setMany(keys.map((key) => ({ key, value: `${key}:${"v".repeat(200)}` })))
        let wrong = 0
        let served = 0
        const round = Effect.all([
          Effect.forEach(keys, (key) =>
            Effect.map(Effect.exit(client.metaGet(key, { value: true })), (exit) => {
              if (exit._tag === "Success" && exit.value.kind === "hit") {
                served++
                if (text(exit.value.value) !== `${key}:${"v".repeat(200)}`) wrong++
              }
            }), { concurrency: 64, discard: true }),
          Effect.map(Effect.exit(client.getMany(keys)), (exit) => {
            if (exit._tag !== "Success") return
            exit.value.forEach((entry, i) => {
              if (entry.kind !== "hit") return
              served++
              if (text(entry.value) !== `${keys[i]}:${"v".repeat(200)}`) wrong++
            })
          })
        ], { concurrency: "unbounded", discard: true })
        // Each fault mode is kept until it has acted at least once: after a cut the client may be in its backoff,
        // answering a whole round "unavailable" without a connection for the next mode to act on.
        const acted = (mode: string) =>
          Effect.map(
            proxy.stats,
            (stats) => mode === "drop" ? stats.dropped > 0 : mode === "truncate" ? stats.truncated > 0 : true
          )
        const modes = [
          ["drip", FaultProxy.drip(0)],
          ["drop", FaultProxy.dropMidReply],
          ["truncate", FaultProxy.truncate("close")],
          ["pass", FaultProxy.pass]
        ] as const
        for (const [name, mode] of modes) {
          yield* proxy.setMode(mode)
          const deadline = Date.now() + 20_000
          do yield* round
          while (!(yield* acted(name)) && Date.now() < deadline)
        }
        expect(wrong).toBe(0)
        expect(served).toBeGreaterThan(0)
        const stats = yield* proxy.stats
        expect(stats.dropped).toBeGreaterThan(0)
        expect(stats.truncated).toBeGreaterThan(0)
        // With the proxy passing again, every key reads its own value, once the client is out of the backoff the
        // last cut may have left it in (until then its keys fail, typed: never another key's value).
        const expected = keys.map((key) => `${key}:${"v".repeat(200)}`)
        const deadline = Date.now() + 10_000
        let values = (yield* client.getMany(keys)).map(valueOf)
        while (values.includes("error") && Date.now() < deadline) {
          for (const [i, value] of values.entries()) if (value !== "error") expect(value).toBe(expected[i])
          yield* realSleep(20)
          values = (yield* client.getMany(keys)).map(valueOf)
        }
        expect(values).toEqual(expected)
      })))

    it.live("a timeout with batches and singles in flight: after resume every key reads its own value", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const client = yield* clientFor([server], { commandTimeout: "300 millis" })
        const keys = Array.from({ length: 200 }, (_, i) => `t:${i}`)
        yield* Effect.forEach(keys, (key) => client.metaSet(key, key), { concurrency: 32, discard: true })
        yield* server.pause
        const during = yield* Effect.all([
          client.getMany(keys),
          Effect.forEach(keys.slice(0, 50), (key) => Effect.exit(client.metaGet(key, { value: true })), {
            concurrency: "unbounded"
          })
        ], { concurrency: "unbounded" })
        expect(during[0].every((entry) => entry.kind === "error")).toBe(true)
        expect(during[1].every((exit) => exit._tag === "Failure")).toBe(true)
        yield* server.resume
        const after = yield* client.getMany(keys)
        expect(after.map(valueOf)).toEqual(keys)
        for (const key of keys.slice(0, 20)) expect(valueOf(yield* client.metaGet(key, { value: true }))).toBe(key)
      })))
  })

  describe("failures", () => {
    it.live("a paused server times out: the connection is closed, every command in flight fails typed, resume works", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const client = yield* clientFor([server], { commandTimeout: "300 millis" })
        yield* client.metaSet("k", "v")
        yield* server.pause
        const outcomes = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => Effect.flip(client.metaGet(`k${i}`, { value: true })),
          { concurrency: "unbounded" }
        )
        const tags = new Set(outcomes.map((error) => error._tag))
        expect(tags.has("MemcachedTimeoutError")).toBe(true)
        for (const tag of tags) expect(["MemcachedTimeoutError", "MemcachedConnectionError"]).toContain(tag)
        yield* server.resume
        expect(valueOf(yield* client.metaGet("k", { value: true }))).toBe("v")
      })))

    it.live("a killed server: typed errors, then the client reconnects once it is back", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const client = yield* clientFor([server], { reconnectBaseDelay: "20 millis", reconnectMaxDelay: "100 millis" })
        yield* client.metaSet("k", "v")
        yield* server.kill
        const error = yield* Effect.flip(client.metaGet("k"))
        expect(error._tag).toBe("MemcachedConnectionError")
        expect(error._tag === "MemcachedConnectionError" && error.server).toBe(server.address)
        // A lost connection is reopened by the next command; once an attempt has failed, the client keeps trying
        // in the background.
        for (;;) {
          const next = yield* Effect.flip(client.metaGet("k"))
          expect(next._tag).toBe("MemcachedConnectionError")
          if (/cannot connect|unavailable/.test(next.message)) break
        }
        expect(client.diagnosis()).toContain(server.address)
        yield* server.start
        // Background retry: the connection comes back without waiting for traffic to notice.
        yield* waitUntil(() => client.diagnosis() === undefined, "reconnected")
        expect((yield* client.metaSet("k", "again")).kind).toBe("stored")
        expect(valueOf(yield* client.metaGet("k", { value: true }))).toBe("again")
      })))

    it.live("the log: connected at Info, a Warning naming the server when it cannot be reached, Info when it is back", () =>
      Effect.flatMap(Logs.capture, (logs) =>
        Effect.provide(
          Effect.scoped(Effect.gen(function*() {
            const server = yield* MemcachedServer.make()
            const client = yield* clientFor([server], {
              reconnectBaseDelay: "20 millis",
              reconnectMaxDelay: "100 millis"
            })
            yield* client.metaSet("k", "v")
            const said = (level: string, text: string) =>
              logs.lines.some((line) =>
                line.level === level && line.message.includes(text) &&
                line.annotations["memcached.server"] === server.address
              )
            expect(said("INFO", `memcached: connected to ${server.address}`)).toBe(true)
            yield* server.kill
            // The lost connection is reopened by the next command; its failure starts the background retry.
            yield* Effect.exit(client.metaGet("k"))
            yield* Effect.exit(client.metaGet("k"))
            yield* waitUntil(() => said("WARN", `memcached: cannot reach ${server.address}`), "the Warning")
            yield* server.start
            yield* waitUntil(() => said("INFO", "again after"), "the end of the outage")
          })),
          logs.layer
        )))

    it.live("three servers, one killed: only its keys fail, the others are served", () =>
      Effect.scoped(Effect.gen(function*() {
        const servers = [
          yield* MemcachedServer.make(),
          yield* MemcachedServer.make(),
          yield* MemcachedServer.make()
        ]
        const client = yield* clientFor(servers, { reconnectBaseDelay: "20 millis", reconnectMaxDelay: "100 millis" })
        const keys = Array.from({ length: 300 }, (_, i) => `spread:${i}`)
        yield* Effect.forEach(keys, (key) => client.metaSet(key, key), { concurrency: 50, discard: true })
        const owners = keys.map(client.serverFor)
        for (const s of [0, 1, 2]) expect(owners.filter((owner) => owner === s).length).toBeGreaterThan(30)
        yield* servers[1]!.kill
        const singles = yield* Effect.forEach(keys, (key) => Effect.exit(client.metaGet(key, { value: true })), {
          concurrency: 50
        })
        const many = yield* client.getMany(keys)
        for (let i = 0; i < keys.length; i++) {
          const down = owners[i] === 1
          expect(singles[i]!._tag).toBe(down ? "Failure" : "Success")
          expect(many[i]!.kind).toBe(down ? "error" : "hit")
          if (!down) expect(valueOf(many[i]!)).toBe(keys[i])
        }
        yield* servers[1]!.start
        yield* waitUntil(() => client.diagnosis() === undefined, "server 1 back")
        const back = yield* client.getMany(keys)
        for (let i = 0; i < keys.length; i++) expect(valueOf(back[i]!)).toBe(owners[i] === 1 ? "miss" : keys[i])
      })))

    it.live("three servers, one paused: only its keys time out, the others answer meanwhile", () =>
      Effect.scoped(Effect.gen(function*() {
        const servers = [
          yield* MemcachedServer.make(),
          yield* MemcachedServer.make(),
          yield* MemcachedServer.make()
        ]
        const client = yield* clientFor(servers, { commandTimeout: "500 millis" })
        const keys = Array.from({ length: 150 }, (_, i) => `p:${i}`)
        yield* client.setMany(keys.map((key) => ({ key, value: key })))
        const owners = keys.map(client.serverFor)
        yield* servers[2]!.pause
        const [many, singles] = yield* Effect.all([
          client.getMany(keys),
          Effect.forEach(keys, (key) => Effect.exit(client.metaGet(key, { value: true })), {
            concurrency: "unbounded"
          })
        ], { concurrency: "unbounded" })
        for (let i = 0; i < keys.length; i++) {
          const entry = many[i]!
          if (owners[i] === 2) {
            expect(entry.kind).toBe("error")
            expect(singles[i]!._tag).toBe("Failure")
          } else {
            expect(valueOf(entry)).toBe(keys[i])
            expect(singles[i]!._tag).toBe("Success")
          }
        }
        const timedOut = many.filter((entry) => entry.kind === "error" && entry.error._tag === "MemcachedTimeoutError")
        expect(timedOut.length).toBe(owners.filter((owner) => owner === 2).length)
        yield* servers[2]!.resume
        expect((yield* client.getMany(keys)).map(valueOf)).toEqual(keys)
      })))

    it.live("closing the scope mid-command fails the waiting callers with a connection error", () =>
      Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const scope = yield* Scope.make()
        const client = yield* Scope.provide(clientFor([server]), scope)
        yield* client.metaSet("k", "v")
        yield* server.pause
        const fiber = yield* Effect.forkChild(Effect.flip(client.metaGet("k")))
        // Written and waiting for its reply from the paused server.
        while ((yield* client.inFlight) === 0) yield* realSleep(5)
        yield* Scope.close(scope, Exit.void)
        const error = yield* Fiber.join(fiber)
        expect(error._tag).toBe("MemcachedConnectionError")
        yield* server.resume
      }).pipe(Effect.scoped))
  })

  describe("config", () => {
    it("server lists: host:port, the default port, IPv6 in brackets; malformed ones are refused with why", () => {
      expect(parseServers("a:1, b ,[::1]:11212")).toEqual([
        { host: "a", port: 1, where: "a:1" },
        { host: "b", port: 11211, where: "b" },
        { host: "::1", port: 11212, where: "[::1]:11212" }
      ])
      for (const bad of ["", "a:0", "a:65536", "a:x", "::1:5", "[::1", "a:1,a:1", "a b:1", ","]) {
        expect(typeof parseServers(bad), bad).toBe("string")
      }
      expect(() => resolveOptions({ commandTimeout: "0 millis" })).toThrow(/commandTimeout/)
      expect(() => resolveOptions({ maxInFlight: 0 })).toThrow(/maxInFlight/)
      expect(() => resolveOptions({ reconnectBaseDelay: "2 seconds", reconnectMaxDelay: "1 second" })).toThrow()
    })

    it.live("layerConfig reads MEMCACHED_SERVERS; a malformed list is a ConfigError naming the variable", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const good = Layer.provide(
          MemcachedClient.layerConfig(),
          ConfigProvider.layer(ConfigProvider.fromEnv({ env: { MEMCACHED_SERVERS: ` ${server.address} ` } }))
        )
        const result = yield* Effect.provide(
          Effect.flatMap(
            serviceOf,
            (client) => Effect.andThen(client.metaSet("c", "1"), client.metaGet("c", { value: true }))
          ),
          good
        )
        expect(valueOf(result)).toBe("1")
        const bad = Layer.provide(
          MemcachedClient.layerConfig(),
          ConfigProvider.layer(ConfigProvider.fromEnv({ env: { MEMCACHED_SERVERS: "a:1,b:notaport" } }))
        )
        const error = yield* Effect.flip(Effect.provide(serviceOf, bad))
        expect(String(error)).toContain("MEMCACHED_SERVERS")
        const config = yield* Effect.flip(MemcachedClient.make({ servers: [] }))
        expect(config._tag).toBe("MemcachedConfigError")
      })))
  })
})
