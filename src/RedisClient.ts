/**
 * A Redis client as an Effect service: a scoped layer that owns the socket (TCP or TLS), performs the handshake
 * (AUTH, SELECT, CLIENT SETNAME) on every (re)connection, pipelines commands from any number of fibers on one
 * connection and fails with typed errors. It knows nothing about caching.
 *
 * Ordering: a command is queued for writing synchronously when it is sent, so commands leave in the order they
 * were sent, and replies are matched first-in first-out; commands issued in the same tick leave in one socket
 * write, and so do commands issued in one turn of the event loop while others are in flight (the callers of
 * replies read in several reads). Nothing is held across a round trip, so many commands are in flight at once.
 * One connection attempt runs at a time; commands that need a connection meanwhile wait for that attempt.
 *
 * Failure: a reply that does not arrive within `commandTimeout` fails its command with `RedisTimeoutError` and
 * finishes the connection (every other command on it fails with `RedisConnectionError`, the next command opens
 * a fresh one), so a late reply can never be read by the wrong command. While the server is down commands fail
 * fast; after a failed attempt the client keeps trying in the background with a bounded exponential backoff
 * (`reconnectBaseDelay` doubling up to `reconnectMaxDelay`) until a connection opens, and a command that comes
 * once the delay has passed makes the attempt itself. Once no command has asked for a connection for 10 minutes
 * the background retry stops (a client nobody uses, such as a cluster node's that left the topology, does not
 * dial forever), and the next command starts it again.
 *
 * Log: `redis: connected to host:port` at Info on the first connection (the server only, never a credential);
 * `redis: cannot reach host:port: <why>` at Warning when two attempts in a row failed, again every 5 minutes while
 * it lasts, and `redis: connected to host:port again after <duration>` at Info when it ends, seen by the
 * background retry even without traffic. Annotated `redis.server`. The same words are in `diagnosis`.
 *
 * @since 0.1.0
 */
import * as Config from "#effect/Config"
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as Redacted from "#effect/Redacted"
import type * as Scope from "#effect/Scope"
import { makeCommandConnection } from "./internal/client/connect.js"
import { checkCommand, type Connection } from "./internal/client/connection.js"
import { resolveOptions, urlProblem } from "./internal/client/options.js"
import { awaitAll, awaitAllWritten, awaitPending, awaitWritten } from "./internal/client/reply.js"
import { checkClient, connectModeOf } from "./internal/client/startup.js"
import * as Subscriber from "./internal/client/subscriber.js"
import type {
  Command,
  LazyClientOptions,
  RedisClientOptions,
  ResolvedOptions,
  SubscriptionHandlers
} from "./internal/client/types.js"
import * as ConfigInput from "./internal/configInput.js"
import { ClientSeamId, type WithClientSeam } from "./internal/seams.js"
import { RedisConfigError, type RedisError, type RedisInputError } from "./RedisError.js"
import type * as Resp from "./Resp.js"

export type {
  /**
   * @since 0.1.0
   * @category models
   */
  Command,
  /**
   * @since 0.2.0
   * @category models
   */
  LazyClientOptions,
  /**
   * @since 0.1.0
   * @category models
   */
  RedisClientOptions,
  /**
   * @since 0.1.0
   * @category models
   */
  ResolvedOptions,
  /**
   * @since 0.1.0
   * @category models
   */
  SubscriptionHandlers
} from "./internal/client/types.js"

