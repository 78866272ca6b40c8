/**
 * The cluster client against a hand-written node, for replies a healthy cluster gives only by chance: a server
 * without `CLUSTER SHARDS`, endless `MOVED`, `TRYAGAIN` and `CLUSTERDOWN` that clear up, `ASK`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as RedisCluster from "../src/RedisCluster.js"
import * as Resp from "../src/Resp.js"
import * as FakeServer from "./utils/FakeServer.js"

/** A bulk string reply (a Buffer would be written as raw bytes). */
const bulk = (text: string): Uint8Array => new TextEncoder().encode(text)

/** One node serving every slot, answering `CLUSTER SLOTS` only (a server before 7.0), with scripted keys. */
const oneNode = () => {
  let port = 0
  const seen: Array<string> = []
  const counts = new Map<string, number>()
  let asking = false
  const handler = FakeServer.fakeRedis((_connection, command) => {
    const name = command[0]!.toUpperCase()
    seen.push(command.join(" "))
    if (name === "CLUSTER" && command[1]!.toUpperCase() === "SHARDS") {
      return new Resp.ErrorReply("ERR unknown subcommand 'SHARDS'. Try CLUSTER HELP.")
    }
    if (name === "CLUSTER" && command[1]!.toUpperCase() === "SLOTS") return [[0, 16383, ["127.0.0.1", port, "id1"]]]
    if (name === "ASKING") {
      asking = true
      return "OK"
    }
    const wasAsking = asking
    asking = false
    const key = command[1] ?? ""
    const n = (counts.get(key) ?? 0) + 1
    counts.set(key, n)
    switch (key) {
      case "loop":
        return new Resp.ErrorReply(`MOVED 1 127.0.0.1:${port}`)
      case "tryagain":
        return n <= 3 ? new Resp.ErrorReply("TRYAGAIN Multiple keys request during rehashing of slot") : bulk("ok")
      case "down":
        return n <= 2 ? new Resp.ErrorReply("CLUSTERDOWN The cluster is down") : bulk("ok")
      case "ask":
        return wasAsking ? bulk("asked") : new Resp.ErrorReply(`ASK 2 127.0.0.1:${port}`)
      default:
        return bulk("plain")
    }
  })
  return { handler, seen, counts, setPort: (p: number) => (port = p) }
}

describe("RedisCluster against a scripted node", () => {
  it.live("falls back to CLUSTER SLOTS, retries TRYAGAIN and CLUSTERDOWN, follows ASK with ASKING, bounds MOVED", () =>
    Effect.scoped(Effect.gen(function*() {
      const node = oneNode()
      const fake = yield* FakeServer.make(node.handler)
      node.setPort(fake.port)
      const client = yield* RedisCluster.make({ nodes: [`${fake.host}:${fake.port}`], maxRedirections: 5 })
      const text = (value: Resp.RespValue) => Buffer.from(value as Uint8Array).toString()

      expect(text(yield* client.send(["GET", "x"]))).toBe("plain")
      expect(node.seen).toContain("CLUSTER SLOTS")

      expect(text(yield* client.send(["GET", "tryagain"]))).toBe("ok")
      expect(node.counts.get("tryagain")).toBe(4)
      expect(text(yield* client.send(["GET", "down"]))).toBe("ok")
      expect(node.counts.get("down")).toBe(3)

      expect(text(yield* client.send(["GET", "ask"]))).toBe("asked")
      const askAt = node.seen.lastIndexOf("GET ask")
      expect(node.seen[askAt - 1]).toBe("ASKING")

      // MOVED to the same place forever: the first try plus maxRedirections, then a typed error.
      const error = yield* Effect.flip(client.send(["GET", "loop"]))
      expect(error._tag).toBe("RedisReplyError")
      expect(error._tag === "RedisReplyError" && error.code).toBe("MOVED")
      expect(node.counts.get("loop")).toBe(6)

      // In a pipeline the same rules apply and error replies stay values.
      const replies = yield* client.pipeline([["GET", "x"], ["GET", "loop"], ["GET", "ask"]])
      expect(text(replies[0]!)).toBe("plain")
      expect((replies[1] as Resp.ErrorReply).code).toBe("MOVED")
      expect(text(replies[2]!)).toBe("asked")
    })))
})
