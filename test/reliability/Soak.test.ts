import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Schedule } from "effect"
import * as fc from "fast-check"
import * as RedisClient from "../../src/RedisClient.js"
import * as Resp from "../../src/Resp.js"
import { heapMb } from "../utils/Heap.js"
import * as RedisServer from "../utils/RedisServer.js"
import { encodeValue } from "../utils/RespValues.js"

// A million operations through one client while the server is frozen (SIGSTOP) for 300 ms every second: each freeze
// times commands out and forces reconnections. The heap must stay flat and no reply may reach the wrong command.

const tagOf = (cause: Cause.Cause<unknown>): string => (Cause.squash(cause) as { _tag?: string })._tag ?? "defect"

describe("Soak", () => {
  it.scopedLive(
    "1,000,000 operations, 256 in flight, server paused 300 ms every second: heap flat, every reply its own",
    () =>
      Effect.gen(function*() {
        const target = 1_000_000
        const concurrency = 256
        const keysPerWorker = 16
        const commandTimeoutMillis = 150
        const server = yield* RedisServer.make()
        const client = yield* RedisClient.make({
          host: server.host,
          port: server.port,
          commandTimeout: `${commandTimeoutMillis} millis`,
          connectTimeout: "500 millis",
          reconnectBaseDelay: "20 millis",
          reconnectMaxDelay: "200 millis"
        })

        // Keys and values prepared once: the loop allocates only what the client itself allocates.
        const keys = Array.from(
          { length: concurrency },
          (_, w) => Array.from({ length: keysPerWorker }, (_, k) => `soak:${w}:${k}`)
        )
        const values = keys.map((row) => row.map((key) => Buffer.from(`value of ${key}`)))

        let succeeded = 0
        let attempted = 0
        let wrong = 0
        let maxOpMillis = 0
        const errors: Record<string, number> = {}
        let running = true

        const worker = (w: number) =>
          Effect.gen(function*() {
            let i = 0
            while (running && succeeded < target) {
              const k = i % keysPerWorker
              const command = (i & 1) === 0 ? ["SET", keys[w]![k]!, values[w]![k]!] : ["GET", keys[w]![k]!]
              i++
              const started = performance.now()
              const exit = yield* Effect.exit(client.send(command))
              maxOpMillis = Math.max(maxOpMillis, performance.now() - started)
              attempted++
              if (Exit.isSuccess(exit)) {
                succeeded++
                const reply = exit.value
                if (
                  command[0] === "SET"
                    ? reply !== "OK"
                    : reply !== null && !values[w]![k]!.equals(reply as Uint8Array)
                ) {
                  wrong++
                }
              } else {
                const tag = tagOf(exit.cause)
                errors[tag] = (errors[tag] ?? 0) + 1
                // A fail-fast error (server unavailable) costs microseconds; without a pause a worker would only
                // count failures while the server is frozen.
                yield* Effect.sleep("10 millis")
              }
            }
          })

        // Warm-up, so that the baseline includes compiled code, pools and the client's steady-state buffers.
        yield* Effect.forEach(keys, (row, w) =>
          Effect.forEach(row, (key, k) => client.send(["SET", key, values[w]![k]!]), { discard: true }), {
          concurrency: "unbounded",
          discard: true
        })
        const heapBefore = heapMb()
        const started = Date.now()

        // Heap without a forced GC, sampled every second: the trend a production process would show.
        const samples: Array<number> = []
        const sampler = yield* Effect.fork(Effect.forever(Effect.zipRight(
          Effect.sync(() =>
            samples.push(process.memoryUsage().heapUsed / 1024 / 1024)
          ),
          Effect.sleep("1 second")
        )))
        let pauses = 0
        const pauser = yield* Effect.fork(Effect.forever(Effect.gen(function*() {
          // A freeze every second rather than every two: the million operations take only a few seconds here,
          // and each freeze must hit many of them.
          yield* Effect.sleep("700 millis")
          yield* server.pause
          pauses++
          yield* Effect.sleep("300 millis")
          yield* server.resume
        })))

        const workers = yield* Effect.forEach(
          Array.from({ length: concurrency }, (_, w) => w),
          (w) => Effect.fork(worker(w))
        )
        yield* Effect.forEach(workers, Fiber.join, { discard: true })
        running = false
        yield* Fiber.interrupt(pauser)
        yield* server.resume
        yield* Fiber.interrupt(sampler)
        const seconds = (Date.now() - started) / 1000
        const heapAfter = heapMb()

        const third = Math.max(1, Math.floor(samples.length / 3))
        const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length
        const firstThird = mean(samples.slice(0, third))
        const lastThird = mean(samples.slice(-third))
        console.log(
          `soak: ${succeeded} operations succeeded (${attempted} attempted) in ${seconds.toFixed(1)} s, ` +
            `${Math.round(succeeded / seconds)} ops/s, ${concurrency} in flight; ${pauses} pauses of 300 ms; ` +
            `errors ${JSON.stringify(errors)}; wrong replies ${wrong}; slowest operation ${
              maxOpMillis.toFixed(0)
            } ms; ` +
            `heap after GC ${heapBefore.toFixed(1)} MB -> ${heapAfter.toFixed(1)} MB ` +
            `(+${(heapAfter - heapBefore).toFixed(1)} MB); heap without GC, mean of first third ` +
            `${firstThird.toFixed(1)} MB, last third ${lastThird.toFixed(1)} MB, max ${
              Math.max(...samples).toFixed(1)
            } MB`
        )

        expect(succeeded).toBeGreaterThanOrEqual(target)
        expect(wrong).toBe(0)
        expect(errors["RedisProtocolError"] ?? 0).toBe(0)
        expect(errors["defect"] ?? 0).toBe(0)
        // The pauses did bite: commands timed out and connections were replaced.
        expect(pauses).toBeGreaterThanOrEqual(3)
        expect(errors["RedisTimeoutError"] ?? 0).toBeGreaterThan(0)
        // A command waits for a connection (connectTimeout) and then for its reply (commandTimeout), nothing more.
        expect(maxOpMillis).toBeLessThan(500 + commandTimeoutMillis + 1_500)
        // Judged after a full GC; the figures without one are printed for the trend but swing with GC timing.
        expect(heapAfter - heapBefore).toBeLessThan(50)
        // The client still works after it all.
        expect(yield* client.send(["PING"]).pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 40 })))
          .toBe("PONG")
      }),
    // The million operations take 20 s on a quiet machine and were seen to take 90 s on a busy one; the time is
    // not what the test judges.
    300_000
  )

  // Resp.fuzz.test.ts parses each of its 110,000 inputs with a fresh parser. A connection's parser lives as long as
  // the connection, so here one parser takes a single long stream of fuzzed chunks, reset after each protocol error
  // as the client does with a new connection: what it holds must stay within its limits, and nothing may pile up.
  it("parser: one stream of 200,000 fuzzed chunks, held bytes within the limits, heap flat", () => {
    const limits = { maxLineLength: 1024, maxBulkLength: 16 * 1024, maxAggregateLength: 1024, maxDepth: 16 }
    const heldBound = limits.maxLineLength + 2 + limits.maxBulkLength
    const parser = new Resp.Parser(limits)
    const leaf: fc.Arbitrary<Resp.RespValue> = fc.oneof(
      fc.integer(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 2048 }),
      fc.string({ maxLength: 16 }).map((s) => new Resp.ErrorReply(s.replace(/[\r\n]/g, "")))
    )
    const value = fc.oneof(leaf, fc.array(leaf, { maxLength: 8 }), fc.array(fc.array(leaf, { maxLength: 4 })))
    const mutate = (bytes: Buffer, at: number, byte: number): Buffer => {
      const copy = Buffer.from(bytes)
      if (copy.length > 0) copy[at % copy.length] = byte
      return copy
    }
    const chunk: fc.Arbitrary<Buffer> = fc.oneof(
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)) },
      { weight: 8, arbitrary: value.map(encodeValue) },
      {
        weight: 2,
        arbitrary: fc.tuple(value, fc.nat(), fc.nat(255)).map(([v, at, byte]) => mutate(encodeValue(v), at, byte))
      },
      // Headers that declare far more than ever arrives, and nesting that never closes.
      {
        weight: 1,
        arbitrary: fc.constantFrom("$16384\r\n", "*1024\r\n", "*1\r\n*1\r\n*1\r\n*1\r\n", "+" + "a".repeat(900))
          .map((s) => Buffer.from(s))
      }
    )
    let replies = 0
    let errors = 0
    let maxHeld = 0
    const batches = 20
    const perBatch = 10_000
    const feedBatch = (seed: number) => {
      for (const bytes of fc.sample(chunk, { numRuns: perBatch, seed })) {
        const error = parser.feed(bytes, () => replies++)
        maxHeld = Math.max(maxHeld, parser.bufferedBytes)
        if (parser.bufferedBytes > heldBound) throw new Error(`held ${parser.bufferedBytes} bytes`)
        if (error !== undefined) {
          // An exception escaping the parser's own code would show as a cause: a bug, not a verdict.
          if (error.cause !== undefined) throw new Error(`internal exception: ${error.message}`)
          errors++
          parser.reset()
        }
      }
    }
    feedBatch(0)
    const heapBefore = heapMb()
    for (let b = 1; b < batches; b++) feedBatch(b)
    const heapAfter = heapMb()
    console.log(
      `parser soak: ${batches * perBatch} chunks, ${replies} replies, ${errors} protocol errors (each followed by a ` +
        `reset), at most ${maxHeld} bytes held (bound ${heldBound}); heap after GC ${heapBefore.toFixed(1)} MB -> ` +
        `${heapAfter.toFixed(1)} MB`
    )
    expect(replies).toBeGreaterThan(10_000)
    expect(errors).toBeGreaterThan(1_000)
    expect(heapAfter - heapBefore).toBeLessThan(20)
  }, 60_000)
})
