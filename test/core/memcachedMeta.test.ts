// The meta protocol's core on its own: the encoders, the incremental reply parser (every reply shape, split anywhere,
// malformed input), and the connection's pairing of replies with requests through a stand-in socket.
import fc from "fast-check"
import { EventEmitter } from "node:events"
import { describe, expect, it } from "vitest"
import { SocketInput } from "../../src/core/client/socketInput.js"
import { Exchange, MetaConnection, type MetaConnectionErrors } from "../../src/core/memcached/connection.js"
import * as Meta from "../../src/core/memcached/meta.js"
import { MetaParser } from "../../src/core/memcached/parser.js"

const parseAll = (chunks: ReadonlyArray<Uint8Array>) => {
  const parser = new MetaParser({ maxLineLength: 1024, maxValueLength: 1 << 20 })
  const replies: Array<Meta.MetaReply> = []
  let failure: string | undefined
  for (const chunk of chunks) {
    const result = parser.feed(chunk, (reply) => replies.push(reply))
    if (result !== undefined) {
      failure = result.message
      break
    }
  }
  return { replies, failure, buffered: parser.bufferedBytes }
}

const bytes = (text: string) => Buffer.from(text, "latin1")

describe("meta encoders", () => {
  it("send keys as base64 with b, flags in a fixed order, and the opaque token last", () => {
    const key = Buffer.from("a b\r\n\u0000")
    expect(Meta.encodeGet(key, { value: true, ttl: true, cas: true, vivify: 30, recache: 5 }, "7")).toBe(
      `mg ${key.toString("base64")} b v t c N30 R5 O7\r\n`
    )
    expect(
      bytes(
        Meta.encodeSet(key, Buffer.from("xy"), {
          ttl: 0,
          clientFlags: 3,
          compareCas: 9n,
          mode: "add",
          invalidate: true
        })
          .toString("latin1")
      ).toString("latin1")
    ).toBe(`ms ${key.toString("base64")} 2 b T0 F3 C9 I ME\r\nxy\r\n`)
    expect(Meta.encodeDelete(key, { invalidate: true, ttl: 30, quiet: true }, "z")).toBe(
      `md ${key.toString("base64")} b I T30 q Oz\r\n`
    )
    expect(Meta.encodeArithmetic(key, { mode: "decrement", delta: 2n, value: true })).toBe(
      `ma ${key.toString("base64")} b MD D2 v\r\n`
    )
    expect(Meta.encodeNoop()).toBe("mn\r\n")
  })

  it("refuse empty and over-long keys, and numbers out of range", () => {
    expect(Meta.keyProblem(new Uint8Array(0))).toContain("empty")
    expect(Meta.keyProblem(new Uint8Array(Meta.MAX_KEY_BYTES))).toBeUndefined()
    expect(Buffer.from(new Uint8Array(Meta.MAX_KEY_BYTES)).toString("base64").length).toBeLessThanOrEqual(250)
    expect(Meta.keyProblem(new Uint8Array(Meta.MAX_KEY_BYTES + 1))).toContain("at most")
    const { int32, uint32, uint64 } = Meta.numericFlags.ms
    expect(Meta.flagProblem({ ttl: 1.5 }, int32, uint32, uint64)).toContain("ttl")
    expect(Meta.flagProblem({ ttl: 2 ** 31 }, int32, uint32, uint64)).toContain("ttl")
    expect(Meta.flagProblem({ clientFlags: -1 }, int32, uint32, uint64)).toContain("clientFlags")
    expect(Meta.flagProblem({ compareCas: 2n ** 64n }, int32, uint32, uint64)).toContain("compareCas")
    expect(Meta.flagProblem({ ttl: -1, clientFlags: 2 ** 32 - 1, compareCas: 2n ** 64n - 1n }, int32, uint32, uint64))
      .toBeUndefined()
  })
})

