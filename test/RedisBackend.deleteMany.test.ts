/**
 * `deleteMany` and `setIfAbsent` of `RedisBackend` on real servers and on fake nodes: many keys removed through
 * `RemoteCache` under the default policy, where one command per key used to wait out its timeout and be dropped;
 * the commands it sends (at most a batch of keys each, a few at a time, each cluster slot's keys in one `UNLINK`);
 * and what each does when a connection fails.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import type { Scope } from "effect"
import { keySlot } from "../src/core/cluster/slot.js"
import { ClientSeamId, type WithClientSeam } from "../src/internal/seams.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisCluster from "../src/RedisCluster.js"
import type { RedisError } from "../src/RedisError.js"
import * as RemoteCache from "../src/RemoteCache.js"
import type { RemoteCacheBackendShape } from "../src/RemoteCacheBackend.js"
import * as Resp from "../src/Resp.js"
import * as FakeServer from "./utils/FakeServer.js"
import { RedisCluster as TestCluster } from "./utils/RedisCluster.js"
import { RedisServer } from "./utils/RedisServer.js"

// The scenario that dropped keys: 40,000 of them, on a client whose bound on commands in flight is far below that
// and whose command timeout is short. One DEL per key, all at once, queued past `maxInFlight` and timed out while
// waiting; the default policy then dropped those failures without a trace.
const keyCount = 40_000
const tight = { maxInFlight: 16, commandTimeout: "500 millis" } as const

const keysOf = (count: number) => Array.from({ length: count }, (_, i) => `bulk:${i}`)

/** Writes `value` under every full key, 1,000 keys per MSET. */
const seed = (client: RedisClient.RedisClientShape, fullKeys: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    for (let i = 0; i < fullKeys.length; i += 1_000) {
      const command: Array<string> = ["MSET"]
      for (const fullKey of fullKeys.slice(i, i + 1_000)) command.push(fullKey, "v")
      yield* client.send(command)
    }
  })

/**
 * A client that records every command's name and key count, and the most commands of the backend in flight at
 * once (through `send` only, as a cluster client has no `submit`).
 */
const recording = (client: RedisClient.RedisClientShape) => {
  const commands: Array<{ readonly name: string; readonly keys: number }> = []
  let inFlight = 0
  let maxInFlight = 0
  const spy: RedisClient.RedisClientShape & WithClientSeam = {
    ...client,
    [ClientSeamId]: {},
    send: (command) =>
      Effect.suspend(() => {
        commands.push({ name: String(command[0]), keys: command.length - 1 })
        maxInFlight = Math.max(maxInFlight, ++inFlight)
        return Effect.ensuring(client.send(command), Effect.sync(() => inFlight--))
      })
  }
  return { spy, commands, maxInFlight: () => maxInFlight }
}

const calls = (info: string, command: string): number =>
  Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0)

