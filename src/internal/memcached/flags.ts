/**
 * The flags of a meta command as the client sends them: copied once from the caller's object, checked, and encoded
 * from that copy. A caller's object may be anything (getters, a proxy, inherited properties, frozen or not): each of
 * its flags is read exactly once per call, so the value checked is the value sent, and nothing the caller changes
 * afterwards, nor a getter answering differently the second time, reaches the wire unchecked.
 *
 * The library's own constant flags (the backend's reads) are prepared once ({@link prepareGetFlags}): a copy it
 * made, frozen, whose encoding is remembered.
 *
 * @internal
 */
import * as Meta from "../../core/memcached/meta.js"
import { MemcachedInputError } from "../../MemcachedError.js"
import type { MetaArithmeticFlags, MetaDeleteFlags, MetaGetFlags, MetaSetFlags } from "./types.js"

/** A command that takes flags. */
export type FlagCommand = keyof typeof Meta.numericFlags

/**
 * The names of every flag of `Flags`, from an object that must name each exactly once: a flag added to a public
 * flags type and not here fails to compile, rather than being silently dropped from the copy.
 */
const every = <Flags>() => (names: { readonly [K in keyof Required<Flags>]: true }): ReadonlyArray<string> =>
  Object.keys(names)

/** The flags each command reads (`q` is the client's own). */
const names: Record<FlagCommand, ReadonlyArray<string>> = {
  mg: every<MetaGetFlags>()({
    value: true,
    ttl: true,
    clientFlags: true,
    cas: true,
    key: true,
    size: true,
    hit: true,
    lastAccess: true,
    vivify: true,
    recache: true,
    touch: true
  }),
  ms: every<MetaSetFlags>()({
    ttl: true,
    clientFlags: true,
    compareCas: true,
    invalidate: true,
    mode: true,
    returnCas: true
  }),
  md: every<MetaDeleteFlags>()({ invalidate: true, ttl: true, compareCas: true }),
  ma: every<MetaArithmeticFlags>()({
    mode: true,
    delta: true,
    vivify: true,
    initial: true,
    ttl: true,
    compareCas: true,
    value: true,
    returnTtl: true,
    returnCas: true
  })
}

const modes: Partial<Record<FlagCommand, ReadonlyArray<string>>> = {
  ms: ["set", "add", "append", "prepend", "replace"],
  ma: ["increment", "decrement"]
}

const inputError = (command: string, message: string) => new MemcachedInputError({ message, command })

/**
 * A plain copy of `flags` holding each flag `command` reads, each read once, and checked: numbers in their ranges,
 * a mode among the command's; or why they cannot be sent (a getter that throws is an input error too).
 *
 * @internal
 */
export const snapshot = (
  command: FlagCommand,
  flags: unknown
): Record<string, unknown> | MemcachedInputError => {
  if (flags === undefined) return {}
  if (typeof flags !== "object" || flags === null) return inputError(command, "flags must be an object")
  const copy: Record<string, unknown> = {}
  try {
    for (const name of names[command]) {
      const value = (flags as Record<string, unknown>)[name]
      if (value !== undefined) copy[name] = value
    }
  } catch (error) {
    return inputError(
      command,
      `the flags could not be read: ${error instanceof Error ? error.message : "a getter threw"}`
    )
  }
  const { int32, uint32, uint64 } = Meta.numericFlags[command]
  const problem = Meta.flagProblem(copy, int32, uint32, uint64)
  if (problem !== undefined) return inputError(command, problem)
  const allowed = modes[command]
  if (allowed !== undefined && copy["mode"] !== undefined && !allowed.includes(copy["mode"] as string)) {
    return inputError(command, `mode must be one of ${allowed.join(", ")} (got ${String(copy["mode"])})`)
  }
  return copy
}

/** The encodings of the flag sets the library prepared itself: never a caller's object. */
const prepared = new WeakMap<object, string>()

/**
 * `flags` copied, checked and frozen, its `mg` encoding remembered, for a constant the library reads with on every
 * call (the backend's `{ value: true }`). Dies on flags that cannot be sent: a programming error in the library.
 *
 * @internal
 */
export const prepareGetFlags = (flags: MetaGetFlags): MetaGetFlags => {
  const copy = snapshot("mg", flags)
  if (copy instanceof MemcachedInputError) throw copy
  const frozen = Object.freeze(copy) as MetaGetFlags
  prepared.set(frozen, Meta.getFlagsPart(frozen))
  return frozen
}

/**
 * The `mg` flags part of `flags` (see `Meta.getFlagsPart`): remembered for a prepared set, else from a checked copy;
 * or why they cannot be sent.
 *
 * @internal
 */
export const getFlagsPart = (flags: MetaGetFlags | undefined): string | MemcachedInputError => {
  if (flags !== undefined) {
    const known = prepared.get(flags)
    if (known !== undefined) return known
  }
  const copy = snapshot("mg", flags)
  return copy instanceof MemcachedInputError ? copy : Meta.getFlagsPart(copy as MetaGetFlags)
}
