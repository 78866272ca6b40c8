import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import { Effect, Either, Redacted, Schedule } from "effect"
import * as Net from "node:net"
import { ArgumentLimit } from "../src/core/client/argumentLimit.js"
import { writeLimits } from "../src/core/client/write.js"
import * as Policy from "../src/Policy.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RemoteCache from "../src/RemoteCache.js"
import { RemoteCacheBackend } from "../src/RemoteCacheBackend.js"
import * as FakeServer from "./utils/FakeServer.js"
import * as RedisServer from "./utils/RedisServer.js"
import { text } from "./utils/RespValues.js"

// What one flush may build, and the limits the server sets on what it accepts.

const defaultChunk = writeLimits.maxChunkBytes

afterEach(() => {
  writeLimits.maxChunkBytes = defaultChunk
  vi.restoreAllMocks()
})

const KiB = 1024
const MiB = 1024 * KiB

/** Bytes `i` can be recognised by: every byte differs from its neighbours' and from another value's. */
const valueOf = (i: number, size: number): Buffer => {
  const value = Buffer.allocUnsafe(size)
  for (let j = 0; j < size; j++) value[j] = (i * 31 + j) & 255
  return value
}

describe("RedisClient writes of one turn", () => {
  it.scopedLive("a turn's writes larger than the flush bound leave in bounded chunks, and every reply reaches its caller", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const client = yield* RedisClient.make({ host: server.host, port: server.port, commandTimeout: "30 seconds" })
      yield* client.send(["SET", "small", "s"])
      // The test's bound stands for the real 64 MiB one: the same code path, without allocating gigabytes.
      const limit = 1 * MiB
      writeLimits.maxChunkBytes = limit
      const bytesValues = Array.from({ length: 12 }, (_, i) => valueOf(i, 200 * KiB + i)) // runs of commands
      const largeValues = Array.from({ length: 3 }, (_, i) => valueOf(100 + i, 3 * MiB + i)) // written as views
      // A string over the bound, with surrogate pairs at every slice boundary the writer could pick.
      const largeString = "é😀x".repeat(400_000)
      const views = new Set<ArrayBufferLike>(largeValues.map((value) => value.buffer))
      const writes: Array<{ readonly size: number; readonly view: boolean }> = []
      const write = Net.Socket.prototype.write
      vi.spyOn(Net.Socket.prototype, "write").mockImplementation(function(this: Net.Socket, chunk: any, ...rest: any) {
        if (chunk instanceof Uint8Array) writes.push({ size: chunk.byteLength, view: views.has(chunk.buffer) })
        return (write as any).call(this, chunk, ...rest)
      })
      // All sent in the same turn: one flush.
      const sets = [
        ...bytesValues.map((value, i) => client.send(["SET", `bytes:${i}`, value])),
        client.send(["GET", "small"]),
        ...largeValues.map((value, i) => client.send(["SET", `large:${i}`, value])),
        client.send(["SET", "string", largeString]),
        client.send(["GET", "small"])
      ]
      const replies = yield* Effect.all(sets, { concurrency: "unbounded" })
      vi.restoreAllMocks()
      expect(replies.map(text)).toEqual([
        ...bytesValues.map(() => "OK"),
        "s",
        ...largeValues.map(() => "OK"),
        "OK",
        "s"
      ])
      expect(writes.length).toBeGreaterThan(3)
      // Nothing copied into one buffer is over the bound; only the caller's own large values are written whole.
      for (const { size, view } of writes) if (!view) expect(size).toBeLessThanOrEqual(limit)
      expect(writes.filter((w) => w.view).length).toBe(largeValues.length)
      writeLimits.maxChunkBytes = defaultChunk
      for (let i = 0; i < bytesValues.length; i++) {
        expect(Buffer.compare(Buffer.from((yield* client.send(["GET", `bytes:${i}`])) as Uint8Array), bytesValues[i]!))
          .toBe(0)
      }
      for (let i = 0; i < largeValues.length; i++) {
        expect(Buffer.compare(Buffer.from((yield* client.send(["GET", `large:${i}`])) as Uint8Array), largeValues[i]!))
          .toBe(0)
      }
      const stored = (yield* client.send(["GET", "string"])) as Uint8Array
      expect(Buffer.from(stored).toString("utf8") === largeString).toBe(true)
    }))
})

/** How many times the server ran each command, from `INFO commandstats`. */
const commandCalls = (server: RedisServer.RedisServerShape, name: string) =>
  Effect.map(server.cli("INFO", "commandstats"), (info) => {
    const match = new RegExp(`^cmdstat_${name}:calls=(\\d+)`, "m").exec(info)
    return match === null ? 0 : Number(match[1])
  })

