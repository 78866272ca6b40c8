/**
 * The cluster client when a node fails: what it sends again and where, what it reports when a command's outcome
 * cannot be known, and that one failing node fails only its own share of a split command.
 *
 * Fake nodes force an order a real cluster gives only by chance (a command run, then its connection dropped before
 * the reply); a real cluster with a paused (SIGSTOP) node shows the hung-node cases.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import * as Net from "node:net"
import { isSafeToRunTwice, mayResend, mergeReplies } from "../src/core/cluster/command.js"
import { PartFailure } from "../src/core/cluster/partFailure.js"
import { keySlot } from "../src/core/cluster/slot.js"
import { clientSeamOf } from "../src/internal/seams.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisCluster from "../src/RedisCluster.js"
import { type RedisError, RedisTimeoutError } from "../src/RedisError.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as Resp from "../src/Resp.js"
import * as FakeServer from "./utils/FakeServer.js"
import { RedisCluster as TestCluster } from "./utils/RedisCluster.js"
import { encodeValue } from "./utils/RespValues.js"
import { eventually } from "./utils/Subscribers.js"

const text = (value: Resp.RespValue): string | null =>
  value === null ? null : Buffer.from(value as Uint8Array).toString("utf8")

const bulk = (value: string): Uint8Array => new TextEncoder().encode(value)

const isOutcomeUnknown = (error: RedisError): boolean =>
  (error._tag === "RedisConnectionError" || error._tag === "RedisTimeoutError") && error.outcomeUnknown === true

describe("which commands may be sent again after their connection failed", () => {
  it("judges by the command and its arguments", () => {
    const safe: Array<Array<string>> = [
      ["GET", "k"],
      ["get", "k"],
      ["MGET", "a", "b"],
      ["EXISTS", "a", "b"],
      ["TOUCH", "a"],
      ["PTTL", "k"],
      ["SET", "k", "v"],
      ["SET", "k", "v", "PX", "100"],
      ["set", "k", "v", "ex", "10"],
      ["SET", "k", "v", "KEEPTTL"],
      ["SET", "k", "v", "PXAT", "1"],
      ["MSET", "a", "1", "b", "2"],
      ["PEXPIRE", "k", "100"],
      ["EXPIRE", "k", "10"],
      ["PING"],
      ["ECHO", "x"],
      ["PUBLISH", "channel", "message"],
      ["CLUSTER", "SHARDS"],
      ["SCAN", "0", "MATCH", "p*"]
    ]
    const unsafe: Array<Array<string>> = [
      ["SET", "k", "v", "NX"],
      ["SET", "k", "v", "PX", "100", "NX"],
      ["SET", "k", "v", "XX"],
      ["SET", "k", "v", "GET"],
      ["SET", "k", "v", "IFEQ", "old"],
      ["SET", "k"],
      ["DEL", "k"],
      ["UNLINK", "k"],
      ["HSET", "h", "f", "v"],
      ["HDEL", "h", "f"],
      ["INCR", "k"],
      ["LPUSH", "l", "x"],
      ["PERSIST", "k"],
      ["PEXPIRE", "k", "100", "NX"],
      ["EXPIRE", "k", "10", "GT"],
      ["GETDEL", "k"],
      ["EVAL", "return 1", "0"],
      ["CLUSTER", "FAILOVER"],
      ["FLUSHALL"],
      ["UNKNOWNCOMMAND", "k"]
    ]
    for (const command of safe) {
      expect([command.join(" "), isSafeToRunTwice(command)]).toEqual([command.join(" "), true])
    }
    for (const command of unsafe) {
      expect([command.join(" "), isSafeToRunTwice(command)]).toEqual([command.join(" "), false])
    }
    // Binary names and options are read as text.
    expect(isSafeToRunTwice([bulk("SET"), "k", "v", bulk("NX")])).toBe(false)
    expect(isSafeToRunTwice([bulk("GET"), "k"])).toBe(true)
  })

  it("a command never written may always be sent again; a written one only when it runs twice alike", () => {
    expect(mayResend(["INCR", "k"], false)).toBe(true)
    expect(mayResend(["SET", "k", "v", "NX"], false)).toBe(true)
    expect(mayResend(["INCR", "k"], true)).toBe(false)
    expect(mayResend(["SET", "k", "v", "NX"], true)).toBe(false)
    expect(mayResend(["GET", "k"], true)).toBe(true)
  })

  it("a PartFailure stands for each key of its part in a merged MGET", () => {
    const failure = new PartFailure(new RedisTimeoutError({ message: "no reply", phase: "reply", timeoutMillis: 1 }))
    expect(failure.code).toBe("PARTFAILED")
    // Keys 0 and 2 on part 0 (an MGET), key 1 on part 1 (a GET), key 3 on part 2 (failed).
    const merged = mergeReplies("array", 4, [0, 1, 0, 2], [0, -1, 1, -1], [[bulk("a"), bulk("c")], bulk("b"), failure])
    expect(Array.isArray(merged)).toBe(true)
    const values = merged as ReadonlyArray<Resp.RespValue>
    expect(values.slice(0, 3).map(text)).toEqual(["a", "b", "c"])
    expect(values[3]).toBe(failure)
    // A part whose failure reaches `mergeReplies` in a sum is not a value: the first error reply is the reply.
    expect(mergeReplies("sum", 2, [0, 1], [0, 0], [1, new Resp.ErrorReply("ERR x")])).toBeInstanceOf(Resp.ErrorReply)
  })
})

// --- fake nodes

type Answer = Resp.RespValue | "close" | "ignore" | { readonly after: number; readonly value: Resp.RespValue }

/**
 * A fake node: `behave` gets each command (as text) and answers a value, `"close"` to hang up there and then,
 * `"ignore"` for silence, or a value to write after a delay. The node's own `CLUSTER SHARDS` is unknown (a server
 * before 7.0); `slots` answers `CLUSTER SLOTS`.
 */
