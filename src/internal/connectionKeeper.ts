/**
 * One server's connection kept for a client, the same life for the Redis client's command connection and for each
 * memcached server: opened by the first command that needs it, one attempt at a time (commands that need it
 * meanwhile share the attempt), the reconnection backoff between attempts (commands fail fast while it runs), a
 * background retry after a failed attempt that stops once nobody has needed a connection for a long while, the
 * outage log, and closing with the client's scope. Each client says how to open its connection and how to word its
 * failures; the life itself is written once, so a fix to it is a fix to both clients.
 *
 * Time is read through Effect's `Clock`, so a `TestClock` drives the backoff. It is the clock's monotonic time, so a
 * wall clock stepped back does not delay a reconnection.
 *
 * @internal
 */
import * as Clock from "#effect/Clock"
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import type * as Scope from "#effect/Scope"
import { formatDuration, OutageTracker } from "../core/outage.js"
import { handled } from "./background.js"

// --- backoff

/**
 * The reconnection backoff's bounds, as both clients resolve them from their options.
 *
 * @internal
 */
export interface ReconnectDelays {
  readonly reconnectBaseDelayMillis: number
  readonly reconnectMaxDelayMillis: number
}

/**
 * The delay before the next connection attempt after `failures` consecutive failed ones (0 after the first), for
 * a `random` number in [0, 1): `reconnectBaseDelay` doubled on each failure up to `reconnectMaxDelay`, then a jitter
 * of ±20% so that many clients that lost the same server do not reconnect in lockstep, never past
 * `reconnectMaxDelay`.
 *
 * @internal
 */
export const reconnectDelayMillis = (options: ReconnectDelays, failures: number, random: number): number => {
  const max = options.reconnectMaxDelayMillis
  // Past 2^1023 the power is Infinity, which the cap brings back to `max` (the base delay is positive).
  const delay = Math.min(options.reconnectBaseDelayMillis * 2 ** failures, max)
  return Math.min(Math.round(delay * (0.8 + random * 0.4)), max)
}

/**
 * Failed attempts in a row before the client says the server is unreachable: the first failure alone may be a
 * restart the background retry mends a moment later (see `OutageTracker`).
 *
 * @internal
 */
export const unreachableThreshold = 2

/**
 * How often the client says again that the server is still unreachable.
 *
 * @internal
 */
export const unreachableRepeatMillis = 5 * 60_000

/**
 * How long the background retry goes on once no command has asked for a connection: a client nobody uses any
 * more (a cluster node that left the topology, an address that is gone for good) stops dialing, and the next
 * command starts again.
 *
 * @internal
 */
export const idleRetryMillis = 10 * 60_000

/** Effect's clock in milliseconds, read synchronously: its monotonic time. */
const nowMillis = (clock: Clock.Clock): number => Number(Clock.monotonicTimeNanosUnsafe(clock)) / 1_000_000

// --- the keeper

/**
 * What a client tells the keeper about its connections and its errors.
 *
 * @internal
 */
export interface KeeperSpec<C extends { readonly isOpen: boolean }, E extends { readonly message: string }> {
  /** The server, `host:port`, as the log and the errors name it. */
  readonly server: string
  /** The log's prefix (`redis`), followed by `: `. */
  readonly system: string
  /** The background fibers' names start with it (`RedisClient` gives `RedisClient connect`). */
  readonly fiberLabel: string
  /** The annotations of every log line the keeper writes (`redis.server`). */
  readonly annotations: Record<string, string>
  readonly delays: ReconnectDelays
  /**
   * One attempt at opening a connection, made once and run for every attempt; `onClose` is to be told when the
   * connection dies, whatever the reason.
   */
  readonly open: (onClose: (dead: C, error: E) => void) => Effect.Effect<C, E>
  /** Closes a connection because the client's scope is closed. */
  readonly destroy: (conn: C) => void
  /** What commands fail with once the client's scope is closed. */
  readonly closedError: () => E
  /** A failed attempt, for a person: what the outage log and `diagnosis` say. */
  readonly describe: (error: E) => string
  /** What a command that needs a connection fails with while the backoff's delay runs (`wait` more ms). */
  readonly unavailable: (lastFailure: E, wait: number) => E
  /**
   * Whether a connection that died had worked: only then does the backoff start again from its base delay (a
   * server that accepts and then drops every connection must not be hammered).
   */
  readonly worked: (dead: C) => boolean
  /** Told of each connection opened, before any command uses it. */
  readonly onOpen?: (conn: C) => void
  /** Appended to the first `connected to` line (` (TLS)`). */
  readonly connectedNote?: string
  /** Whether the background retry says, at Debug, that it stopped for want of commands. */
  readonly sayIdle?: boolean
}