describe("RedisBackend.deleteMany on one server", () => {
  layer(RedisServer.layer(), { excludeTestServices: true, timeout: 120_000 })((it) => {
    it.scoped("removes 40,000 keys through RemoteCache with the default policy, in UNLINKs of at most a batch", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        const raw = yield* RedisClient.make({ host: server.host, port: server.port })
        yield* raw.send(["FLUSHALL"])
        const keys = keysOf(keyCount)
        yield* seed(raw, [...keys.map((key) => `app:${key}`), "app:kept", "other:bulk:0"])
        const client = yield* RedisClient.make({ host: server.host, port: server.port, ...tight })
        const { commands, maxInFlight, spy } = recording(client)
        const backend = yield* Effect.provideService(
          RedisBackend.make({ prefix: "app:", maxBatchSize: 700 }),
          RedisClient.RedisClient,
          spy
        )
        const cache = yield* RemoteCache.fromBackend(backend, RemoteCache.defaultPolicy)
        yield* server.cli("CONFIG", "RESETSTAT")

        yield* cache.deleteMany(keys)

        // Every key gone, the key left out and the other prefix's key untouched.
        expect(yield* server.cli("DBSIZE")).toBe("2")
        expect(yield* raw.send(["EXISTS", "app:kept", "other:bulk:0"])).toBe(2)
        // ceil(40,000 / 700) UNLINKs, none over the batch, a few at a time, and no DEL.
        const unlinks = commands.filter((command) => command.name === "UNLINK")
        expect(unlinks).toHaveLength(Math.ceil(keyCount / 700))
        expect(unlinks.every((command) => command.keys <= 700)).toBe(true)
        expect(unlinks.reduce((sum, command) => sum + command.keys, 0)).toBe(keyCount)
        expect(commands).toHaveLength(unlinks.length)
        expect(maxInFlight()).toBeLessThanOrEqual(8)
        const info = yield* server.cli("INFO", "commandstats")
        expect(calls(info, "unlink")).toBe(Math.ceil(keyCount / 700))
        expect(calls(info, "del")).toBe(0)
      }))

    it.scoped("sends nothing for an empty list, and handles duplicates and missing keys", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        const raw = yield* RedisClient.make({ host: server.host, port: server.port })
        yield* raw.send(["FLUSHALL"])
        const { commands, spy } = recording(raw)
        const backend = yield* Effect.provideService(RedisBackend.make({ prefix: "p:" }), RedisClient.RedisClient, spy)
        yield* backend.deleteMany([])
        expect(commands).toStrictEqual([])
        yield* backend.setMany([["a", 1], ["b", 2]])
        commands.length = 0
        yield* backend.deleteMany(["a", "a", "missing", "a"])
        expect(commands).toStrictEqual([{ name: "UNLINK", keys: 4 }])
        expect(yield* backend.getMany(["a", "b"])).toStrictEqual([Option.none(), Option.some(2)])
      }))

    it.scoped("a key over maxArgumentLength fails alone, with CacheInputError naming it; every other key is removed", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        const raw = yield* RedisClient.make({ host: server.host, port: server.port })
        yield* raw.send(["FLUSHALL"])
        const client = yield* RedisClient.make({ host: server.host, port: server.port, maxArgumentLength: 100 })
        const backend = yield* Effect.provideService(
          RedisBackend.make({ prefix: "p:" }),
          RedisClient.RedisClient,
          client
        )
        const keys = keysOf(50)
        yield* seed(raw, keys.map((key) => `p:${key}`))
        const long = "x".repeat(200)
        const error = yield* Effect.flip(backend.deleteMany([...keys.slice(0, 25), long, ...keys.slice(25)]))
        expect([error._tag, error.operation, error.key]).toStrictEqual(["CacheInputError", "deleteMany", long])
        expect(yield* server.cli("DBSIZE")).toBe("0")
      }))

    it.scoped("setIfAbsent leaves a key of another type in place and answers false; SET NX with PX only with a TTL", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer
        const raw = yield* RedisClient.make({ host: server.host, port: server.port })
        yield* raw.send(["FLUSHALL"])
        yield* raw.send(["RPUSH", "p:list", "item"])
        const client = yield* RedisClient.make({ host: server.host, port: server.port })
        const { commands, spy } = recording(client)
        const backend = yield* Effect.provideService(RedisBackend.make({ prefix: "p:" }), RedisClient.RedisClient, spy)
        expect(yield* backend.setIfAbsent("list", "v")).toBe(false)
        expect(yield* server.cli("TYPE", "p:list")).toBe("list")
        expect(yield* backend.setIfAbsent("plain", "v")).toBe(true)
        expect(yield* server.cli("PTTL", "p:plain")).toBe("-1")
        expect(yield* backend.setIfAbsent("timed", "v", "10 seconds")).toBe(true)
        const pttl = Number(yield* server.cli("PTTL", "p:timed"))
        expect(pttl).toBeGreaterThan(9_000)
        expect(pttl).toBeLessThanOrEqual(10_000)
        // A TTL of 0 sends nothing at all.
        expect(yield* backend.setIfAbsent("zero", "v", 0)).toBe(false)
        expect(commands).toStrictEqual([
          { name: "SET", keys: 3 },
          { name: "SET", keys: 3 },
          { name: "SET", keys: 5 }
        ])
      }))
  })

  it.live("a command refused by the server fails alone: every other command of the deleteMany runs", () =>
    Effect.scoped(Effect.gen(function*() {
      const node = yield* unlinkNode((command) =>
        command.includes("p:bulk:10")
          ? new Resp.ErrorReply("NOPERM no permissions to access one of the keys")
          : undefined
      )
      const backend = yield* singleBackendOn(node)
      const error = yield* Effect.flip(backend.deleteMany(keysOf(40)))
      // The first key of the refused command (keys 10 and 11, two per command) is named.
      expect([error._tag, error.operation, error.key]).toStrictEqual(["CacheReplyError", "deleteMany", "bulk:10"])
      expect([...node.stored].sort()).toStrictEqual(["p:bulk:10", "p:bulk:11"])
    })))

  it.live("a lost connection fails the deleteMany with the loss, naming the first key; run again, it removes all", () =>
    Effect.scoped(Effect.gen(function*() {
      let dropped = false
      const node = yield* unlinkNode(() => {
        if (dropped) return undefined
        dropped = true
        return "close"
      })
      const backend = yield* singleBackendOn(node)
      const error = yield* Effect.flip(backend.deleteMany(keysOf(40)))
      expect([error._tag, error.operation, error.key]).toStrictEqual(["CacheConnectionError", "deleteMany", "bulk:0"])
      // The first command ran before the connection dropped.
      expect(node.stored.has("p:bulk:0")).toBe(false)
      yield* Effect.eventually(Effect.suspend(() => backend.deleteMany(keysOf(40))))
      expect(node.stored.size).toBe(0)
    })))
})

