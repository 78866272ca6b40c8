import { describe, expect, layer } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Exit, Fiber, Layer, Option } from "effect"
import { keySlot } from "../src/core/cluster/slot.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisCluster from "../src/RedisCluster.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as Resp from "../src/Resp.js"
import * as TieredCache from "../src/TieredCache.js"
import { backendFromLayer, contractSuite } from "./contract/BackendContract.js"
import { RedisCluster as TestCluster } from "./utils/RedisCluster.js"
import { eventually } from "./utils/Subscribers.js"

const text = (value: Resp.RespValue): string | null =>
  value === null ? null : Buffer.from(value as Uint8Array).toString("utf8")

/** Empties every primary of the cluster through the cluster client's own view of them. */
const flushAll = (client: RedisClient.RedisClientShape) =>
  Effect.flatMap(client.primaries!, (primaries) => Effect.forEach(primaries, (primary) => primary.send(["FLUSHALL"])))

contractSuite({
  name: "RedisBackend on a cluster",
  layer: TestCluster.layer(),
  realClock: true,
  session: Effect.gen(function*() {
    const cluster = yield* TestCluster
    const raw = yield* RedisCluster.make({ nodes: cluster.urls })
    yield* flushAll(raw)
    return {
      backend: (prefix: string) => backendFromLayer(RedisBackend.layerCluster({ nodes: [cluster.urls[0]!], prefix })),
      writeRaw: (fullKey: string, bytes: Uint8Array, ttlMillis?: number) =>
        raw.send(
          ttlMillis === undefined
            ? ["SET", fullKey, bytes]
            : ["SET", fullKey, bytes, "PX", BigInt(ttlMillis).toString()]
        ),
      advance: (millis: number) => Effect.sleep(millis)
    }
  })
})

/** `cmdstat_<command>:calls` and the CROSSSLOT error count of one node. */
const stats = (cluster: TestCluster["Type"], index: number) =>
  Effect.map(cluster.servers[index]!.cli("INFO", "all"), (info) => ({
    calls: (command: string) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0),
    crossslot: Number(/errorstat_CROSSSLOT:count=(\d+)/.exec(info)?.[1] ?? 0)
  }))