/**
 * The service shape.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisClientShape {
  /** The options in use (the password stays redacted). */
  readonly options: ResolvedOptions
  /**
   * Sends one command and returns its reply. An error reply fails with `RedisReplyError` (`NOAUTH`: with
   * `RedisAuthError`); bulk strings come back as bytes (`Uint8Array`). A command that cannot be sent as given (see
   * `RedisInputError`: empty, an argument of the wrong type or over `maxArgumentLength`, or a command that does not
   * get exactly one reply, such as `SUBSCRIBE` or `CLIENT REPLY`) fails with `RedisInputError` and sends nothing.
   */
  readonly send: (command: Command) => Effect.Effect<Resp.RespValue, RedisError>
  /**
   * Sends several commands in one write and returns their replies in order. Error replies stay values
   * (`Resp.ErrorReply`) so the caller sees which command failed; the effect fails only when the connection does
   * (or with `RedisAuthError` on `NOAUTH`). The batch is written whole or not at all: interrupted before it is
   * written (waiting for room under `maxInFlight`), none of it is sent; after, all of it is. Every command is
   * checked as by `send` before any is sent.
   */
  readonly pipeline: (commands: ReadonlyArray<Command>) => Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError>
  /** Commands written and still waiting for their reply on the current connection. */
  readonly inFlight: Effect.Effect<number>
  /**
   * Listens to a pub/sub channel for as long as the current scope is open, on the client's own subscriber
   * connection (one per client, opened with the first subscription and closed with the last). For as long as that
   * connection lives it is sent a `PING` every `min(commandTimeout, 2 s)`, each bounded by `commandTimeout`, so a
   * hung server or a connection lost without a FIN is noticed; it then reconnects and re-subscribes: at once when
   * the connection had worked, else after the same backoff as commands. `onDisconnected` runs when the connection
   * is lost (or an attempt fails) and `onSubscribed` after each (re)subscription, because messages published while
   * it was disconnected are lost. On a cluster client the subscription also moves to another live node when its node
   * fails or leaves the topology, and `onSubscribed` runs there too. The effect completes once the
   * server has confirmed the channel's subscription (also when another listener's `SUBSCRIBE` of the same channel
   * is still in flight), or after `connectTimeout` while the server is unreachable (it keeps trying in the
   * background); it never fails.
   */
  readonly subscribe: (channel: string, handlers: SubscriptionHandlers) => Effect.Effect<void, never, Scope.Scope>
  /** `PUBLISH channel message`: the number of subscribers that received it. */
  readonly publish: (channel: string, message: string | Uint8Array) => Effect.Effect<number, RedisError>
  /**
   * Set by a cluster client (`RedisCluster`), absent on a single-node one: a client per current primary, whose
   * commands without a key (`SCAN`, `DBSIZE`) run on that primary while keyed ones are routed as by the cluster
   * client. What must see every node (`RedisBackend`'s `clear`) runs on each.
   */
  readonly primaries?: Effect.Effect<ReadonlyArray<RedisClientShape>, RedisError> | undefined
  /**
   * Why the server cannot be used right now, as the client last saw it: while no connection is open, the last
   * failed attempt (`cannot connect to host:port: connect ECONNREFUSED…`, a failed TLS handshake, `authentication
   * to host:port failed: WRONGPASS…`) or how the last connection was lost; `undefined` while a connection is open,
   * or before the first attempt. Never holds the password. Read by `RemoteCache.logOutages`, so that its Warning
   * says what the client knows rather than only the operation's own error. A cluster client gives its failing
   * nodes' diagnoses. Optional: a shape made by hand may leave it out.
   *
   * @since 0.2.0
   */
  readonly diagnosis?: (() => string | undefined) | undefined
}

/**
 * The Redis client service.
 *
 * @since 0.1.0
 * @category tags
 */
export class RedisClient extends Context.Service<RedisClient, RedisClientShape>()("effect-remote-cache/RedisClient") {}

/**
 * When a client opens its first connection: `"lazy"`, at its first command, or `"eager"`, while it is built (see
 * `RedisClientOptions.connect`).
 *
 * @since 0.2.0
 * @category models
 */
export type ConnectMode = "lazy" | "eager"