const fakeNode = (
  slots: () => Resp.RespValue,
  behave: (command: ReadonlyArray<string>) => Answer
): FakeServer.Handler =>
(socket) => {
  const parser = new Resp.Parser()
  socket.on("data", (chunk: Buffer) => {
    parser.feed(chunk, (value) => {
      if (socket.destroyed) return
      const command = (value as ReadonlyArray<Uint8Array>).map((part) => Buffer.from(part).toString("utf8"))
      const name = command[0]!.toUpperCase()
      let answer: Answer
      if (name === "CLUSTER" && command[1]?.toUpperCase() === "SHARDS") {
        answer = new Resp.ErrorReply("ERR unknown subcommand 'SHARDS'")
      } else if (name === "CLUSTER" && command[1]?.toUpperCase() === "SLOTS") answer = slots()
      else answer = behave(command)
      if (answer === "close") socket.destroy()
      else if (answer === "ignore") return
      else if (answer !== null && typeof answer === "object" && "after" in answer) {
        const { after, value: late } = answer
        setTimeout(() => {
          if (!socket.destroyed) socket.write(encodeValue(late))
        }, after)
      } else socket.write(encodeValue(answer))
    })
  })
}

/** A tiny store with the commands the tests run; `dropOnce` names keys whose first command runs, then hangs up. */
const store = () => {
  const strings = new Map<string, string>()
  const hashes = new Map<string, Map<string, string>>()
  const dropOnce = new Set<string>()
  const runs = new Map<string, number>()
  const run = (command: ReadonlyArray<string>): Resp.RespValue => {
    const [name, key = "", ...rest] = command
    switch (name!.toUpperCase()) {
      case "SET": {
        const options = rest.slice(1).map((option) => option.toUpperCase())
        const old = strings.get(key)
        const write = !(options.includes("NX") && old !== undefined)
        if (write) strings.set(key, rest[0]!)
        if (options.includes("GET")) return old === undefined ? null : bulk(old)
        return write ? "OK" : null
      }
      case "GET": {
        const value = strings.get(key)
        return value === undefined ? null : bulk(value)
      }
      case "DEL":
      case "UNLINK": {
        let n = 0
        for (const k of [key, ...rest]) if (strings.delete(k) || hashes.delete(k)) n++
        return n
      }
      case "HSET": {
        const hash = hashes.get(key) ?? new Map<string, string>()
        hashes.set(key, hash)
        let added = 0
        for (let i = 0; i + 1 < rest.length; i += 2) {
          if (!hash.has(rest[i]!)) added++
          hash.set(rest[i]!, rest[i + 1]!)
        }
        return added
      }
      case "HDEL": {
        const hash = hashes.get(key)
        let n = 0
        for (const field of rest) if (hash?.delete(field) === true) n++
        return n
      }
      case "INCR": {
        const next = Number(strings.get(key) ?? "0") + 1
        strings.set(key, String(next))
        return next
      }
      default:
        return new Resp.ErrorReply(`ERR unknown command '${name}'`)
    }
  }
  const behave = (command: ReadonlyArray<string>): Answer => {
    const key = command[1] ?? ""
    runs.set(command.join(" "), (runs.get(command.join(" ")) ?? 0) + 1)
    const reply = run(command)
    if (dropOnce.delete(key)) return "close"
    return reply
  }
  return { strings, hashes, dropOnce, runs, behave }
}

