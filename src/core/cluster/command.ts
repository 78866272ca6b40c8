/**
 * What the cluster client needs to know about a command: where its key is, whether it has several keys that may
 * live in different slots (and how to put their replies back together), and whether running it twice is harmless.
 *
 * @internal
 */
import * as Resp from "../resp/resp.js"
import type { Command } from "../resp/resp.js"
import { PartFailure } from "./partFailure.js"

/**
 * How a command is routed.
 *
 * - `key`: one key, at `index`; routed to the key's slot.
 * - `none`: no key (`PING`, `SCAN`, `INFO`, `PUBLISH`…); any primary answers.
 * - `split`: several keys, split by slot and merged (`MGET`, `MSET`, `DEL`, `UNLINK`, `EXISTS`, `TOUCH`).
 * - `script`: `EVAL`-like, `numkeys` at index 2, first key at 3 (no key: any primary).
 * - `admin`: `SCRIPT` and `FUNCTION`, no key; some subcommands are sent to every node (see `broadcastOf`), the
 *   others to any primary, as `none`.
 *
 * @internal
 */
export type Route =
  | { readonly _tag: "key"; readonly index: number }
  | { readonly _tag: "none" }
  | { readonly _tag: "admin" }
  | { readonly _tag: "split"; readonly merge: "array" | "sum" | "ok"; readonly step: 1 | 2 }
  | { readonly _tag: "script" }
  | { readonly _tag: "streams" }

const firstKey: Route = { _tag: "key", index: 1 }
const keyless: Route = { _tag: "none" }

const routes = new Map<string, Route>([
  ["MGET", { _tag: "split", merge: "array", step: 1 }],
  ["DEL", { _tag: "split", merge: "sum", step: 1 }],
  ["UNLINK", { _tag: "split", merge: "sum", step: 1 }],
  ["EXISTS", { _tag: "split", merge: "sum", step: 1 }],
  ["TOUCH", { _tag: "split", merge: "sum", step: 1 }],
  ["MSET", { _tag: "split", merge: "ok", step: 2 }],
  ["EVAL", { _tag: "script" }],
  ["EVALSHA", { _tag: "script" }],
  ["EVAL_RO", { _tag: "script" }],
  ["EVALSHA_RO", { _tag: "script" }],
  ["FCALL", { _tag: "script" }],
  ["FCALL_RO", { _tag: "script" }],
  ["XREAD", { _tag: "streams" }],
  ["XREADGROUP", { _tag: "streams" }],
  ["OBJECT", { _tag: "key", index: 2 }],
  ["MEMORY", { _tag: "key", index: 2 }],
  ["SCRIPT", { _tag: "admin" }],
  ["FUNCTION", { _tag: "admin" }],
  ...[
    "PING",
    "ECHO",
    "INFO",
    "SCAN",
    "DBSIZE",
    "FLUSHALL",
    "FLUSHDB",
    "PUBLISH",
    "SPUBLISH",
    "TIME",
    "CLUSTER",
    "CONFIG",
    "CLIENT",
    "COMMAND",
    "RANDOMKEY",
    "KEYS",
    "WAIT",
    "LASTSAVE",
    "ROLE",
    "DEBUG",
    "SLOWLOG",
    "LATENCY",
    "ACL",
    "AUTH",
    "HELLO",
    "READONLY",
    "READWRITE",
    "ASKING",
    "PUBSUB",
    "MULTI",
    "EXEC",
    "DISCARD",
    "SAVE",
    "BGSAVE",
    "BGREWRITEAOF",
    "LOLWUT",
    "SWAPDB",
    "SELECT",
    "QUIT",
    "RESET",
    "SHUTDOWN",
    "MODULE",
    "FAILOVER",
    "REPLICAOF",
    "SLAVEOF"
  ].map((name) => [name, keyless] as const)
])

/** Looked up by the name exactly as given, so the upper-casing happens once per spelling, not once per command. */
const cache = new Map<string, Route>()

const nameOf = (command: Command): string => {
  const name = command[0]!
  return typeof name === "string" ? name : Buffer.from(name).toString("latin1")
}

/**
 * The route of a command; any name not listed has its key as the first argument (`GET`, `SET`, `HGET`, `PTTL`…).
 *
 * @internal
 */
