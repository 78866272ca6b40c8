/**
 * `npm start`: a short tour of the cache on the embedded default (an in-process MemoryBackend, no server
 * needed). With `REDIS_URL` set, the same program runs against that Redis.
 */
import { Console, Effect, Layer, Option } from "effect"
import { MemoryBackend, RedisBackend, RemoteCacheBackend } from "../src/index.js"

const url = process.env["REDIS_URL"]

// The one line that differs between the demo, the tests and production: which layer provides the backend.
const Backend: Layer.Layer<RemoteCacheBackend.RemoteCacheBackend, unknown> = url === undefined
  ? MemoryBackend.layer({ prefix: "demo:" })
  : RedisBackend.layer({ url, prefix: "demo:", connectTimeout: "2 seconds" })

const program = Effect.gen(function*() {
  const cache = yield* RemoteCacheBackend.RemoteCacheBackend
  yield* Console.log(`backend: ${url === undefined ? "in-memory (set REDIS_URL to use Redis)" : "Redis"}`)

  yield* cache.set("greeting", { text: "hello", at: new Date(0) })
  const hit = yield* cache.get("greeting")
  yield* Console.log(`get greeting -> ${Option.match(hit, { onNone: () => "miss", onSome: (v) => JSON.stringify(v) })}`)

  yield* cache.set("short-lived", 42, "100 millis")
  yield* Console.log(`get short-lived -> ${Option.isSome(yield* cache.get("short-lived")) ? "hit" : "miss"}`)
  yield* Effect.sleep("150 millis")
  yield* Console.log(`after 150 ms -> ${Option.isSome(yield* cache.get("short-lived")) ? "hit" : "miss (expired)"}`)

  yield* cache.setMany([["a", 1], ["b", 2]])
  const many = yield* cache.getMany(["a", "missing", "b"])
  yield* Console.log(`getMany a, missing, b -> ${many.map(Option.getOrElse(() => "miss")).join(", ")}`)

  const failed = yield* Effect.flip(cache.set("fn", () => "functions cannot be cached"))
  yield* Console.log(`set of a function -> ${failed._tag}: ${failed.message}`)

  yield* cache.clear
  yield* Console.log(`after clear -> ${Option.isSome(yield* cache.get("greeting")) ? "hit" : "miss"}`)
})

Effect.runPromise(program.pipe(Effect.provide(Backend))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