/** Starts one fake node serving every slot. */
const oneNode = (behave: (command: ReadonlyArray<string>) => Answer) =>
  Effect.gen(function*() {
    let port = 0
    const server = yield* FakeServer.make(fakeNode(() => [[0, 16383, ["127.0.0.1", port, "id1"]]], behave))
    port = server.port
    return server
  })

/** A loopback port nothing listens on: connecting to it is refused. */
const deadPort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A key whose slot is in [from, to]. */
const keyIn = (prefix: string, from: number, to: number): string => {
  for (let i = 0;; i++) {
    const key = `${prefix}${i}`
    const slot = keySlot(key)
    if (slot >= from && slot <= to) return key
  }
}

describe("the single-node client says when a failed command may have run", () => {
  it.live("written then the connection lost, or no reply in time: outcomeUnknown; refused: not", () =>
    Effect.scoped(Effect.gen(function*() {
      const closing = yield* FakeServer.make(FakeServer.fakeRedis(() => "close"))
      const lost = yield* Effect.flip(
        (yield* RedisClient.make({ host: closing.host, port: closing.port })).send(["SET", "k", "v", "NX"])
      )
      expect(lost._tag).toBe("RedisConnectionError")
      expect(isOutcomeUnknown(lost)).toBe(true)
      expect(lost.message).toContain("the command may have run; its outcome is unknown")

      const silent = yield* FakeServer.make(FakeServer.silent)
      const timedOut = yield* Effect.flip(
        (yield* RedisClient.make({ host: silent.host, port: silent.port, commandTimeout: "200 millis" })).send([
          "INCR",
          "k"
        ])
      )
      expect(timedOut._tag).toBe("RedisTimeoutError")
      expect(isOutcomeUnknown(timedOut)).toBe(true)

      const refused = yield* Effect.flip(
        (yield* RedisClient.make({ host: "127.0.0.1", port: yield* deadPort })).send(["INCR", "k"])
      )
      expect(refused._tag).toBe("RedisConnectionError")
      expect(isOutcomeUnknown(refused)).toBe(false)
    })))
})

