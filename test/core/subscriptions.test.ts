import { describe, expect, it } from "@effect/vitest"
import { Subscriptions } from "../../src/core/client/subscriptions.js"

// Connections and listeners are compared by identity: plain objects stand in for them.
interface Conn {
  readonly id: number
}
interface Listener {
  readonly id: string
}

const conn1: Conn = { id: 1 }
const conn2: Conn = { id: 2 }
const a: Listener = { id: "a" }
const b: Listener = { id: "b" }

const names = (subs: Subscriptions<Conn, Listener>) => Array.from(subs.channels(), (channel) => channel.name)

describe("Subscriptions", () => {
  it("has no connection until one is opened, and forgets it when its session ends", () => {
    const subs = new Subscriptions<Conn, Listener>()
    expect(subs.current).toBeUndefined()
    subs.connected(conn1)
    expect(subs.current).toBe(conn1)
    subs.ended(conn1)
    expect(subs.current).toBeUndefined()
  })

  it("keeps a newer connection when an older session (or one that never opened) ends", () => {
    const subs = new Subscriptions<Conn, Listener>()
    subs.connected(conn2)
    subs.ended(conn1)
    expect(subs.current).toBe(conn2)
    subs.ended(undefined)
    expect(subs.current).toBe(conn2)
  })

  it("leaves a new channel to the next session while no connection is open", () => {
    const subs = new Subscriptions<Conn, Listener>()
    expect(subs.add("news", a)).toEqual({ _tag: "Awaiting" })
    expect(names(subs)).toEqual(["news"])
    expect(subs.listenersOf("news")).toEqual(new Set([a]))
  })

  it("asks for a new channel's SUBSCRIBE on the open connection", () => {
    const subs = new Subscriptions<Conn, Listener>()
    subs.connected(conn1)
    const added = subs.add("news", a)
    expect(added._tag).toBe("Subscribe")
    if (added._tag !== "Subscribe") return
    expect(added.conn).toBe(conn1)
    expect(added.channel.name).toBe("news")
    expect(added.channel.sentOn).toBeUndefined()
  })

  it("writes a channel's SUBSCRIBE once per connection", () => {
    const subs = new Subscriptions<Conn, Listener>()
    subs.add("news", a)
    const [channel] = subs.channels()
    expect(subs.send(channel!, conn1)).toBe(true)
    expect(subs.send(channel!, conn1)).toBe(false)
    // A newer connection still has to be told.
    expect(subs.send(channel!, conn2)).toBe(true)
    expect(channel!.sentOn).toBe(conn2)
  })

  it("tells a second listener at once when the channel is confirmed on the live connection, else later", () => {
    const subs = new Subscriptions<Conn, Listener>()
    subs.connected(conn1)
    subs.add("news", a)
    const [channel] = subs.channels()
    subs.send(channel!, conn1)
    // In flight: the confirmation, when it comes, tells this listener too.
    expect(subs.add("news", b)).toEqual({ _tag: "Awaiting" })
    expect(subs.confirm(channel!, conn1)).toEqual(new Set([a, b]))
    const c: Listener = { id: "c" }
    expect(subs.add("news", c)).toEqual({ _tag: "Confirmed" })
  })

  it("does not take a confirmation on an older connection for one on the live connection", () => {
    const subs = new Subscriptions<Conn, Listener>()
    subs.connected(conn1)
    subs.add("news", a)
    const [channel] = subs.channels()
    subs.confirm(channel!, conn1)
    subs.ended(conn1)
    expect(subs.add("news", b)).toEqual({ _tag: "Awaiting" })
    subs.connected(conn2)
    const c: Listener = { id: "c" }
    expect(subs.add("news", c)).toEqual({ _tag: "Awaiting" })
  })

  it("forgets a channel with its last listener, asking for UNSUBSCRIBE only where its SUBSCRIBE was written", () => {
    const subs = new Subscriptions<Conn, Listener>()
    subs.connected(conn1)
    subs.add("news", a)
    subs.add("news", b)
    const [channel] = subs.channels()
    subs.send(channel!, conn1)
    expect(subs.remove("news", a)).toBeUndefined()
    expect(subs.isListened(channel!)).toBe(true)
    expect(subs.remove("news", b)).toBe(conn1)
    expect(subs.isListened(channel!)).toBe(false)
    expect(names(subs)).toEqual([])
    expect(subs.listenersOf("news")).toBeUndefined()
  })

  it("asks for no UNSUBSCRIBE when the channel was not written on the live connection, or none is open", () => {
    const subs = new Subscriptions<Conn, Listener>()
    subs.connected(conn2)
    subs.add("old", a)
    const [old] = subs.channels()
    subs.send(old!, conn1)
    expect(subs.remove("old", a)).toBeUndefined()

    subs.add("news", a)
    const [news] = subs.channels()
    subs.send(news!, conn2)
    subs.ended(conn2)
    expect(subs.remove("news", a)).toBeUndefined()
  })

  it("ignores the removal of a listener or channel it does not know", () => {
    const subs = new Subscriptions<Conn, Listener>()
    subs.connected(conn1)
    subs.add("news", a)
    expect(subs.remove("other", a)).toBeUndefined()
    expect(subs.remove("news", b)).toBeUndefined()
    expect(subs.listenersOf("news")).toEqual(new Set([a]))
  })

  it("takes a channel listened to again after its last listener left as a new one", () => {
    const subs = new Subscriptions<Conn, Listener>()
    subs.add("news", a)
    const [first] = subs.channels()
    subs.remove("news", a)
    subs.connected(conn1)
    const again = subs.add("news", b)
    expect(again._tag).toBe("Subscribe")
    if (again._tag !== "Subscribe") return
    expect(again.channel).not.toBe(first)
    // A confirmation awaited for the first one is no longer for a channel listened to.
    expect(subs.isListened(first!)).toBe(false)
    expect(subs.isListened(again.channel)).toBe(true)
  })

  it("lists the channels in the order first listened to", () => {
    const subs = new Subscriptions<Conn, Listener>()
    subs.add("b", a)
    subs.add("a", a)
    subs.add("b", b)
    expect(names(subs)).toEqual(["b", "a"])
  })
})