/** `n` concurrent GETs of keys set beforehand, each checked against its own value. */
const smallGets = (client: RedisClient.RedisClientShape, n: number) =>
  Effect.forEach(
    Array.from({ length: n }, (_, i) => i),
    (i) => Effect.map(client.send(["GET", `small:${i % 10}`]), (reply) => text(reply) === `v${i % 10}`),
    { concurrency: "unbounded" }
  )

const tagOf = (error: unknown): string => (error as { readonly _tag?: string })._tag ?? "unknown"

describe("RedisClient and the server's proto-max-bulk-len", () => {
  const twoMiB = Buffer.alloc(2 * MiB, 7)

  it.scopedLive("read from the server (CONFIG GET, once per connection): an argument over it fails with RedisInputError, nothing is sent, other commands are untouched", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ args: ["--proto-max-bulk-len", "1mb"] })
      // The very first command opens the connection: it is checked again once the handshake has read the limit.
      const fresh = yield* RedisClient.make({ host: server.host, port: server.port })
      const first = yield* Effect.flip(fresh.send(["SET", "big", twoMiB]))
      expect(first._tag).toBe("RedisInputError")
      expect(first.message).toContain("proto-max-bulk-len (1048576)")

      const client = yield* RedisClient.make({ host: server.host, port: server.port, commandTimeout: "20 seconds" })
      for (let i = 0; i < 10; i++) yield* client.send(["SET", `small:${i}`, `v${i}`])
      const id = yield* client.send(["CLIENT", "ID"])
      const setsBefore = yield* commandCalls(server, "set")
      const [big, gets, pipelined] = yield* Effect.all([
        Effect.either(client.send(["SET", "big", twoMiB])),
        smallGets(client, 200),
        Effect.either(client.pipeline([["GET", "small:1"], ["SET", "big", twoMiB]]))
      ], { concurrency: "unbounded" })
      expect(Either.isLeft(big) && big.left._tag).toBe("RedisInputError")
      expect(Either.isLeft(pipelined) && pipelined.left._tag).toBe("RedisInputError")
      expect(gets.filter((ok) => ok).length).toBe(200)
      expect(yield* commandCalls(server, "set")).toBe(setsBefore)
      expect(yield* client.send(["CLIENT", "ID"])).toEqual(id)
      // Within the limit, a large value goes through.
      expect(text(yield* client.send(["SET", "fits", Buffer.alloc(MiB - 64, 1)]))).toBe("OK")
    }))

  it.scopedLive("each connection reads it anew: raised on the server, it is learnt by the next connection", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ args: ["--proto-max-bulk-len", "1mb"] })
      const client = yield* RedisClient.make({ host: server.host, port: server.port })
      expect(tagOf(yield* Effect.flip(client.send(["SET", "big", twoMiB])))).toBe("RedisInputError")
      yield* server.cli("CONFIG", "SET", "proto-max-bulk-len", "4mb")
      const id = yield* client.send(["CLIENT", "ID"])
      yield* server.cli("CLIENT", "KILL", "ID", String(id))
      // The kill may take a moment to be seen: a command may still meet the dying connection.
      let reply: unknown = undefined
      for (let attempt = 0; attempt < 100 && reply !== "OK"; attempt++) {
        reply = yield* Effect.catchAll(
          Effect.map(client.send(["SET", "big", twoMiB]), text),
          (e) => Effect.succeed(e.message)
        )
        if (reply !== "OK") yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      }
      expect(reply).toBe("OK")
    }))

  const refusals = [
    { name: "CONFIG renamed away", args: ["--rename-command", "CONFIG", ""], user: {} },
    {
      name: "a user without +config (NOPERM)",
      args: ["--user", "app", "on", ">pw", "~*", "&*", "+@all", "-config"],
      user: { username: "app", password: Redacted.make("pw") }
    }
  ]
  for (const refusal of refusals) {
    it.scopedLive(`${refusal.name}: the limit is learnt from the first over-long SET, which a retry policy does not retry, and the connection is dropped once only`, () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make({ args: ["--proto-max-bulk-len", "1mb", ...refusal.args] })
        const client = yield* RedisClient.make({
          host: server.host,
          port: server.port,
          commandTimeout: "20 seconds",
          ...refusal.user
        })
        const backend = yield* Effect.provideService(RedisBackend.make(), RedisClient.RedisClient, client)
        const cache = yield* Effect.provideService(
          RemoteCache.make(Policy.retry(Schedule.recurs(4))),
          RemoteCacheBackend,
          backend
        )
        for (let i = 0; i < 10; i++) yield* client.send(["SET", `small:${i}`, `v${i}`])
        const setsBefore = yield* commandCalls(server, "set")
        // The first one reaches the server, which refuses it and closes the connection.
        const first = yield* Effect.flip(cache.set("big", twoMiB))
        expect(first._tag).toBe("CacheInputError")
        expect(Policy.isRetryable(first)).toBe(false)
        expect(tagOf(first.cause)).toBe("RedisInputError")
        // The server had to refuse it: the client could not read the limit.
        expect(first.message).toMatch(/refused an argument of \d+ bytes|reset the connection/)
        const id = yield* client.send(["CLIENT", "ID"])
        // From then on it is refused before sending: retried or not, it never drops the connection again.
        for (let round = 0; round < 3; round++) {
          const [big, gets] = yield* Effect.all([Effect.either(cache.set("big", twoMiB)), smallGets(client, 200)], {
            concurrency: "unbounded"
          })
          expect(Either.isLeft(big) && big.left._tag).toBe("CacheInputError")
          expect(gets.filter((ok) => ok).length).toBe(200)
        }
        expect(yield* client.send(["CLIENT", "ID"])).toEqual(id)
        // The server ran no over-long SET (the first one was refused while it was read).
        expect(yield* commandCalls(server, "set")).toBe(setsBefore)
        expect(text(yield* client.send(["SET", "fits", Buffer.alloc(MiB - 64, 1)]))).toBe("OK")
      }))
  }
})