describe("RedisCluster when a connection fails after the command was written (fake nodes)", () => {
  it.live("SET NX that ran and lost its reply: a typed outcome-unknown error, not \"not set\"", () =>
    Effect.scoped(Effect.gen(function*() {
      const data = store()
      const node = yield* oneNode(data.behave)
      const client = yield* RedisCluster.make({ nodes: [`127.0.0.1:${node.port}`], failoverWait: "2 seconds" })
      data.dropOnce.add("lock")
      const error = yield* Effect.flip(client.send(["SET", "lock", "me", "PX", "10000", "NX"]))
      expect(error._tag).toBe("RedisConnectionError")
      expect(isOutcomeUnknown(error)).toBe(true)
      expect(error.message).toContain("the command may have run; its outcome is unknown")
      // It ran once, and was not run again.
      expect(data.strings.get("lock")).toBe("me")
      expect(data.runs.get("SET lock me PX 10000 NX")).toBe(1)
    })))

  it.live("SET GET that ran and lost its reply: outcome unknown, never the new value as the old one", () =>
    Effect.scoped(Effect.gen(function*() {
      const data = store()
      const node = yield* oneNode(data.behave)
      const client = yield* RedisCluster.make({ nodes: [`127.0.0.1:${node.port}`], failoverWait: "2 seconds" })
      expect(yield* client.send(["SET", "k", "old"])).toBe("OK")
      data.dropOnce.add("k")
      const error = yield* Effect.flip(client.send(["SET", "k", "new", "GET"]))
      expect(isOutcomeUnknown(error)).toBe(true)
      expect(data.runs.get("SET k new GET")).toBe(1)
    })))

  it.live("DEL, UNLINK, HSET, HDEL that ran and lost their reply: outcome unknown, not the second run's count", () =>
    Effect.scoped(Effect.gen(function*() {
      const data = store()
      const node = yield* oneNode(data.behave)
      const client = yield* RedisCluster.make({ nodes: [`127.0.0.1:${node.port}`], failoverWait: "2 seconds" })
      const outcomes: Array<string> = []
      for (
        const [setup, command] of [
          [["SET", "d", "1"], ["DEL", "d"]],
          [["SET", "u", "1"], ["UNLINK", "u"]],
          [["SET", "x", "1"], ["HSET", "h", "f", "v"]],
          [["HSET", "g", "f", "v"], ["HDEL", "g", "f"]]
        ] as const
      ) {
        yield* client.send(setup)
        data.dropOnce.add(command[1])
        const exit = yield* Effect.exit(client.send(command))
        outcomes.push(
          `${command[0]}: ` + (Exit.isFailure(exit)
            ? (exit.cause._tag === "Fail" && isOutcomeUnknown(exit.cause.error) ? "unknown" : "other error")
            : `reply ${String(exit.value)}`)
        )
        expect(data.runs.get(command.join(" "))).toBe(1)
      }
      expect(outcomes).toEqual(["DEL: unknown", "UNLINK: unknown", "HSET: unknown", "HDEL: unknown"])
    })))

  it.live("RedisBackend's delete whose UNLINK lost its reply runs it again: a delete's count does not matter", () =>
    Effect.scoped(Effect.gen(function*() {
      const data = store()
      const node = yield* oneNode(data.behave)
      const client = yield* RedisCluster.make({ nodes: [`127.0.0.1:${node.port}`], failoverWait: "2 seconds" })
      const backend = yield* Effect.provideService(
        RedisBackend.make({ prefix: "p:" }),
        RedisClient.RedisClient,
        client
      )
      yield* backend.set("gone", "v")
      data.dropOnce.add("p:gone")
      yield* backend.delete("gone")
      expect(data.runs.get("UNLINK p:gone")).toBe(2)
      expect(data.strings.has("p:gone")).toBe(false)
    })))

  it.live("a GET that lost its reply is sent again and answered (it runs twice alike)", () =>
    Effect.scoped(Effect.gen(function*() {
      const data = store()
      const node = yield* oneNode(data.behave)
      const client = yield* RedisCluster.make({ nodes: [`127.0.0.1:${node.port}`], failoverWait: "2 seconds" })
      yield* client.send(["SET", "r", "v"])
      data.dropOnce.add("r")
      expect(text(yield* client.send(["GET", "r"]))).toBe("v")
      expect(data.runs.get("GET r")).toBe(2)
    })))

  it.live("a command refused before it was written is sent again, whatever it is: INCR reaches the new primary", () =>
    Effect.scoped(Effect.gen(function*() {
      const dead = yield* deadPort
      const data = store()
      let port = 0
      let topologyReads = 0
      // First the cluster says a node that is now down serves every slot; the next read names this one (promoted).
      const node = yield* FakeServer.make(fakeNode(
        () =>
          ++topologyReads === 1
            ? [[0, 16383, ["127.0.0.1", dead, "old"]]]
            : [[0, 16383, ["127.0.0.1", port, "new"]]],
        data.behave
      ))
      port = node.port
      const client = yield* RedisCluster.make({ nodes: [`127.0.0.1:${node.port}`], failoverWait: "3 seconds" })
      expect(yield* client.send(["INCR", "counter"])).toBe(1)
      expect(data.runs.get("INCR counter")).toBe(1)
    })))

  it.live("connection failures before a MOVED do not use up maxRedirections: the MOVED is still followed", () =>
    Effect.scoped(Effect.gen(function*() {
      let port = 0
      let gets = 0
      const node = yield* FakeServer.make(fakeNode(
        () => [[0, 16383, ["127.0.0.1", port, "id1"]]],
        (command) => {
          if (command[0]!.toUpperCase() !== "GET") return "OK"
          gets++
          // Three lost connections, then two MOVED (to itself), then the value.
          if (gets <= 3) return "close"
          if (gets <= 5) return new Resp.ErrorReply(`MOVED ${keySlot(command[1]!)} 127.0.0.1:${port}`)
          return bulk("found")
        }
      ))
      port = node.port
      const client = yield* RedisCluster.make({
        nodes: [`127.0.0.1:${node.port}`],
        maxRedirections: 2,
        failoverWait: "5 seconds",
        reconnectBaseDelay: "5 millis",
        reconnectMaxDelay: "20 millis"
      })
      expect(text(yield* client.send(["GET", "k"]))).toBe("found")
      expect(gets).toBe(6)
    })))

  it.live("a split command: one node's failure waits for the other node's share, whose connection stays in step", () =>
    Effect.scoped(Effect.gen(function*() {
      const low = keyIn("low:", 0, 8191)
      const high = keyIn("high:", 8192, 16383)
      let lowPort = 0
      let highPort = 0
      const topology = () => [[0, 8191, ["127.0.0.1", lowPort, "a"]], [8192, 16383, ["127.0.0.1", highPort, "b"]]]
      let lowAnsweredAt = 0
      const lowData = store()
      // The healthy node answers its share of the DEL slowly.
      const lowNode = yield* FakeServer.make(fakeNode(topology, (command) => {
        const reply = lowData.behave(command)
        if (command[0]!.toUpperCase() !== "DEL") return reply
        setTimeout(() => (lowAnsweredAt = performance.now()), 600)
        return { after: 600, value: reply as Resp.RespValue }
      }))
      lowPort = lowNode.port
      const highData = store()
      const highNode = yield* FakeServer.make(fakeNode(topology, highData.behave))
      highPort = highNode.port
      const client = yield* RedisCluster.make({ nodes: [`127.0.0.1:${lowPort}`], failoverWait: "2 seconds" })
      yield* client.send(["SET", low, "1"])
      yield* client.send(["SET", high, "1"])
      highData.dropOnce.add(high)
      const exit = yield* Effect.exit(client.send(["DEL", low, high]))
      const failedAt = performance.now()
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit) && exit.cause._tag === "Fail") expect(isOutcomeUnknown(exit.cause.error)).toBe(true)
      else expect.unreachable("the DEL must fail with a typed error")
      // The healthy node's share was answered before the command failed.
      expect(lowAnsweredAt).toBeGreaterThan(0)
      expect(failedAt).toBeGreaterThanOrEqual(lowAnsweredAt)
      // Both nodes' connections answer the next commands with their own replies.
      yield* client.send(["SET", low, "after"])
      expect(text(yield* client.send(["GET", low]))).toBe("after")
      const both = (yield* client.send(["MGET", low, high])) as ReadonlyArray<Resp.RespValue>
      expect(both.map(text)).toEqual(["after", null])
    })))

  it.live("sendSettled MGET: keys of a silent node are PartFailures, the others' values arrive", () =>
    Effect.scoped(Effect.gen(function*() {
      let lowPort = 0
      let highPort = 0
      const topology = () => [[0, 8191, ["127.0.0.1", lowPort, "a"]], [8192, 16383, ["127.0.0.1", highPort, "b"]]]
      const lowData = store()
      const lowNode = yield* FakeServer.make(fakeNode(topology, lowData.behave))
      lowPort = lowNode.port
      const highNode = yield* FakeServer.make(fakeNode(topology, (command) => {
        const name = command[0]!.toUpperCase()
        return name === "GET" || name === "MGET" ? "ignore" : "OK"
      }))
      highPort = highNode.port
      const client = yield* RedisCluster.make({
        nodes: [`127.0.0.1:${lowPort}`],
        commandTimeout: "300 millis",
        failoverWait: "300 millis"
      })
      const lows = Array.from({ length: 5 }, (_, i) => keyIn(`low${i}:`, 0, 8191))
      const highs = Array.from({ length: 5 }, (_, i) => keyIn(`high${i}:`, 8192, 16383))
      for (const key of lows) yield* client.send(["SET", key, key])
      const keys = lows.flatMap((low, i) => [low, highs[i]!])
      expect(clientSeamOf(client).sendSettled).toBeDefined()
      const reply = (yield* clientSeamOf(client).sendSettled!(["MGET", ...keys])) as ReadonlyArray<Resp.RespValue>
      expect(reply).toHaveLength(keys.length)
      keys.forEach((key, i) => {
        if (key.startsWith("low")) expect(text(reply[i]!)).toBe(key)
        else {
          expect(reply[i]).toBeInstanceOf(PartFailure)
          expect((reply[i] as PartFailure).error._tag).toMatch(/RedisTimeoutError|RedisConnectionError/)
        }
      })
      // Public send keeps one command, one outcome: it fails, with the node's typed error.
      const error = yield* Effect.flip(client.send(["MGET", ...keys]))
      expect(error._tag).toMatch(/RedisTimeoutError|RedisConnectionError/)
    })))
})

