/**
 * Effect 4's own `Redis` service (`effect/persistence`'s `Redis`) over this package's `RedisClient`, so that
 * Effect's Redis-based code (`Persistence.layerRedis`, `RateLimiter.layerStoreRedis`,
 * `PersistedQueue.layerStoreRedis`, a program's own `redis.send` and `redis.eval`) runs on the client already in
 * context: its pipelining, timeouts, reconnection, TLS and typed errors.
 *
 * Effect 4 line (2.x) only: Effect 3 has no such service, so the 1.x line has no `effect-remote-cache/EffectRedis`.
 * Import it from its own path; the package root does not load it.
 *
 * The service is built by Effect's own `Redis.make`, so `eval` (`SCRIPT LOAD` once, then `EVALSHA`, loading again
 * on `NOSCRIPT`), the queue of `subscribe` and the pool behind `reserve` are Effect's. What this module gives it:
 *
 * - **`send(command, ...args)`** is the client's `send([command, ...args])`. Replies come in the shapes Effect's
 *   Redis code reads (those of a RESP2 client such as ioredis): a bulk or simple string as a `string` (bulk bytes
 *   decoded as UTF-8), an integer as a `number` (one outside the safe integer range as its decimal `string`, so no
 *   digit is lost), an array as an `Array` of converted values, nil as `null`. An error reply inside an array (a
 *   failed command in `EXEC`'s reply) is a `RedisReplyError` value in it. A failure is Effect's `RedisError`,
 *   whose `cause` is the client's typed error (`RedisReplyError`, `RedisTimeoutError`, `RedisConnectionError`…).
 *   The shared client pipelines every fiber's commands on one connection: `MULTI`/`EXEC` and blocking commands
 *   belong on `reserve`.
 * - **`subscribe(channel)`** listens on the client's own subscriber connection (one per client) for the scope; a
 *   message is its UTF-8 text. The client reconnects and re-subscribes by itself, so messages published while it
 *   was disconnected are lost (the delivery gaps Effect's documentation describes), and the queue never fails.
 * - **`reserve`** takes a connection of its own from Effect's pool: a new `RedisClient` with the shared client's
 *   options (server, credentials, db, TLS, limits), except its command timeout, none by default
 *   ({@link Options.reserveCommandTimeout}), since `reserve` is for blocking commands such as `BLPOP key 0`. It
 *   connects when it is taken, so a server that cannot be reached fails `reserve`. On a cluster client (from
 *   `RedisCluster`) `reserve` fails: a connection of its own would reach one node only.
 * - **On a cluster client** (`RedisCluster`), `send` is the cluster client's routing: a keyed command goes to its
 *   slot's primary, `MGET` / `DEL` over several slots are split. `eval`'s `SCRIPT LOAD` reaches every node, replicas
 *   included, and its `EVALSHA` goes to the primary of the script's first key; keys of several slots are refused
 *   by the server (`CROSSSLOT`, Effect's `RedisError` with the client's `RedisReplyError` as its cause), so keys
 *   used together need one hash tag (`{tag}`). `KEYS pattern` and `SCAN 0 …` run on every primary and answer the
 *   union (a `SCAN` answers cursor `0` with every key; another cursor is refused), since Effect's code reads them
 *   as if from one server (`Persistence.layerRedis`'s `clear`, `PersistedQueue`'s cleanup).
 *
 * @since 0.2.0
 */
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Layer from "#effect/Layer"
import * as EffectsRedis from "#effect/Redis"
import * as Scope from "#effect/Scope"
import { revealTls } from "./internal/client/options.js"
import * as RedisClient from "./RedisClient.js"
import { type RedisError, RedisReplyError } from "./RedisError.js"
import { ErrorReply, RespMap, RespPush, RespSet, type RespValue, VerbatimString } from "./Resp.js"

