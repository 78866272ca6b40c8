/**
 * Ketama consistent hashing: which memcached server of a pool holds a key, computed the way libketama (last.fm),
 * libmemcached in its ketama-weighted mode (pylibmc, PHP's `memcached` with `OPT_LIBKETAMA_COMPATIBLE`), the
 * `hashring` npm package and python's `uhashring` in ketama mode do it, so that this library and those clients agree
 * on where a key lives when they share a pool.
 *
 * The continuum: each server, as its label `host:port`, gets 40 MD5 digests, of `"<label>-0"` … `"<label>-39"`, and
 * each digest gives 4 points, its bytes 0–3, 4–7, 8–11 and 12–15 read as little-endian unsigned 32-bit integers: 160
 * points per server (all servers weigh the same here). A key's hash is the first 4 bytes of MD5(key), little-endian;
 * its server owns the first point at or after that hash, wrapping to the first point of the circle past the last.
 *
 * @internal
 */
import { createHash } from "node:crypto"

/**
 * Points per MD5 digest of a server label, as ketama takes them: the digest's 16 bytes as 4 little-endian words.
 *
 * @since 0.2.0
 * @category constants
 */
export const pointsPerDigest = 4

/**
 * Digests per server (`"<label>-0"` … `"<label>-39"`), so 160 points per server, ketama's count for equal weights.
 *
 * @since 0.2.0
 * @category constants
 */
export const digestsPerServer = 40

/**
 * How a server's label, the text its points are hashed from, is spelled.
 *
 * - `"ketama"` (the default): the server string as given, `host:port`, as libketama, `hashring` and `uhashring` do.
 * - `"libmemcached"`: the same, except that a server on memcached's default port 11211 is labelled by its host alone
 *   (libmemcached's `update_continuum` prints `"%s-%u"` for port 11211 and `"%s:%u-%u"` otherwise), so a pool shared
 *   with pylibmc or PHP's `memcached` extension places keys where they do (the `hashring` package does the same with
 *   its `"default port": 11211` option).
 *
 * Either way the label is the text of the address, not the address: `localhost:11212` and `127.0.0.1:11212` are two
 * different labels, so every client of a pool must spell its servers the same way.
 *
 * @since 0.2.0
 * @category models
 */
export type RingLabels = "ketama" | "libmemcached"

/**
 * Options of {@link makeRing}.
 *
 * @since 0.2.0
 * @category models
 */
export interface RingOptions {
  /** How server labels are spelled (see {@link RingLabels}). Default: `"ketama"`. */
  readonly labels?: RingLabels | undefined
}

/**
 * Where keys live in a pool of servers.
 *
 * @since 0.2.0
 * @category models
 */
export interface Ring {
  /** The number of servers (the length of the list the ring was made from). */
  readonly size: number
  /**
   * The index (into the server list) of the server holding `key`, or `-1` when the ring has no server. A string is
   * hashed as its UTF-8 bytes; pass the bytes of the key as memcached stores it (the decoded key, not the base64 text
   * of the meta protocol's `b` flag), which is what another client of the pool hashes.
   */
  readonly serverFor: (key: string | Uint8Array) => number
}

/**
 * A {@link Ring} that can also route around servers that are down.
 *
 * @since 0.2.0
 * @category models
 */
export interface KetamaRing extends Ring {
  /**
   * The server for `key` when the servers for which `isDown(index)` is true are left out: the owner of the first
   * point at or after the key's hash whose server is up, which is where the key would live on a ring made without
   * those servers (and what libmemcached's auto-eject does by rebuilding its continuum). `-1` when every server is
   * down or the ring is empty. `isDown` is asked only about servers met on the way, each at most once per call.
   *
   * Not the default routing, deliberately: moving a down server's keys to the others makes them misses there, then
   * fills them with values that are stale once the server returns with its old entries (a write or delete made in
   * between went to the stand-in), and every client of the pool must agree on who is down at the same moment or
   * they disagree on where keys live. With {@link Ring.serverFor}, a server down turns only its own keys into misses
   * and nothing moves. A backend may offer this as an explicit option for pools where availability matters more
   * than those costs.
   */
  readonly serverForExcluding: (key: string | Uint8Array, isDown: (index: number) => boolean) => number
  /**
   * The continuum, sorted: `points[i]` is owned by the server at index `owners[i]`. For tests and diagnostics; the
   * arrays are the ring's own and must not be changed.
   */
  readonly points: Uint32Array
  /** `owners[i]` is the index of the server owning `points[i]`. */
  readonly owners: Int32Array
}

