/**
 * Measures `clear` on 1,000,000 keys: the total time, and the worst round trip of a PING sent every 2 ms from
 * another connection meanwhile (how long the server was ever blocked). Starts its own redis-server.
 *
 * Run: `npx tsx bench/clear.ts [keys]`
 */
import { Effect } from "effect"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisServer from "../test/utils/RedisServer.js"

const keys = Number(process.argv[2] ?? 1_000_000)

const program = Effect.gen(function*() {
  const server = yield* RedisServer.make({ args: ["--enable-debug-command", "yes"] })
  yield* server.cli("DEBUG", "POPULATE", String(keys), "ac:bulk", "16")
  yield* server.cli("DEBUG", "POPULATE", "10000", "other", "16")
  const client = yield* RedisClient.make({ host: server.host, port: server.port })
  const probe = yield* RedisClient.make({ host: server.host, port: server.port })
  const cache = yield* Effect.provideService(RedisBackend.make(), RedisClient.RedisClient, client)
  const pings: Array<number> = []
  let clearing = true
  const pinger = Effect.fork(Effect.gen(function*() {
    while (clearing) {
      const started = performance.now()
      yield* probe.send(["PING"])
      pings.push(performance.now() - started)
      yield* Effect.sleep("2 millis")
    }
  }))
  const fiber = yield* pinger
  const started = performance.now()
  yield* cache.clear
  const elapsed = performance.now() - started
  clearing = false
  yield* fiber.await
  pings.sort((a, b) => a - b)
  const left = yield* server.cli("DBSIZE")
  const redis = (yield* server.cli("INFO", "server")).match(/redis_version:(\S+)/)?.[1]
  console.log(`redis ${redis}, node ${process.version}: clear of ${keys.toLocaleString("en")} keys`)
  console.log(
    `  total ${(elapsed / 1000).toFixed(2)} s (${Math.round(keys / (elapsed / 1000)).toLocaleString("en")} keys/s)`
  )
  console.log(
    `  PING during clear: ${pings.length} samples, p50 ${pings[Math.floor(pings.length / 2)]!.toFixed(2)} ms, p99 ${
      pings[Math.floor(pings.length * 0.99)]!.toFixed(2)
    } ms, max ${pings[pings.length - 1]!.toFixed(2)} ms`
  )
  console.log(`  keys left (the 10,000 of another prefix): ${left}`)
})

Effect.runPromise(Effect.scoped(program))
