import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ketamaHash, makeRing } from "../../src/core/memcached/ring.js"

const pool = (n: number, host = "10.0.0.") => Array.from({ length: n }, (_, i) => `${host}${i + 1}:11211`)
const keys = (n: number) => Array.from({ length: n }, (_, i) => `key:${i}`)

// Golden vectors. Computed with a separate, minimal ketama written in Python (hashlib.md5 and bisect only, not this
// module): for each server 40 MD5 digests of "<label>-<i>", 4 little-endian words each, sorted; a key's hash the
// first 4 bytes of MD5(UTF-8 key) little-endian; the first point >= hash, wrapping to the first. The "libmemcached"
// set labels a server on port 11211 by its host alone, as libmemcached's update_continuum does ("%s-%u").
const s3 = ["10.0.1.1:11211", "10.0.1.2:11211", "10.0.1.3:11211"]
const s4 = ["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213", "127.0.0.1:11214"]
const goldenKeys = [
  "foo",
  "bar",
  "baz",
  "user:42",
  "session:abc",
  "ключ",
  "🙂",
  "",
  "a".repeat(200),
  "ac:0:item-1",
  "ac:0:item-2",
  "ac:0:item-3",
  "hello world",
  "x\r\ny"
]
const golden = {
  ketama3: [1, 0, 1, 0, 1, 2, 1, 2, 1, 0, 2, 0, 1, 1],
  libmemcached3: [2, 2, 2, 2, 1, 2, 2, 1, 0, 2, 0, 0, 0, 0],
  ketama4: [3, 1, 0, 3, 0, 1, 0, 0, 3, 0, 2, 0, 2, 2],
  libmemcached4: [0, 1, 1, 3, 0, 1, 0, 2, 3, 3, 2, 1, 0, 2]
}

