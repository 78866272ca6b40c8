/**
 * `MemcachedClient`'s commands: the single meta commands, each on its key's server, and the batches (`getMany`,
 * `setMany`) pipelined per server, the servers in parallel. Every key, flag and value is checked before anything
 * is sent.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import { Buffer } from "node:buffer"
import * as Meta from "../../core/memcached/meta.js"
import type { Ring } from "../../core/memcached/ring.js"
import { type MemcachedError, MemcachedInputError } from "../../MemcachedError.js"
import { type FlagCommand, getFlagsPart, prepareGetFlags, snapshot } from "./flags.js"
import type { ResolvedMemcachedOptions } from "./options.js"
import { run } from "./reply.js"
import * as Results from "./results.js"
import type { ServerConnection } from "./server.js"
import type {
  Key,
  MetaArithmeticFlags,
  MetaArithmeticResult,
  MetaDeleteFlags,
  MetaDeleteResult,
  MetaGetFlags,
  MetaGetManyResult,
  MetaGetResult,
  MetaSetFlags,
  MetaSetManyResult,
  MetaSetResult,
  SetManyEntry
} from "./types.js"

const inputError = (command: string, message: string) => new MemcachedInputError({ message, command })

/** The key's bytes, or why it cannot be sent. */
const checkedKey = (command: string, key: Key): Uint8Array | MemcachedInputError => {
  if (typeof key !== "string" && !(key instanceof Uint8Array)) {
    return inputError(command, "a key must be a string or a Uint8Array")
  }
  const bytes = Meta.keyBytes(key)
  const problem = Meta.keyProblem(bytes)
  return problem === undefined ? bytes : inputError(command, problem)
}

const valueFlags: MetaGetFlags = prepareGetFlags({ value: true })

const valueBytes = (value: Uint8Array | string): Uint8Array =>
  typeof value === "string" ? Buffer.from(value, "utf8") : value

/**
 * The commands of a client over `servers`, routed by `ring`.
 *
 * @internal
 */
export interface Commands {
  readonly metaGet: (key: Key, flags?: MetaGetFlags) => Effect.Effect<MetaGetResult, MemcachedError>
  readonly metaSet: (
    key: Key,
    value: Uint8Array | string,
    flags?: MetaSetFlags
  ) => Effect.Effect<MetaSetResult, MemcachedError>
  readonly metaDelete: (key: Key, flags?: MetaDeleteFlags) => Effect.Effect<MetaDeleteResult, MemcachedError>
  readonly metaArithmetic: (
    key: Key,
    flags?: MetaArithmeticFlags
  ) => Effect.Effect<MetaArithmeticResult, MemcachedError>
  readonly getMany: (
    keys: ReadonlyArray<Key>,
    flags?: MetaGetFlags
  ) => Effect.Effect<ReadonlyArray<MetaGetManyResult>, MemcachedInputError>
  readonly setMany: (
    entries: ReadonlyArray<SetManyEntry>
  ) => Effect.Effect<ReadonlyArray<MetaSetManyResult>, MemcachedInputError>
}

/**
 * The single meta commands.
 *
 * @internal
 */
const makeSingles = (
  resolved: ResolvedMemcachedOptions,
  servers: ReadonlyArray<ServerConnection>,
  ring: Ring
): Pick<Commands, "metaGet" | "metaSet" | "metaDelete" | "metaArithmetic"> => {
  const serverOf = (key: Uint8Array): ServerConnection => servers[ring.serverFor(key)]!
  /**
   * One request on the key's server, its key and flags checked first (nothing is sent when either fails); `encode`
   * is given the flags as copied and checked (see `flags.ts`), never the caller's object.
   */
  const single = <A>(
    command: FlagCommand,
    key: Key,
    flags: unknown,
    encode: (bytes: Uint8Array, flags: Record<string, unknown>, opaque: string) => string | Uint8Array,
    result: (reply: Meta.MetaReply, server: string) => Effect.Effect<A, MemcachedError>
  ): Effect.Effect<A, MemcachedError> =>
    Effect.suspend(() => {
      const bytes = checkedKey(command, key)
      if (!(bytes instanceof Uint8Array)) return Effect.fail(bytes)
      const checked = snapshot(command, flags)
      if (checked instanceof MemcachedInputError) return Effect.fail(checked)
      const server = serverOf(bytes)
      const where = server.address.where
      return run(
        server,
        (conn) => conn.submit(command, (opaque) => encode(bytes, checked, opaque)),
        (exchange) => result(exchange.reply!, where)
      )
    })

  const metaGet = (key: Key, flags?: MetaGetFlags) =>
    Effect.suspend(() => {
      const part = getFlagsPart(flags)
      if (typeof part !== "string") return Effect.fail(part)
      return single("mg", key, undefined, (bytes, _, opaque) =>
        Meta.encodeGetLine(bytes, part, false, opaque), Results.getEffect)
    })

  const metaSet = (key: Key, value: Uint8Array | string, flags?: MetaSetFlags) =>
    Effect.suspend(() => {
      const bytes = valueBytes(value)
      if (bytes.byteLength > resolved.maxValueLength) {
        return Effect.fail(
          inputError("ms", `a value of ${bytes.byteLength} bytes is over maxValueLength ${resolved.maxValueLength}`)
        )
      }
      return single(
        "ms",
        key,
        flags,
        (k, checked, opaque) => Meta.encodeSet(k, bytes, checked as MetaSetFlags, opaque),
        Results.setEffect
      )
    })

  const metaDelete = (key: Key, flags?: MetaDeleteFlags) =>
    single(
      "md",
      key,
      flags,
      (bytes, checked, opaque) => Meta.encodeDelete(bytes, checked as MetaDeleteFlags, opaque),
      Results.deleteEffect
    )

  const metaArithmetic = (key: Key, flags?: MetaArithmeticFlags) =>
    single(
      "ma",
      key,
      flags,
      (bytes, checked, opaque) => Meta.encodeArithmetic(bytes, checked as MetaArithmeticFlags, opaque),
      Results.arithmeticEffect
    )

  return { metaGet, metaSet, metaDelete, metaArithmetic }
}