export const routeOf = (command: Command): Route => {
  const name = nameOf(command)
  let route = cache.get(name)
  if (route === undefined) {
    route = routes.get(name.toUpperCase()) ?? firstKey
    if (cache.size < 1_000) cache.set(name, route)
  }
  // A keyed command without its key (`GET` alone) is the server's to reject: any node does.
  if (route._tag === "key" && command.length <= route.index) return keyless
  return route
}

/**
 * The key a script-like or stream-reading command is routed by, `undefined` when it has none.
 *
 * @internal
 */
export const specialKey = (route: Route, command: Command): string | Uint8Array | undefined => {
  if (route._tag === "script") {
    const numkeys = Number(typeof command[2] === "string" ? command[2] : Buffer.from(command[2] ?? "").toString())
    return numkeys > 0 ? command[3] : undefined
  }
  if (route._tag === "streams") {
    for (let i = 1; i < command.length; i++) {
      const arg = command[i]!
      const text = typeof arg === "string" ? arg : Buffer.from(arg).toString("latin1")
      if (text.toUpperCase() === "STREAMS") return command[i + 1]
    }
  }
  return undefined
}

/**
 * Commands whose effect and reply are the same on a second run whatever their arguments: reads, and writes that
 * set a value outright (`MSET`, `SETEX`), each answering a constant or the state it reads.
 */
const runsTwiceAlike = new Set([
  "GET",
  "MGET",
  "EXISTS",
  "TOUCH",
  "PTTL",
  "TTL",
  "PEXPIRETIME",
  "EXPIRETIME",
  "STRLEN",
  "GETRANGE",
  "TYPE",
  "HGET",
  "HMGET",
  "HGETALL",
  "HEXISTS",
  "HLEN",
  "HKEYS",
  "HVALS",
  "HSTRLEN",
  "LRANGE",
  "LLEN",
  "LINDEX",
  "SMEMBERS",
  "SISMEMBER",
  "SMISMEMBER",
  "SCARD",
  "ZRANGE",
  "ZSCORE",
  "ZCARD",
  "ZRANK",
  "SCAN",
  "HSCAN",
  "SSCAN",
  "ZSCAN",
  "KEYS",
  "DBSIZE",
  "INFO",
  "TIME",
  "PING",
  "ECHO",
  "ROLE",
  "LASTSAVE",
  "EVAL_RO",
  "EVALSHA_RO",
  "FCALL_RO",
  "MSET",
  "SETEX",
  "PSETEX",
  "HMSET",
  // A message may then be delivered twice. Subscribers of this library's invalidation bus drop a key from L1 on
  // each message, which is the same done twice; an application whose messages count must not publish through a
  // connection that may fail, or must de-duplicate.
  "PUBLISH",
  "SPUBLISH"
])

/** `SET`'s options that leave its effect and reply the same on a second run; each names the arguments it takes. */
const plainSetOptions = new Map([["EX", 1], ["PX", 1], ["EXAT", 1], ["PXAT", 1], ["KEEPTTL", 0]])

/** `CLUSTER` and `SCRIPT` subcommands that only read (or, `SCRIPT LOAD`, give the same digest each time). */
const readingSubcommands = new Set([
  "CLUSTER SHARDS",
  "CLUSTER SLOTS",
  "CLUSTER NODES",
  "CLUSTER INFO",
  "CLUSTER MYID",
  "CLUSTER KEYSLOT",
  "CLUSTER COUNTKEYSINSLOT",
  "CLUSTER GETKEYSINSLOT",
  "SCRIPT EXISTS",
  "SCRIPT LOAD",
  "COMMAND COUNT",
  "COMMAND INFO",
  "COMMAND DOCS"
])

const upperText = (arg: string | Uint8Array | undefined): string =>
  arg === undefined ? "" : (typeof arg === "string" ? arg : Buffer.from(arg).toString("latin1")).toUpperCase()

/**
 * `true` when running the command a second time leaves the data as one run does AND answers what the first run
 * would have answered, judged by its name and its arguments: a read, `GET`, `MGET`, `EXISTS`, `PTTL`, `TOUCH`, a
 * plain `SET k v [EX|PX|EXAT|PXAT n | KEEPTTL]`, `MSET`, `EXPIRE`/`PEXPIRE` without a condition, `PING`, `ECHO`,
 * `PUBLISH` (delivered twice then). Not: `SET` with `NX`, `XX`, `GET` or any other condition (the second run
 * answers "not set", or the first run's value as the old one), `DEL`, `UNLINK`, `HSET`, `HDEL` (the second run's
 * count), `PERSIST`, `INCR`, `LPUSH`, scripts that write, anything unknown.
 *
 * Only a command that was written to its connection before the connection failed or timed out needs this: one
 * never written (connection refused, not open) is always safe to send again.
 *
 * @internal
 */
