import { describe, expect, it } from "vitest"
import { mapAddress, parseAddress } from "../../src/core/cluster/address.js"

describe("cluster addresses", () => {
  it("parseAddress reads host:port and [v6]:port, the port after the last colon", () => {
    expect(parseAddress("10.0.0.1:7000")).toStrictEqual({ host: "10.0.0.1", port: 7000 })
    expect(parseAddress("[::1]:6381")).toStrictEqual({ host: "::1", port: 6381 })
    expect(parseAddress("::1:6381")).toStrictEqual({ host: "::1", port: 6381 })
    expect(parseAddress("redis.local:1")).toStrictEqual({ host: "redis.local", port: 1 })
  })

  it("parseAddress refuses no host, no port, or a port outside 1..65535", () => {
    expect(parseAddress("localhost")).toBeUndefined()
    expect(parseAddress(":6379")).toBeUndefined()
    expect(parseAddress("h:")).toBeUndefined()
    expect(parseAddress("h:0")).toBeUndefined()
    expect(parseAddress("h:65536")).toBeUndefined()
    expect(parseAddress("h:70.5")).toBeUndefined()
  })

  it("mapAddress: as announced without a natMap, through a record or a function otherwise", () => {
    const announced = { host: "172.17.0.2", port: 6379 }
    expect(mapAddress(undefined, announced)).toBe(announced)
    expect(mapAddress({ "172.17.0.2:6379": "127.0.0.1:7001" }, announced)).toStrictEqual({
      host: "127.0.0.1",
      port: 7001
    })
    expect(mapAddress({ "172.17.0.3:6379": "127.0.0.1:7002" }, announced)).toBe(announced)
    // A value that is not an address maps nothing.
    expect(mapAddress({ "172.17.0.2:6379": "nonsense" }, announced)).toBe(announced)
    expect(mapAddress((a) => ({ host: "nat", port: a.port + 1 }), announced)).toStrictEqual({ host: "nat", port: 6380 })
  })
})
