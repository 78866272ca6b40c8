/**
 * Hostile Redis URLs: a password with every character that breaks a URL, placed raw or percent-encoded, in URLs
 * with a wrong part or none. Three markers in the password stand for any piece of it that could surface in a
 * message: a test asserts that none of them does.
 *
 * @since 0.2.0
 */
import * as fc from "fast-check"

/**
 * The markers every generated password holds, at its start, middle and end.
 *
 * @since 0.2.0
 * @category constants
 */
export const markers = ["QXJ7", "MMV3", "ZKW9"] as const

const piece = fc.string({
  unit: fc.constantFrom(
    "a",
    "1",
    "/",
    "?",
    "#",
    "@",
    ":",
    "%",
    " ",
    "[",
    "]",
    "\\",
    "\r",
    "\n",
    "é",
    "%4",
    "%zz",
    "//"
  ),
  maxLength: 6
})

/**
 * A password holding the three {@link markers}.
 *
 * @since 0.2.0
 * @category arbitraries
 */
export const password: fc.Arbitrary<string> = fc.tuple(piece, piece).map(([a, b]) =>
  `${markers[0]}${a}${markers[1]}${b}${markers[2]}`
)

/**
 * A URL holding a {@link password}. A URL whose only "@" is one inside the password is left out: it is a valid URL
 * for another host, and nothing can tell them apart.
 *
 * @since 0.2.0
 * @category arbitraries
 */
export const hostileUrl: fc.Arbitrary<string> = fc.record({
  scheme: fc.constantFrom("redis://", "rediss://", "http://", "redis:/", "redis:", ""),
  user: fc.constantFrom("", "app", "a:b"),
  password,
  encode: fc.boolean(),
  host: fc.constantFrom("127.0.0.1", "host", "", "[::1]", "[::1", "ho st", "h%41"),
  port: fc.constantFrom("", ":6379", ":99999", ":x", ":"),
  path: fc.constantFrom("", "/0", "/abc", "/1?db=2", "?db=x", "?foo=1", "#frag"),
  at: fc.constantFrom("@", "@@", "")
})
  .filter(({ at, encode, password }) => at !== "" || encode || !password.includes("@"))
  .map(({ at, encode, host, password, path, port, scheme, user }) =>
    `${scheme}${user}:${encode ? encodeURIComponent(password) : password}${at}${host}${port}${path}`
  )
