/**
 * The backend contract against `MemcachedBackend`, on one server and on three (keys spread by the ring, the
 * generation counter on whichever server the ring picks for it).
 */
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Expiry from "../src/core/memcached/expiry.js"
import * as Generation from "../src/core/memcached/generation.js"
import { fullKey, generationKey } from "../src/core/memcached/key.js"
import * as MemcachedBackend from "../src/MemcachedBackend.js"
import * as MemcachedClient from "../src/MemcachedClient.js"
import { backendFromLayer, contractSuite } from "./contract/BackendContract.js"
import * as MemcachedRaw from "./utils/MemcachedRaw.js"
import * as MemcachedServer from "./utils/MemcachedServer.js"

class Servers extends Context.Service<Servers, ReadonlyArray<MemcachedServer.MemcachedServerShape>>()(
  "test/MemcachedBackend/Servers"
) {}

// The contract stores a value of 1 MiB and more: items of up to 2 MiB.
const serversLayer = (count: number) =>
  Layer.effect(
    Servers,
    Effect.forEach(Array.from({ length: count }), () => MemcachedServer.make({ itemSize: "2m" }))
  )

/**
 * memcached's clock ticks once a second and a TTL is sent in whole seconds (rounded up), so a sub-second TTL ends at
 * the server's next tick. Letting `millis` pass for its TTLs is therefore a wait for its clock as well as for
 * `millis`: for `floor((millis + 900) / 1000)` ticks, so that the suite's 50 ms TTLs are gone after its 100 ms
 * waits, while its 2 s TTLs outlive its 50 ms waits (an item written at tick C with a 2 s TTL lives until C + 2;
 * a wait of one tick, counted from a reading taken just after a tick following the write, would reach it).
 */
const advance = (servers: ReadonlyArray<MemcachedServer.MemcachedServerShape>, millis: number) =>
  Effect.gen(function*() {
    const ticks = Math.floor((millis + 900) / 1000)
    const starts = yield* Effect.forEach(servers, (server) => MemcachedRaw.serverTime(server.port))
    yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))
    if (ticks > 0) {
      yield* Effect.forEach(servers, (server, i) => MemcachedRaw.untilServerTime(server.port, starts[i]! + ticks), {
        concurrency: "unbounded"
      })
    }
  })

const target = (count: number) => ({
  name: count === 1 ? "MemcachedBackend" : `MemcachedBackend on ${count} servers`,
  layer: serversLayer(count),
  realClock: true,
  lacks: ["nestedPrefixes", "expiryPast2038"] as const,
  session: Effect.gen(function*() {
    const servers = yield* Servers
    yield* Effect.forEach(servers, (server) => MemcachedRaw.flushAll(server.port), { discard: true })
    const options = { servers: servers.map((server) => server.address) }
    // A client of the test's own, for raw writes.
    const raw = yield* MemcachedClient.make(options)
    const prefixes = new Set<string>()
    /** The generation the backends of `prefix` use (created as they would create it, when none is stored yet). */
    const generationOf = (prefix: string): Effect.Effect<bigint, unknown> =>
      Effect.flatMap(raw.metaGet(generationKey(prefix), { value: true }), (got) => {
        if (got.kind === "hit") return Effect.succeed(Generation.parse(got.value!)!)
        return Effect.flatMap(
          raw.metaSet(generationKey(prefix), String(Generation.fresh()), { mode: "add" }),
          () => generationOf(prefix)
        )
      })
    return {
      backend: (prefix: string) => {
        prefixes.add(prefix)
        return backendFromLayer(MemcachedBackend.layer({ ...options, prefix, maxItemSize: 2 * 1024 * 1024 }))
      },
      // The full key is split at the longest prefix a backend of this test was made with, then stored as the
      // backends store it: under that prefix's current generation.
      writeRaw: (full: string, bytes: Uint8Array, ttlMillis?: number) =>
        Effect.gen(function*() {
          const prefix = [...prefixes].filter((p) => full.startsWith(p)).sort((a, b) => b.length - a.length)[0]
          if (prefix === undefined) return yield* Effect.die(`no backend of this test has a prefix of ${full}`)
          const generation = yield* generationOf(prefix)
          const expiry = Expiry.toExpiry(ttlMillis, Date.now())
          if (expiry._tag !== "Exptime") return yield* Effect.die(`cannot store a TTL of ${ttlMillis}`)
          yield* raw.metaSet(fullKey(prefix, generation, full.slice(prefix.length)), bytes, { ttl: expiry.exptime })
        }),
      advance: (millis: number) => advance(servers, millis)
    }
  })
})

contractSuite(target(1))
contractSuite(target(3))
