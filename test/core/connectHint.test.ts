import { describe, expect, it } from "vitest"
import { connectHint, type ConnectTarget, startupMessage } from "../../src/core/client/connectHint.js"

const target: ConnectTarget = {
  host: "cache.internal",
  port: 6380,
  db: 3,
  tls: false,
  hasPassword: true,
  hasUsername: false,
  connectTimeoutMillis: 5_000
}

describe("connectHint", () => {
  it("names the address and what to check for each way a first connection fails", () => {
    expect(connectHint({ tag: "RedisConnectionError", message: "x", code: "ECONNREFUSED" }, target))
      .toBe("Is redis-server running on cache.internal:6380?")
    expect(connectHint({ tag: "RedisConnectionError", message: "x", code: "ENOTFOUND" }, target))
      .toContain("cache.internal does not resolve")
    expect(connectHint({ tag: "RedisConnectionError", message: "x", code: "EAI_AGAIN" }, target))
      .toContain("does not resolve")
    expect(connectHint({ tag: "RedisConnectionError", message: "x", code: "EHOSTUNREACH" }, target))
      .toContain("No route to cache.internal:6380")
    expect(connectHint({ tag: "RedisConnectionError", message: "x", code: "DEPTH_ZERO_SELF_SIGNED_CERT" }, target))
      .toContain("tls: { ca }")
    expect(connectHint({ tag: "RedisConnectionError", message: "connection closed by the server" }, target))
      .toContain("closed the connection")
    expect(connectHint({ tag: "RedisAuthError", message: "WRONGPASS invalid username-password pair" }, target))
      .toBe("Check the password in the URL or the `password` option.")
    expect(
      connectHint({ tag: "RedisAuthError", message: "WRONGPASS invalid", code: "WRONGPASS" }, {
        ...target,
        hasUsername: true
      })
    ).toContain("user name and the password")
    expect(connectHint({ tag: "RedisAuthError", message: "NOAUTH Authentication required.", code: "NOAUTH" }, target))
      .toContain("requires a password")
    expect(
      connectHint(
        { tag: "RedisAuthError", message: "ERR AUTH <password> called without any password configured" },
        target
      )
    ).toContain("no password set")
    expect(connectHint({ tag: "RedisTimeoutError", message: "no connection within 5000 ms" }, target))
      .toContain("raise connectTimeout (now 5000 ms)")
    expect(
      connectHint({
        tag: "RedisProtocolError",
        message: "unknown RESP type byte \"H\" (0x48): not a Redis server (HTTP?)"
      }, target)
    )
      .toContain("HTTP server")
  })

  it("tells the number of databases when it is known, and the bound it implies otherwise", () => {
    const outOfRange = {
      tag: "RedisReplyError",
      message: "ERR DB index is out of range",
      code: "ERR",
      command: "SELECT"
    }
    expect(connectHint(outOfRange, { ...target, databases: 2 })).toContain("has 2 databases (0..1); db 3")
    expect(connectHint(outOfRange, target)).toContain("fewer than 4 databases")
    expect(
      connectHint({ ...outOfRange, message: "ERR SELECT is not allowed in cluster mode" }, target)
    ).toContain("cluster node")
  })

  it("has nothing to add to a failure it knows nothing about, and the message still names the server", () => {
    const failure = { tag: "RedisReplyError", message: "ERR something odd.", code: "ERR", command: "PING" }
    expect(connectHint(failure, target)).toBeUndefined()
    expect(startupMessage(failure, target)).toBe("startup check of cache.internal:6380 failed: ERR something odd.")
  })
})
