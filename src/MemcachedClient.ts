/**
 * A memcached client as an Effect service, on memcached's meta protocol (`mg`, `ms`, `md`, `ma`, `mn`): a scoped
 * layer that owns one connection per server, pipelines commands from any number of fibers on it and fails with
 * typed errors. It knows nothing about caching; its raw meta commands return typed results, win tokens and stale
 * marks included, so that a cache backend and a cross-process single-flight can be built on it.
 *
 * Servers: keys are spread over the servers by a ketama-compatible ring (the key's bytes are hashed, as other
 * ketama clients of the same server list hash them). A server that is down fails only the commands routed to it,
 * fast, while the client retries it in the background with a bounded exponential backoff.
 *
 * Ordering: a command is queued for writing synchronously when it runs, and meta replies come back in order. Every
 * request carries an opaque token that its reply must echo, so a reply can never reach the wrong caller: a reply
 * that does not match closes the connection with `MemcachedProtocolError`. `getMany` sends its keys for one server
 * as quiet `mg`s ended by `mn`, in parallel across servers.
 *
 * Failure: a reply that does not come within `commandTimeout` fails its command with `MemcachedTimeoutError` and
 * closes the connection (every other command on it fails with `MemcachedConnectionError`; the next command opens a
 * fresh one), so a late reply is never read by another command.
 *
 * @since 0.2.0
 */
import * as Config from "#effect/Config"
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import type * as Scope from "#effect/Scope"
import * as Meta from "./core/memcached/meta.js"
import { makeRing } from "./core/memcached/ring.js"
import * as ConfigInput from "./internal/configInput.js"
import { makeCommands } from "./internal/memcached/commands.js"
import type { MemcachedClientOptions, ResolvedMemcachedOptions } from "./internal/memcached/options.js"
import { parseServers, resolveOptions } from "./internal/memcached/options.js"
import { run } from "./internal/memcached/reply.js"
import { makeServerConnection, type ServerConnection } from "./internal/memcached/server.js"
import type {
  Key,
  MetaArithmeticFlags,
  MetaArithmeticResult,
  MetaDeleteFlags,
  MetaDeleteResult,
  MetaGetFlags,
  MetaGetManyResult,
  MetaGetResult,
  MetaSetFlags,
  MetaSetManyResult,
  MetaSetResult,
  SetManyEntry
} from "./internal/memcached/types.js"
import { MemcachedConfigError, type MemcachedError, MemcachedInputError } from "./MemcachedError.js"

export type {
  /**
   * @since 0.2.0
   * @category models
   */
  MemcachedClientOptions,
  /**
   * @since 0.2.0
   * @category models
   */
  ResolvedMemcachedOptions,
  /**
   * @since 0.2.0
   * @category models
   */
  ServerAddress
} from "./internal/memcached/options.js"
export type {
  /**
   * @since 0.2.0
   * @category models
   */
  Key,
  /**
   * @since 0.2.0
   * @category models
   */
  MetaArithmeticFlags,
  /**
   * @since 0.2.0
   * @category models
   */
  MetaArithmeticResult,
  /**
   * @since 0.2.0
   * @category models
   */
  MetaDeleteFlags,
  /**
   * @since 0.2.0
   * @category models
   */
  MetaDeleteResult,
  /**
   * @since 0.2.0
   * @category models
   */
  MetaFlags,
  /**
   * @since 0.2.0
   * @category models
   */
  MetaGetFlags,
  /**
   * @since 0.2.0
   * @category models
   */
  MetaGetManyResult,
  /**
   * @since 0.2.0
   * @category models
   */
  MetaGetResult,
  /**
   * @since 0.2.0
   * @category models
   */
  MetaSetFlags,
  /**
   * @since 0.2.0
   * @category models
   */
  MetaSetManyResult,
  /**
   * @since 0.2.0
   * @category models
   */
  MetaSetResult,
  /**
   * @since 0.2.0
   * @category models
   */
  SetManyEntry
} from "./internal/memcached/types.js"

/**
 * The service shape.
 *
 * @since 0.2.0
 * @category models
 */
export interface MemcachedClientShape {
  /** The options in use. */
  readonly options: ResolvedMemcachedOptions
  /** The index in `options.servers` of the server `key` lives on. */
  readonly serverFor: (key: Key) => number
  /** `mg`: a hit (with its value when `value: true`), or a miss; win tokens and stale marks in `flags`. */
  readonly metaGet: (key: Key, flags?: MetaGetFlags) => Effect.Effect<MetaGetResult, MemcachedError>
  /** `ms`: stores `value` (a string as UTF-8). `SERVER_ERROR object too large for cache` is a `MemcachedReplyError`. */
  readonly metaSet: (
    key: Key,
    value: Uint8Array | string,
    flags?: MetaSetFlags
  ) => Effect.Effect<MetaSetResult, MemcachedError>
  /** `md`: deletes the item, or with `invalidate: true` marks it stale. */
  readonly metaDelete: (key: Key, flags?: MetaDeleteFlags) => Effect.Effect<MetaDeleteResult, MemcachedError>
  /** `ma`: increments or decrements a decimal counter. */
  readonly metaArithmetic: (
    key: Key,
    flags?: MetaArithmeticFlags
  ) => Effect.Effect<MetaArithmeticResult, MemcachedError>
  /**
   * `mg` of every key, answered in the keys' order: the keys of each server as one pipelined batch of quiet `mg`s
   * ended by `mn`, the servers in parallel. A server that fails gives its keys `{ kind: "error" }`; the others are
   * unaffected. It fails as a whole only with `MemcachedInputError`, before anything is sent, when a key or flag
   * cannot be sent. `flags` default to `{ value: true }`.
   */
  readonly getMany: (
    keys: ReadonlyArray<Key>,
    flags?: MetaGetFlags
  ) => Effect.Effect<ReadonlyArray<MetaGetManyResult>, MemcachedInputError>
  /**
   * `ms` of every entry, answered in the entries' order, pipelined per server as one batch ended by `mn`, the
   * servers in parallel. An entry the server refuses (`SERVER_ERROR object too large for cache`) fails alone. A server that fails gives its entries `{ kind: "error" }` (their outcome is unknown when
   * the batch was written); it fails as a whole only with `MemcachedInputError`, before anything is sent.
   */
  readonly setMany: (
    entries: ReadonlyArray<SetManyEntry>
  ) => Effect.Effect<ReadonlyArray<MetaSetManyResult>, MemcachedInputError>
  /** `mn` on every server: succeeds once each has answered. */
  readonly noop: Effect.Effect<void, MemcachedError>
  /** Requests waiting for their reply or for room, over every server. */
  readonly inFlight: Effect.Effect<number>
  /** Why servers cannot be used right now (`host:port: why`, one per failing server), or `undefined`. */
  readonly diagnosis: () => string | undefined
}