describe("RedisCluster when a node hangs (real cluster, SIGSTOP)", () => {
  // A long node timeout: the paused node is not failed over during a test, so its keys stay its own.
  layer(TestCluster.layer({ nodeTimeoutMillis: 30_000 }), { excludeTestServices: true, timeout: 180_000 })((it) => {
    /** Pauses node `index` for the rest of the scope (resumed when it closes). */
    const pausing = (cluster: TestCluster["Type"], index: number) =>
      Effect.acquireRelease(cluster.pause(index), () => cluster.resume(index))

    it.scoped("300 reads in one sendSettled MGET, one primary paused: every key on a healthy primary answered", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const client = yield* RedisCluster.make({
          nodes: cluster.urls,
          commandTimeout: "500 millis",
          failoverWait: "500 millis"
        })
        const keys = Array.from({ length: 300 }, (_, i) => `batch:${i}`)
        for (const key of keys) yield* client.send(["SET", key, key])
        const primaries = yield* cluster.primaries
        const victim = primaries[0]!
        const owners = yield* Effect.forEach(keys, (key) => Effect.flatMap(cluster.keySlot(key), cluster.ownerOf))
        yield* pausing(cluster, victim)
        const reply = (yield* clientSeamOf(client).sendSettled!(["MGET", ...keys])) as ReadonlyArray<Resp.RespValue>
        let healthy = 0
        let healthyAnswered = 0
        let stopped = 0
        let stoppedFailed = 0
        keys.forEach((key, i) => {
          if (owners[i] === victim) {
            stopped++
            if (reply[i] instanceof PartFailure) stoppedFailed++
          } else {
            healthy++
            if (text(reply[i]!) === key) healthyAnswered++
          }
        })
        console.log(
          `sendSettled over a paused primary: ${healthyAnswered}/${healthy} healthy-node keys answered, ` +
            `${stoppedFailed}/${stopped} paused-node keys PartFailure`
        )
        expect(healthy).toBeGreaterThan(150)
        expect(healthyAnswered).toBe(healthy)
        expect(stoppedFailed).toBe(stopped)
      }))

    it.scoped("RedisBackend.getMany with one primary paused: its keys fail, typed, carrying the others' values", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const client = yield* RedisCluster.make({
          nodes: cluster.urls,
          commandTimeout: "500 millis",
          failoverWait: "500 millis"
        })
        const backend = yield* Effect.provideService(
          RedisBackend.make({ prefix: "gmp:" }),
          RedisClient.RedisClient,
          client
        )
        const cache = yield* RemoteCache.fromBackend(backend, RemoteCache.defaultPolicy)
        const keys = Array.from({ length: 200 }, (_, i) => `k:${i}`)
        yield* backend.setMany(keys.map((key) => [key, key]))
        const primaries = yield* cluster.primaries
        const victim = primaries[1]!
        const owners = yield* Effect.forEach(
          keys,
          (key) => Effect.flatMap(cluster.keySlot(`gmp:${key}`), cluster.ownerOf)
        )
        yield* pausing(cluster, victim)
        const expected = keys.map((key, i) => owners[i] === victim ? Option.none() : Option.some(key))
        expect(expected.filter(Option.isNone).length).toBeGreaterThan(20)
        const failed = yield* Effect.flip(backend.getMany(keys))
        expect(["CacheTimeoutError", "CacheConnectionError"]).toContain(failed._tag)
        expect(failed.operation).toBe("getMany")
        expect(failed.partial).toStrictEqual(expected)
        // Under the default policy only the paused node's keys are misses.
        expect(yield* cache.getMany(keys)).toStrictEqual(expected)
      }))

    it.scoped("PING and PUBLISH with one primary paused: all answered, by healthy primaries", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const client = yield* RedisCluster.make({
          nodes: cluster.urls,
          commandTimeout: "500 millis",
          failoverWait: "2 seconds"
        })
        yield* client.send(["PING"])
        const primaries = yield* cluster.primaries
        yield* pausing(cluster, primaries[1]!)
        const results = yield* Effect.forEach(
          Array.from({ length: 48 }, (_, i) => i),
          (i) => Effect.exit(i % 2 === 0 ? client.send(["PING"]) : client.publish("failures:bus", `m${i}`)),
          { concurrency: 8 }
        )
        const failures = results.filter(Exit.isFailure)
        console.log(`keyless commands with a paused primary: ${failures.length} of ${results.length} failed`)
        expect(failures).toHaveLength(0)
      }))

    it.scoped("readFromReplicas with a paused replica: its reads are answered by the primary", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster
        const writer = yield* RedisCluster.make({ nodes: cluster.urls })
        const reader = yield* RedisCluster.make({
          nodes: cluster.urls,
          readFromReplicas: true,
          commandTimeout: "500 millis",
          failoverWait: "500 millis"
        })
        const primaries = yield* cluster.primaries
        // A replica and the primary it follows.
        let replica = -1
        let primary = -1
        for (let i = 0; i < 6 && replica < 0; i++) {
          if (primaries.includes(i)) continue
          const role = yield* cluster.servers[i]!.cli("ROLE")
          const port = Number(role.split("\n")[2])
          const followed = cluster.servers.findIndex((server) => server.port === port)
          if (followed >= 0) {
            replica = i
            primary = followed
          }
        }
        expect(replica).toBeGreaterThanOrEqual(0)
        const keys: Array<string> = []
        for (let i = 0; keys.length < 12; i++) {
          const key = `replica-read:${i}`
          if ((yield* cluster.ownerOf(yield* cluster.keySlot(key))) === primary) keys.push(key)
        }
        for (const key of keys) yield* writer.send(["SET", key, key])
        // Wait until the replicas have them, so every read below is answered with the value wherever it goes.
        yield* eventually(
          reader.send(["MGET", ...keys]),
          (values) => (values as ReadonlyArray<Resp.RespValue>).every((value, i) => text(value) === keys[i])
        )
        yield* pausing(cluster, replica)
        const results = yield* Effect.forEach(keys, (key) => Effect.exit(reader.send(["GET", key])))
        const wrong = results.filter((exit, i) => !(Exit.isSuccess(exit) && text(exit.value) === keys[i]))
        console.log(`reads with a paused replica: ${wrong.length} of ${results.length} not answered with the value`)
        expect(wrong).toHaveLength(0)
      }))
  })
})
