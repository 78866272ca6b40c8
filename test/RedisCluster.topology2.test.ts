/**
 * The cluster client's topology edges: closing its scope while a topology read is in flight, a `MOVED` that names
 * no host, `SCRIPT LOAD` / `FUNCTION LOAD` sent to every node, and the default `failoverWait` learnt from the
 * cluster's `cluster-node-timeout`. Scripted nodes where only they can force the order; a real 3+3 cluster where
 * it can.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, ManagedRuntime, Option, Scope } from "effect"
import { broadcastOf, mergeBroadcast } from "../src/core/cluster/command.js"
import { keySlot } from "../src/core/cluster/slot.js"
import {
  defaultNodeTimeoutMillis,
  failoverWaitFor,
  parseNodeTimeout,
  parseRedirection
} from "../src/core/cluster/topology.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisCluster from "../src/RedisCluster.js"
import type { RedisError } from "../src/RedisError.js"
import * as Resp from "../src/Resp.js"
import { startLoad } from "./utils/ClusterLoad.js"
import * as FakeServer from "./utils/FakeServer.js"
import { RedisCluster as TestCluster } from "./utils/RedisCluster.js"

/** A bulk string reply (a Buffer would be written as raw bytes). */
const bulk = (text: string): Uint8Array => new TextEncoder().encode(text)

const text = (value: Resp.RespValue) => Buffer.from(value as Uint8Array).toString()

/** Polls `condition` every 10 ms for at most `millis`. */
const waitFor = (condition: () => boolean, millis = 10_000) =>
  Effect.gen(function*() {
    for (let waited = 0; waited < millis && !condition(); waited += 10) yield* Effect.sleep("10 millis")
    expect(condition()).toBe(true)
  })

/** A node that answers `CLUSTER SLOTS` (one node serving every slot) and otherwise does what `rest` says. */
const slotsNode = (
  rest: (command: ReadonlyArray<string>) => Resp.RespValue | "close" | "ignore"
) => {
  let port = 0
  const seen: Array<string> = []
  const handler = FakeServer.fakeRedis((_connection, command) => {
    seen.push(command.join(" "))
    const name = command[0]!.toUpperCase()
    if (name === "CLUSTER" && command[1]!.toUpperCase() === "SHARDS") {
      return new Resp.ErrorReply("ERR unknown subcommand 'SHARDS'. Try CLUSTER HELP.")
    }
    if (name === "CLUSTER" && command[1]!.toUpperCase() === "SLOTS") return [[0, 16383, ["127.0.0.1", port, "id1"]]]
    return rest(command)
  })
  return { handler, seen, setPort: (p: number) => (port = p) }
}