/**
 * Effect 4's `Redis` service tag (`effect/persistence`), the one the layers of this module provide: the same tag as
 * Effect's own.
 *
 * @example
 * ```ts
 * // Effect 4 only
 * import { Effect, Layer } from "effect"
 * import { RedisClient } from "effect-remote-cache"
 * import * as EffectRedis from "effect-remote-cache/EffectRedis"
 *
 * const program = Effect.gen(function*() {
 *   const redis = yield* EffectRedis.Redis
 *   yield* redis.send("SET", "greeting", "hello")
 *   return yield* redis.send<string | null>("GET", "greeting") // "hello"
 * })
 *
 * const RedisLive = EffectRedis.layer().pipe(Layer.provide(RedisClient.layer({ url: "redis://localhost:6379" })))
 * Effect.runPromise(program.pipe(Effect.provide(RedisLive)))
 * ```
 *
 * @since 0.2.0
 * @category tags
 */
export const Redis: typeof EffectsRedis.Redis = EffectsRedis.Redis

/**
 * The identifier of Effect 4's `Redis` service in a layer's type.
 *
 * @since 0.2.0
 * @category models
 */
export type Redis = EffectsRedis.Redis

/**
 * Options of {@link make} and {@link layer}.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The pool of connections behind `reserve` (Effect's `PoolOptions`: at most 10 by default, none kept idle). */
  readonly pool?: EffectsRedis.PoolOptions | undefined
  /**
   * The command timeout of a reserved connection. Default: none (a command waits for its reply as long as the
   * connection lives), since `reserve` is for blocking commands; the shared client keeps its own timeout.
   */
  readonly reserveCommandTimeout?: Duration.Input | undefined
}

/**
 * A reply of the client in the shape Effect's Redis code reads (see the module's description).
 *
 * @since 0.2.0
 * @category conversions
 */
export const fromReply = (reply: RespValue): unknown => {
  if (reply === null || typeof reply === "string" || typeof reply === "number") return reply
  if (reply instanceof Uint8Array) return decoder.decode(reply)
  if (Array.isArray(reply)) return reply.map(fromReply)
  if (typeof reply === "bigint") return reply.toString()
  // RESP3 only (the client speaks RESP2): converted to what RESP2 answers.
  if (typeof reply === "boolean") return reply ? 1 : 0
  if (reply instanceof ErrorReply) {
    return new RedisReplyError({ message: reply.message, code: reply.code, command: "" })
  }
  if (reply instanceof VerbatimString) return decoder.decode(reply.value)
  if (reply instanceof RespMap) return reply.entries.flatMap(([key, value]) => [fromReply(key), fromReply(value)])
  if (reply instanceof RespSet || reply instanceof RespPush) return reply.values.map(fromReply)
  return reply
}

const decoder = new TextDecoder()

/** `send` of Effect's service over one client. */
const sendOf =
  (client: RedisClient.RedisClientShape) =>
  <A = unknown>(command: string, ...args: ReadonlyArray<string>): Effect.Effect<A, EffectsRedis.RedisError> => {
    const reply = client.primaries !== undefined ? clusterWide(client.primaries, command, args) : undefined
    return (reply ?? client.send([command, ...args])).pipe(
      Effect.map((reply) => fromReply(reply) as A),
      Effect.mapError((cause) => new EffectsRedis.RedisError({ cause }))
    )
  }

/**
 * On a cluster client, the key listings Effect's Redis code reads as if from one server (`KEYS` in
 * `Persistence.layerRedis`'s `clear`, `SCAN` in `PersistedQueue`'s cleanup): each primary holds only its slots'
 * keys, so they run on every primary and answer the union. A `SCAN` from cursor `0` walks every primary to its end
 * and answers cursor `0` with all the keys, since no single cursor spans nodes; another cursor is refused.
 * `undefined` for any other command, which the cluster client routes.
 */
const clusterWide = (
  primaries: Effect.Effect<ReadonlyArray<RedisClient.RedisClientShape>, RedisError>,
  command: string,
  args: ReadonlyArray<string>
): Effect.Effect<RespValue, RedisError | Error> | undefined => {
  const name = command.toUpperCase()
  if (name === "KEYS" && args.length === 1) {
    return onEveryPrimary(primaries, (node) => node.send([command, ...args]))
  }
  if (name !== "SCAN") return undefined
  if (args[0] !== "0") {
    return Effect.fail(
      new Error("SCAN on a cluster client starts at cursor 0 and answers every primary's keys with cursor 0")
    )
  }
  const rest = args.slice(1)
  const scanNode = (node: RedisClient.RedisClientShape) =>
    Effect.gen(function*() {
      const keys: Array<RespValue> = []
      let cursor = "0"
      do {
        const reply = yield* node.send(["SCAN", cursor, ...rest])
        if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1])) {
          return yield* Effect.fail(new Error("SCAN answered something other than [cursor, keys]"))
        }
        cursor = typeof reply[0] === "string" ? reply[0] : decoder.decode(reply[0] as Uint8Array)
        keys.push(...reply[1])
      } while (cursor !== "0")
      return keys
    })
  return Effect.map(onEveryPrimary(primaries, scanNode), (keys): RespValue => ["0", keys])
}

