import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { parseRedisUrl, redactUrl } from "../../src/core/options/redisUrl.js"
import { hostileUrl as urlArb, markers } from "../utils/HostileUrls.js"

const problemOf = (url: string): string => {
  const result = parseRedisUrl(url)
  if (result._tag === "Valid") throw new Error(`expected ${url} to be refused`)
  return result.problem
}

describe("parseRedisUrl", () => {
  it("reads the parts of a usable URL, the password decoded", () => {
    expect(parseRedisUrl("rediss://us%40er:p%3Ass@example.org:6380/4")).toEqual({
      _tag: "Valid",
      parts: { tls: true, host: "example.org", port: 6380, db: 4, username: "us@er", password: "p:ss" }
    })
    expect(parseRedisUrl("redis://:p@ss@[::1]:7000?db=2")).toEqual({
      _tag: "Valid",
      parts: { tls: false, host: "::1", port: 7000, db: 2, password: "p@ss" }
    })
    expect(parseRedisUrl("redis://")).toEqual({ _tag: "Valid", parts: { tls: false } })
  })

  it("says which part is wrong", () => {
    expect(problemOf("localhost:6379")).toContain("(for host:port, write redis://host:port)")
    expect(problemOf("not-a-url")).toBe("it must start with redis:// or rediss://")
    expect(problemOf("redis:/host")).toContain("two slashes")
    expect(problemOf("http://host")).toBe("the scheme must be redis: or rediss:, got http:")
    expect(problemOf("redis://:abc#def@host:6379")).toContain("#fragment")
    expect(problemOf("redis://:secret@host/0#x")).toContain("%23")
    expect(problemOf("redis://:ab/cd@host")).toContain("%2F")
    expect(problemOf("redis://:a?b@host")).toContain("%3F")
    expect(problemOf("redis://:%zz@host")).toContain("%25")
    expect(problemOf("redis://:%FF@host")).toContain("not UTF-8")
    expect(problemOf("redis://host:99999")).toBe("the port must be in 1..65535, got 99999")
    expect(problemOf("redis://host:0")).toBe("the port must be in 1..65535, got 0")
    expect(problemOf("redis://:pw@host:abc")).toBe("the port must be a number in 1..65535, got \"abc\"")
    // Without an "@", a port that is not a number may be a password: not quoted, and hidden when shown.
    expect(problemOf("redis://:hunter2")).toContain("write redis://:password@host")
    expect(problemOf("redis://:hunter2")).not.toContain("hunter2")
    expect(redactUrl("redis://:hunter2/x")).toBe("redis://:***")
    expect(problemOf("redis://ho st:6379")).toBe("the host \"ho st\" is not a valid host name or address")
    expect(problemOf("redis://[::1:6379")).toContain("closed with \"]\"")
    expect(problemOf("redis://:pw@")).toContain("no host")
    expect(problemOf("redis://h%41st")).toContain("percent-encoded")
    expect(problemOf("redis://host/abc")).toBe("the database path must be a number (redis://host:6379/0), got \"abc\"")
    expect(problemOf("redis://host/?timeout=1")).toContain("\"timeout\" is not supported")
    expect(problemOf("redis://host/?db=x")).toContain("db must be a number")
    expect(problemOf("redis://host/1?db=2")).toContain("two databases")
    expect(problemOf("redis://hunter2@host")).toContain("names a user but no password")
    expect(problemOf("redis://hunter2@host")).not.toContain("hunter2")
  })
})

describe("redactUrl", () => {
  it("shows the user, never the password; a lone user name is hidden too", () => {
    expect(redactUrl("redis://user:secret@host:6379/0")).toBe("redis://user:***@host:6379/0")
    expect(redactUrl("redis://:secret@host")).toBe("redis://:***@host")
    expect(redactUrl("redis://secret@host")).toBe("redis://***@host")
    expect(redactUrl("redis://:se#c/r?e@t@host")).toBe("redis://:***@host")
    expect(redactUrl("redis://host:6379")).toBe("redis://host:6379")
    expect(redactUrl(`redis://${"h".repeat(500)}`)).toHaveLength(201)
  })
})

describe("hostile URLs", () => {
  it("no message quotes any piece of the password, and parsing never throws", () => {
    fc.assert(
      fc.property(urlArb, (url) => {
        const result = parseRedisUrl(url)
        const shown = redactUrl(url)
        for (const marker of markers) expect(shown).not.toContain(marker)
        if (result._tag === "Invalid") {
          for (const marker of markers) expect(result.problem).not.toContain(marker)
        }
      }),
      { numRuns: 10_000 }
    )
  })

  it("any string at all: a result, never an exception", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), (url) => {
        expect(["Valid", "Invalid"]).toContain(parseRedisUrl(url)._tag)
        expect(typeof redactUrl(url)).toBe("string")
      }),
      { numRuns: 10_000 }
    )
  })
})