describe("plain decisions", () => {
  it("parseRedirection: host:port, IPv6 bare and bracketed, and no host (the node that answered)", () => {
    expect(parseRedirection("MOVED 3999 127.0.0.1:6381")).toStrictEqual({ slot: 3999, host: "127.0.0.1", port: 6381 })
    expect(parseRedirection("ASK 12 redis-3.example:7000")).toStrictEqual({
      slot: 12,
      host: "redis-3.example",
      port: 7000
    })
    expect(parseRedirection("MOVED 3999 :6381")).toStrictEqual({ slot: 3999, host: undefined, port: 6381 })
    expect(parseRedirection("ASK 0 :6381")).toStrictEqual({ slot: 0, host: undefined, port: 6381 })
    expect(parseRedirection("MOVED 3999 ?:6381")).toStrictEqual({ slot: 3999, host: undefined, port: 6381 })
    expect(parseRedirection("MOVED 3999 ::1:6381")).toStrictEqual({ slot: 3999, host: "::1", port: 6381 })
    expect(parseRedirection("MOVED 3999 [::1]:6381")).toStrictEqual({ slot: 3999, host: "::1", port: 6381 })
    expect(parseRedirection("MOVED 16383 [2001:db8::7]:7001")).toStrictEqual({
      slot: 16383,
      host: "2001:db8::7",
      port: 7001
    })
    for (
      const bad of [
        "MOVED",
        "MOVED 3999",
        "MOVED x 127.0.0.1:6381",
        "MOVED 16384 127.0.0.1:6381",
        "MOVED -1 127.0.0.1:6381",
        "MOVED 3999 127.0.0.1",
        "MOVED 3999 127.0.0.1:",
        "MOVED 3999 127.0.0.1:0",
        "MOVED 3999 127.0.0.1:70000",
        "MOVED 3999 :6x"
      ]
    ) expect(parseRedirection(bad)).toBeUndefined()
  })

  it("parseNodeTimeout, failoverWaitFor: the cluster's node timeout or Redis' default, never < commandTimeout", () => {
    expect(parseNodeTimeout([bulk("cluster-node-timeout"), bulk("2000")])).toBe(2000)
    expect(parseNodeTimeout(new Resp.RespMap([[bulk("cluster-node-timeout"), bulk("15000")]]))).toBe(15000)
    expect(parseNodeTimeout([])).toBeUndefined()
    expect(parseNodeTimeout(new Resp.ErrorReply("ERR unknown command 'CONFIG'"))).toBeUndefined()
    expect(parseNodeTimeout([bulk("cluster-node-timeout"), bulk("soon")])).toBeUndefined()
    expect(failoverWaitFor(2_000, 2_000)).toBe(7_000)
    expect(failoverWaitFor(defaultNodeTimeoutMillis, 5_000)).toBe(33_000)
    expect(failoverWaitFor(100, 60_000)).toBe(60_000)
  })

  it("broadcastOf and mergeBroadcast: which admin commands go everywhere, and what their reply is", () => {
    expect(broadcastOf(["SCRIPT", "LOAD", "return 1"])).toBe("nodes")
    expect(broadcastOf(["script", "flush"])).toBe("nodes")
    expect(broadcastOf(["FUNCTION", "LOAD", "#!lua name=x"])).toBe("primaries")
    for (const sub of ["DELETE", "FLUSH", "RESTORE"]) expect(broadcastOf(["FUNCTION", sub])).toBe("primaries")
    expect(broadcastOf(["SCRIPT", "EXISTS", "abc"])).toBeUndefined()
    expect(broadcastOf(["FUNCTION", "LIST"])).toBeUndefined()
    expect(broadcastOf(["SCRIPT"])).toBeUndefined()

    const sha = bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    const agreed = mergeBroadcast("SCRIPT LOAD", [{ address: "a:1", reply: sha }, {
      address: "b:2",
      reply: bulk(text(sha))
    }])
    expect(agreed).toStrictEqual({ reply: sha })
    const refused = mergeBroadcast("SCRIPT LOAD", [
      { address: "a:1", reply: sha },
      { address: "b:2", reply: new Resp.ErrorReply("NOPERM this user has no permissions") }
    ])
    expect("reply" in refused && refused.reply instanceof Resp.ErrorReply && refused.reply.code).toBe("NOPERM")
    expect("reply" in refused && (refused.reply as Resp.ErrorReply).message).toContain("on b:2; 1 of 2 nodes")
    const lost = mergeBroadcast("SCRIPT LOAD", [{ address: "a:1", reply: sha }, { address: "b:2", failure: "gone" }])
    expect("connection" in lost && lost.connection).toContain("no reply from b:2 (gone); 1 of 2 nodes")
    const differ = mergeBroadcast("FUNCTION LOAD", [{ address: "a:1", reply: bulk("x") }, {
      address: "b:2",
      reply: bulk("y")
    }])
    expect("reply" in differ && (differ.reply as Resp.ErrorReply).message).toContain(
      "answered FUNCTION LOAD differently"
    )
  })
})