/**
 * The batches.
 *
 * @internal
 */
const makeBatches = (
  resolved: ResolvedMemcachedOptions,
  servers: ReadonlyArray<ServerConnection>,
  ring: Ring
): Pick<Commands, "getMany" | "setMany"> => {
  /**
   * One request per key (checked by the caller first: nothing is sent when any fails), grouped by server in the
   * keys' order: each group is one batch ended by `mn`, the servers in parallel. A server's failure becomes its keys'
   * `{ kind: "error" }`.
   */
  const batched = <R>(
    command: keyof typeof Meta.numericFlags,
    keys: ReadonlyArray<Key>,
    encode: (i: number, key: Uint8Array, opaque: string) => string | Uint8Array,
    entry: (
      reply: Meta.MetaReply | undefined,
      server: string
    ) => R | { readonly kind: "error"; error: MemcachedError }
  ): Effect.Effect<ReadonlyArray<R | { readonly kind: "error"; readonly error: MemcachedError }>, never> => {
    const groups = new Map<number, Array<number>>()
    const all: Array<Uint8Array> = new Array(keys.length)
    for (let i = 0; i < keys.length; i++) {
      all[i] = Meta.keyBytes(keys[i]!)
      const index = ring.serverFor(all[i]!)
      let group = groups.get(index)
      if (group === undefined) groups.set(index, group = [])
      group.push(i)
    }
    const out = new Array<R | { readonly kind: "error"; readonly error: MemcachedError }>(keys.length)
    return Effect.as(
      Effect.forEach(groups, ([index, positions]) => {
        const server = servers[index]!
        const where = server.address.where
        const encodes = positions.map((i) => (opaque: string) => encode(i, all[i]!, opaque))
        return run(
          server,
          (conn) => conn.submitBatch(command, encodes),
          (exchange) =>
            Effect.sync(() => {
              const replies = exchange.replies!
              for (let j = 0; j < positions.length; j++) out[positions[j]!] = entry(replies[j], where)
            })
        ).pipe(
          Effect.catch((error: MemcachedError) =>
            Effect.sync(() => {
              for (const i of positions) out[i] = { kind: "error", error }
            })
          )
        )
      }, { concurrency: "unbounded", discard: true }),
      out
    )
  }

  const checkKeys = (command: string, keys: ReadonlyArray<Key>): MemcachedInputError | undefined => {
    for (let i = 0; i < keys.length; i++) {
      const bytes = checkedKey(command, keys[i]!)
      if (!(bytes instanceof Uint8Array)) return bytes
    }
    return undefined
  }

  const getMany = (
    keys: ReadonlyArray<Key>,
    flags: MetaGetFlags = valueFlags
  ): Effect.Effect<ReadonlyArray<MetaGetManyResult>, MemcachedInputError> =>
    Effect.suspend(() => {
      const part = getFlagsPart(flags)
      if (typeof part !== "string") return Effect.fail(part)
      const invalid = checkKeys("mg", keys)
      if (invalid !== undefined) return Effect.fail(invalid)
      return batched("mg", keys, (_, key, opaque) => Meta.encodeGetLine(key, part, true, opaque), Results.getManyEntry)
    })

  const setMany = (
    entries: ReadonlyArray<SetManyEntry>
  ): Effect.Effect<ReadonlyArray<MetaSetManyResult>, MemcachedInputError> =>
    Effect.suspend(() => {
      const keys = entries.map((entry) => entry.key)
      const invalid = checkKeys("ms", keys)
      if (invalid !== undefined) return Effect.fail(invalid)
      const values = new Array<Uint8Array>(entries.length)
      const flags = new Array<MetaSetFlags>(entries.length)
      for (let i = 0; i < entries.length; i++) {
        const checked = snapshot("ms", entries[i]!.flags)
        if (checked instanceof MemcachedInputError) return Effect.fail(checked)
        flags[i] = checked as MetaSetFlags
        values[i] = valueBytes(entries[i]!.value)
        if (values[i]!.byteLength > resolved.maxValueLength) {
          return Effect.fail(
            inputError(
              "ms",
              `a value of ${values[i]!.byteLength} bytes is over maxValueLength ${resolved.maxValueLength}`
            )
          )
        }
      }
      return batched(
        "ms",
        keys,
        // Not quiet: an error line (a value too large) carries no token, and with every success answered it
        // falls between two answered requests, so it is pinned on exactly one entry instead of on all the silent ones.
        (i, key, opaque) => Meta.encodeSet(key, values[i]!, flags[i]!, opaque),
        Results.setManyEntry
      )
    })

  return { getMany, setMany }
}

/**
 * Every command of a client over `servers`, routed by `ring`.
 *
 * @internal
 */
export const makeCommands = (
  resolved: ResolvedMemcachedOptions,
  servers: ReadonlyArray<ServerConnection>,
  ring: Ring
): Commands => ({ ...makeSingles(resolved, servers, ring), ...makeBatches(resolved, servers, ring) })
