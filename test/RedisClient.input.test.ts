import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import { Effect } from "effect"
import { SocketInput } from "../src/core/client/socketInput.js"
import * as RedisClient from "../src/RedisClient.js"
import * as Resp from "../src/Resp.js"
import * as RedisServer from "./utils/RedisServer.js"

// How the bytes a socket reads reach the parser: TCP reads land in one reused buffer (Node's `onread`).

afterEach(() => {
  vi.restoreAllMocks()
})

describe("SocketInput", () => {
  it("bytes read before the connection takes over are copied, then delivered first and in order", () => {
    const input = new SocketInput()
    const first = Buffer.from("+ONE\r\n")
    const second = Buffer.from("+TWO\r\n")
    input.receive(first)
    input.receive(second)
    // The socket reuses its buffer: what was read must not change with it.
    first.fill(0)
    second.fill(0)
    const seen: Array<string> = []
    input.attach((chunk) => seen.push(chunk.toString("latin1")))
    expect(seen).toEqual(["+ONE\r\n", "+TWO\r\n"])
    input.receive(Buffer.from("+THREE\r\n"))
    expect(seen).toEqual(["+ONE\r\n", "+TWO\r\n", "+THREE\r\n"])
  })

  it("after it takes over, reads go straight to the connection, as views of the one read buffer", () => {
    const input = new SocketInput()
    const seen: Array<Buffer> = []
    input.attach((chunk) => seen.push(chunk))
    const { buffer, callback } = input.onread
    buffer.write("+PONG\r\n", 0, "latin1")
    expect(callback(7)).toBe(true)
    buffer.write(":1\r\n", 0, "latin1")
    expect(callback(4)).toBe(true)
    expect(seen.map((chunk) => chunk.length)).toEqual([7, 4])
    expect(seen.every((chunk) => chunk.buffer === buffer.buffer && chunk.byteOffset === buffer.byteOffset)).toBe(
      true
    )
  })
})

describe("RedisClient reads", () => {
  it.scopedLive("a TCP connection reads every reply into one reused buffer; the values it returns stay intact", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const client = yield* RedisClient.make({ host: server.host, port: server.port })
      const n = 64
      const valueOf = (i: number) => Buffer.alloc(3000 + i, i + 1)
      yield* client.pipeline(Array.from({ length: n }, (_, i) => ["SET", `input:${i}`, valueOf(i)]))
      const fed = new Set<ArrayBufferLike>()
      const feed = Resp.Parser.prototype.feed
      vi.spyOn(Resp.Parser.prototype, "feed").mockImplementation(function(this: Resp.Parser, chunk, onReply) {
        fed.add(chunk.buffer)
        return feed.call(this, chunk, onReply)
      })
      // One at a time: each reply is its own read, over the bytes of the one before.
      const replies: Array<Resp.RespValue> = []
      for (let i = 0; i < n; i++) replies.push(yield* client.send(["GET", `input:${i}`]))
      expect(fed.size).toBe(1)
      replies.forEach((reply, i) => {
        expect(reply).toBeInstanceOf(Uint8Array)
        expect(Buffer.compare(Buffer.from(reply as Uint8Array), valueOf(i))).toBe(0)
      })
    }))
})
