import { describe, expect, it } from "vitest"
import { Flights } from "../../src/core/tiered/flights.js"
import { KeyTickets } from "../../src/core/tiered/tickets.js"

describe("core/tiered/tickets", () => {
  it("a change of a key marks every ticket open on it but the writer's own, and no other key's", () => {
    const tickets = new KeyTickets()
    const a1 = tickets.open("a")
    const a2 = tickets.open("a")
    const b = tickets.open("b")
    tickets.markStale("a", a2)
    expect([a1.stale, a2.stale, b.stale]).toStrictEqual([true, false, false])
    expect(a1.remote).toBe(false)
    tickets.markStale("b", undefined, true)
    expect([b.stale, b.remote]).toStrictEqual([true, true])
  })

  it("a ticket opened after a change is not marked by it; closing forgets the key once its last ticket is closed", () => {
    const tickets = new KeyTickets()
    tickets.markStale("a")
    const late = tickets.open("a")
    expect(late.stale).toBe(false)
    const other = tickets.open("a")
    tickets.close("a", late)
    tickets.close("a", late)
    expect(tickets.size).toBe(1)
    tickets.close("a", other)
    expect(tickets.size).toBe(0)
    // A closed ticket is no longer marked.
    tickets.markAll()
    expect(late.stale).toBe(false)
  })

  it("prefix and whole-cache changes, and the not-in-L1 mark that leaves stale alone", () => {
    const tickets = new KeyTickets()
    const ab = tickets.open("a:b")
    const ac = tickets.open("a:c")
    const b = tickets.open("b")
    tickets.markStartingWith("a:", true)
    expect([ab.stale, ac.stale, b.stale, ab.remote]).toStrictEqual([true, true, false, true])
    tickets.keepAllOutOfL1()
    expect([b.notInL1, b.stale]).toStrictEqual([true, false])
    tickets.markAll()
    expect([b.stale, b.remote]).toStrictEqual([true, false])
  })
})

describe("core/tiered/flights", () => {
  it("a change forgets the key's joinable group, refresh and backoff, and nothing of other keys", () => {
    const flights = new Flights<object, string>(10)
    const g = {}
    const h = {}
    flights.joinable.set("a", g)
    flights.joinable.set("b", h)
    flights.refreshing.set("a", "r")
    flights.startBackoff("a", 0, 100)
    flights.forgetKey("a")
    expect([...flights.joinable.keys()]).toStrictEqual(["b"])
    expect(flights.refreshing.size).toBe(0)
    expect(flights.backoffUntil.size).toBe(0)
    flights.joinable.set("x:1", g)
    flights.forgetStartingWith("x:")
    expect([...flights.joinable.keys()]).toStrictEqual(["b"])
    flights.forgetAll()
    expect(flights.joinable.size).toBe(0)
  })

  it("a tag invalidation makes reads and covered computations unjoinable, and leaves other computations", () => {
    const flights = new Flights<object, string>(10)
    const reading = {}
    const covered = {}
    const other = {}
    flights.joinable.set("read", reading)
    flights.joinable.set("covered", covered)
    flights.joinable.set("other", other)
    flights.computes(covered, ["t1", "t2"])
    flights.computes(other, ["t3"])
    flights.forgetCovering(new Set(["t2"]))
    expect([...flights.joinable.keys()]).toStrictEqual(["other"])
  })

  it("backoffs beyond the capacity sweep only the expired ones", () => {
    const flights = new Flights<object, string>(2)
    flights.startBackoff("old", 0, 10)
    flights.startBackoff("live", 0, 1_000)
    flights.startBackoff("new", 50, 10)
    expect([...flights.backoffUntil.keys()].sort()).toStrictEqual(["live", "new"])
  })
})
