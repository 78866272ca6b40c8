/**
 * Reading a `redis://` / `rediss://` URL, and saying what is wrong with one that cannot be used: the scheme, the
 * host, the port, the database path, a `#fragment`, bad percent-encoding. The URL may hold a password, so nothing
 * from its user information is ever quoted: {@link redactUrl} shows it as `redis://user:***@host`, and a problem
 * quotes only text that follows the last `@` (where no part of a password can be, once a `/`, `?` or `#` before
 * that `@` has been refused).
 *
 * @internal
 */

/**
 * The parts of a usable URL, the password still in clear (the caller wraps it at once).
 *
 * @internal
 */
export interface RedisUrlParts {
  readonly host?: string
  readonly port?: number
  readonly db?: number
  readonly username?: string
  readonly password?: string
  readonly tls: boolean
}

/**
 * A URL read: its parts, or what is wrong with it (a sentence that never quotes the user information).
 *
 * @internal
 */
export type RedisUrlResult =
  | { readonly _tag: "Valid"; readonly parts: RedisUrlParts }
  | { readonly _tag: "Invalid"; readonly problem: string }

const quoteLimit = 40
const shownLimit = 200

/** Control characters shown as `?`, so that a message stays one printable line. */
const printable = (text: string): string => text.replace(/[\x00-\x1f\x7f]/g, "?")

const quote = (text: string): string =>
  JSON.stringify(printable(text.length > quoteLimit ? `${text.slice(0, quoteLimit)}…` : text))

/** Where the user information ends (the last `@`), relative to what follows the `scheme://`; -1 without one. */
const splitAt = (rest: string): number => rest.lastIndexOf("@")

/**
 * The URL as it may be shown: the user information replaced by `user:***` (by `***` without a `:`, since a lone
 * user name is often a password written in the wrong place), a port that is not a number (a password missing its
 * `@`) and what follows it by `***`, the whole of a text without `://` by `***`, control characters replaced, and
 * cut at 200 characters.
 *
 * @internal
 */
