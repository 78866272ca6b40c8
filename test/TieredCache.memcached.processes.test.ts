/**
 * Single flight across real processes: two Node processes (test/fixtures/flightChild.ts), each with 100 callers of
 * one key, on one memcached this test starts; then the refresh of a copy both hold stale. Effect 3 only: the children run the Effect 3 face through tsx; the
 * same logic on both faces is covered in-process by TieredCache.memcached.flight.test.ts. With the option off the
 * two processes' computations overlap and each computes (2 in all); that is not asserted, since it depends on
 * both starting within the 50 ms of the other's computation.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as MemcachedServer from "./utils/MemcachedServer.js"

const root = path.resolve(import.meta.dirname, "..")
const tsx = createRequire(import.meta.url).resolve("tsx")

interface Child {
  readonly process: ChildProcess.ChildProcess
  readonly line: (pattern: RegExp, nth?: number) => Promise<string>
}

/** A child process running the fixture against `address`; killed when the scope closes. */
const spawn = (address: string, mode: "on" | "off", phases: "once" | "refresh" = "once") =>
  Effect.acquireRelease(
    Effect.sync((): Child => {
      const child = ChildProcess.spawn(
        process.execPath,
        ["--import", tsx, "test/fixtures/flightChild.ts", address, mode, phases],
        { cwd: root, stdio: ["pipe", "pipe", "pipe"] }
      )
      const output = { text: "" }
      child.stdout.on("data", (chunk) => output.text += String(chunk))
      child.stderr.on("data", (chunk) => output.text += String(chunk))
      // Resolves with the `nth` line matching `pattern` (the first by default), or rejects when the child exits
      // first.
      const line = (pattern: RegExp, nth = 1) =>
        new Promise<string>((resolve, reject) => {
          const check = () => {
            const found = output.text.split("\n").filter((l) => pattern.test(l))[nth - 1]
            if (found !== undefined) {
              child.stdout.off("data", check)
              child.off("exit", exited)
              resolve(found)
            }
          }
          const exited = (code: number | null) => reject(new Error(`exited with ${code}:\n${output.text}`))
          child.stdout.on("data", check)
          child.once("exit", exited)
          check()
        })
      return { process: child, line }
    }),
    (child) => Effect.sync(() => child.process.exitCode === null && child.process.kill("SIGKILL"))
  )

/** Starts both children, lets them go at once, and returns their results. */
const run = (address: string, mode: "on" | "off") =>
  Effect.gen(function*() {
    const children = [yield* spawn(address, mode), yield* spawn(address, mode)]
    yield* Effect.promise(() => Promise.all(children.map((child) => child.line(/^ready$/))))
    for (const child of children) child.process.stdin!.write("go\n")
    const lines = yield* Effect.promise(() => Promise.all(children.map((child) => child.line(/^\{/))))
    return lines.map((line) => JSON.parse(line) as { computed: number; values: Array<number> })
  })

interface Round {
  readonly computed: number
  readonly values: Array<string>
}

/** Both children in `refresh` mode: a first round, then, once each holds a stale copy, a second one. */
const runRefresh = (address: string) =>
  Effect.gen(function*() {
    const children = [yield* spawn(address, "on", "refresh"), yield* spawn(address, "on", "refresh")]
    yield* Effect.promise(() => Promise.all(children.map((child) => child.line(/^ready$/))))
    for (const child of children) child.process.stdin!.write("go\n")
    const first = yield* Effect.promise(() => Promise.all(children.map((child) => child.line(/^\{/))))
    yield* Effect.promise(() => Promise.all(children.map((child) => child.line(/^stale$/))))
    for (const child of children) child.process.stdin!.write("go\n")
    const second = yield* Effect.promise(() => Promise.all(children.map((child) => child.line(/^\{/, 2))))
    return {
      first: first.map((line) => JSON.parse(line) as Round),
      second: second.map((line) => JSON.parse(line) as Round)
    }
  })

describe("TieredCache over memcached: single flight across real processes", () => {
  it.scopedLive("two processes, 100 callers each, one computation in all", () =>
    Effect.gen(function*() {
      const server = yield* MemcachedServer.make()
      const results = yield* run(server.address, "on")
      expect(results.reduce((sum, result) => sum + result.computed, 0)).toBe(1)
      for (const result of results) expect(result.values).toStrictEqual([1])
    }), 60_000)

  it.scopedLive(
    "two processes holding a stale copy, 100 callers each: one refresh in all, its value everywhere",
    () =>
      Effect.gen(function*() {
        const server = yield* MemcachedServer.make()
        const { first, second } = yield* runRefresh(server.address)
        expect(first.reduce((sum, round) => sum + round.computed, 0)).toBe(1)
        expect(second.reduce((sum, round) => sum + round.computed, 0)).toBe(1)
        const [written] = first.flatMap((round) => round.values)
        const [refreshed] = second.flatMap((round) => round.values)
        for (const round of first) expect(round.values).toStrictEqual([written])
        for (const round of second) expect(round.values).toStrictEqual([refreshed])
        expect(refreshed).not.toBe(written)
      }),
    60_000
  )
})
