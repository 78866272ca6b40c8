/**
 * Stand-in for the ketama ring being written on its own branch: same API, so the client compiles and routes
 * consistently until that lands.
 *
 * @internal
 */
import { createHash } from "node:crypto"

/**
 * A consistent-hashing ring over servers (`host:port`).
 *
 * @internal
 */
export interface Ring {
  readonly size: number
  readonly serverFor: (key: string | Uint8Array) => number
}

const point = (digest: Buffer, i: number): number => digest.readUInt32LE(i * 4)

/**
 * The ring of `servers`: 160 points per server, ketama's.
 *
 * @internal
 */
export const makeRing = (servers: ReadonlyArray<string>): Ring => {
  const points: Array<{ readonly at: number; readonly server: number }> = []
  servers.forEach((server, index) => {
    for (let i = 0; i < 40; i++) {
      const digest = createHash("md5").update(`${server}-${i}`).digest()
      for (let j = 0; j < 4; j++) points.push({ at: point(digest, j), server: index })
    }
  })
  points.sort((a, b) => a.at - b.at)
  return {
    size: servers.length,
    serverFor: (key) => {
      if (servers.length <= 1) return 0
      const at = point(createHash("md5").update(key).digest(), 0)
      let lo = 0
      let hi = points.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (points[mid]!.at < at) lo = mid + 1
        else hi = mid
      }
      return points[lo === points.length ? 0 : lo]!.server
    }
  }
}