/** Every reply shape memcached sends, as seen against memcached 1.6. */
const shapes = [
  "HD O1\r\n",
  "HD\r\n",
  "VA 3 O3 kZm9v b t-1 f5 c1 s3 h0 l0\r\nbar\r\n",
  "VA 0 O1 t30 c2 W\r\n\r\n",
  "VA 1 c4 t30 O5 X W\r\nx\r\n",
  "VA 1 c4 t30 O6 Z X\r\n\r\r\n",
  "VA 4\r\n\r\n\r\n\r\n",
  "EN O4 kZm9vMg== b\r\n",
  "EN\r\n",
  "NF O6\r\n",
  "NS O8\r\n",
  "EX O7\r\n",
  "MN\r\n",
  "ERROR\r\n",
  "CLIENT_ERROR bad command line format\r\n",
  "SERVER_ERROR object too large for cache\r\n"
]

describe("meta reply parser", () => {
  it("reads every reply shape with its flags", () => {
    const { failure, replies } = parseAll([bytes(shapes.join(""))])
    expect(failure).toBeUndefined()
    expect(replies).toHaveLength(shapes.length)
    const va = replies[2]!
    expect(va._tag === "Status" && va.status).toBe("VA")
    if (va._tag === "Status") {
      expect(va.value!.toString()).toBe("bar")
      expect(va.flags).toMatchObject({
        opaque: "3",
        key: "Zm9v",
        base64: true,
        ttl: -1,
        clientFlags: 5,
        cas: 1n,
        size: 3,
        hit: false,
        lastAccess: 0
      })
    }
    expect(replies[3]).toMatchObject({ flags: { win: true, ttl: 30, cas: 2n } })
    expect(replies[4]).toMatchObject({ flags: { win: true, stale: true } })
    expect(replies[5]).toMatchObject({ flags: { alreadyWon: true, stale: true } })
    expect(replies[5]!._tag === "Status" && replies[5]!.value!.toString("latin1")).toBe("\r")
    expect(replies[6]!._tag === "Status" && replies[6]!.value!.toString("latin1")).toBe("\r\n\r\n")
    expect(replies[13]).toEqual({ _tag: "Error", kind: "ERROR", message: "" })
    expect(replies[15]).toEqual({ _tag: "Error", kind: "SERVER_ERROR", message: "object too large for cache" })
  })

  const stream = fc.array(fc.constantFrom(...shapes), { minLength: 1, maxLength: 40 }).map((parts) => parts.join(""))

  it("parses a stream split at random points as it parses it whole", () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 30 }), (text, cuts) => {
        const whole = parseAll([bytes(text)])
        const points = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b)
        const chunks: Array<Uint8Array> = []
        let from = 0
        for (const point of [...points, text.length]) {
          chunks.push(bytes(text.slice(from, point)))
          from = point
        }
        const split = parseAll(chunks)
        expect(split.failure).toBeUndefined()
        expect(split.replies).toEqual(whole.replies)
        expect(split.buffered).toBe(0)
      }),
      { numRuns: 500 }
    )
  })

  it("parses byte by byte", () => {
    const text = shapes.join("")
    const chunks = [...bytes(text)].map((byte) => new Uint8Array([byte]))
    expect(parseAll(chunks).replies).toEqual(parseAll([bytes(text)]).replies)
  })

  it("rejects malformed input with a failure, never waits on it, and refuses everything after", () => {
    const bad = [
      "XX 1\r\n",
      "HD\n",
      "\r\n",
      "VA\r\n",
      "VA -1\r\n",
      "VA 3x\r\n",
      "VA 3\r\nbarX\r\n",
      "VA 99999999\r\n",
      "HD  O1\r\n",
      "HD 1\r\n",
      "HD t-\r\n",
      "HD cX\r\n",
      "HD h2\r\n",
      "VALUE k 0 1\r\n",
      "+OK\r\n",
      "x".repeat(2000)
    ]
    for (const text of bad) {
      const parser = new MetaParser({ maxLineLength: 1024, maxValueLength: 1 << 20 })
      const seen: Array<Meta.MetaReply> = []
      const failure = parser.feed(bytes(text), (reply) => seen.push(reply))
      expect(failure, JSON.stringify(text)).toBeDefined()
      expect(seen).toHaveLength(0)
      expect(parser.feed(bytes("HD\r\n"), (reply) => seen.push(reply))).toBe(failure)
      expect(seen).toHaveLength(0)
    }
  })

  it("random bytes never throw, and either parse or fail", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        const result = parseAll([data])
        expect(result.failure === undefined || typeof result.failure === "string").toBe(true)
      }),
      { numRuns: 2000 }
    )
  })
})

