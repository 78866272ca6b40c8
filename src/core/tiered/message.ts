/**
 * The messages `TieredCache` instances tell each other on the invalidation bus: JSON, small, and free of values
 * (a key or a tag is all they name).
 *
 * @internal
 */

/**
 * An invalidation on the wire.
 *
 * @internal
 */
export interface Message {
  /** The publishing instance. */
  readonly o: string
  /** "s" set, "d" delete, "c" clear, "m" several keys changed (`ks`), "g" tags `g` invalidated at `a`. */
  readonly t: "s" | "d" | "c" | "m" | "g"
  /** The publisher's L2 prefix: the full key is `p + k`; a clear removes every full key starting with `p`. */
  readonly p: string
  readonly k?: string
  readonly ks?: ReadonlyArray<string>
  readonly g?: ReadonlyArray<string>
  readonly a?: number
  /** 1 when the tags were invalidated hard (their entries gone, not stale). */
  readonly h?: number
}

const isStrings = (u: unknown): u is ReadonlyArray<string> =>
  Array.isArray(u) && u.every((item) => typeof item === "string")

const isMessage = (u: unknown): u is Message => {
  if (typeof u !== "object" || u === null) return false
  const m = u as Record<string, unknown>
  if (typeof m["o"] !== "string" || typeof m["p"] !== "string") return false
  switch (m["t"]) {
    case "c":
      return true
    case "s":
    case "d":
      return typeof m["k"] === "string"
    case "m":
      return isStrings(m["ks"])
    case "g":
      return isStrings(m["g"]) && typeof m["a"] === "number"
    default:
      return false
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * The bytes of a message.
 *
 * @internal
 */
export const encodeMessage = (message: Message): Uint8Array => encoder.encode(JSON.stringify(message))

/**
 * The message in `bytes`; `undefined` for anything else on the channel (another program's message, a newer or
 * broken format), which is ignored rather than trusted.
 *
 * @internal
 */
export const decodeMessage = (bytes: Uint8Array): Message | undefined => {
  let message: unknown
  try {
    message = JSON.parse(decoder.decode(bytes))
  } catch {
    return undefined
  }
  return isMessage(message) ? message : undefined
}

/**
 * An instance's id on the bus, so it can skip its own messages: unique enough across processes and restarts.
 *
 * @internal
 */
export const randomId = (): string =>
  `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`