const defaultPort = ":11211"

const labelOf = (server: string, labels: RingLabels): string =>
  labels === "libmemcached" && server.endsWith(defaultPort) ? server.slice(0, -defaultPort.length) : server

const md5 = (data: string | Uint8Array): Buffer => createHash("md5").update(data).digest()

/**
 * The ketama hash of a key: the first 4 bytes of MD5(key), little-endian, as an unsigned 32-bit integer. A string is
 * hashed as its UTF-8 bytes.
 *
 * @since 0.2.0
 * @category hashing
 */
export const ketamaHash = (key: string | Uint8Array): number => md5(key).readUInt32LE(0)

// The first index whose point is at or after `hash`, or `points.length` when the hash is past the last point:
// libmemcached's and libketama's search, so a hash equal to a point belongs to that point's server.
const lowerBound = (points: Uint32Array, hash: number): number => {
  let low = 0
  let high = points.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (points[mid]! < hash) low = mid + 1
    else high = mid
  }
  return low
}

/**
 * Builds the ketama continuum of `servers` (each `host:port`, spelled as every client of the pool spells it) and
 * returns the ring that routes keys on it.
 *
 * Ties, two servers with a point of the same value (rare: about one pair in 2^32 per pair of points), are broken by
 * the server labels' order and then by list position, not by the list order alone as a sort of the list would, so
 * the ring is the same whatever order the servers are listed in. The reference implementations leave a tie to their
 * sort (`qsort` is not stable), so there is nothing to agree with. A server listed twice owns nothing the second
 * time. An empty list gives a ring whose `serverFor` is `-1`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeRing = (servers: ReadonlyArray<string>, options: RingOptions = {}): KetamaRing => {
  const labels = servers.map((server) => labelOf(server, options.labels ?? "ketama"))
  const perServer = digestsPerServer * pointsPerDigest
  const count = servers.length * perServer
  const values = new Uint32Array(count)
  const ownersUnsorted = new Int32Array(count)
  let n = 0
  for (let index = 0; index < servers.length; index++) {
    for (let d = 0; d < digestsPerServer; d++) {
      const digest = md5(`${labels[index]}-${d}`)
      for (let p = 0; p < pointsPerDigest; p++) {
        values[n] = digest.readUInt32LE(p * 4)
        ownersUnsorted[n] = index
        n++
      }
    }
  }
  // Label order, then list position, as the tie-breaker (see above); computed once, not per comparison.
  const rank = new Int32Array(servers.length)
  servers
    .map((_, index) => index)
    .sort((a, b) => (labels[a]! < labels[b]! ? -1 : labels[a]! > labels[b]! ? 1 : a - b))
    .forEach((index, position) => {
      rank[index] = position
    })
  const order = Array.from({ length: count }, (_, i) => i).sort((a, b) =>
    values[a] !== values[b] ? values[a]! - values[b]! : rank[ownersUnsorted[a]!]! - rank[ownersUnsorted[b]!]!
  )
  const points = new Uint32Array(count)
  const owners = new Int32Array(count)
  order.forEach((from, to) => {
    points[to] = values[from]!
    owners[to] = ownersUnsorted[from]!
  })

  const serverFor = (key: string | Uint8Array): number => {
    // One server owns everything: no hashing on the common single-server pool.
    if (servers.length <= 1) return servers.length - 1
    const at = lowerBound(points, ketamaHash(key))
    return owners[at === count ? 0 : at]!
  }

  const serverForExcluding = (key: string | Uint8Array, isDown: (index: number) => boolean): number => {
    if (count === 0) return -1
    const start = lowerBound(points, ketamaHash(key)) % count
    // Servers already found down, so each is asked about once; a server is met up to 160 times round the circle.
    const down = new Uint8Array(servers.length)
    for (let step = 0; step < count; step++) {
      const owner = owners[(start + step) % count]!
      if (down[owner] === 1) continue
      if (!isDown(owner)) return owner
      down[owner] = 1
    }
    return -1
  }

  return { size: servers.length, serverFor, serverForExcluding, points, owners }
}
