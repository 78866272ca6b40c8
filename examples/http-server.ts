/**
 * The cache in a Node server that is not written with Effect: one `ManagedRuntime` for the process, one
 * `runPromise` per request, `dispose` on SIGTERM. `REDIS_URL=redis://localhost:6379 PORT=3000 npx tsx
 * examples/http-server.ts`, then `curl localhost:3000/users/1`.
 */
import { createServer } from "node:http"

import { Effect, Layer, ManagedRuntime } from "effect"
import { RedisBackend, RedisClient, RemoteCache, TieredCache } from "../src/index.js"

const CacheLive = TieredCache.layerRedis({ capacity: 10_000, l1Ttl: "30 seconds" }).pipe(
  Layer.provide(RemoteCache.layerDefault),
  Layer.provide(RedisBackend.layerWithoutClient({ prefix: "app:" })),
  Layer.provide(RedisClient.layer({ url: process.env["REDIS_URL"] ?? "redis://localhost:6379" }))
)

// One runtime for the whole process: it builds the layers once, on first use, and owns their connections until
// `dispose`. Never one per request: each would open its own connections and start with an empty L1.
const runtime = ManagedRuntime.make(CacheLive)

// Stands for a database query.
const loadUser = (id: string) => Effect.succeed({ id, name: "Ada", loadedAt: new Date().toISOString() })

const getUser = (id: string) =>
  Effect.gen(function*() {
    const cache = yield* TieredCache.TieredCache
    return yield* cache.getOrCompute(`user:${id}`, loadUser(id), { ttl: "5 minutes" })
  })

const server = createServer((request, response) => {
  const match = /^\/users\/([\w-]+)$/.exec(request.url ?? "")
  if (match === null) {
    response.writeHead(404).end()
    return
  }
  // A client that goes away interrupts its request's Effect (and nothing else).
  const aborted = new AbortController()
  response.on("close", () => {
    if (!response.writableFinished) aborted.abort()
  })
  runtime.runPromise(getUser(match[1]!), { signal: aborted.signal }).then(
    (user) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(user)),
    (error) => response.writeHead(500).end(String(error))
  )
})

server.listen(Number(process.env["PORT"] ?? 3000), () => {
  const address = server.address()
  console.log(`listening on port ${typeof address === "object" && address !== null ? address.port : address}`)
})

// Stop taking requests, let those in flight finish, then close the cache's connections; the process then exits
// by itself, as nothing is left to wait for.
process.once("SIGTERM", () => {
  server.close(() => {
    runtime.dispose().then(
      () => console.log("closed"),
      (error) => {
        console.error(error)
        process.exitCode = 1
      }
    )
  })
})