/**
 * The memcached client service.
 *
 * @since 0.2.0
 * @category tags
 */
export class MemcachedClient extends Context.Service<MemcachedClient, MemcachedClientShape>()(
  "effect-remote-cache/MemcachedClient"
) {}

/**
 * Builds the client in a scope: nothing is opened until a command needs a server; closing the scope closes every
 * socket and fails every command still waiting with `MemcachedConnectionError`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  options: MemcachedClientOptions = {}
): Effect.Effect<MemcachedClientShape, MemcachedConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const resolved = yield* Effect.try({
      try: () => resolveOptions(options),
      catch: (error) =>
        error instanceof MemcachedConfigError ? error : new MemcachedConfigError({ message: String(error) })
    })
    const servers: Array<ServerConnection> = []
    for (const address of resolved.servers) servers.push(yield* makeServerConnection(resolved, address))
    const ring = makeRing(resolved.servers.map((server) => server.where))
    const commands = makeCommands(resolved, servers, ring)

    const noop: Effect.Effect<void, MemcachedError> = Effect.forEach(
      servers,
      (server) => run(server, (conn) => conn.submitBatch("mn", []), () => Effect.void),
      { concurrency: "unbounded", discard: true }
    )

    const diagnosis = () => {
      const problems = servers.flatMap((server) => {
        const problem = server.diagnosis()
        return problem === undefined ? [] : [`${server.address.where}: ${problem}`]
      })
      return problems.length === 0 ? undefined : problems.join("; ")
    }

    return {
      options: resolved,
      serverFor: (key: Key) => ring.serverFor(Meta.keyBytes(key)),
      ...commands,
      noop,
      inFlight: Effect.sync(() => servers.reduce((sum, server) => sum + (server.current()?.inFlight ?? 0), 0)),
      diagnosis
    } satisfies MemcachedClientShape
  })

/**
 * The client as a scoped layer. It never connects before the first command.
 *
 * @example
 * ```ts
 * import { MemcachedClient } from "effect-remote-cache"
 *
 * const Client = MemcachedClient.layer({ servers: ["cache-1:11211", "cache-2:11211"], commandTimeout: "500 millis" })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: MemcachedClientOptions = {}): Layer.Layer<MemcachedClient, MemcachedConfigError> =>
  Layer.effect(MemcachedClient, make(options))

/**
 * The server list read from the variable `name` (default `MEMCACHED_SERVERS`): comma-separated `host:port`s
 * (`[::1]:11211` for IPv6; the port defaults to 11211). Missing or empty, it is `fallback` (default
 * `localhost:11211`). A malformed list is a `ConfigError` naming the variable.
 *
 * @example
 * ```ts
 * import { MemcachedClient } from "effect-remote-cache"
 *
 * const FromEnv = MemcachedClient.layerConfig({ servers: MemcachedClient.serversConfig("CACHE_MEMCACHED") })
 * ```
 *
 * @since 0.2.0
 * @category config
 */
export const serversConfig = (
  name = "MEMCACHED_SERVERS",
  fallback = "localhost:11211"
): Config.Config<ReadonlyArray<string>> =>
  Config.String(name).pipe(
    Config.withDefault(""),
    Config.mapEffect((text: string): Effect.Effect<ReadonlyArray<string>, Config.ConfigError> => {
      const list = text.trim() === "" ? fallback : text
      const parsed = parseServers(list)
      return typeof parsed === "string"
        ? Effect.fail(Config.invalidData([name], `${name} is not a list of host:port: ${parsed}`))
        : Effect.succeed(parsed.map((server) => server.where))
    })
  )

/**
 * What `layerConfig` takes: a whole `Config` of the options, or an object whose fields are each a `Config` or a
 * plain value.
 *
 * @since 0.2.0
 * @category models
 */
export type LayerConfigInput<A> = ConfigInput.ConfigInput<A>

/**
 * The client as a scoped layer whose options come from `effect/Config`. By default it reads `MEMCACHED_SERVERS`.
 *
 * @example
 * ```ts
 * import { MemcachedClient } from "effect-remote-cache"
 *
 * const FromEnv = MemcachedClient.layerConfig({
 *   servers: MemcachedClient.serversConfig(),
 *   commandTimeout: "200 millis"
 * })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  config: LayerConfigInput<MemcachedClientOptions> = { servers: serversConfig() }
): Layer.Layer<MemcachedClient, MemcachedConfigError | Config.ConfigError> =>
  Layer.effect(
    MemcachedClient,
    Effect.flatMap(ConfigInput.toConfig(config), (options: MemcachedClientOptions) => make(options))
  )