describe("ArgumentLimit", () => {
  it("unknown, the server's limit counts as the least Redis allows; read, it rules; a guess from a reset expires", () => {
    const limit = new ArgumentLimit(512 * MiB)
    expect(limit.current).toBe(MiB)
    expect(limit.mayAsk).toBe(true)
    limit.learnServer(8 * MiB)
    expect(limit.current).toBe(8 * MiB)
    expect(limit.serverKnown).toBe(true)
    limit.newConnection()
    expect(limit.current).toBe(MiB)
    limit.learnServer(undefined)
    expect(limit.current).toBe(512 * MiB)
    expect(limit.mayAsk).toBe(false)
    limit.rejected(4 * MiB, false, 1_000)
    expect(limit.current).toBe(4 * MiB - 1)
    expect(limit.refresh(30_000)).toBe(false)
    expect(limit.refresh(61_000)).toBe(true)
    expect(limit.current).toBe(512 * MiB)
    limit.rejected(3 * MiB, true, 1_000)
    expect(limit.refresh(1_000_000)).toBe(false)
    expect(limit.current).toBe(3 * MiB - 1)
    expect(limit.describe(limit.current)).toContain("refused an argument of 3145728 bytes")
    limit.newConnection()
    limit.learnServer(8 * MiB)
    expect(limit.current).toBe(8 * MiB)
    limit.newConnection()
    limit.stopAsking()
    expect(limit.current).toBe(512 * MiB)
  })
})

/**
 * A fake node that refuses any argument over 1 MiB as Redis does with `proto-max-bulk-len 1mb`, in one of the two
 * ways a client may see it: `answer` writes "invalid bulk length" and hangs up once the rest is read (the client
 * reads the answer); `stall` stops reading there, for the test to fail the client's write as a reset does when it
 * comes before the answer could be read (Redis answers, then closes on the unread rest, and the kernel resets).
 * `CONFIG GET` answers `config` (an error: renamed away). It counts the over-long headers it saw.
 */
const refusingNode = (mode: "answer" | "stall", config: string) => {
  const seen = { overLong: 0 }
  const handler: FakeServer.Handler = (socket) => {
    let buffered = Buffer.alloc(0)
    let refused = false
    socket.on("data", (chunk: Buffer) => {
      if (refused) return
      buffered = Buffer.concat([buffered, chunk])
      for (;;) {
        const parsed = parseCommand(buffered)
        if (parsed === undefined) return
        if (parsed === "over-long") {
          seen.overLong++
          refused = true
          if (mode === "stall") {
            socket.pause()
          } else {
            socket.write("-ERR Protocol error: invalid bulk length\r\n")
            setTimeout(() => socket.destroy(), 200)
          }
          return
        }
        buffered = buffered.subarray(parsed.length)
        const name = parsed.args[0]!.toUpperCase()
        socket.write(name === "CONFIG" ? config : name === "GET" ? `$1\r\n${parsed.args[1]!.slice(-1)}\r\n` : "+OK\r\n")
      }
    })
  }
  return { seen, handler }
}

