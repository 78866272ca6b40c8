// The connection's state machine on its own: a stand-in socket records what is written, replies are fed through a
// `SocketInput` as a socket's reads would be, and errors are plain tagged objects. No Effect runtime is involved.
import { EventEmitter } from "node:events"
import { afterEach, describe, expect, it } from "vitest"
import { ArgumentLimit } from "../../src/core/client/argumentLimit.js"
import { Connection, type ConnectionOptions } from "../../src/core/client/connection.js"
import type {
  ConnectionErrors,
  ConnectionFields,
  InputFields,
  ProtocolFields,
  TimeoutFields
} from "../../src/core/client/failure.js"
import type { Pending } from "../../src/core/client/pending.js"
import { SocketInput } from "../../src/core/client/socketInput.js"
import { writeLimits } from "../../src/core/client/write.js"
import { encodeCommands, ErrorReply } from "../../src/core/resp/resp.js"

type TestError =
  | ({ readonly _tag: "RedisConnectionError" } & ConnectionFields)
  | ({ readonly _tag: "RedisTimeoutError" } & TimeoutFields)
  | ({ readonly _tag: "RedisProtocolError" } & ProtocolFields)
  | ({ readonly _tag: "RedisInputError" } & InputFields)

const errors: ConnectionErrors<TestError> = {
  connection: (fields) => ({ _tag: "RedisConnectionError", ...fields }),
  timeout: (fields) => ({ _tag: "RedisTimeoutError", ...fields }),
  protocol: (fields) => ({ _tag: "RedisProtocolError", ...fields }),
  input: (fields) => ({ _tag: "RedisInputError", ...fields })
}

/** What a connection needs of a `net.Socket`, recording every write. */
class FakeSocket extends EventEmitter {
  readonly writes: Array<Buffer> = []
  corks = 0
  uncorks = 0
  destroyed = false
  setNoDelay(): void {}
  write(chunk: Uint8Array): boolean {
    this.writes.push(Buffer.from(chunk))
    return true
  }
  cork(): void {
    this.corks++
  }
  uncork(): void {
    this.uncorks++
  }
  destroy(): void {
    this.destroyed = true
  }
  /** Everything written so far, as text. */
  get written(): string {
    return Buffer.concat(this.writes).toString("latin1")
  }
}

interface Harness {
  readonly socket: FakeSocket
  readonly conn: Connection<TestError>
  readonly closed: Array<TestError>
  readonly pushes: Array<unknown>
  /** Hands `text` to the connection as one read of the socket. */
  readonly read: (text: string) => void
}

const open = (overrides: Partial<ConnectionOptions<TestError>> = {}): Harness => {
  const socket = new FakeSocket()
  const input = new SocketInput()
  const closed: Array<TestError> = []
  const pushes: Array<unknown> = []
  const conn = new Connection<TestError>(socket, input, {
    where: "test:6379",
    commandTimeoutMillis: 5_000,
    maxInFlight: 100,
    parser: {},
    onClose: (_, error) => closed.push(error),
    onPush: (value) => pushes.push(value),
    ...overrides
  }, errors)
  return { socket, conn, closed, pushes, read: (text) => input.receive(Buffer.from(text, "latin1")) }
}

/** Lets every flush scheduled so far run (a next-tick one, or one in the check phase). */
const flushed = () => new Promise<void>((resolve) => setImmediate(resolve))
const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

const text = (pending: Pending<TestError>): string => Buffer.from(pending.value as Uint8Array).toString()

const defaultChunk = writeLimits.maxChunkBytes
afterEach(() => {
  writeLimits.maxChunkBytes = defaultChunk
})

