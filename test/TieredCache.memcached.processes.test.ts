/**
 * Single flight across real processes: two Node processes (test/fixtures/flightChild.ts), each with 100 callers of
 * one key, on one memcached this test starts. Effect 3 only: the children run the Effect 3 face through tsx; the
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
  readonly line: (pattern: RegExp) => Promise<string>
}

/** A child process running the fixture against `address`; killed when the scope closes. */
const spawn = (address: string, mode: "on" | "off") =>
  Effect.acquireRelease(
    Effect.sync((): Child => {
      const child = ChildProcess.spawn(
        process.execPath,
        ["--import", tsx, "test/fixtures/flightChild.ts", address, mode],
        { cwd: root, stdio: ["pipe", "pipe", "pipe"] }
      )
      const output = { text: "" }
      child.stdout.on("data", (chunk) => output.text += String(chunk))
      child.stderr.on("data", (chunk) => output.text += String(chunk))
      // Resolves with the first line matching `pattern`, or rejects when the child exits first.
      const line = (pattern: RegExp) =>
        new Promise<string>((resolve, reject) => {
          const check = () => {
            const found = output.text.split("\n").find((l) => pattern.test(l))
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

describe("TieredCache over memcached: single flight across real processes", () => {
  it.scopedLive("two processes, 100 callers each, one computation in all", () =>
    Effect.gen(function*() {
      const server = yield* MemcachedServer.make()
      const results = yield* run(server.address, "on")
      expect(results.reduce((sum, result) => sum + result.computed, 0)).toBe(1)
      for (const result of results) expect(result.values).toStrictEqual([1])
    }), 60_000)
})