/** One command at the front of `bytes`: its arguments (as latin1) and length; "over-long" at a header over 1 MiB. */
const parseCommand = (
  bytes: Buffer
): { readonly args: ReadonlyArray<string>; readonly length: number } | "over-long" | undefined => {
  let pos = 0
  const line = (): string | undefined => {
    const end = bytes.indexOf("\r\n", pos)
    if (end === -1) return undefined
    const text = bytes.toString("latin1", pos, end)
    pos = end + 2
    return text
  }
  const count = line()
  if (count === undefined) return undefined
  const args: Array<string> = []
  for (let i = 0; i < Number(count.slice(1)); i++) {
    const header = line()
    if (header === undefined) return undefined
    const length = Number(header.slice(1))
    if (length > MiB) return "over-long"
    if (bytes.length < pos + length + 2) return undefined
    args.push(bytes.toString("latin1", pos, pos + length))
    pos += length + 2
  }
  return { args, length: pos }
}

describe("RedisClient when the server refuses an over-long argument it could not tell about at connect", () => {
  const twoMiB = Buffer.alloc(2 * MiB, 7)
  const renamed = "-ERR unknown command 'CONFIG', with args beginning with: 'GET' 'proto-max-bulk-len'\r\n"

  /** What Node does to a socket whose write fails because the peer reset the connection. */
  const resetWrite = (socket: Net.Socket) =>
    socket.destroy(Object.assign(new Error("write ECONNRESET"), { code: "ECONNRESET", syscall: "write", errno: -104 }))

  /** The client socket that writes the over-long header, and a way to fail its write as a reset would. */
  const watchWrites = () => {
    const sockets = new Set<Net.Socket>()
    const write = Net.Socket.prototype.write
    vi.spyOn(Net.Socket.prototype, "write").mockImplementation(function(this: Net.Socket, ...args: any) {
      const chunk = args[0]
      if (chunk instanceof Uint8Array && chunk.byteLength > MiB) sockets.add(this)
      return (write as any).apply(this, args)
    })
    return sockets
  }

  for (const mode of ["answer", "stall"] as const) {
    it.scopedLive(`${mode}: that command fails with RedisInputError, not retryable, and the next try is refused before sending`, () =>
      Effect.gen(function*() {
        const node = refusingNode(mode, renamed)
        const server = yield* FakeServer.make(node.handler)
        const client = yield* RedisClient.make({ host: server.host, port: server.port, commandTimeout: "20 seconds" })
        expect(text(yield* client.send(["GET", "k1"]))).toBe("1")
        const writers = watchWrites()
        const [big] = yield* Effect.all([
          Effect.either(client.send(["SET", "big", twoMiB])),
          mode === "stall"
            ? Effect.promise(async () => {
              while (node.seen.overLong === 0) await new Promise((resolve) => setTimeout(resolve, 10))
              for (const socket of writers) resetWrite(socket)
            })
            : Effect.void
        ], { concurrency: "unbounded" })
        vi.restoreAllMocks()
        expect(Either.isLeft(big) && big.left._tag).toBe("RedisInputError")
        expect(Either.isLeft(big) && big.left.message).toContain("2097152 bytes")
        const again = yield* Effect.flip(client.send(["SET", "big", twoMiB]))
        expect(again._tag).toBe("RedisInputError")
        expect(again.message).toContain("at most 2097151")
        expect(text(yield* client.send(["GET", "k3"]))).toBe("3")
        expect(node.seen.overLong).toBe(1)
      }))
  }

  it.scopedLive("a reset is not blamed on a long argument when the server's limit was read at connect", () =>
    Effect.gen(function*() {
      const node = refusingNode("stall", "*2\r\n$18\r\nproto-max-bulk-len\r\n$9\r\n536870912\r\n")
      const server = yield* FakeServer.make(node.handler)
      const client = yield* RedisClient.make({ host: server.host, port: server.port, commandTimeout: "20 seconds" })
      expect(text(yield* client.send(["GET", "k1"]))).toBe("1")
      const writers = watchWrites()
      const [error] = yield* Effect.all([
        Effect.flip(client.send(["SET", "big", twoMiB])),
        Effect.promise(async () => {
          while (node.seen.overLong === 0) await new Promise((resolve) => setTimeout(resolve, 10))
          for (const socket of writers) resetWrite(socket)
        })
      ], { concurrency: "unbounded" })
      expect(error._tag).toBe("RedisConnectionError")
    }))
})