export const isSafeToRunTwice = (command: Command): boolean => {
  const name = nameOf(command).toUpperCase()
  if (runsTwiceAlike.has(name)) return true
  switch (name) {
    case "SET": {
      if (command.length < 3) return false
      for (let i = 3; i < command.length; i++) {
        const takes = plainSetOptions.get(upperText(command[i]))
        if (takes === undefined) return false
        i += takes
      }
      return true
    }
    // With NX, XX, GT or LT the second run answers 0 where the first set it.
    case "EXPIRE":
    case "PEXPIRE":
    case "EXPIREAT":
    case "PEXPIREAT":
      return command.length === 3
    case "CLUSTER":
    case "SCRIPT":
    case "COMMAND":
      return readingSubcommands.has(`${name} ${upperText(command[1])}`)
    default:
      return false
  }
}

/**
 * Whether a command whose connection failed (or that timed out) may be sent again: always when it was never
 * written (`outcomeUnknown` false: refused, not open, waiting for room), else only when {@link isSafeToRunTwice}.
 *
 * @internal
 */
export const mayResend = (command: Command, outcomeUnknown: boolean): boolean =>
  !outcomeUnknown || isSafeToRunTwice(command)

/**
 * The upper-cased command name, as error messages show it.
 *
 * @internal
 */
export const commandName = (command: Command): string => nameOf(command).toUpperCase()

/**
 * Puts the replies of a split command back together: `MGET`'s values in the caller's order, the sum of the counts
 * of `DEL`/`UNLINK`/`EXISTS`/`TOUCH`, `OK` for `MSET`. The first error reply of any part is the reply.
 *
 * Key `k` of the command went to part `partOf[k]`, at index `indexIn[k]` of that part's `MGET`, or alone as a `GET`
 * where `indexIn[k]` is -1: that reply is the value itself, and its `WRONGTYPE` (a key holding no string) is the
 * nil `MGET` gives.
 *
 * @internal
 */
export const mergeReplies = (
  merge: "array" | "sum" | "ok",
  total: number,
  partOf: ReadonlyArray<number>,
  indexIn: ReadonlyArray<number>,
  replies: ReadonlyArray<Resp.RespValue>
): Resp.RespValue => {
  for (let p = 0; p < replies.length; p++) {
    const reply = replies[p]
    // Only a GET says WRONGTYPE among the commands split here.
    if (
      reply instanceof Resp.ErrorReply &&
      !(merge === "array" && (reply.code === "WRONGTYPE" || reply instanceof PartFailure))
    ) return reply
  }
  switch (merge) {
    case "ok":
      return "OK"
    case "sum": {
      let sum = 0
      for (const reply of replies) sum += typeof reply === "number" ? reply : 0
      return sum
    }
    case "array": {
      const out = new Array<Resp.RespValue>(total)
      for (let k = 0; k < total; k++) {
        const reply = replies[partOf[k]!]
        const index = indexIn[k]!
        if (reply instanceof PartFailure) {
          out[k] = reply
        } else if (index === -1 && !Array.isArray(reply)) {
          out[k] = reply instanceof Resp.ErrorReply ? null : reply ?? null
        } else if (index >= 0 && Array.isArray(reply) && index < reply.length) {
          out[k] = reply[index]
        } else {
          return new Resp.ErrorReply("ERR unexpected reply to a part of MGET")
        }
      }
      return out
    }
  }
}

const readOnly = new Set([
  "GET",
  "MGET",
  "PTTL",
  "TTL",
  "EXISTS",
  "STRLEN",
  "GETRANGE",
  "TYPE",
  "HGET",
  "HMGET",
  "HGETALL",
  "HEXISTS",
  "HLEN",
  "LRANGE",
  "LLEN",
  "SMEMBERS",
  "SISMEMBER",
  "SCARD",
  "ZRANGE",
  "ZSCORE",
  "ZCARD"
])

/**
 * `true` for the reads a replica may serve after `READONLY`.
 *
 * @internal
 */
export const isReadOnly = (command: Command): boolean => readOnly.has(nameOf(command).toUpperCase())

