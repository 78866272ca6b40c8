import { describe, expect, it } from "vitest"
import type { Meta } from "../../src/core/tiered/freshness.js"
import { L1Entry, L1Store } from "../../src/core/tiered/l1.js"

const store = (capacity: number) =>
  new L1Store(capacity, (value, expiresAt, meta, wall) => new L1Entry(value, expiresAt, meta, wall))

const meta = (over: Partial<Meta> = {}): Meta => ({
  createdAt: -Infinity,
  freshUntil: Infinity,
  graceUntil: Infinity,
  tags: [],
  ...over
})

// Wall and monotonic clocks 1,000,000 ms apart, as a process that started long after the epoch sees them.
const WALL = 1_700_000_000_000
const MONO = 5_000
const OFFSET = MONO - WALL
/** The monotonic instant of the wall time `wall`. */
const mono = (wall: number) => wall + OFFSET

const keys = (l1: L1Store<L1Entry>) => ["a", "b", "c", "d", "e"].filter((key) => l1.lookup(key, MONO) !== undefined)

describe("L1Store bound and eviction order", () => {
  it("holds at most its capacity, evicting the least recently used", () => {
    const l1 = store(3)
    for (const key of ["a", "b", "c"]) l1.putAt(key, key, Infinity, meta(), WALL, MONO)
    expect(l1.size).toBe(3)
    // A hit makes "a" the most recently used: "b" goes first.
    expect(l1.lookup("a", MONO)?.value).toBe("a")
    l1.putAt("d", "d", Infinity, meta(), WALL, MONO)
    expect(l1.size).toBe(3)
    expect(l1.lookup("b", MONO)).toBeUndefined()
    l1.putAt("e", "e", Infinity, meta(), WALL, MONO)
    // "c" was the least recently used then (the lookups of "b" missed, and touched nothing).
    expect(keys(l1)).toStrictEqual(["a", "d", "e"])
  })

  it("evicts in least-recently-used order through any mix of writes, hits, deletes and clears", () => {
    // A reference LRU (an array, oldest first) against the store, over a seeded random sequence long enough for
    // the Map to compact its table many times while keys come and go.
    let seed = 42
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    const capacity = 50
    const l1 = store(capacity)
    let reference: Array<string> = []
    const touch = (key: string) => {
      reference = reference.filter((k) => k !== key)
      reference.push(key)
    }
    for (let i = 0; i < 20_000; i++) {
      const key = `${random(3) === 0 ? "p" : "q"}${random(200)}`
      const op = random(100)
      if (op < 55) {
        l1.putAt(key, key, Infinity, meta(), WALL, MONO)
        touch(key)
        if (reference.length > capacity) reference.shift()
      } else if (op < 90) {
        const hit = l1.lookup(key, MONO) !== undefined
        expect(hit).toBe(reference.includes(key))
        if (hit) touch(key)
      } else if (op < 97) {
        l1.delete(key)
        reference = reference.filter((k) => k !== key)
      } else if (op < 99) {
        l1.deleteStartingWith("p")
        reference = reference.filter((k) => !k.startsWith("p"))
      } else {
        l1.clear()
        reference = []
      }
      expect(l1.size).toBe(reference.length)
    }
  })

  it("moves a rewritten key to the newest, and a hit on the newest moves nothing", () => {
    const l1 = store(2)
    l1.putAt("a", 1, Infinity, meta(), WALL, MONO)
    l1.putAt("b", 2, Infinity, meta(), WALL, MONO)
    l1.putAt("a", 3, Infinity, meta(), WALL, MONO)
    l1.lookup("a", MONO)
    l1.putAt("c", 4, Infinity, meta(), WALL, MONO)
    expect(l1.lookup("b", MONO)).toBeUndefined()
    expect(l1.lookup("a", MONO)?.value).toBe(3)
    expect(l1.lookup("c", MONO)?.value).toBe(4)
  })

  it("deletes keys, keys under a prefix, and everything", () => {
    const l1 = store(10)
    for (const key of ["p:a", "p:b", "q:a"]) l1.putAt(key, key, Infinity, meta(), WALL, MONO)
    l1.deleteStartingWith("p:")
    expect(l1.size).toBe(1)
    l1.delete("q:a")
    expect(l1.size).toBe(0)
    l1.putAt("x", 1, Infinity, meta(), WALL, MONO)
    l1.clear()
    expect(l1.lookup("x", MONO)).toBeUndefined()
  })
})