describe("core/memcached/ring: ketama consistent hashing", () => {
  it("hashes a key as the first 4 bytes of its MD5, little-endian", () => {
    // md5("foo") = acbd18db4cc2f85cedef654fccc4a4d8: bytes ac bd 18 db read little-endian.
    expect(ketamaHash("foo")).toBe(0xdb18bdac)
    expect(ketamaHash(Buffer.from("foo"))).toBe(0xdb18bdac)
    // A string is its UTF-8 bytes.
    expect(ketamaHash("ключ")).toBe(ketamaHash(Buffer.from("ключ", "utf8")))
  })

  it("agrees with an independent ketama on where keys live (golden vectors)", () => {
    const check = (servers: ReadonlyArray<string>, labels: "ketama" | "libmemcached", expected: Array<number>) => {
      const ring = makeRing(servers, { labels })
      expect(goldenKeys.map((key) => ring.serverFor(key))).toStrictEqual(expected)
      expect(goldenKeys.map((key) => ring.serverFor(Buffer.from(key, "utf8")))).toStrictEqual(expected)
    }
    check(s3, "ketama", golden.ketama3)
    check(s3, "libmemcached", golden.libmemcached3)
    check(s4, "ketama", golden.ketama4)
    check(s4, "libmemcached", golden.libmemcached4)
  })

  it("agrees with Couchbase's ketama verification (SDK RFC 26 and its Java test)", () => {
    // Couchbase's KetamaRingTest (RFC 26's four nodes): a hash of 2^32 - 1 wraps to the first point, 192.168.1.104's.
    const ring = makeRing(["192.168.1.101:11210", "192.168.1.102:11210", "192.168.1.103:11210", "192.168.1.104:11210"])
    expect(ring.points.length).toBe(640)
    expect(ring.owners[0]).toBe(3)
    expect(ring.points[ring.points.length - 1]).toBeLessThan(4294967295)
    // The same test's known collision: both servers have a point at 1723476360.
    const collision = makeRing(["example.com:11210", "example137723.com:11210"])
    const at = collision.points.indexOf(1723476360)
    expect(collision.points[at + 1]).toBe(1723476360)
    expect(new Set([collision.owners[at], collision.owners[at + 1]])).toStrictEqual(new Set([0, 1]))
  })

  it("160 points per server, sorted; the libmemcached labels differ only on port 11211", () => {
    const ring = makeRing(s3)
    expect(ring.size).toBe(3)
    expect(ring.points.length).toBe(480)
    for (let i = 1; i < ring.points.length; i++) expect(ring.points[i]!).toBeGreaterThanOrEqual(ring.points[i - 1]!)
    for (let s = 0; s < 3; s++) expect(ring.owners.filter((owner) => owner === s).length).toBe(160)
    const other = ["10.0.1.1:11212", "10.0.1.2:11213"]
    expect(makeRing(other, { labels: "libmemcached" }).points).toStrictEqual(makeRing(other).points)
    expect(makeRing(s3, { labels: "libmemcached" }).points).not.toStrictEqual(ring.points)
  })

  it("spreads keys evenly enough across 3 and 10 servers", () => {
    for (const n of [3, 10]) {
      const ring = makeRing(pool(n))
      const counts = new Array<number>(n).fill(0)
      const all = keys(30_000)
      for (const key of all) counts[ring.serverFor(key)]!++
      // 160 points per server leave each share within some 15% of the fair one (measured: 0.88 to 1.14 at 10).
      for (const count of counts) {
        expect(count / (all.length / n)).toBeGreaterThan(0.75)
        expect(count / (all.length / n)).toBeLessThan(1.25)
      }
    }
  })

  it("adding a 4th server moves about a quarter of the keys, all of them to the new server", () => {
    const before = makeRing(pool(3))
    const after = makeRing(pool(4))
    const all = keys(30_000)
    let moved = 0
    for (const key of all) {
      const was = before.serverFor(key)
      const is = after.serverFor(key)
      if (was !== is) {
        moved++
        expect(is).toBe(3)
      }
    }
    expect(moved / all.length).toBeGreaterThan(0.15)
    expect(moved / all.length).toBeLessThan(0.35)
  })

  it("places keys by server, whatever the order of the server list, ties included", () => {
    const servers = pool(5)
    const reference = makeRing(servers)
    const sample = keys(2_000)
    const ownerOf = (ring: ReturnType<typeof makeRing>, list: ReadonlyArray<string>) =>
      sample.map((key) => list[ring.serverFor(key)])
    const expected = ownerOf(reference, servers)
    fc.assert(
      fc.property(fc.shuffledSubarray(servers, { minLength: 5, maxLength: 5 }), (shuffled) => {
        expect(ownerOf(makeRing(shuffled), shuffled)).toStrictEqual(expected)
      }),
      { numRuns: 20 }
    )
    // The colliding pair: the tied arc goes to the same server in both orders.
    const pair = ["example.com:11210", "example137723.com:11210"]
    const forward = makeRing(pair)
    const backward = makeRing([...pair].reverse())
    const at = forward.points.indexOf(1723476360)
    expect(pair[forward.owners[at]!]).toBe([...pair].reverse()[backward.owners[at]!])
    // Just past the previous point, the tied arc begins.
    const key = findKeyHashingInto(forward.points[at - 1]!, 1723476360)
    expect(key).toBeDefined()
    expect(pair[forward.serverFor(key!)]).toBe([...pair].reverse()[backward.serverFor(key!)])
  })

  it("wraps past the last point to the first; one server owns everything; none gives -1", () => {
    const ring = makeRing(s3)
    const last = ring.points[ring.points.length - 1]!
    const key = findKeyHashingInto(last, 2 ** 32 - 1)
    expect(key).toBeDefined()
    expect(ring.serverFor(key!)).toBe(ring.owners[0])
    expect(makeRing(["a:1"]).serverFor("anything")).toBe(0)
    expect(makeRing([]).serverFor("anything")).toBe(-1)
    expect(makeRing([]).size).toBe(0)
    expect(makeRing([]).serverForExcluding("anything", () => false)).toBe(-1)
  })

  it("a server listed twice owns nothing the second time", () => {
    const ring = makeRing(["a:1", "b:1", "a:1"])
    for (const key of keys(5_000)) expect(ring.serverFor(key)).not.toBe(2)
    const single = makeRing(["a:1", "b:1"])
    expect(keys(5_000).map((key) => ["a", "b", "a"][ring.serverFor(key)])).toStrictEqual(
      keys(5_000).map((key) => ["a", "b"][single.serverFor(key)])
    )
  })

  it("serverForExcluding: as a ring without the down servers; the others' keys stay put", () => {
    const servers = pool(4)
    const ring = makeRing(servers)
    const without = makeRing(servers.filter((_, i) => i !== 1))
    const map = [0, 2, 3]
    const asked = new Map<number, number>()
    for (const key of keys(10_000)) {
      const excluding = ring.serverForExcluding(key, (index) => {
        asked.set(index, (asked.get(index) ?? 0) + 1)
        return index === 1
      })
      expect(excluding).toBe(map[without.serverFor(key)])
      expect(excluding).not.toBe(1)
      // A live server's keys do not move.
      if (ring.serverFor(key) !== 1) expect(excluding).toBe(ring.serverFor(key))
    }
    expect(ring.serverForExcluding("k", () => true)).toBe(-1)
    // Each server is asked about at most once per call.
    let calls = 0
    ring.serverForExcluding("k", () => {
      calls++
      return true
    })
    expect(calls).toBe(4)
    expect(ring.serverForExcluding("k", () => false)).toBe(ring.serverFor("k"))
  })
})

// A key whose hash falls in (low, high], by trying candidates: about (2^32 / (high - low)) tries.
const findKeyHashingInto = (low: number, high: number): string | undefined => {
  for (let i = 0; i < 5_000_000; i++) {
    const key = `probe:${i}`
    const hash = ketamaHash(key)
    if (hash > low && hash <= high) return key
  }
  return undefined
}