const onEveryPrimary = <E>(
  primaries: Effect.Effect<ReadonlyArray<RedisClient.RedisClientShape>, RedisError>,
  f: (node: RedisClient.RedisClientShape) => Effect.Effect<RespValue, E>
): Effect.Effect<Array<RespValue>, RedisError | E> =>
  Effect.flatMap(primaries, (nodes) =>
    Effect.map(
      Effect.forEach(nodes, f, { concurrency: "unbounded" }),
      (replies) => replies.flatMap((reply) => Array.isArray(reply) ? reply : [])
    ))

/** The options of a reserved connection: the shared client's, with the reserved command timeout. */
const reservedOptions = (
  resolved: RedisClient.ResolvedOptions,
  commandTimeout: Duration.Input
): RedisClient.RedisClientOptions => ({
  host: resolved.host,
  port: resolved.port,
  db: resolved.db,
  username: resolved.username,
  password: resolved.password,
  connect: "eager",
  connectTimeout: resolved.connectTimeoutMillis,
  commandTimeout,
  clientName: resolved.clientName,
  tls: resolved.tls === undefined ? false : revealTls(resolved.tls),
  maxInFlight: resolved.maxInFlight,
  reconnectBaseDelay: resolved.reconnectBaseDelayMillis,
  reconnectMaxDelay: resolved.reconnectMaxDelayMillis,
  maxBulkLength: resolved.maxBulkLength,
  maxArgumentLength: resolved.maxArgumentLength
})

/**
 * Effect 4's `Redis` service over the `RedisClient` in context, built by Effect's `Redis.make`; the pool behind
 * `reserve` and every reserved connection are closed with the scope.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<EffectsRedis.Service, never, RedisClient.RedisClient | Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* RedisClient.RedisClient
    const connect = Effect.gen(function*() {
      if (client.primaries !== undefined) {
        return yield* Effect.fail(
          new EffectsRedis.RedisError({
            cause: new Error("reserve is not supported on a cluster client: a connection of its own reaches one node")
          })
        )
      }
      const scope = yield* Scope.make()
      const own = yield* RedisClient.make(
        reservedOptions(client.options, options.reserveCommandTimeout ?? Duration.infinity)
      ).pipe(
        Scope.provide(scope),
        Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause))),
        Effect.mapError((cause) => new EffectsRedis.RedisError({ cause }))
      )
      return { send: sendOf(own), close: Scope.close(scope, Exit.void) }
    })
    return yield* EffectsRedis.make({
      send: sendOf(client),
      subscribe: (channel, onMessage) =>
        Effect.as(
          client.subscribe(channel, {
            onMessage: (message) => onMessage({ channel, message: decoder.decode(message) })
          }),
          // Effect's `make` forks this for the scope and fails the queue when it fails: the client reconnects and
          // re-subscribes by itself, so there is nothing to wait for.
          Effect.void
        ),
      connect,
      pool: options.pool
    })
  })

/**
 * Effect 4's `Redis` service over the `RedisClient` in context.
 *
 * @example
 * ```ts
 * // Effect 4 only
 * import { Layer } from "effect"
 * import { Persistence } from "effect/persistence"
 * import { RedisClient } from "effect-remote-cache"
 * import * as EffectRedis from "effect-remote-cache/EffectRedis"
 *
 * // Effect's own Redis-backed persistence, on this package's client.
 * const PersistenceLive = Persistence.layerRedis.pipe(
 *   Layer.provide(EffectRedis.layer()),
 *   Layer.provide(RedisClient.layer({ url: "redis://localhost:6379" }))
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Redis, never, RedisClient.RedisClient> =>
  Layer.effect(Redis, make(options))