export const redactUrl = (url: string): string => {
  const text = String(url).trim()
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(text)
  // Not even the shape of a URL: nothing tells where a password would be (or it is one), so nothing is shown.
  if (scheme === null) return text === "" ? "" : "***"
  const start = scheme[0].length
  const rest = text.slice(start)
  const at = splitAt(rest)
  let shown = text
  if (at >= 0) {
    const userinfo = rest.slice(0, at)
    const colon = userinfo.indexOf(":")
    const masked = colon >= 0 ? `${userinfo.slice(0, colon)}:***` : "***"
    shown = `${text.slice(0, start)}${masked}${rest.slice(at)}`
  } else {
    // No "@": a "port" that is not a number may be a password whose "@" was forgotten (redis://:secret): it is
    // hidden, and so is everything after it.
    const { host, port } = splitHostPort(rest.replace(/[/?#].*$/s, ""))
    if (!/^(:\d*)?$/.test(port)) shown = `${text.slice(0, start)}${host}:***`
  }
  shown = printable(shown)
  return shown.length > shownLimit ? `${shown.slice(0, shownLimit)}…` : shown
}

const invalid = (problem: string): RedisUrlResult => ({ _tag: "Invalid", problem })

const badPercent = /%(?![0-9A-Fa-f]{2})/

const decode = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}

/** A host and what follows it (`:port`, or anything else that is there): an IPv6 host keeps its brackets. */
const splitHostPort = (hostport: string): { readonly host: string; readonly port: string } => {
  const bracket = /^(\[[^\]]*\])(.*)$/s.exec(hostport)
  if (bracket !== null) return { host: bracket[1]!, port: bracket[2]! }
  const colon = hostport.indexOf(":")
  return colon < 0 ? { host: hostport, port: "" } : { host: hostport.slice(0, colon), port: hostport.slice(colon) }
}

/**
 * Why the WHATWG parser refused the host and port (what follows the last `@`, up to the path). Without an `@`
 * (`hasUser` false) a port that is not a number is not quoted: it may be a password whose `@` was forgotten.
 */
const hostProblem = (hostport: string, hasUser: boolean): string => {
  if (hostport === "") return "it has no host"
  if (hostport.startsWith("[") && !hostport.includes("]")) return "the IPv6 host must be closed with \"]\""
  const { host, port } = splitHostPort(hostport)
  if (port !== "") {
    const digits = port.replace(/^:/, "")
    if (!port.startsWith(":") || !/^\d+$/.test(digits)) {
      return hasUser
        ? `the port must be a number in 1..65535, got ${quote(port.startsWith(":") ? digits : port)}`
        : "the port must be a number in 1..65535 (or, for a password, write redis://:password@host)"
    }
    if (Number(digits) < 1 || Number(digits) > 65535) return `the port must be in 1..65535, got ${digits}`
  }
  if (host === "") return "it has no host before the port"
  return `the host ${quote(host)} is not a valid host name or address`
}

/**
 * Reads `url`; never throws.
 *
 * @internal
 */
export const parseRedisUrl = (url: string): RedisUrlResult => {
  const text = String(url).trim()
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text)?.[1]?.toLowerCase()
  if (scheme === undefined || !text.slice(scheme.length + 1).startsWith("//")) {
    if (scheme === "redis" || scheme === "rediss") {
      return invalid(`it must start with ${scheme}:// (two slashes before the host)`)
    }
    return invalid(
      /^[^:/@\s]+:\d+$/.test(text)
        ? "it must start with redis:// or rediss:// (for host:port, write redis://host:port)"
        : "it must start with redis:// or rediss://"
    )
  }
  if (scheme !== "redis" && scheme !== "rediss") return invalid(`the scheme must be redis: or rediss:, got ${scheme}:`)
  if (text.includes("#")) {
    return invalid(
      "it has a #fragment, which a Redis URL cannot have (a \"#\" in the password must be written %23)"
    )
  }
  const rest = text.slice(scheme.length + 3)
  const at = splitAt(rest)
  const userinfo = at >= 0 ? rest.slice(0, at) : ""
  if (/[/?]/.test(userinfo)) {
    return invalid(
      "it has an \"@\" after a \"/\" or \"?\": a \"/\", \"?\" or \"@\" in the password must be percent-encoded " +
        "(%2F, %3F, %40)"
    )
  }
  if (badPercent.test(userinfo)) {
    return invalid("the user name or password has a \"%\" not followed by two hex digits (write a \"%\" as %25)")
  }
  const afterAt = rest.slice(at + 1)
  const hostport = afterAt.replace(/[/?].*$/s, "")
  let parsed: URL
  try {
    parsed = new URL(text)
  } catch {
    if (at >= 0 && hostport === "") return invalid("it has no host after the \"@\"")
    return invalid(hostProblem(hostport, at >= 0))
  }
  const username = parsed.username === "" ? undefined : decode(parsed.username)
  const password = parsed.password === "" ? undefined : decode(parsed.password)
  if ((parsed.username !== "" && username === undefined) || (parsed.password !== "" && password === undefined)) {
    return invalid("the user name or password is percent-encoded bytes that are not UTF-8")
  }
  if (username !== undefined && password === undefined) {
    // AUTH needs a password; a user alone would silently connect as the default user. Not quoted: a lone user name
    // is often the password written without its ":".
    return invalid("it names a user but no password (for a password alone, write redis://:password@host)")
  }
  const parts: { -readonly [K in keyof RedisUrlParts]: RedisUrlParts[K] } = { tls: scheme === "rediss" }
  if (parsed.hostname !== "") {
    if (badPercent.test(parsed.hostname) || parsed.hostname.includes("%")) {
      return invalid(`the host ${quote(parsed.hostname)} is percent-encoded, which a host name cannot be`)
    }
    parts.host = parsed.hostname.replace(/^\[(.*)\]$/, "$1")
  } else if (at >= 0 || parsed.port !== "") {
    return invalid("it has no host")
  }
  if (parsed.port !== "") {
    const port = Number(parsed.port)
    if (port < 1) return invalid(`the port must be in 1..65535, got ${parsed.port}`)
    parts.port = port
  }
  if (username !== undefined) parts.username = username
  if (password !== undefined) parts.password = password
  const path = parsed.pathname.replace(/^\//, "")
  if (path !== "") {
    if (!/^\d+$/.test(path)) {
      return invalid(`the database path must be a number (redis://host:6379/0), got ${quote(decode(path) ?? path)}`)
    }
    parts.db = Number(path)
  }
  for (const [name, value] of parsed.searchParams) {
    if (name !== "db") return invalid(`the parameter ${quote(name)} is not supported (only db is)`)
    if (!/^\d+$/.test(value)) return invalid(`the parameter db must be a number, got ${quote(value)}`)
    if (parts.db !== undefined && parts.db !== Number(value)) {
      return invalid(`it gives two databases: /${parts.db} and ?db=${value}`)
    }
    parts.db = Number(value)
  }
  return { _tag: "Valid", parts }
}