// -- the connection, through a stand-in socket

class FakeSocket extends EventEmitter {
  written: Array<string> = []
  destroyed = false
  setNoDelay() {}
  cork() {}
  uncork() {}
  write(chunk: Uint8Array) {
    this.written.push(Buffer.from(chunk).toString("latin1"))
    return true
  }
  destroy() {
    this.destroyed = true
  }
}

interface TestError {
  readonly _tag: string
  readonly message: string
  readonly outcomeUnknown?: boolean | undefined
}

const errors: MetaConnectionErrors<TestError> = {
  connection: (fields) => ({ _tag: "Connection", ...fields }),
  timeout: (fields) => ({ _tag: "Timeout", ...fields }),
  protocol: (fields) => ({ _tag: "Protocol", ...fields })
}

const connect = (maxInFlight = 100) => {
  const socket = new FakeSocket()
  const input = new SocketInput()
  const closed: Array<TestError> = []
  const conn = new MetaConnection<TestError>(socket as never, input, {
    where: "fake:1",
    commandTimeoutMillis: 60_000,
    maxInFlight,
    errors,
    onClose: (_, error) => closed.push(error)
  })
  const flush = () => new Promise<void>((resolve) => setImmediate(resolve))
  /** The opaque tokens written so far, in order. */
  const tokens = () => socket.written.join("").split("\r\n").flatMap((line) => line.match(/ O(\w+)$/)?.[1] ?? [])
  return { socket, input, conn, closed, flush, tokens }
}

const get = (conn: MetaConnection<TestError>, key: string) =>
  conn.submit("mg", (opaque) => Meta.encodeGet(Buffer.from(key), { value: true }, opaque))