/**
 * Builds the client in a scope: nothing is opened until the first command, unless `connect: "eager"` (then the
 * first connection is opened, and `PING` answered, before it returns, or it fails with the typed error); closing
 * the scope closes the socket and fails every command still waiting with `RedisConnectionError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export function make(options?: LazyClientOptions): Effect.Effect<RedisClientShape, RedisConfigError, Scope.Scope>
export function make(
  options: RedisClientOptions
): Effect.Effect<RedisClientShape, RedisConfigError | RedisError, Scope.Scope>
export function make(
  options: RedisClientOptions = {}
): Effect.Effect<RedisClientShape, RedisConfigError | RedisError, Scope.Scope> {
  return Effect.gen(function*() {
    const mode = yield* connectModeOf(options.connect)
    const resolved = yield* resolveOptions(options)
    const commands = yield* makeCommandConnection(resolved)
    if (mode === "eager") yield* checkClient(resolved, commands)
    const subscriber = yield* Subscriber.make(resolved)
    const limit = commands.limit

    // Off the hot path: a command over the argument limit as known so far, which may be refused for good or may
    // need the server's own limit read first (see `ArgumentLimit`).
    const sendLong = (command: Command) =>
      Effect.flatMap(commands.admit([command]), (conn) => awaitPending(conn.submit(command)))

    // A new connection forgets the last one's server limit: a command is checked again once it has one.
    const sendOnFresh = (fresh: Connection, command: Command) =>
      checkCommand(command, limit.current, limit.describe) === undefined
        ? awaitPending(fresh.submit(command))
        : sendLong(command)

    // The common case is this and nothing else: the connection is open, the command is queued synchronously and
    // its reply resumes the caller. Every other case hands the caller an ordinary effect to continue with.
    const submit = (command: Command, resume: (effect: Effect.Effect<Resp.RespValue, RedisError>) => void): void => {
      if (checkCommand(command, limit.current, limit.describe) !== undefined) return resume(sendLong(command))
      const conn = commands.current()
      if (conn === undefined || !conn.isOpen) {
        return resume(Effect.flatMap(commands.ensure, (fresh) => sendOnFresh(fresh, command)))
      }
      const pending = conn.submit(command)
      if (pending.args !== undefined) return resume(awaitPending(pending))
      awaitWritten(pending, resume)
    }

    // One Effect.callback: the command is submitted when the effect runs, so every run sends it anew.
    const send = (command: Command): Effect.Effect<Resp.RespValue, RedisError> =>
      Effect.callback<Resp.RespValue, RedisError>((resume) => submit(command, resume))

    const checkAll = (batch: ReadonlyArray<Command>): RedisInputError | undefined => {
      for (let i = 0; i < batch.length; i++) {
        const invalid = checkCommand(batch[i]!, limit.current, limit.describe)
        if (invalid !== undefined) return invalid
      }
      return undefined
    }

    const pipelineLong = (batch: ReadonlyArray<Command>) =>
      Effect.flatMap(commands.admit(batch), (conn) => awaitAll(conn.submitMany(batch)))

    const pipeline = (batch: ReadonlyArray<Command>): Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError> => {
      // Checked once, when the effect is made: every run sends the same commands.
      if (batch.length === 0) return Effect.succeed([])
      if (checkAll(batch) !== undefined) return pipelineLong(batch)
      // As for `send`: one Effect.callback when the connection is open and the batch is written at once.
      return Effect.callback<ReadonlyArray<Resp.RespValue>, RedisError>((resume) => {
        const conn = commands.current()
        if (conn === undefined || !conn.isOpen) {
          return resume(Effect.flatMap(
            commands.ensure,
            (fresh) => checkAll(batch) === undefined ? awaitAll(fresh.submitMany(batch)) : pipelineLong(batch)
          ))
        }
        const pendings = conn.submitMany(batch)
        // A batch waits for room whole, so its first command says whether it did; waiting, it needs awaitAll's
        // canceller (interrupted then, none of it is written).
        if (pendings[0]!.args !== undefined) return resume(awaitAll(pendings))
        awaitAllWritten(pendings, resume)
      })
    }

    const publish = (channel: string, message: string | Uint8Array) =>
      Effect.flatMap(
        send(["PUBLISH", channel, message]),
        (reply) => Effect.succeed(typeof reply === "number" ? reply : 0)
      )

    return {
      options: resolved,
      send,
      pipeline,
      inFlight: Effect.sync(() => commands.current()?.inFlight ?? 0),
      subscribe: subscriber.subscribe,
      publish,
      diagnosis: commands.diagnosis,
      [ClientSeamId]: { submit }
    } satisfies RedisClientShape & WithClientSeam
  })
}

/**
 * The client as a scoped layer. With `connect: "eager"` building the layer opens the first connection and fails
 * with the typed error (a wrong password, a db out of range, a refused port, an unknown host…) when that fails,
 * within `connectTimeout`; by default (`"lazy"`) it never connects before the first command.
 *
 * @example
 * ```ts
 * import { RedisClient } from "effect-remote-cache"
 *
 * // Fails at startup, with RedisAuthError, RedisConnectionError…, rather than serving with the cache off.
 * const Client = RedisClient.layer({ url: "redis://localhost:6379", connect: "eager" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export function layer(options?: LazyClientOptions): Layer.Layer<RedisClient, RedisConfigError>
export function layer(options: RedisClientOptions): Layer.Layer<RedisClient, RedisConfigError | RedisError>
export function layer(options: RedisClientOptions = {}): Layer.Layer<RedisClient, RedisConfigError | RedisError> {
  return Layer.effect(RedisClient, make(options))
}

/**
 * The `connect` option read from the variable `name` (default `REDIS_CONNECT`): `lazy` or `eager` (any case,
 * surrounding spaces ignored); missing or empty, `fallback` (default `"lazy"`). Anything else is a `ConfigError`
 * naming the variable and the two values it takes.
 *
 * @example
 * ```ts
 * import { RedisClient } from "effect-remote-cache"
 *
 * // REDIS_CONNECT=eager makes a wrong URL or password fail the application's startup.
 * const FromEnv = RedisClient.layerConfig({ url: RedisClient.urlConfig(), connect: RedisClient.connectConfig() })
 * ```
 *
 * @since 0.2.0
 * @category config
 */
