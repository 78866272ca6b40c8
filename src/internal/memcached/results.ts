/**
 * Meta replies as the typed results of `MemcachedClient`'s commands. An error line fails the command with
 * `MemcachedReplyError` (the connection stays usable); a status a command cannot get fails it with
 * `MemcachedProtocolError`.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import { Buffer } from "node:buffer"
import type { MetaReply, ReturnFlags } from "../../core/memcached/meta.js"
import { type MemcachedError, MemcachedProtocolError, MemcachedReplyError } from "../../MemcachedError.js"
import type {
  MetaArithmeticResult,
  MetaDeleteResult,
  MetaFlags,
  MetaGetManyResult,
  MetaGetResult,
  MetaSetManyResult,
  MetaSetResult
} from "./types.js"

/**
 * The public flags of a reply's.
 *
 * @internal
 */
export const publicFlags = (flags: ReturnFlags): MetaFlags => {
  const out: {
    -readonly [K in keyof MetaFlags]: MetaFlags[K]
  } = { win: flags.win, alreadyWon: flags.alreadyWon, stale: flags.stale }
  if (flags.ttl !== undefined) out.ttl = flags.ttl
  if (flags.cas !== undefined) out.cas = flags.cas
  if (flags.clientFlags !== undefined) out.clientFlags = flags.clientFlags
  if (flags.size !== undefined) out.size = flags.size
  if (flags.hit !== undefined) out.hit = flags.hit
  if (flags.lastAccess !== undefined) out.lastAccess = flags.lastAccess
  if (flags.key !== undefined) out.key = Buffer.from(flags.key, flags.base64 ? "base64" : "latin1")
  return out
}

const replyError = (reply: Extract<MetaReply, { _tag: "Error" }>, command: string, server: string) =>
  new MemcachedReplyError({
    message: reply.message === "" ? reply.kind : reply.message,
    kind: reply.kind,
    command,
    server
  })

const unexpected = (status: string, command: string, server: string) =>
  new MemcachedProtocolError({ message: `${server} answered ${command} with ${status}`, server })

/**
 * `mg`'s reply as a result, or its error; `undefined` (the quiet outcome of a batch) is a miss.
 *
 * @internal
 */
export const getResult = (
  reply: MetaReply | undefined,
  server: string
): MetaGetResult | MemcachedError => {
  if (reply === undefined) return { kind: "miss", flags: { win: false, alreadyWon: false, stale: false } }
  if (reply._tag === "Error") return replyError(reply, "mg", server)
  switch (reply.status) {
    case "VA":
      return { kind: "hit", value: reply.value, flags: publicFlags(reply.flags) }
    case "HD":
      return { kind: "hit", value: undefined, flags: publicFlags(reply.flags) }
    case "EN":
      return { kind: "miss", flags: publicFlags(reply.flags) }
    default:
      return unexpected(reply.status, "mg", server)
  }
}

/** A result or an error, as an effect. */
const lift = <A>(result: A | MemcachedError): Effect.Effect<A, MemcachedError> =>
  typeof result === "object" && result !== null && "_tag" in result
    ? Effect.fail(result as MemcachedError)
    : Effect.succeed(result as A)

/**
 * `metaGet`'s result.
 *
 * @internal
 */
export const getEffect = (reply: MetaReply | undefined, server: string): Effect.Effect<MetaGetResult, MemcachedError> =>
  lift(getResult(reply, server))

/**
 * One `getMany` entry.
 *
 * @internal
 */
export const getManyEntry = (reply: MetaReply | undefined, server: string): MetaGetManyResult => {
  const result = getResult(reply, server)
  return "_tag" in result ? { kind: "error", error: result } : result
}

/**
 * One `setMany` entry: the quiet outcome (`undefined`) is `stored`.
 *
 * @internal
 */
export const setManyEntry = (reply: MetaReply | undefined, server: string): MetaSetManyResult => {
  if (reply === undefined) return { kind: "stored", flags: { win: false, alreadyWon: false, stale: false } }
  if (reply._tag === "Error") return { kind: "error", error: replyError(reply, "ms", server) }
  const flags = publicFlags(reply.flags)
  switch (reply.status) {
    case "HD":
      return { kind: "stored", flags }
    case "NS":
      return { kind: "notStored", flags }
    case "EX":
      return { kind: "exists", flags }
    case "NF":
      return { kind: "notFound", flags }
    default:
      return { kind: "error", error: unexpected(reply.status, "ms", server) }
  }
}

/**
 * `metaSet`'s result.
 *
 * @internal
 */
export const setEffect = (reply: MetaReply, server: string): Effect.Effect<MetaSetResult, MemcachedError> => {
  if (reply._tag === "Error") return Effect.fail(replyError(reply, "ms", server))
  const flags = publicFlags(reply.flags)
  switch (reply.status) {
    case "HD":
      return Effect.succeed({ kind: "stored", flags })
    case "NS":
      return Effect.succeed({ kind: "notStored", flags })
    case "EX":
      return Effect.succeed({ kind: "exists", flags })
    case "NF":
      return Effect.succeed({ kind: "notFound", flags })
    default:
      return Effect.fail(unexpected(reply.status, "ms", server))
  }
}

/**
 * `metaDelete`'s result.
 *
 * @internal
 */
export const deleteEffect = (reply: MetaReply, server: string): Effect.Effect<MetaDeleteResult, MemcachedError> => {
  if (reply._tag === "Error") return Effect.fail(replyError(reply, "md", server))
  const flags = publicFlags(reply.flags)
  switch (reply.status) {
    case "HD":
      return Effect.succeed({ kind: "deleted", flags })
    case "NF":
      return Effect.succeed({ kind: "notFound", flags })
    case "EX":
      return Effect.succeed({ kind: "exists", flags })
    default:
      return Effect.fail(unexpected(reply.status, "md", server))
  }
}

/**
 * `metaArithmetic`'s result; the value `ma` returns is decimal text.
 *
 * @internal
 */
export const arithmeticEffect = (
  reply: MetaReply,
  server: string
): Effect.Effect<MetaArithmeticResult, MemcachedError> => {
  if (reply._tag === "Error") return Effect.fail(replyError(reply, "ma", server))
  const flags = publicFlags(reply.flags)
  switch (reply.status) {
    case "HD":
      return Effect.succeed({ kind: "ok", value: undefined, flags })
    case "VA": {
      const text = reply.value!.toString("latin1")
      if (!/^[0-9]{1,20}$/.test(text)) return Effect.fail(unexpected(`a value that is not a number`, "ma", server))
      return Effect.succeed({ kind: "ok", value: BigInt(text), flags })
    }
    case "NF":
      return Effect.succeed({ kind: "notFound", flags })
    case "NS":
      return Effect.succeed({ kind: "notStored", flags })
    case "EX":
      return Effect.succeed({ kind: "exists", flags })
    default:
      return Effect.fail(unexpected(reply.status, "ma", server))
  }
}