describe("meta connection", () => {
  it("pairs replies with their requests by token, and closes on a token that does not match", async () => {
    const { closed, conn, flush, input, tokens } = connect()
    const a = get(conn, "a")
    const b = get(conn, "b")
    await flush()
    const [ta, tb] = tokens()
    input.receive(bytes(`VA 1 O${ta}\r\nA\r\nEN O${tb}\r\n`))
    expect(a.reply).toMatchObject({ status: "VA" })
    expect(b.reply).toMatchObject({ status: "EN" })
    const c = get(conn, "c")
    const d = get(conn, "d")
    await flush()
    const [, , , td] = tokens()
    // d's reply where c's is due: nothing is handed to c, both fail, the connection is closed.
    input.receive(bytes(`VA 1 O${td}\r\nD\r\n`))
    expect(c.error?._tag).toBe("Protocol")
    expect(d.error?._tag).toBe("Protocol")
    expect(c.reply).toBeUndefined()
    expect(conn.isOpen).toBe(false)
    expect(closed).toHaveLength(1)
  })

  it("an unsolicited reply closes the connection", () => {
    const { conn, input } = connect()
    input.receive(bytes("HD O1\r\n"))
    expect(conn.isOpen).toBe(false)
  })

  it("a batch places replies by token, leaves the quiet ones empty, and fails only the ambiguous ones on an error line", async () => {
    const { conn, flush, input, tokens } = connect()
    const keys = ["k0", "k1", "k2", "k3", "k4"]
    const batch = conn.submitBatch(
      "mg",
      keys.map((key) => (opaque: string) => Meta.encodeGet(Buffer.from(key), { value: true, quiet: true }, opaque))
    )
    const after = get(conn, "after")
    await flush()
    const t = tokens()
    // k1 hit, then an error line (k2 or k3), k4 hit, MN; then `after`'s reply.
    input.receive(
      bytes(`VA 1 O${t[1]}\r\n1\r\nSERVER_ERROR out of memory\r\nVA 1 O${t[4]}\r\n4\r\nMN\r\nEN O${t[5]}\r\n`)
    )
    expect(batch.done).toBe(true)
    const replies = batch.replies!
    expect(replies[0]).toBeUndefined()
    expect(replies[1]).toMatchObject({ status: "VA" })
    expect(replies[2]).toMatchObject({ _tag: "Error" })
    expect(replies[3]).toMatchObject({ _tag: "Error" })
    expect(replies[4]).toMatchObject({ status: "VA" })
    expect(after.reply).toMatchObject({ status: "EN" })
    expect(conn.isOpen).toBe(true)
  })

  it("a batch reply out of order, or with a token of another batch, closes the connection", async () => {
    const { conn, flush, input, tokens } = connect()
    const batch = conn.submitBatch(
      "mg",
      ["a", "b"].map((key) => (opaque: string) => Meta.encodeGet(Buffer.from(key), { quiet: true }, opaque))
    )
    await flush()
    const t = tokens()
    input.receive(bytes(`HD O${t[1]}\r\nHD O${t[0]}\r\n`))
    expect(batch.error?._tag).toBe("Protocol")
    expect(conn.isOpen).toBe(false)
  })

  it("past maxInFlight requests wait unwritten; a cancelled waiter is never written; a lost connection says which ran", async () => {
    const { conn, flush, input, socket, tokens } = connect(2)
    const a = get(conn, "a")
    const b = get(conn, "b")
    const c = get(conn, "c")
    const d = get(conn, "d")
    await flush()
    expect(tokens()).toHaveLength(2)
    c.cancelled = true
    const [ta] = tokens()
    input.receive(bytes(`EN O${ta}\r\n`))
    await flush()
    // c was skipped: d took the room.
    expect(socket.written.join("")).not.toContain(`mg ${Buffer.from("c").toString("base64")} `)
    expect(socket.written.join("")).toContain(`mg ${Buffer.from("d").toString("base64")} `)
    expect(a.reply).toBeDefined()
    socket.emit("close")
    expect(b.error).toMatchObject({ _tag: "Connection", outcomeUnknown: true })
    expect(d.error).toMatchObject({ _tag: "Connection", outcomeUnknown: true })
    // Nobody waits for c any more: it is dropped, never settled nor written.
    expect(c.done).toBe(false)
  })

  it("a batch answered in part times out whole, closes the connection, and its late replies reach nobody", async () => {
    const socket = new FakeSocket()
    const input = new SocketInput()
    const conn = new MetaConnection<TestError>(socket as never, input, {
      where: "fake:1",
      commandTimeoutMillis: 30,
      maxInFlight: 100,
      errors,
      onClose: () => {}
    })
    const batch = conn.submitBatch(
      "mg",
      ["a", "b"].map((key) => (opaque: string) =>
        Meta.encodeGet(Buffer.from(key), { value: true, quiet: true }, opaque)
      )
    )
    const next = get(conn, "c")
    await new Promise<void>((resolve) => setImmediate(resolve))
    const token = socket.written.join("").match(/ O(\w+)\r\n/)![1]
    input.receive(bytes(`VA 1 O${token}\r\nA\r\n`))
    while (!batch.done) await new Promise<void>((resolve) => setTimeout(resolve, 5))
    expect(batch.error).toMatchObject({ _tag: "Timeout", outcomeUnknown: true })
    expect(next.error).toMatchObject({ _tag: "Connection", outcomeUnknown: true })
    expect(conn.isOpen).toBe(false)
    expect(socket.destroyed).toBe(true)
    input.receive(bytes("MN\r\nEN O99\r\n"))
    expect(next.reply).toBeUndefined()
  })

  it("a request that waited for room past its timeout fails without being sent, and says so", async () => {
    const socket = new FakeSocket()
    const input = new SocketInput()
    const conn = new MetaConnection<TestError>(socket as never, input, {
      where: "fake:1",
      commandTimeoutMillis: 30,
      maxInFlight: 1,
      errors,
      onClose: () => {}
    })
    const first = get(conn, "a")
    const waiting = get(conn, "b")
    while (!waiting.done) await new Promise<void>((resolve) => setTimeout(resolve, 5))
    expect(waiting.error).toMatchObject({ _tag: "Timeout" })
    expect(waiting.error?.outcomeUnknown).toBeUndefined()
    expect(waiting.error?.message).toContain("never sent")
    expect(socket.written.join("")).not.toContain(`mg ${Buffer.from("b").toString("base64")} `)
    while (!first.done) await new Promise<void>((resolve) => setTimeout(resolve, 5))
    expect(first.error).toMatchObject({ _tag: "Timeout", outcomeUnknown: true })
  })

  it("tokens are unique among requests in flight", () => {
    const { conn } = connect(100_000)
    const seen = new Set<string>()
    for (let i = 0; i < 10_000; i++) {
      const exchange: Exchange<TestError> = get(conn, `k${i}`)
      seen.add(exchange.opaques as string)
    }
    expect(seen.size).toBe(10_000)
  })
})