/**
 * A kept connection, as a client uses it.
 *
 * @internal
 */
export interface KeptConnection<C, E> {
  /** The connection, open or not; `undefined` before the first one and after one died. Read on every command. */
  readonly current: () => C | undefined
  /** The open connection, or the attempt in progress, or a new one, or the last failure while backing off. */
  readonly ensure: Effect.Effect<C, E>
  /** Why the server cannot be used right now, while no connection is open; else `undefined`. */
  readonly diagnosis: () => string | undefined
}

/**
 * The connection `spec` describes, in a scope: closing it closes the connection (the client's own connection then
 * fails every command still waiting) and fails every later `ensure` with `closedError`.
 *
 * @internal
 */
export const makeConnectionKeeper = <C extends { readonly isOpen: boolean }, E extends { readonly message: string }>(
  spec: KeeperSpec<C, E>
): Effect.Effect<KeptConnection<C, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const clock = yield* Effect.clockWith(Effect.succeed)
    const { server, system, annotations } = spec
    let closed = false
    let connection: C | undefined
    /** The attempt in progress, shared by every command that needs a connection meanwhile. */
    let connecting: Deferred.Deferred<C, E> | undefined
    /** When the next attempt may start, in `nowMillis`. */
    let nextAttemptAt = 0
    /** Consecutive failed attempts: the backoff's step. */
    let failures = 0
    let lastFailure: E | undefined
    /** Why no connection is open, while none is: see `diagnosis`. */
    let lastProblem: string | undefined
    /** Whether a connection was ever opened: the first one is said at Info, with the server it reached. */
    let everConnected = false
    /** Whether the background retry (see `retry`) is running. */
    let retrying = false
    /** When a command last asked for a connection while none was open, in `nowMillis`. */
    let lastDemandAt = nowMillis(clock)
    const outage = new OutageTracker({ threshold: unreachableThreshold, repeatEveryMillis: unreachableRepeatMillis })

    const recordFailure = (error: E) => {
      lastFailure = error
      lastProblem = spec.describe(error)
      nextAttemptAt = nowMillis(clock) + reconnectDelayMillis(spec.delays, failures, Math.random())
      failures++
    }

    /** What a failed attempt means for the log: the server unreachable (said at once, then every few minutes). */
    const failedAttempt = (error: E): Effect.Effect<void> => {
      const event = outage.failure(nowMillis(clock))
      if (event === undefined || event._tag === "Ended" || closed) return Effect.void
      const diagnosis = spec.describe(error)
      const message = event._tag === "Started"
        ? `${system}: cannot reach ${server}: ${diagnosis}; retrying in the background`
        : `${system}: ${server} still unreachable after ${formatDuration(event.elapsedMillis)} ` +
          `(${event.failures} failed attempts): ${diagnosis}`
      return Effect.annotateLogs(Effect.logWarning(message), annotations)
    }

    /** What a successful attempt means for the log: the first connection, or the end of an outage. */
    const connected = (): Effect.Effect<void> => {
      const event = outage.success(nowMillis(clock))
      const first = !everConnected
      everConnected = true
      if (event !== undefined && event._tag === "Ended") {
        return Effect.annotateLogs(
          Effect.logInfo(
            `${system}: connected to ${server}${first ? "" : " again"} after ` +
              `${formatDuration(event.durationMillis)} (${event.failures} failed attempts)`
          ),
          annotations
        )
      }
      if (first) {
        return Effect.annotateLogs(
          Effect.logInfo(`${system}: connected to ${server}${spec.connectedNote ?? ""}`),
          annotations
        )
      }
      return Effect.void
    }

    const connect = spec.open((dead, error) => {
      // A connection that dies while it is being opened is a failed attempt, recorded by `attempt`.
      if (connection !== dead) return
      connection = undefined
      if (!closed) lastProblem = `the connection to ${server} was lost: ${error.message}`
      // The backoff resets only when a connection that worked dies.
      if (!spec.worked(dead)) recordFailure(error)
      else failures = 0
    })

    /**
     * One attempt at a time, run in the client's scope rather than in the caller's fiber: interrupting the
     * command that started it must not fail the others waiting for it, and closing the scope must stop it.
     */
    const attempt = (deferred: Deferred.Deferred<C, E>) =>
      connect.pipe(
        Effect.flatMap((conn) =>
          Effect.suspend(() => {
            if (closed) {
              spec.destroy(conn)
              return Effect.fail(spec.closedError())
            }
            connection = conn
            spec.onOpen?.(conn)
            nextAttemptAt = 0
            lastFailure = undefined
            lastProblem = undefined
            return Effect.as(connected(), conn)
          })
        ),
        Effect.tapError((error) =>
          Effect.suspend(() => {
            recordFailure(error)
            return Effect.andThen(failedAttempt(error), startRetry)
          })
        ),
        Effect.exit,
        Effect.flatMap((exit) => {
          if (connecting === deferred) connecting = undefined
          return Deferred.done(deferred, exit)
        }),
        (tell) => handled(`${spec.fiberLabel} connect`, tell),
        Effect.forkIn(scope),
        // A scope that is closing interrupts the fiber forked into it at once, possibly before it runs a single
        // step (so no onInterrupt inside it would run): whatever ends the fiber, the waiting commands are told.
        Effect.tap((fiber) =>
          Effect.sync(() =>
            fiber.addObserver(() => {
              if (connecting === deferred) connecting = undefined
              Deferred.doneUnsafe(deferred, Exit.fail(spec.closedError()))
            })
          )
        )
      )

    /** A new attempt, shared with whoever needs a connection while it runs. */
    const newAttempt = (): Effect.Effect<C, E> => {
      const deferred = Deferred.makeUnsafe<C, E>()
      connecting = deferred
      return Effect.andThen(attempt(deferred), Deferred.await(deferred))
    }

    const ensure: Effect.Effect<C, E> = Effect.suspend(() => {
      if (closed) return Effect.fail(spec.closedError())
      if (connection !== undefined && connection.isOpen) return Effect.succeed(connection)
      lastDemandAt = nowMillis(clock)
      if (connecting !== undefined) return Deferred.await(connecting)
      const wait = Math.ceil(nextAttemptAt - nowMillis(clock))
      if (wait > 0 && lastFailure !== undefined) return Effect.fail(spec.unavailable(lastFailure, wait))
      return newAttempt()
    })

    /**
     * After a failed attempt, the client keeps trying in the background, on the same backoff as commands would,
     * until a connection opens: an outage ends (and is said to end) even when no command comes to notice it.
     * Commands meanwhile fail fast between attempts and share an attempt in progress, as before; one that comes
     * once the delay has passed starts the attempt itself, and the retry then waits for that one. Once no command
     * has asked for a connection for `idleRetryMillis`, it stops (a client nobody uses does not dial forever); the
     * next command starts again.
     */
    const retry: Effect.Effect<void> = Effect.suspend(() => {
      if (closed || (connection !== undefined && connection.isOpen)) {
        retrying = false
        return Effect.void
      }
      if (nowMillis(clock) - lastDemandAt >= idleRetryMillis) {
        retrying = false
        if (spec.sayIdle !== true) return Effect.void
        return Effect.annotateLogs(
          Effect.logDebug(
            `${system}: no command needed ${server} for ${formatDuration(idleRetryMillis)}; reconnecting ` +
              "again at the next command"
          ),
          annotations
        )
      }
      if (connecting !== undefined) return Effect.andThen(Effect.exit(Deferred.await(connecting)), retry)
      const wait = Math.ceil(nextAttemptAt - nowMillis(clock))
      if (wait > 0) return Effect.andThen(Effect.sleep(wait), retry)
      return Effect.andThen(Effect.exit(newAttempt()), retry)
    })

    const startRetry: Effect.Effect<void> = Effect.suspend(() => {
      if (retrying || closed) return Effect.void
      retrying = true
      return Effect.asVoid(
        Effect.forkIn(
          Effect.onExit(
            Effect.interruptible(handled(`${spec.fiberLabel} reconnect`, retry)),
            () => Effect.sync(() => (retrying = false))
          ),
          scope
        )
      )
    })

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        if (connection !== undefined) spec.destroy(connection)
        connection = undefined
      })
    )

    return {
      current: () => connection,
      ensure,
      diagnosis: () => connection !== undefined && connection.isOpen ? undefined : lastProblem
    }
  })