describe("RedisCluster", () => {
  layer(TestCluster.layer(), { excludeTestServices: true, timeout: 120_000 })((it) => {
    it.scoped("routes by slot: every key on the primary serving it, MGET/MSET/DEL/EXISTS split and merged", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const client = yield* RedisCluster.make({ nodes: [cluster.urls[0]!] })
        yield* flushAll(client)
        const keys = Array.from({ length: 200 }, (_, i) => `route:${i}`)
        for (const key of keys) expect(yield* client.send(["SET", key, `value of ${key}`])).toBe("OK")
        // Each key lives on the node the server itself says serves its slot.
        for (const key of keys.slice(0, 20)) {
          const owner = yield* cluster.ownerOf(yield* cluster.keySlot(key))
          expect(yield* cluster.servers[owner]!.cli("GET", key)).toBe(`value of ${key}`)
        }
        const many = yield* client.send(["MGET", ...keys, "route:missing"])
        expect((many as ReadonlyArray<Resp.RespValue>).map(text)).toStrictEqual([
          ...keys.map((key) => `value of ${key}`),
          null
        ])
        expect(yield* client.send(["EXISTS", ...keys.slice(0, 50), "route:missing"])).toBe(50)
        expect(yield* client.send(["MSET", "m:a", "1", "m:b", "2", "m:c", "3"])).toBe("OK")
        expect(((yield* client.send(["MGET", "m:c", "m:a", "m:b"])) as ReadonlyArray<Resp.RespValue>).map(text))
          .toStrictEqual(["3", "1", "2"])
        expect(yield* client.send(["UNLINK", ...keys.slice(0, 100), "m:a"])).toBe(101)
        expect(yield* client.send(["DEL", ...keys])).toBe(100)
        // A pipeline over many slots, answered in the caller's order; error replies stay values.
        const replies = yield* client.pipeline([
          ["SET", "p:1", "one"],
          ["GET", "p:1"],
          ["MGET", "p:1", "p:2", "m:b"],
          ["INCR", "m:b"],
          ["LPUSH", "m:c", "x"],
          ["PING"]
        ])
        expect(replies[0]).toBe("OK")
        expect(text(replies[1]!)).toBe("one")
        expect((replies[2] as ReadonlyArray<Resp.RespValue>).map(text)).toStrictEqual(["one", null, "2"])
        expect(replies[3]).toBe(3)
        expect(replies[4]).toBeInstanceOf(Resp.ErrorReply)
        expect((replies[4] as Resp.ErrorReply).code).toBe("WRONGTYPE")
        expect(replies[5]).toBe("PONG")
        // A key holding no string is nil in an MGET, as on one server, whether its slot's part is sent alone (as a
        // GET, which would say WRONGTYPE) or with other keys of its slot.
        expect(yield* client.send(["RPUSH", "wt:list", "x"])).toBe(1)
        expect(yield* client.send(["RPUSH", "{wt}:list", "x"])).toBe(1)
        expect(yield* client.send(["MSET", "wt:a", "a", "{wt}:b", "b"])).toBe("OK")
        const typed = yield* client.send(["MGET", "wt:a", "wt:list", "{wt}:list", "{wt}:b", "wt:missing"])
        expect((typed as ReadonlyArray<Resp.RespValue>).map(text)).toStrictEqual(["a", null, null, "b", null])
        for (let i = 0; i < 6; i++) expect((yield* stats(cluster, i)).crossslot).toBe(0)
      }))

    it.scoped("a split command whose caller is interrupted mid-flight leaves every node's connection in step", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const client = yield* RedisCluster.make({ nodes: cluster.urls })
        yield* flushAll(client)
        const keys = Array.from({ length: 300 }, (_, i) => `intr:${i}`)
        const args: Array<string> = ["MSET"]
        for (const key of keys) args.push(key, key)
        expect(yield* client.send(args)).toBe("OK")
        // Interrupted at once, after a yield, and many at a time: the shares already written are answered and
        // their replies dropped, so the next commands on every node get their own replies.
        for (let round = 0; round < 20; round++) {
          const fibers = yield* Effect.forEach(
            Array.from({ length: 8 }, () => client.send(["MGET", ...keys])),
            (effect) => Effect.fork(effect)
          )
          if (round % 2 === 1) yield* Effect.yieldNow()
          yield* Effect.forEach(fibers, Fiber.interrupt)
        }
        const values = (yield* client.send(["MGET", ...keys])) as ReadonlyArray<Resp.RespValue>
        expect(values.map(text)).toStrictEqual(keys)
        for (const key of keys.slice(0, 30)) expect(text((yield* client.send(["GET", key]))!)).toBe(key)
      }))

    it.scoped("key slots are the server's: CRC16 of the key or of its hash tag, UTF-8 and binary keys too", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const keys = [
          "",
          "a",
          "123456789",
          "user:1000",
          "{user:7}:profile",
          "x{user:7}y",
          "{}user",
          "{user",
          "user}{x}",
          "{{a}}",
          "clé-é",
          "日本{語}",
          "emoji-\u{1F600}"
        ]
        for (const key of keys) expect(keySlot(key), key).toBe(yield* cluster.keySlot(key))
        expect(keySlot(Buffer.from("{user:7}:profile"))).toBe(keySlot("user:7"))
      }))

    it.scoped("getMany of 1,000 keys over all slots: one command per slot, values in order; hash-tagged keys: one MGET", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const client = yield* RedisCluster.make({ nodes: cluster.urls })
        yield* flushAll(client)
        const backend = yield* Effect.provideService(
          RedisBackend.make({ prefix: "gm:" }),
          RedisClient.RedisClient,
          client
        )
        // Keys differing in their last digits alone never share a slot (CRC16 tells such changes apart): a few
        // tagged ones do.
        const keys = [...Array.from({ length: 1_000 }, (_, i) => `key-${i}`), "{gm}:1", "{gm}:2", "{gm}:3", "{gm}:4"]
        yield* backend.setMany(keys.filter((_, i) => i % 3 !== 0).map((key) => [key, { key }]))
        for (let i = 0; i < 6; i++) yield* cluster.servers[i]!.cli("CONFIG", "RESETSTAT")
        const values = yield* backend.getMany(keys)
        expect(values).toStrictEqual(keys.map((key, i) => i % 3 === 0 ? Option.none() : Option.some({ key })))
        // Each primary got exactly one command per distinct slot it serves among the keys: a GET for a slot with
        // one of the keys, an MGET for a slot with several; and no CROSSSLOT anywhere.
        const perSlot = new Map<number, number>()
        for (const key of keys) perSlot.set(keySlot(`gm:${key}`), (perSlot.get(keySlot(`gm:${key}`)) ?? 0) + 1)
        const shared = [...perSlot.values()].filter((count) => count > 1).length
        expect(shared).toBeGreaterThan(0)
        let mgets = 0
        let gets = 0
        for (let i = 0; i < 6; i++) {
          const stat = yield* stats(cluster, i)
          mgets += stat.calls("mget")
          gets += stat.calls("get")
          expect(stat.crossslot).toBe(0)
        }
        expect(mgets).toBe(shared)
        expect(gets).toBe(perSlot.size - shared)

        const tagged = Array.from({ length: 100 }, (_, i) => `{user:7}:${i}`)
        yield* backend.setMany(tagged.map((key) => [key, key]))
        for (let i = 0; i < 6; i++) yield* cluster.servers[i]!.cli("CONFIG", "RESETSTAT")
        expect(yield* backend.getMany(tagged)).toStrictEqual(tagged.map((key) => Option.some(key)))
        let taggedMgets = 0
        for (let i = 0; i < 6; i++) taggedMgets += (yield* stats(cluster, i)).calls("mget")
        expect(taggedMgets).toBe(1)
      }))

    it.scoped("clear scans every primary and removes only the prefix's keys, wherever they live", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const client = yield* RedisCluster.make({ nodes: cluster.urls })
        yield* flushAll(client)
        const backendOf = (prefix: string) =>
          Effect.provideService(RedisBackend.make({ prefix, scanCount: 50 }), RedisClient.RedisClient, client)
        const cleared = yield* backendOf("c*[a]:")
        const neighbour = yield* backendOf("ca:")
        const keys = Array.from({ length: 600 }, (_, i) => `k${i}`)
        yield* cleared.setMany(keys.map((key) => [key, 1]))
        yield* neighbour.setMany(keys.map((key) => [key, 2]))
        const primaries = yield* cluster.primaries
        expect(primaries.length).toBe(3)
        // The keys really are spread: every primary holds some of them.
        for (const index of primaries) expect(Number(yield* cluster.servers[index]!.cli("DBSIZE"))).toBeGreaterThan(100)
        yield* cleared.clear
        expect(yield* cleared.getMany(keys)).toStrictEqual(keys.map(() => Option.none()))
        expect(yield* neighbour.getMany(keys)).toStrictEqual(keys.map(() => Option.some(2)))
        let total = 0
        for (const index of primaries) total += Number(yield* cluster.servers[index]!.cli("DBSIZE"))
        expect(total).toBe(600)
      }))

    it.scoped("pub/sub reaches a subscriber on another node's connection", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const a = yield* RedisCluster.make({ nodes: [cluster.urls[0]!] })
        const b = yield* RedisCluster.make({ nodes: [cluster.urls[1]!] })
        const received: Array<string> = []
        yield* a.subscribe("invalidate", { onMessage: (message) => received.push(Buffer.from(message).toString()) })
        for (let i = 0; i < 50 && received.length === 0; i++) {
          yield* b.publish("invalidate", "hello")
          yield* Effect.sleep("20 millis")
        }
        expect(received[0]).toBe("hello")
      }))

    it.scoped("TieredCache over the cluster: two instances on different seed nodes see each other's writes", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const instance = (seed: string) =>
          Effect.map(
            Layer.build(
              TieredCache.layerRedis().pipe(
                Layer.provide(RemoteCache.layer(RemoteCache.defaultPolicy)),
                Layer.provide(RedisBackend.layerWithoutClient({ prefix: "tiered:" })),
                Layer.provide(RedisCluster.layer({ nodes: [seed] })),
                Layer.orDie
              )
            ),
            Context.get(TieredCache.TieredCache)
          )
        const a = yield* instance(cluster.urls[0]!)
        const b = yield* instance(cluster.urls[4]!)
        // Classic pub/sub is cluster-wide: count the listeners over every node.
        const listeners = Effect.map(
          Effect.forEach(cluster.servers, (server) => server.cli("PUBSUB", "NUMSUB", TieredCache.defaultChannel)),
          (replies) => replies.reduce((sum, reply) => sum + Number(reply.split("\n")[1]?.trim() ?? 0), 0)
        )
        yield* eventually(listeners, (n) => n === 2)
        yield* a.set("k", "v1")
        expect(yield* b.get("k")).toStrictEqual(Option.some("v1"))
        yield* a.set("k", "v2")
        yield* eventually(b.get("k"), (v) => Option.getOrNull(v) === "v2")
        yield* b.delete("k")
        yield* eventually(a.get("k"), Option.isNone)
      }))

    it.scoped("readFromReplicas: reads go to replicas (READONLY in the same write), writes to primaries", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const writer = yield* RedisCluster.make({ nodes: cluster.urls })
        const reader = yield* RedisCluster.make({ nodes: cluster.urls, readFromReplicas: true })
        const keys = Array.from({ length: 100 }, (_, i) => `replica:${i}`)
        for (const key of keys) yield* writer.send(["SET", key, key])
        for (let i = 0; i < 6; i++) yield* cluster.servers[i]!.cli("CONFIG", "RESETSTAT")
        // Replication is asynchronous: wait until the replicas have every key.
        yield* eventually(
          reader.send(["MGET", ...keys]),
          (values) => (values as ReadonlyArray<Resp.RespValue>).every((value, i) => text(value) === keys[i])
        )
        expect(text(yield* reader.send(["GET", keys[0]!]))).toBe(keys[0])
        expect(yield* reader.send(["SET", "replica:w", "1"])).toBe("OK")
        const primaries = yield* cluster.primaries
        let primaryReads = 0
        let replicaReads = 0
        let replicaReadonly = 0
        for (let i = 0; i < 6; i++) {
          const stat = yield* stats(cluster, i)
          if (primaries.includes(i)) {
            primaryReads += stat.calls("get") + stat.calls("mget")
            expect(stat.calls("readonly")).toBe(0)
          } else {
            replicaReads += stat.calls("get") + stat.calls("mget")
            replicaReadonly += stat.calls("readonly")
          }
        }
        expect(primaryReads).toBe(0)
        expect(replicaReads).toBeGreaterThan(0)
        expect(replicaReadonly).toBe(replicaReads)
        // The write went to the primary serving the key.
        const owner = yield* cluster.ownerOf(yield* cluster.keySlot("replica:w"))
        expect(yield* cluster.servers[owner]!.cli("GET", "replica:w")).toBe("1")
      }))

    it.scoped("host mapping: announced addresses are reached where natMap says", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const mapped: Array<string> = []
        // The seed is given as "localhost"; the cluster announces 127.0.0.1, which the map sends to localhost.
        const client = yield* RedisCluster.make({
          nodes: [`localhost:${cluster.servers[0]!.port}`],
          natMap: (announced) => {
            mapped.push(`${announced.host}:${announced.port}`)
            return { host: "localhost", port: announced.port }
          }
        })
        expect(yield* client.send(["SET", "nat:k", "v"])).toBe("OK")
        expect(text(yield* client.send(["GET", "nat:k"]))).toBe("v")
        expect(mapped.length).toBeGreaterThanOrEqual(3)
        expect(mapped.every((address) => address.startsWith("127.0.0.1:"))).toBe(true)
      }))

    it.scoped("layerClusterConfig reads REDIS_CLUSTER_NODES; bad options fail with RedisConfigError", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const provider = ConfigProvider.fromMap(
          new Map([["REDIS_CLUSTER_NODES", `${cluster.urls[0]}, ${cluster.urls[1]}`], ["CACHE_PREFIX", "cfg:"]])
        )
        const backend = yield* backendFromLayer(RedisBackend.layerClusterConfig()).pipe(
          Effect.withConfigProvider(provider)
        )
        expect(backend.prefix).toBe("cfg:")
        yield* backend.set("k", "v")
        expect(yield* backend.get("k")).toStrictEqual(Option.some("v"))
        const missing = yield* Effect.exit(
          Layer.build(RedisBackend.layerClusterConfig()).pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
          )
        )
        expect(Exit.isFailure(missing)).toBe(true)
        const bad = yield* Effect.exit(Layer.build(RedisCluster.layer({ nodes: ["nohost"] })))
        expect(Exit.isFailure(bad)).toBe(true)
        const none = yield* Effect.exit(Layer.build(RedisCluster.layer({ nodes: [] })))
        expect(Exit.isFailure(none)).toBe(true)
      }))
  })
})