export const connectConfig = (name = "REDIS_CONNECT", fallback: ConnectMode = "lazy"): Config.Config<ConnectMode> =>
  Config.String(name).pipe(
    Config.withDefault(""),
    Config.mapEffect((text: string): Effect.Effect<ConnectMode, Config.ConfigError> => {
      const value = text.trim().toLowerCase()
      if (value === "") return Effect.succeed(fallback)
      if (value === "lazy" || value === "eager") return Effect.succeed(value)
      return Effect.fail(Config.invalidData([name], `${name} must be "lazy" or "eager"`))
    })
  )

/**
 * A Redis URL read from the variable `name` (default `REDIS_URL`): missing or empty, it is `fallback` (default
 * `redis://localhost:6379`); not a valid `redis://` or `rediss://` URL, it is a `ConfigError` that names the
 * variable (never its value, which may hold a password). `Redacted`, as `Config.Redacted` (Effect 3:
 * `Config.redacted`) reads secrets.
 *
 * @example
 * ```ts
 * import { RedisClient } from "effect-remote-cache"
 *
 * const FromEnv = RedisClient.layerConfig({ url: RedisClient.urlConfig("CACHE_REDIS_URL") })
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const urlConfig = (
  name = "REDIS_URL",
  fallback = "redis://localhost:6379"
): Config.Config<Redacted.Redacted<string>> =>
  Config.String(name).pipe(
    Config.withDefault(""),
    Config.mapEffect((url: string): Effect.Effect<Redacted.Redacted<string>, Config.ConfigError> => {
      if (url.trim() === "") return Effect.succeed(Redacted.make(fallback))
      // What is wrong, never the value itself (it may hold a password).
      const problem = urlProblem(url)
      return problem === undefined
        ? Effect.succeed(Redacted.make(url))
        : Effect.fail(Config.invalidData([name], `${name} is not a usable Redis URL: ${problem}`))
    })
  )

/**
 * What every `layerConfig` takes: a whole `Config` of the options, or an object whose fields are each a `Config`
 * (or a record of them), or a plain value used as given, so `layerConfig({ prefix: "app:" })` and
 * `layerConfig({ prefix: Config.String("PREFIX") })` both work. A field left `undefined` is a field not given.
 *
 * @since 0.2.0
 * @category models
 */
export type LayerConfigInput<A> = ConfigInput.ConfigInput<A>

/**
 * The client as a scoped layer whose options come from `effect/Config`. By default it reads `REDIS_URL`
 * (falling back to `redis://localhost:6379`). With `connect: connectConfig()` the variable `REDIS_CONNECT` chooses
 * the startup check (`eager`: building the layer fails when the first connection does); the layer's error type then
 * includes `RedisError`.
 *
 * @example
 * ```ts
 * // Effect 4 only: on Effect 3, `Config.string` in place of `Config.String`.
 * import { Config } from "effect"
 * import { RedisClient } from "effect-remote-cache"
 *
 * const FromEnv = RedisClient.layerConfig({
 *   url: Config.String("CACHE_REDIS_URL"),
 *   commandTimeout: Config.succeed("200 millis"),
 *   connect: RedisClient.connectConfig() // REDIS_CONNECT=eager: fail at startup when Redis is unusable
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export function layerConfig(
  config?: LayerConfigInput<LazyClientOptions>
): Layer.Layer<RedisClient, RedisConfigError | Config.ConfigError>
export function layerConfig(
  config: LayerConfigInput<RedisClientOptions>
): Layer.Layer<RedisClient, RedisConfigError | Config.ConfigError | RedisError>
export function layerConfig(
  config: ConfigInput.ConfigInput<RedisClientOptions> = { url: urlConfig() }
): Layer.Layer<RedisClient, RedisConfigError | Config.ConfigError | RedisError> {
  return Layer.effect(
    RedisClient,
    Effect.flatMap(ConfigInput.toConfig(config), (options: RedisClientOptions) => make(options))
  )
}