/**
 * A fake single server holding `p:bulk:0` to `p:bulk:39` that runs `UNLINK`; `intercept` may answer a command
 * instead (after it ran, for `"close"`), or leave it to run (`undefined`).
 */
const unlinkNode = (intercept: (command: ReadonlyArray<string>) => Resp.ErrorReply | "close" | undefined) =>
  Effect.gen(function*() {
    const stored = new Set(keysOf(40).map((key) => `p:${key}`))
    const server = yield* FakeServer.make(FakeServer.fakeRedis((_, command) => {
      if (command[0]!.toUpperCase() !== "UNLINK") return new Resp.ErrorReply(`ERR unknown command '${command[0]}'`)
      const answer = intercept(command)
      if (answer instanceof Resp.ErrorReply) return answer
      let removed = 0
      for (const fullKey of command.slice(1)) if (stored.delete(fullKey)) removed++
      return answer ?? removed
    }))
    return { host: server.host, port: server.port, stored }
  })

/** A backend of batches of 2 over a single-node client of `node`. */
const singleBackendOn = (node: { readonly host: string; readonly port: number }) =>
  Effect.flatMap(
    RedisClient.make({ host: node.host, port: node.port, reconnectBaseDelay: "10 millis" }),
    (client) =>
      Effect.provideService(RedisBackend.make({ prefix: "p:", maxBatchSize: 2 }), RedisClient.RedisClient, client)
  )

