import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import { Effect } from "effect"
import * as Net from "node:net"
import { writeLimits } from "../src/internal/connection.js"
import * as RedisClient from "../src/RedisClient.js"
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
