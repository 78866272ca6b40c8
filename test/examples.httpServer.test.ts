/**
 * The Node server recipe (examples/http-server.ts, docs/node-server.md) as a user runs it: a process of its own
 * against a Redis this test starts, two requests (the second served from the cache), then SIGTERM, after which the
 * process must close its connections and exit by itself with code 0.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as RedisServer from "./utils/RedisServer.js"

const root = path.resolve(import.meta.dirname, "..")
const tsx = createRequire(import.meta.url).resolve("tsx")

/** Resolves with the first match of `pattern` in the child's stdout, or rejects when the child exits first. */
const waitFor = (child: ChildProcess.ChildProcess, output: { text: string }, pattern: RegExp) =>
  new Promise<RegExpExecArray>((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(output.text)
      if (match !== null) {
        child.stdout!.off("data", check)
        child.off("exit", exited)
        resolve(match)
      }
    }
    const exited = (code: number | null) => reject(new Error(`exited with ${code} before ${pattern}:\n${output.text}`))
    child.stdout!.on("data", check)
    child.once("exit", exited)
    check()
  })

describe("examples/http-server.ts", () => {
  it.scopedLive("serves from the cache, and exits by itself with code 0 on SIGTERM", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const output = { text: "" }
      const child = yield* Effect.acquireRelease(
        Effect.sync(() =>
          ChildProcess.spawn(process.execPath, ["--import", tsx, "examples/http-server.ts"], {
            cwd: root,
            env: { ...process.env, REDIS_URL: server.url, PORT: "0" },
            stdio: ["ignore", "pipe", "pipe"]
          })
        ),
        (child) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
      )
      child.stdout.on("data", (chunk) => output.text += String(chunk))
      child.stderr.on("data", (chunk) => output.text += String(chunk))
      const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))

      const [, port] = yield* Effect.promise(() => waitFor(child, output, /listening on port (\d+)/))
      const get = (url: string) =>
        Effect.promise(() => fetch(`http://127.0.0.1:${port}${url}`).then(async (r) => [r.status, await r.text()]))
      const [status, first] = yield* get("/users/7")
      expect(status).toBe(200)
      expect(JSON.parse(String(first))).toMatchObject({ id: "7", name: "Ada" })
      // The second request is answered from the cache: the same `loadedAt`.
      expect(yield* get("/users/7")).toEqual([200, first])
      expect((yield* get("/nothing"))[0]).toBe(404)
      expect(yield* server.cli("EXISTS", "app:user:7")).toBe("1")

      child.kill("SIGTERM")
      expect(yield* Effect.promise(() => exit)).toBe(0)
      expect(output.text).toContain("closed")
    }), 60_000)
})