describe("RedisBackend.deleteMany and setIfAbsent on a cluster", () => {
  layer(TestCluster.layer(), { excludeTestServices: true, timeout: 180_000 })((it) => {
    it.scoped("removes 40,000 keys through RemoteCache with the default policy, each slot's keys in one UNLINK", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const raw = yield* RedisCluster.make({ nodes: cluster.urls })
        const primaries = yield* cluster.primaries
        for (const index of primaries) yield* cluster.servers[index]!.cli("FLUSHALL")
        const keys = keysOf(keyCount)
        // 1,500 keys of one slot too: more than a batch, so that slot needs two UNLINKs.
        const tagged = Array.from({ length: 1_500 }, (_, i) => `{tag}:${i}`)
        const all = [...keys, ...tagged]
        yield* seed(raw, [...all.map((key) => `app:${key}`), "app:kept"])
        for (const index of primaries) yield* cluster.servers[index]!.cli("CONFIG", "RESETSTAT")
        const client = yield* RedisCluster.make({ nodes: [cluster.urls[0]!], ...tight })
        const backend = yield* Effect.provideService(
          RedisBackend.make({ prefix: "app:" }),
          RedisClient.RedisClient,
          client
        )
        const cache = yield* RemoteCache.fromBackend(backend, RemoteCache.defaultPolicy)

        yield* cache.deleteMany(all)

        let left = 0
        let unlinks = 0
        let dels = 0
        for (const index of primaries) {
          left += Number(yield* cluster.servers[index]!.cli("DBSIZE"))
          const info = yield* cluster.servers[index]!.cli("INFO", "commandstats")
          unlinks += calls(info, "unlink")
          dels += calls(info, "del")
        }
        expect(left).toBe(1)
        expect(yield* raw.send(["EXISTS", "app:kept"])).toBe(1)
        // One UNLINK per slot the keys live in, and one more for the slot holding more keys than a batch.
        const slots = new Set(all.map((key) => keySlot(`app:${key}`)))
        expect(unlinks).toBe(slots.size + 1)
        expect(dels).toBe(0)
      }))
  })

  it.live("an UNLINK of a deleteMany that lost its reply is sent once more: every key is removed", () =>
    Effect.scoped(Effect.gen(function*() {
      const node = yield* oneNode()
      const backend = yield* backendOn(node.port)
      yield* backend.setMany([["a", 1], ["b", 2], ["c", 3], ["kept", 4]])
      node.dropAfter.add("UNLINK")
      yield* backend.deleteMany(["a", "b", "c"])
      expect([...node.strings.keys()]).toStrictEqual(["p:kept"])
      // The part whose reply was lost ran, then ran again with the whole command.
      const unlinks = node.runs.filter((command) => command.startsWith("UNLINK"))
      expect(unlinks.filter((command) => command === unlinks[0])).toHaveLength(2)
    })))

  it.live("a setIfAbsent that lost its reply is not sent again: its outcome is unknown; RemoteCache answers false", () =>
    Effect.scoped(Effect.gen(function*() {
      const node = yield* oneNode()
      const backend = yield* backendOn(node.port)
      node.dropAfter.add("SET")
      const error = yield* Effect.flip(backend.setIfAbsent("lock", "me", 10_000))
      expect([error._tag, error.operation, error.key]).toStrictEqual(["CacheConnectionError", "setIfAbsent", "lock"])
      expect((error.cause as RedisError & { readonly outcomeUnknown?: boolean }).outcomeUnknown).toBe(true)
      // It ran once and stored; a second run would have answered "not stored" for this very write.
      expect(node.runs.filter((command) => command.startsWith("SET p:lock"))).toHaveLength(1)
      expect(node.strings.has("p:lock")).toBe(true)

      node.dropAfter.add("SET")
      const cache = yield* RemoteCache.fromBackend(backend, RemoteCache.defaultPolicy)
      expect(yield* cache.setIfAbsent("other", "v")).toBe(false)
      expect(yield* cache.setIfAbsent("other", "v")).toBe(false)
      expect(yield* cache.setIfAbsent("fresh", "v")).toBe(true)
    })))
})

/** A backend over a cluster client of one fake node. */
const backendOn = (port: number): Effect.Effect<RemoteCacheBackendShape, never, Scope.Scope> =>
  Effect.flatMap(
    Effect.orDie(RedisCluster.make({ nodes: [`127.0.0.1:${port}`], failoverWait: "2 seconds" })),
    (client) => Effect.provideService(RedisBackend.make({ prefix: "p:" }), RedisClient.RedisClient, client)
  )

/**
 * One fake cluster node serving every slot, with a string store: `dropAfter` names commands whose next run is
 * done, then the connection dropped before the reply. `runs` lists every command it ran.
 */
const oneNode = () =>
  Effect.gen(function*() {
    const strings = new Map<string, string>()
    const dropAfter = new Set<string>()
    const runs: Array<string> = []
    let port = 0
    const run = (command: ReadonlyArray<string>): Resp.RespValue => {
      const name = command[0]!.toUpperCase()
      switch (name) {
        case "CLUSTER":
          return command[1]?.toUpperCase() === "SLOTS"
            ? [[0, 16383, ["127.0.0.1", port, "id1"]]]
            : new Resp.ErrorReply("ERR unknown subcommand")
        case "SET": {
          const [, key = "", value = "", ...options] = command
          const nx = options.some((option) => option.toUpperCase() === "NX")
          if (nx && strings.has(key)) return null
          strings.set(key, value)
          return "OK"
        }
        case "MSET":
          for (let i = 1; i + 1 < command.length; i += 2) strings.set(command[i]!, command[i + 1]!)
          return "OK"
        case "GET": {
          const value = strings.get(command[1] ?? "")
          return value === undefined ? null : Buffer.from(value, "latin1")
        }
        case "UNLINK": {
          let n = 0
          for (const key of command.slice(1)) if (strings.delete(key)) n++
          return n
        }
        default:
          return new Resp.ErrorReply(`ERR unknown command '${command[0]}'`)
      }
    }
    const server = yield* FakeServer.make(FakeServer.fakeRedis((_, command) => {
      const name = command[0]!.toUpperCase()
      if (name !== "CLUSTER") runs.push(command.join(" "))
      const reply = run(command)
      return dropAfter.delete(name) ? "close" : reply
    }))
    port = server.port
    return { port, strings, dropAfter, runs }
  })
