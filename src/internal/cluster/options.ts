/**
 * The cluster client's options, checked once: the seeds, the options every node's client shares, and the cluster's
 * own settings.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import { type Address, type NatMap, parseAddress } from "../../core/cluster/address.js"
import { redactUrl } from "../../core/options/redisUrl.js"
import type * as RedisClient from "../../RedisClient.js"

import { RedisConfigError } from "../../RedisError.js"
import { parseUrl, toMillis } from "../client/options.js"
import type { RedisClusterOptions } from "./types.js"

/**
 * A seed node as the user gave it, with its URL's parts when it was a `redis://` URL.
 *
 * @internal
 */
export interface Seed extends Address {
  readonly url: ReturnType<typeof parseUrl> | undefined
}

/**
 * Reads one seed: `host:port` or a `redis://` / `rediss://` URL (on database 0). Throws `RedisConfigError`.
 *
 * @internal
 */
export const parseSeed = (seed: string): Seed => {
  if (typeof seed !== "string") throw new RedisConfigError({ message: `a cluster node must be a string` })
  if (/^rediss?:\/\//i.test(seed)) {
    const url = parseUrl(seed)
    if (url.db !== undefined && url.db !== 0) {
      throw new RedisConfigError({ message: `a cluster has database 0 only, a node URL names ${url.db}` })
    }
    return { host: url.host ?? "localhost", port: url.port ?? 6379, url }
  }
  const address = parseAddress(seed.trim())
  if (address === undefined) {
    // Quoted only when it has the shape of host:port: anything else may be a URL holding a password, mistyped.
    const shown = /^(\[[\da-fA-F:.]*\]|[\w.-]+)(:\d*)?$/.test(seed.trim()) ? seed.trim() : redactUrl(seed)
    throw new RedisConfigError({ message: `cluster node ${shown} is neither host:port nor a redis:// URL` })
  }
  return { ...address, url: undefined }
}

/**
 * The cluster client's options once checked.
 *
 * @internal
 */
export interface Settings {
  readonly seeds: ReadonlyArray<Seed>
  /** The options of every node's client; only the address differs from node to node. */
  readonly base: RedisClient.LazyClientOptions
  readonly natMap: NatMap
  readonly maxRedirections: number
  readonly refreshIntervalMillis: number
  readonly readFromReplicas: boolean
  readonly failoverWait: RedisClusterOptions["failoverWait"]
}

/**
 * Checks the options (not those every node's client checks itself: `RedisClient.make` does, once). Credentials and
 * TLS given in a seed URL apply to every node unless the options set them.
 *
 * @internal
 */
export const resolveSettings = (options: RedisClusterOptions): Effect.Effect<Settings, RedisConfigError> =>
  Effect.try({
    try: () => {
      if (options === undefined || !Array.isArray(options.nodes) || options.nodes.length === 0) {
        throw new RedisConfigError({ message: "a cluster needs at least one node in nodes" })
      }
      const seeds = options.nodes.map(parseSeed)
      const fromUrl = seeds.find((seed) => seed.url?.password !== undefined)?.url
      const maxRedirections = options.maxRedirections ?? 16
      if (!Number.isInteger(maxRedirections) || maxRedirections < 1) {
        throw new RedisConfigError({ message: `maxRedirections must be a positive integer, got ${maxRedirections}` })
      }
      const {
        // The cluster checks its startup itself (the slot map): no node's client connects before its first command.
        connect: _c,
        failoverWait,
        maxRedirections: _m,
        natMap,
        nodes: _n,
        readFromReplicas,
        refreshInterval,
        ...clientOptions
      } = options
      const base: RedisClient.LazyClientOptions = {
        ...clientOptions,
        username: options.username ?? fromUrl?.username,
        password: options.password ?? fromUrl?.password,
        tls: options.tls ?? (seeds.some((seed) => seed.url?.tls === true) ? true : undefined)
      }
      return {
        seeds,
        base,
        natMap,
        maxRedirections,
        refreshIntervalMillis: toMillis(refreshInterval, 30_000, "refreshInterval"),
        readFromReplicas: readFromReplicas === true,
        failoverWait
      }
    },
    catch: (error) =>
      error instanceof RedisConfigError
        ? error
        : new RedisConfigError({ message: `invalid options: ${String(error)}` })
  })
