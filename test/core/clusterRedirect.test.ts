import { describe, expect, it } from "vitest"
import {
  healthMarkMillisFor,
  isClusterFailure,
  isConnectionFailure,
  isOutcomeUnknown,
  isRedirectCode,
  minRefreshGapMillis,
  probeTimeoutMillisFor,
  redirectAction,
  retryDelay
} from "../../src/core/cluster/redirect.js"

describe("cluster redirections and failures", () => {
  it("the four redirection codes, and no other", () => {
    for (const code of ["MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN"]) expect(isRedirectCode(code)).toBe(true)
    for (const code of ["ERR", "WRONGTYPE", "CROSSSLOT", "moved", "NOAUTH"]) expect(isRedirectCode(code)).toBe(false)
  })

  it("a cluster failure is a redirection reply, a lost connection or a timeout; nothing else", () => {
    expect(isClusterFailure({ _tag: "RedisReplyError", code: "MOVED" })).toBe(true)
    expect(isClusterFailure({ _tag: "RedisReplyError", code: "CLUSTERDOWN" })).toBe(true)
    expect(isClusterFailure({ _tag: "RedisReplyError", code: "ERR" })).toBe(false)
    expect(isClusterFailure({ _tag: "RedisConnectionError" })).toBe(true)
    expect(isClusterFailure({ _tag: "RedisTimeoutError" })).toBe(true)
    expect(isClusterFailure({ _tag: "RedisAuthError" })).toBe(false)
    expect(isClusterFailure({ _tag: "RedisInputError" })).toBe(false)
    expect(isConnectionFailure({ _tag: "RedisTimeoutError" })).toBe(true)
    expect(isConnectionFailure({ _tag: "RedisReplyError", code: "MOVED" })).toBe(false)
  })

  it("the outcome is unknown only for a written command whose connection failed or timed out", () => {
    expect(isOutcomeUnknown({ _tag: "RedisConnectionError", outcomeUnknown: true })).toBe(true)
    expect(isOutcomeUnknown({ _tag: "RedisTimeoutError", outcomeUnknown: true })).toBe(true)
    expect(isOutcomeUnknown({ _tag: "RedisConnectionError" })).toBe(false)
    expect(isOutcomeUnknown({ _tag: "RedisTimeoutError", outcomeUnknown: false })).toBe(false)
    expect(isOutcomeUnknown({ _tag: "RedisReplyError", code: "ERR", outcomeUnknown: true })).toBe(false)
  })

  it("MOVED and ASK name their target; a missing host is left for the answering node's", () => {
    expect(redirectAction("MOVED", "MOVED 3999 127.0.0.1:6381")).toStrictEqual({
      _tag: "Moved",
      slot: 3999,
      host: "127.0.0.1",
      port: 6381
    })
    expect(redirectAction("ASK", "ASK 12 [::1]:7000")).toStrictEqual({ _tag: "Ask", slot: 12, host: "::1", port: 7000 })
    expect(redirectAction("MOVED", "MOVED 5 :6381")).toStrictEqual({
      _tag: "Moved",
      slot: 5,
      host: undefined,
      port: 6381
    })
    expect(redirectAction("ASK", "ASK 5 ?:6381")).toMatchObject({ _tag: "Ask", host: undefined, port: 6381 })
  })

  it("a MOVED or ASK with no usable target is malformed; TRYAGAIN retries, CLUSTERDOWN retries and reads the map", () => {
    expect(redirectAction("MOVED", "MOVED 16384 h:1")).toStrictEqual({ _tag: "Malformed" })
    expect(redirectAction("ASK", "ASK 1")).toStrictEqual({ _tag: "Malformed" })
    expect(redirectAction("MOVED", "MOVED 1 h:port")).toStrictEqual({ _tag: "Malformed" })
    expect(redirectAction("TRYAGAIN", "TRYAGAIN Multiple keys request during rehashing of slot")).toStrictEqual({
      _tag: "Retry",
      refresh: false
    })
    expect(redirectAction("CLUSTERDOWN", "CLUSTERDOWN The cluster is down")).toStrictEqual({
      _tag: "Retry",
      refresh: true
    })
  })

  it("the retry delay starts at 5 ms and doubles up to 100 ms, whatever the attempt", () => {
    expect([0, 1, 2, 3, 4, 5, 6].map(retryDelay)).toStrictEqual([5, 10, 20, 40, 80, 100, 100])
    expect(retryDelay(1_000)).toBe(100)
    expect(minRefreshGapMillis).toBe(100)
  })

  it("a failing node is passed over for four command timeouts, at least 2 s; a probe waits at most 1 s", () => {
    expect(healthMarkMillisFor(100)).toBe(2_000)
    expect(healthMarkMillisFor(5_000)).toBe(20_000)
    expect(probeTimeoutMillisFor(300)).toBe(300)
    expect(probeTimeoutMillisFor(5_000)).toBe(1_000)
  })
})