describe("RedisCluster against scripted nodes", () => {
  it.live("closing the scope while the first topology read hangs fails every waiting command at once, typed", () =>
    Effect.gen(function*() {
      // Nodes that accept a connection and never answer: the first topology read tries each in turn, 1 s apiece,
      // so it is still running (for 8 s) when the scope closes.
      const seen: Array<string> = []
      const silent = FakeServer.fakeRedis((_connection, command) => {
        seen.push(command.join(" "))
        return "ignore"
      })
      const outer = yield* Scope.make()
      const fakes = yield* Effect.forEach([1, 2, 3, 4, 5, 6, 7, 8], () => Scope.extend(FakeServer.make(silent), outer))
      const scope = yield* Scope.make()
      const client = yield* Scope.extend(
        RedisCluster.make({ nodes: fakes.map((fake) => `${fake.host}:${fake.port}`), commandTimeout: "10 seconds" }),
        scope
      )
      const fibers = yield* Effect.forEach(
        ["GET a", "GET b", "MGET a b c", "PING"],
        (line) => Effect.fork(client.send(line.split(" "))),
        { concurrency: "unbounded" }
      )
      yield* waitFor(() => seen.some((line) => line.startsWith("CLUSTER")))
      const closedAt = performance.now()
      yield* Scope.close(scope, Exit.void)
      const exits = yield* Effect.forEach(fibers, (fiber) => Effect.timeout(Fiber.await(fiber), "5 seconds"))
      const tookMs = performance.now() - closedAt
      for (const exit of exits) {
        expect(Exit.isFailure(exit)).toBe(true)
        const error = yield* Effect.flip(exit as Exit.Exit<unknown, RedisError>)
        expect(error._tag).toBe("RedisConnectionError")
        expect(error.message).toContain("scope is closed")
      }
      // A command after the close fails at once, the same way.
      const late = yield* Effect.flip(Effect.timeout(client.send(["GET", "late"]), "2 seconds"))
      expect(late._tag).toBe("RedisConnectionError")
      expect(late.message).toContain("scope is closed")
      console.log(
        `[cluster] scope closed during the first topology read: every caller failed within ${tookMs.toFixed(0)} ms`
      )
      yield* Scope.close(outer, Exit.void)
    }))

  it.live("disposing a ManagedRuntime of RedisCluster.layer fails commands waiting for the first topology", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const silent = FakeServer.fakeRedis((_connection, command) => {
        seen.push(command.join(" "))
        return "ignore"
      })
      const fakes = yield* Effect.forEach([1, 2, 3, 4, 5, 6, 7, 8], () => FakeServer.make(silent))
      const runtime = ManagedRuntime.make(
        RedisCluster.layer({ nodes: fakes.map((fake) => `${fake.host}:${fake.port}`), commandTimeout: "10 seconds" })
      )
      const fibers = ["a", "b", "c"].map((key) =>
        runtime.runFork(Effect.flatMap(RedisClient.RedisClient, (client) => client.send(["GET", key])))
      )
      yield* waitFor(() => seen.some((line) => line.startsWith("CLUSTER")))
      yield* Effect.promise(() => runtime.dispose())
      const exits = yield* Effect.forEach(fibers, (fiber) => Effect.timeout(Fiber.await(fiber), "5 seconds"))
      for (const exit of exits) {
        const error = yield* Effect.flip(exit as Exit.Exit<unknown, RedisError>)
        expect(error._tag).toBe("RedisConnectionError")
        expect(error.message).toContain("scope is closed")
      }
    }).pipe(Effect.scoped))

  it.live("MOVED and ASK to ':<port>' (no host) are followed to that port on the host of the node that answered", () =>
    Effect.gen(function*() {
      const other = { seen: [] as Array<string> }
      const second = yield* FakeServer.make(FakeServer.fakeRedis((_connection, command) => {
        other.seen.push(command.join(" "))
        if (command[0]!.toUpperCase() === "ASKING") return "OK"
        return bulk(`from second: ${command.join(" ")}`)
      }))
      let askedOnce = false
      const node = slotsNode((command) => {
        const key = command[1] ?? ""
        if (key === "moved") return new Resp.ErrorReply(`MOVED ${keySlot("moved")} :${second.port}`)
        if (key === "ask" && !askedOnce) {
          askedOnce = true
          return new Resp.ErrorReply(`ASK ${keySlot("ask")} :${second.port}`)
        }
        return bulk("from first")
      })
      const first = yield* FakeServer.make(node.handler)
      node.setPort(first.port)
      const client = yield* RedisCluster.make({ nodes: [`${first.host}:${first.port}`], maxRedirections: 3 })
      expect(text(yield* client.send(["GET", "x"]))).toBe("from first")
      expect(text(yield* client.send(["GET", "moved"]))).toBe("from second: GET moved")
      expect(other.seen).toContain("GET moved")
      expect(text(yield* client.send(["GET", "ask"]))).toBe("from second: GET ask")
      const at = other.seen.indexOf("GET ask")
      expect(other.seen[at - 1]).toBe("ASKING")
    }).pipe(Effect.scoped))

  it.live(
    "default failoverWait: CONFIG GET refused keeps the 33 s assumption; a learnt node timeout sets it",
    () =>
      Effect.gen(function*() {
        // GET "drop" always loses its connection: a command that can run twice is re-sent until failoverWait passes.
        const refusing = slotsNode((command) => {
          if (command[0]!.toUpperCase() === "CONFIG") return new Resp.ErrorReply("ERR unknown command 'CONFIG'")
          return command[1] === "drop" ? "close" : bulk("ok")
        })
        const fake = yield* FakeServer.make(refusing.handler)
        refusing.setPort(fake.port)
        const client = yield* RedisCluster.make({ nodes: [`${fake.host}:${fake.port}`], commandTimeout: "300 millis" })
        expect(text(yield* client.send(["GET", "x"]))).toBe("ok")
        // The commandTimeout (300 ms) was the old default: past ten times that, still waiting for a failover.
        const waiting = yield* Effect.fork(client.send(["GET", "drop"]))
        yield* Effect.sleep("3 seconds")
        expect(waiting.unsafePoll()).toBeNull()
        yield* Fiber.interrupt(waiting)
        expect(refusing.seen).toContain("CONFIG GET cluster-node-timeout")

        // The cluster says 100 ms: 2 × 100 + 3,000 = 3.2 s.
        const telling = slotsNode((command) => {
          if (command[0]!.toUpperCase() === "CONFIG") return [bulk("cluster-node-timeout"), bulk("100")]
          return command[1] === "drop" ? "close" : bulk("ok")
        })
        const fake2 = yield* FakeServer.make(telling.handler)
        telling.setPort(fake2.port)
        const client2 = yield* RedisCluster.make({
          nodes: [`${fake2.host}:${fake2.port}`],
          commandTimeout: "300 millis"
        })
        expect(text(yield* client2.send(["GET", "x"]))).toBe("ok")
        const startedAt = performance.now()
        const error = yield* Effect.flip(Effect.timeout(client2.send(["GET", "drop"]), "20 seconds"))
        const tookMs = performance.now() - startedAt
        expect(error._tag).toBe("RedisConnectionError")
        expect(tookMs).toBeGreaterThanOrEqual(3_000)
        console.log(`[cluster] learnt node timeout 100 ms: GET on a dead node failed after ${tookMs.toFixed(0)} ms`)
      }).pipe(Effect.scoped),
    60_000
  )
})