describe("meta connection under random interleavings", () => {
  type Step =
    | { readonly _tag: "single"; readonly outcome: "hit" | "miss" | "error" }
    | { readonly _tag: "batch"; readonly outcomes: ReadonlyArray<"hit" | "miss" | "error"> }
  const outcome = fc.constantFrom("hit", "hit", "miss", "error") as fc.Arbitrary<"hit" | "miss" | "error">
  const step: fc.Arbitrary<Step> = fc.oneof(
    outcome.map((o) => ({ _tag: "single" as const, outcome: o })),
    fc.array(outcome, { maxLength: 8 }).map((outcomes) => ({ _tag: "batch" as const, outcomes }))
  )

  it("a value only ever reaches the request of its own key, whatever the chunking and interleaving", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(step, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        async (rounds, cuts) => {
          const { conn, flush, input, socket } = connect(1_000)
          let serial = 0
          let read = 0
          let pending = ""
          let cut = 0
          const checks: Array<() => void> = []
          /** Answers what was written since the last call, as memcached would with the planned outcomes. */
          const plans = new Map<string, "hit" | "miss" | "error">()
          const answer = () => {
            const text = socket.written.join("").slice(read)
            read += text.length
            for (const line of text.split("\r\n")) {
              if (line === "") continue
              if (line === "mn") {
                pending += "MN\r\n"
                continue
              }
              const [, key] = line.split(" ")
              const token = line.match(/ O(\w+)$/)![1]
              const quiet = line.includes(" q ")
              const plan = plans.get(key!)!
              const value = Buffer.from(key!, "base64").toString("latin1")
              if (plan === "hit") pending += `VA ${value.length} O${token}\r\n${value}\r\n`
              else if (plan === "error") pending += "SERVER_ERROR out of memory\r\n"
              else if (!quiet) pending += `EN O${token}\r\n`
            }
          }
          /** Feeds part of the answers so far, cut at the next random length. */
          const feedSome = () => {
            const n = Math.min(pending.length, cuts[cut++ % cuts.length]!)
            input.receive(bytes(pending.slice(0, n)))
            pending = pending.slice(n)
          }
          for (const round of rounds) {
            for (const s of round) {
              if (s._tag === "single") {
                const key = `s${serial++}`
                plans.set(Buffer.from(key).toString("base64"), s.outcome)
                const exchange = get(conn, key)
                checks.push(() => {
                  const reply = exchange.reply
                  if (s.outcome === "hit") expect(reply).toMatchObject({ status: "VA" })
                  if (s.outcome === "hit" && reply?._tag === "Status") expect(reply.value!.toString()).toBe(key)
                  if (s.outcome === "miss") expect(reply).toMatchObject({ status: "EN" })
                  if (s.outcome === "error") expect(reply).toMatchObject({ _tag: "Error" })
                })
              } else {
                const keys = s.outcomes.map((o) => {
                  const key = `b${serial++}`
                  plans.set(Buffer.from(key).toString("base64"), o)
                  return key
                })
                const exchange = conn.submitBatch(
                  "mg",
                  keys.map((key) => (opaque: string) =>
                    Meta.encodeGet(Buffer.from(key), { value: true, quiet: true }, opaque)
                  )
                )
                checks.push(() => {
                  expect(exchange.error).toBeUndefined()
                  s.outcomes.forEach((o, i) => {
                    const reply = exchange.replies![i]
                    // A hit is its own key's value; a miss is silent or, next to an error line, failed with it.
                    if (o === "hit") {
                      expect(reply?._tag === "Status" && reply.value!.toString()).toBe(keys[i])
                    } else if (o === "error") expect(reply).toMatchObject({ _tag: "Error" })
                    else expect(reply === undefined || reply._tag === "Error").toBe(true)
                  })
                })
              }
            }
            await flush()
            answer()
            feedSome()
          }
          while (pending.length > 0) feedSome()
          expect(conn.isOpen).toBe(true)
          expect(conn.inFlight).toBe(0)
          for (const check of checks) check()
        }
      ),
      { numRuns: 200 }
    )
  })
})
