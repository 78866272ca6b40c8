import { describe, expect, it } from "@effect/vitest"
import { type PickInput, pickNode } from "../../src/core/client/subscriberPick.js"

const base: PickInput<string> = {
  current: undefined,
  preferred: undefined,
  live: ["p1", "p2", "p3", "r1"],
  failedAt: new Map(),
  now: 100_000,
  avoidMillis: 30_000,
  offset: 0
}

describe("pickNode", () => {
  it("stays on the current node while it is live and has not failed, whatever is preferred", () => {
    expect(pickNode({ ...base, current: "p2", preferred: "p1" })).toBe("p2")
  })

  it("takes the preferred node first, when there is no current one", () => {
    expect(pickNode({ ...base, preferred: "p3" })).toBe("p3")
  })

  it("leaves a node that just failed although the topology still lists it, for the next live one from the offset", () => {
    const failedAt = new Map([["p1", 99_000]])
    expect(pickNode({ ...base, current: "p1", preferred: "p1", failedAt, offset: 2 })).toBe("p3")
    expect(pickNode({ ...base, current: "p1", preferred: "p1", failedAt, offset: 0 })).toBe("p2")
  })

  it("leaves a node that is no longer live (failed over, removed)", () => {
    expect(pickNode({ ...base, current: "gone", preferred: "p2" })).toBe("p2")
  })

  it("a failure older than avoidMillis no longer counts", () => {
    const failedAt = new Map([["p1", 50_000]])
    expect(pickNode({ ...base, current: "p1", failedAt })).toBe("p1")
  })

  it("every live node failed lately: the one that failed longest ago", () => {
    const failedAt = new Map([["p1", 99_000], ["p2", 90_000], ["p3", 95_000], ["r1", 98_000]])
    expect(pickNode({ ...base, current: "p1", failedAt })).toBe("p2")
  })

  it("no live node known: the current one, else the preferred one", () => {
    expect(pickNode({ ...base, live: [], current: "p1", preferred: "p2" })).toBe("p1")
    expect(pickNode({ ...base, live: [], preferred: "p2" })).toBe("p2")
    expect(pickNode({ ...base, live: [] })).toBeUndefined()
  })
})