/** Subcommands whose effect must be on every node that may run the script, upper-cased `NAME SUB`. */
const broadcasts = new Map<string, "nodes" | "primaries">([
  // The script cache is per node and not replicated (Redis 7.0: a replica of a primary that loaded a script does not
  // have it), so a load goes to the replicas too: one promoted by a failover still knows the script.
  ["SCRIPT LOAD", "nodes"],
  ["SCRIPT FLUSH", "nodes"],
  // Functions are replicated (and a replica refuses FUNCTION LOAD as a write): the primaries suffice.
  ["FUNCTION LOAD", "primaries"],
  ["FUNCTION DELETE", "primaries"],
  ["FUNCTION FLUSH", "primaries"],
  ["FUNCTION RESTORE", "primaries"]
])

/**
 * Where an `admin` command runs: on every node the topology lists as healthy, primaries first (`"nodes"`), on
 * every primary (`"primaries"`), or `undefined`: on any primary, as a command without a key (`SCRIPT EXISTS`,
 * `FUNCTION LIST`…).
 *
 * @internal
 */
export const broadcastOf = (command: Command): "nodes" | "primaries" | undefined =>
  command.length < 2 ? undefined : broadcasts.get(adminName(command))

/**
 * The upper-cased name and subcommand of a `SCRIPT` / `FUNCTION` command (`SCRIPT LOAD`), as messages show it.
 *
 * @internal
 */
export const adminName = (command: Command): string => {
  const sub = command[1]
  if (sub === undefined) return commandName(command)
  const text = typeof sub === "string" ? sub : Buffer.from(sub).toString("latin1")
  return `${commandName(command)} ${text.toUpperCase()}`
}

/**
 * What one node did with a broadcast command: its reply (error replies included), or why it gave none.
 *
 * @internal
 */
export type BroadcastOutcome =
  | { readonly address: string; readonly reply: Resp.RespValue }
  | { readonly address: string; readonly failure: string }

const sameReply = (a: Resp.RespValue, b: Resp.RespValue): boolean => {
  if (a === b) return true
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a).equals(Buffer.from(b))
  return false
}

const show = (reply: Resp.RespValue): string =>
  reply instanceof Uint8Array ? Buffer.from(reply).toString("utf8") : String(reply)

/**
 * The reply of a command sent to several nodes (`outcomes` in the order they were asked, the first primary
 * first): the first node's reply when every node answered the same; otherwise an error saying which node did not
 * and how many did. `connection` is set when a node gave no reply at all (connection lost, timeout), which the
 * caller reports as a connection error; an error reply keeps the node's error code.
 *
 * @internal
 */
export const mergeBroadcast = (
  name: string,
  outcomes: ReadonlyArray<BroadcastOutcome>
): { readonly reply: Resp.RespValue } | { readonly connection: string } => {
  const total = outcomes.length
  let ran = 0
  let failed: { readonly address: string; readonly failure: string } | undefined
  let refused: { readonly address: string; readonly reply: Resp.ErrorReply } | undefined
  for (const outcome of outcomes) {
    if ("failure" in outcome) failed ??= outcome
    else if (outcome.reply instanceof Resp.ErrorReply) refused ??= { address: outcome.address, reply: outcome.reply }
    else ran++
  }
  const tally = `${ran} of ${total} node${total === 1 ? "" : "s"} ran ${name}`
  if (failed !== undefined) {
    return { connection: `${name} got no reply from ${failed.address} (${failed.failure}); ${tally}` }
  }
  if (refused !== undefined) {
    return { reply: new Resp.ErrorReply(`${refused.reply.message} (on ${refused.address}; ${tally})`) }
  }
  if (total === 0) return { reply: new Resp.ErrorReply(`CLUSTERDOWN no node is known to run ${name} on`) }
  const first = outcomes[0] as { readonly address: string; readonly reply: Resp.RespValue }
  for (let i = 1; i < total; i++) {
    const other = outcomes[i] as { readonly address: string; readonly reply: Resp.RespValue }
    if (!sameReply(first.reply, other.reply)) {
      return {
        reply: new Resp.ErrorReply(
          `ERR the nodes answered ${name} differently: ${show(first.reply)} on ${first.address}, ${
            show(other.reply)
          } on ${other.address}`
        )
      }
    }
  }
  return { reply: first.reply }
}