describe("L1Store expiry", () => {
  it("keeps a value through the last instant of its last millisecond, on the monotonic clock", () => {
    const l1 = store(10)
    l1.putAt("k", "v", WALL + 100, meta(), WALL, MONO)
    expect(l1.lookup("k", mono(WALL + 100))?.value).toBe("v")
    expect(l1.lookup("k", mono(WALL + 100) + 0.999)?.value).toBe("v")
    expect(l1.lookup("k", mono(WALL + 101))).toBeUndefined()
    // Gone for good once found expired.
    expect(l1.size).toBe(0)
  })

  it("expires no later than the end of the grace period", () => {
    const l1 = store(10)
    l1.putAt("k", "v", WALL + 1000, meta({ createdAt: WALL, freshUntil: WALL + 10, graceUntil: WALL + 20 }), WALL, MONO)
    expect(l1.lookup("k", mono(WALL + 20) + 0.5)?.value).toBe("v")
    expect(l1.lookup("k", mono(WALL + 21))).toBeUndefined()
  })

  it("moves the fresh period onto the monotonic clock, through the end of its last millisecond", () => {
    const l1 = store(10)
    l1.putAt("k", "v", Infinity, meta({ createdAt: WALL, freshUntil: WALL + 10, graceUntil: WALL + 20 }), WALL, MONO)
    const entry = l1.lookup("k", MONO)!
    expect(entry.meta.createdAt).toBe(MONO)
    expect(mono(WALL + 10) + 0.999).toBeLessThanOrEqual(entry.meta.freshUntil)
    expect(entry.meta.freshUntil).toBeLessThan(mono(WALL + 11))
    // The wall copy keeps the header's times.
    expect(entry.wall).toStrictEqual({ createdAt: WALL, freshUntil: WALL + 10, graceUntil: WALL + 20, tags: [] })
  })

  it("keeps the expiry when the wall clock moves: only the monotonic time passed counts", () => {
    const l1 = store(10)
    l1.putAt("k", "v", WALL + 100, meta(), WALL, MONO)
    // An invalidation read with the wall clock stepped back an hour (the monotonic clock 50 ms on) changes nothing.
    l1.invalidateTagsAt(new Set(["t"]), WALL, false, () => true, WALL - 3_600_000, MONO + 50)
    expect(l1.lookup("k", mono(WALL + 100))?.value).toBe("v")
  })
})

describe("L1Store tag invalidation", () => {
  const tagged = (l1: L1Store<L1Entry>, key: string, createdAt: number, tags: ReadonlyArray<string>, grace = 0) =>
    l1.putAt(
      key,
      key,
      Infinity,
      meta({ createdAt, freshUntil: WALL + 1000, graceUntil: WALL + 1000 + grace, tags }),
      WALL,
      MONO
    )

  it("makes entries of the tag created at or before the invalidation stale, keeping their grace from then", () => {
    const l1 = store(10)
    tagged(l1, "old", WALL, ["t"], 500)
    tagged(l1, "same", WALL + 5, ["t", "u"], 500)
    tagged(l1, "newer", WALL + 6, ["t"], 500)
    tagged(l1, "other", WALL, ["u"], 500)
    l1.invalidateTagsAt(new Set(["t"]), WALL + 5, false, () => true, WALL + 10, MONO + 10)
    const old = l1.lookup("old", mono(WALL + 10))!
    // Stale from the invalidation's millisecond on: fresh through the one before it.
    expect(old.wall.freshUntil).toBe(WALL + 4)
    expect(old.wall.graceUntil).toBe(WALL + 4 + 500)
    expect(old.meta.freshUntil).toBe(mono(WALL + 4))
    expect(l1.lookup("same", mono(WALL + 10))!.wall.freshUntil).toBe(WALL + 4)
    expect(l1.lookup("newer", mono(WALL + 10))!.wall.freshUntil).toBe(WALL + 1000)
    expect(l1.lookup("other", mono(WALL + 10))!.wall.freshUntil).toBe(WALL + 1000)
    // Kept for its grace counted from the instant before the invalidation, not past it.
    expect(old.meta.graceUntil).toBe(mono(WALL + 504))
    expect(l1.lookup("old", mono(WALL + 504))).toBeDefined()
    expect(l1.lookup("old", mono(WALL + 504) + 0.001)).toBeUndefined()
  })

  it("drops entries at once for a hard invalidation, or when they have no grace", () => {
    const l1 = store(10)
    tagged(l1, "hard", WALL, ["t"], 500)
    tagged(l1, "noGrace", WALL, ["u"])
    l1.invalidateTagsAt(new Set(["t"]), WALL + 5, true, () => true, WALL + 10, MONO + 10)
    l1.invalidateTagsAt(new Set(["u"]), WALL + 5, false, () => true, WALL + 10, MONO + 10)
    expect(l1.size).toBe(0)
  })

  it("counts an invalidation stamped past now from now, and leaves keys it does not cover", () => {
    const l1 = store(10)
    tagged(l1, "a", WALL, ["t"], 500)
    tagged(l1, "b", WALL, ["t"], 500)
    l1.invalidateTagsAt(new Set(["t"]), WALL + 50, false, (key) => key === "a", WALL + 10, MONO + 10)
    expect(l1.lookup("a", mono(WALL + 10))!.wall.freshUntil).toBe(WALL + 9)
    expect(l1.lookup("b", mono(WALL + 10))!.wall.freshUntil).toBe(WALL + 1000)
  })

  it("leaves untagged entries alone", () => {
    const l1 = store(10)
    tagged(l1, "plain", WALL, [])
    l1.invalidateTagsAt(new Set(["t"]), WALL + 5, true, () => true, WALL + 10, MONO + 10)
    expect(l1.lookup("plain", mono(WALL + 10))?.wall.freshUntil).toBe(WALL + 1000)
  })
})