describe("RedisCluster on a real cluster", () => {
  layer(TestCluster.layer(), { excludeTestServices: true, timeout: 180_000 })((it) => {
    it.scoped("SCRIPT LOAD and FUNCTION LOAD reach every node: EVALSHA and FCALL answered in every slot range", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        yield* cluster.waitUntilOk
        const client = yield* RedisCluster.make({ nodes: [cluster.urls[0]!] })
        const sha = text(yield* client.send(["SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"]))
        expect(sha).toMatch(/^[0-9a-f]{40}$/)
        // One key per 512 slots, each primary's ranges included.
        const keys: Array<string> = []
        for (let slot = 0, i = 0; slot < 16384; i++) {
          if (keySlot(`s${i}`) >= slot) {
            keys.push(`s${i}`)
            slot += 512
          }
        }
        yield* client.send(["MSET", ...keys.flatMap((key) => [key, `v:${key}`])])
        const replies = yield* Effect.forEach(keys, (key) => client.send(["EVALSHA", sha, "1", key]))
        expect(replies.map(text)).toStrictEqual(keys.map((key) => `v:${key}`))
        // Every node has it, the replicas too: a failover keeps the script.
        for (const server of cluster.servers) expect(yield* server.cli("SCRIPT", "EXISTS", sha)).toBe("1")

        const library =
          "#!lua name=topo2\nredis.register_function('topo2get', function(keys) return redis.call('GET', keys[1]) end)"
        expect(text(yield* client.send(["FUNCTION", "LOAD", "REPLACE", library]))).toBe("topo2")
        const called = yield* Effect.forEach(keys, (key) => client.send(["FCALL", "topo2get", "1", key]))
        expect(called.map(text)).toStrictEqual(keys.map((key) => `v:${key}`))

        // In a pipeline: the LOAD before, the EVALSHA after, each where it belongs.
        const batch = yield* client.pipeline([
          ["SCRIPT", "LOAD", "return 'p'"],
          ...keys.slice(0, 5).map((key) => ["EVALSHA", "9a6a4bc9e0a1b7b6c1c0c9fe1d2b6c2a3a0b4a9e", "1", key])
        ])
        const pSha = text(batch[0]!)
        const after = yield* client.pipeline(keys.map((key) => ["EVALSHA", pSha, "1", key]))
        expect(after.map(text)).toStrictEqual(keys.map(() => "p"))
        // An unknown sha is the server's NOSCRIPT, as on one node.
        expect((batch[1] as Resp.ErrorReply).code).toBe("NOSCRIPT")

        // A refusal names the node and how many ran it.
        const error = yield* Effect.flip(client.send(["SCRIPT", "LOAD", "this is not lua"]))
        expect(error._tag).toBe("RedisReplyError")
        expect(error.message).toMatch(/on 127\.0\.0\.1:\d+; 0 of 6 nodes ran SCRIPT LOAD/)
        yield* client.send(["FUNCTION", "DELETE", "topo2"])
      }))

    it.scoped("default failoverWait, commandTimeout 2 s: a killed primary under 64 fibers, no caller error", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        yield* cluster.waitUntilOk
        // No failoverWait: the default is learnt from the cluster (node timeout 2 s: 7 s).
        const client = yield* RedisCluster.make({ nodes: cluster.urls, commandTimeout: "2 seconds" })
        const backend = yield* Effect.provideService(
          RedisBackend.make({ prefix: "fw:" }),
          RedisClient.RedisClient,
          client
        )
        const keys = Array.from({ length: 640 }, (_, i) => `key:${i}`)
        const slot = keySlot("fw:key:0")
        const victim = yield* cluster.ownerOf(slot)

        let stop = false
        const load = yield* startLoad(backend, keys, { fibers: 64, stop: () => stop })
        yield* Effect.sleep("300 millis")
        const killedAt = performance.now()
        yield* cluster.servers[victim]!.kill
        let newOwner = victim
        for (let i = 0; i < 6_000 && newOwner === victim; i++) {
          const owner = yield* Effect.either(cluster.ownerOf(slot))
          if (owner._tag === "Right") newOwner = owner.right
          if (newOwner === victim) yield* Effect.sleep("10 millis")
        }
        expect(newOwner).not.toBe(victim)
        yield* cluster.waitUntilOk
        const recoveredAt = performance.now()
        yield* Effect.sleep("500 millis")
        stop = true
        const report = yield* load
        console.log(
          `[cluster] killed primary, default failoverWait: ${
            JSON.stringify({
              ops: report.ops,
              errors: report.errors.length,
              slowestMs: Math.round(report.slowestMillis),
              msFromKillToOk: Math.round(recoveredAt - killedAt),
              firstErrors: report.errors.slice(0, 3).map((e) => e.message)
            })
          }`
        )
        expect(report.errors).toStrictEqual([])
        expect(report.foreign).toStrictEqual([])
        // The new primary serves the victim's slot.
        yield* backend.set("key:0", "after")
        expect(yield* backend.get("key:0")).toStrictEqual(Option.some("after"))
        expect(yield* cluster.servers[newOwner]!.cli("EXISTS", "fw:key:0")).toBe("1")
        yield* cluster.servers[victim]!.start
        yield* cluster.waitUntilOk
      }))
  })
})