describe("Connection", () => {
  it("settles replies first-in first-out, whatever the reads' boundaries", async () => {
    const { conn, read, socket } = open()
    const pendings = [conn.submit(["GET", "a"]), conn.submit(["GET", "b"]), conn.submit(["GET", "c"])]
    expect(conn.inFlight).toBe(3)
    await flushed()
    read("$1\r\nA\r\n$1\r")
    expect(pendings.map((p) => p.done)).toEqual([true, false, false])
    read("\nB\r\n$1\r\nC\r\n")
    expect(pendings.map(text)).toEqual(["A", "B", "C"])
    expect(pendings.every((p) => p.error === undefined)).toBe(true)
    expect(conn.inFlight).toBe(0)
    expect(conn.successfulReplies).toBe(3)
    expect(socket.destroyed).toBe(false)
  })

  it("keeps an error reply as the value of its command, and the connection open", async () => {
    const { conn, read } = open()
    const failing = conn.submit(["INCR", "k"])
    const next = conn.submit(["PING"])
    await flushed()
    read("-ERR not an integer\r\n+PONG\r\n")
    expect(failing.value).toBeInstanceOf(ErrorReply)
    expect(failing.error).toBeUndefined()
    expect(next.value).toBe("PONG")
    expect(conn.isOpen).toBe(true)
    expect(conn.successfulReplies).toBe(1)
  })

  it("calls a pending's callback once, when it settles", async () => {
    const { conn, read } = open()
    const pending = conn.submit(["PING"])
    const seen: Array<unknown> = []
    pending.callback = (settled) => seen.push(settled.value)
    await flushed()
    read("+PONG\r\n")
    conn.destroy(errors.connection({ message: "done" }))
    expect(seen).toEqual(["PONG"])
  })

  it("writes the commands of one tick in one write, and those sent while others are in flight in the next", async () => {
    const { conn, read, socket } = open()
    const batch = [["SET", "a", "1"], ["GET", "a"], ["DEL", "a"]]
    for (const command of batch) conn.submit(command)
    expect(socket.writes).toHaveLength(0)
    await flushed()
    expect(socket.writes).toHaveLength(1)
    expect(socket.writes[0]!.equals(encodeCommands(batch))).toBe(true)
    // With commands in flight, those sent in one turn (here, on two reads) still leave together.
    read("+OK\r\n")
    conn.submit(["GET", "b"])
    read("$1\r\n1\r\n")
    conn.submit(["GET", "c"])
    await flushed()
    expect(socket.writes).toHaveLength(2)
    expect(socket.writes[1]!.equals(encodeCommands([["GET", "b"], ["GET", "c"]]))).toBe(true)
  })

  it("writes a batch over the chunk limit in bounded, corked writes with the same bytes", async () => {
    writeLimits.maxChunkBytes = 1024
    const { conn, socket } = open()
    const big = "x".repeat(3000)
    // A byte argument over a quarter of the limit goes out as its own write, uncopied.
    const batch = [["SET", "a", big], ["GET", "a"], ["SET", "b", Buffer.alloc(600, 98)]]
    conn.submitMany(batch)
    await flushed()
    expect(socket.writes.length).toBeGreaterThan(3)
    expect(socket.writes.every((chunk) => chunk.length <= 1024)).toBe(true)
    expect(socket.corks).toBe(1)
    expect(socket.uncorks).toBe(1)
    expect(Buffer.concat(socket.writes).equals(encodeCommands(batch))).toBe(true)
  })

  it("holds commands past maxInFlight until replies make room, then writes them in arrival order", async () => {
    const { conn, read, socket } = open({ maxInFlight: 2 })
    const pendings = ["a", "b", "c", "d"].map((key) => conn.submit(["GET", key]))
    await flushed()
    expect(conn.inFlight).toBe(2)
    expect(pendings.map((p) => p.args !== undefined)).toEqual([false, false, true, true])
    expect(socket.written).toBe(encodeCommands([["GET", "a"], ["GET", "b"]]).toString("latin1"))
    read("$1\r\nA\r\n")
    expect(conn.inFlight).toBe(2)
    expect(pendings[2]!.args).toBeUndefined()
    await flushed()
    read("$1\r\nB\r\n$1\r\nC\r\n")
    await flushed()
    read("$1\r\nD\r\n")
    expect(pendings.map(text)).toEqual(["A", "B", "C", "D"])
    expect(socket.written).toBe(encodeCommands(["a", "b", "c", "d"].map((key) => ["GET", key])).toString("latin1"))
  })

  it("admits a batch past maxInFlight whole, and never writes a cancelled one", async () => {
    const { conn, read, socket } = open({ maxInFlight: 2 })
    conn.submit(["GET", "a"])
    const cancelled = conn.submitMany([["GET", "x"], ["GET", "y"]])
    const batch = conn.submitMany([["GET", "b"], ["GET", "c"], ["GET", "d"]])
    await flushed()
    for (const pending of cancelled) pending.cancelled = true
    read("$1\r\nA\r\n")
    // Larger than maxInFlight: admitted once nothing else is in flight.
    expect(batch.every((p) => p.args === undefined)).toBe(true)
    expect(conn.inFlight).toBe(3)
    await flushed()
    expect(socket.written).not.toContain("$1\r\nx")
    read("$1\r\nB\r\n$1\r\nC\r\n$1\r\nD\r\n")
    expect(batch.map(text)).toEqual(["B", "C", "D"])
  })

  it("fails a command that waited for room past its deadline without writing it, and keeps the connection", async () => {
    const { closed, conn, socket } = open({ maxInFlight: 1, commandTimeoutMillis: 40 })
    const written = conn.submit(["GET", "a"])
    const waiting = conn.submit(["GET", "b"])
    // A written command's deadline runs from the flush that writes it, which this holds back; the waiting one's runs
    // from its submit, so it passes 30 ms earlier.
    const until = performance.now() + 30
    while (performance.now() < until) {
      // busy
    }
    await new Promise((resolve) => (waiting.callback = resolve))
    expect(waiting.error).toMatchObject({ _tag: "RedisTimeoutError", phase: "reply", command: "GET" })
    expect(waiting.error).not.toHaveProperty("outcomeUnknown")
    expect(waiting.error!.message).toBe(
      "no reply to GET within 40 ms (it waited for room under maxInFlight 1 and was never sent)"
    )
    expect(written.done).toBe(false)
    expect(socket.written).toBe(encodeCommands([["GET", "a"]]).toString("latin1"))
    expect(closed).toEqual([])
    expect(conn.isOpen).toBe(true)
    conn.destroy(errors.connection({ message: "done" }))
  })

  it("closes the connection when a written command's deadline passes, failing the others as possibly run", async () => {
    const { closed, conn, read, socket } = open({ commandTimeoutMillis: 30 })
    const first = conn.submit(["GET", "a"])
    const second = conn.submit(["GET", "b"])
    await flushed()
    read("$1\r\nA\r\n")
    const third = conn.submit(["GET", "c"])
    await sleep(60)
    expect(first.value).toBeInstanceOf(Buffer)
    expect(second.error).toMatchObject({
      _tag: "RedisTimeoutError",
      phase: "reply",
      timeoutMillis: 30,
      command: "GET",
      outcomeUnknown: true
    })
    expect(second.error!.message).toBe("no reply to GET within 30 ms: the command may have run; its outcome is unknown")
    expect(third.error).toMatchObject({ _tag: "RedisConnectionError", outcomeUnknown: true })
    expect(third.error!.message).toBe(
      "connection dropped: an earlier GET timed out after 30 ms: the command may have run; its outcome is unknown"
    )
    expect(socket.destroyed).toBe(true)
    expect(conn.isOpen).toBe(false)
    expect(closed).toEqual([{
      _tag: "RedisConnectionError",
      message: "connection dropped: an earlier GET timed out after 30 ms"
    }])
    // A late reply is never read.
    read("$1\r\nB\r\n")
    expect(closed).toHaveLength(1)
  })

  it("says the server never answered when the first command times out", async () => {
    const { conn } = open({ commandTimeoutMillis: 20 })
    const pending = conn.submit(["PING"])
    await sleep(50)
    expect(pending.error!.message).toBe("test:6379 accepted the connection but did not answer PING within 20 ms")
  })

  it("takes a reply that no command was waiting for for a protocol error, and closes", () => {
    const { closed, conn, read, socket } = open()
    read("+OK\r\n")
    expect(closed).toEqual([{
      _tag: "RedisProtocolError",
      message: "received a reply that no command was waiting for"
    }])
    expect(socket.destroyed).toBe(true)
    const after = conn.submit(["PING"])
    expect(after.done).toBe(true)
    expect(after.error).toEqual({ _tag: "RedisConnectionError", message: "connection is closed" })
  })

  it("reports what a server that refuses the connection says, before any command", () => {
    const { closed, read } = open()
    read("-ERR max number of clients reached\r\n")
    expect(closed).toEqual([{
      _tag: "RedisConnectionError",
      message: "test:6379 refused the connection: ERR max number of clients reached"
    }])
  })

  it("closes on bytes that are not RESP, with the parser's report as the cause", async () => {
    const { closed, conn, read } = open()
    const pending = conn.submit(["PING"])
    await flushed()
    read("?what\r\n")
    expect(closed[0]).toMatchObject({ _tag: "RedisProtocolError", cause: { message: closed[0]!.message } })
    expect(pending.error).toBe(closed[0])
  })

  it("fails a command queued but not yet written with the error itself, as never sent", () => {
    const { conn, socket } = open()
    const pending = conn.submit(["PING"])
    socket.emit("close")
    expect(pending.error).toEqual({ _tag: "RedisConnectionError", message: "connection closed by the server" })
  })

  it("pins a reset during a long argument's write on that command when the server's limit is unknown", async () => {
    const argumentLimit = new ArgumentLimit(512 * 1024 * 1024)
    const { conn, socket } = open({ argumentLimit })
    const small = conn.submit(["GET", "a"])
    const large = conn.submit(["SET", "k", Buffer.alloc(2 * 1024 * 1024)])
    await flushed()
    socket.emit("error", Object.assign(new Error("write ECONNRESET"), { syscall: "write", code: "ECONNRESET" }))
    expect(large.error).toMatchObject({ _tag: "RedisInputError", command: "SET" })
    expect(small.error).toMatchObject({ _tag: "RedisConnectionError", outcomeUnknown: true })
    expect(argumentLimit.withoutServer).toBe(2 * 1024 * 1024 - 1)
  })

  it("hands pub/sub messages on a subscriber connection to onPush, out of the FIFO", async () => {
    const { conn, pushes, read } = open()
    conn.subscriberMode = true
    const ping = conn.submit(["PING"])
    await flushed()
    read("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n+PONG\r\n")
    expect(pushes).toHaveLength(1)
    expect(ping.value).toBe("PONG")
  })
})
