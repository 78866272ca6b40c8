// The test helper itself: a server on a free port that answers, pauses for real (a raw request gets no answer),
// resumes, and restarts on the same port without its items.
import * as Effect from "#effect/Effect"
import { describe, expect, it } from "#test-effect/vitest"
import * as Net from "node:net"
import * as MemcachedServer from "./MemcachedServer.js"

/** Sends `request` and resolves with what came back within `millis` ("" when nothing did). */
const ask = (port: number, request: string, millis: number) =>
  Effect.promise(() =>
    new Promise<string>((resolve) => {
      const socket = Net.connect({ host: "127.0.0.1", port })
      let received = ""
      const timer = setTimeout(() => {
        socket.destroy()
        resolve(received)
      }, millis)
      socket.setEncoding("latin1")
      socket.on("data", (chunk: string) => {
        received += chunk
        if (received.endsWith("MN\r\n")) {
          clearTimeout(timer)
          socket.destroy()
          resolve(received)
        }
      })
      socket.on("error", () => {})
      socket.write(request)
    })
  )

describe("MemcachedServer", () => {
  it.live("starts on a free port, pauses, resumes, restarts on the same port without its items", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* MemcachedServer.make({ itemSize: "2m", memoryMb: 16 })
      expect(yield* ask(server.port, "ms Zm9v 1 b\r\nx\r\nmn\r\n", 5_000)).toBe("HD\r\nMN\r\n")
      yield* server.pause
      expect(yield* ask(server.port, "mn\r\n", 200)).toBe("")
      yield* server.resume
      expect(yield* ask(server.port, "mg Zm9v b v\r\nmn\r\n", 5_000)).toBe("VA 1\r\nx\r\nMN\r\n")
      const port = server.port
      yield* server.restart
      expect(server.port).toBe(port)
      expect(yield* ask(server.port, "mg Zm9v b v\r\nmn\r\n", 5_000)).toBe("EN\r\nMN\r\n")
    })))
})
