/**
 * A scoped loopback TCP server with a hand-written behaviour, for protocol tests that need a peer a real Redis
 * would never be: one that answers garbage, never answers, or hangs up at once.
 *
 * @since 0.1.0
 */
import * as Effect from "#effect/Effect"
import type * as Scope from "#effect/Scope"
import * as Net from "node:net"
import * as Resp from "../../src/Resp.js"
import { encodeValue } from "./RespValues.js"

/**
 * A running fake server.
 *
 * @since 0.1.0
 * @category models
 */
export interface FakeServer {
  readonly host: "127.0.0.1"
  readonly port: number
  /** How many connections were accepted so far (read it again to see new ones). */
  readonly connections: number
}

/**
 * What the server does with each accepted socket.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler = (socket: Net.Socket) => void

/**
 * Starts a server on a free loopback port that hands every accepted socket to `handler`. Closing the scope destroys
 * every socket still open and closes the server.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (handler: Handler): Effect.Effect<FakeServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<
      { readonly server: Net.Server; readonly sockets: Set<Net.Socket>; readonly counter: { n: number } }
    >(
      (resume) => {
        const sockets = new Set<Net.Socket>()
        const counter = { n: 0 }
        const server = Net.createServer((socket) => {
          counter.n++
          sockets.add(socket)
          // A client that resets the connection must not crash the test process with an unhandled 'error'.
          socket.on("error", () => {})
          socket.once("close", () => sockets.delete(socket))
          handler(socket)
        })
        server.once("error", (error) => resume(Effect.die(error)))
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets, counter })))
      }
    ),
    ({ server, sockets }) =>
      Effect.callback<void>((resume) => {
        // close() waits for open connections, so destroy them first or the finalizer would hang on a silent peer.
        server.close(() => resume(Effect.void))
        for (const socket of sockets) socket.destroy()
      })
  ).pipe(
    Effect.map(({ counter, server }) => ({
      host: "127.0.0.1" as const,
      port: (server.address() as Net.AddressInfo).port,
      get connections() {
        return counter.n
      }
    }))
  )

/**
 * Answers every chunk of data it receives with `bytes`.
 *
 * @since 0.1.0
 * @category handlers
 */
export const respondWith = (bytes: string | Uint8Array): Handler => (socket) => {
  socket.on("data", () => {
    socket.write(bytes)
  })
}

/**
 * Answers any data with bytes that are not RESP (an HTTP error response), as a wrong service on the port would.
 *
 * @since 0.1.0
 * @category handlers
 */
export const garbage: Handler = respondWith("HTTP/1.1 400 Bad Request\r\n\r\n")

/**
 * Accepts the connection, reads whatever arrives and never answers: the peer of a reply timeout.
 *
 * @since 0.1.0
 * @category handlers
 */
export const silent: Handler = (socket) => {
  // Keep reading so the client's writes never block on a full window; only the answer is withheld.
  socket.resume()
}

/**
 * Accepts the connection and closes it at once.
 *
 * @since 0.1.0
 * @category handlers
 */
export const closeImmediately: Handler = (socket) => {
  socket.end()
}

/**
 * A hand-written peer that speaks just enough RESP: `behave` gets the connection's number (from 1) and each
 * command, and answers with a value, raw bytes, `"close"` to hang up there and then, or `"ignore"` to say nothing.
 *
 * @since 0.1.0
 * @category handlers
 */
export const fakeRedis = (
  behave: (connection: number, command: ReadonlyArray<string>) => Resp.RespValue | Buffer | "close" | "ignore"
): Handler => {
  let connections = 0
  return (socket) => {
    const connection = ++connections
    const parser = new Resp.Parser()
    socket.on("data", (chunk: Buffer) => {
      parser.feed(chunk, (value) => {
        if (socket.destroyed) return
        const command = (value as ReadonlyArray<Uint8Array>).map((part) => Buffer.from(part).toString("utf8"))
        const answer = behave(connection, command)
        if (answer === "close") socket.destroy()
        else if (answer !== "ignore") socket.write(Buffer.isBuffer(answer) ? answer : encodeValue(answer))
      })
    })
  }
}
