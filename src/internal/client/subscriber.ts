/**
 * The client's pub/sub side: one subscriber connection per client, shared by every subscription and kept open
 * for as long as at least one is (an `RcRef` counts them). While it is open, a loop connects, subscribes to every
 * channel listened to, checks the connection's health with a `PING` on Effect's clock, and when the connection
 * dies reconnects (with the same backoff as commands) and subscribes again.
 *
 * Which channels are listened to, by whom, and where each one's `SUBSCRIBE` stands is kept by `Subscriptions`
 * (in the core); this module runs the Effect side: the fibers, the scopes, the health check and the reconnection.
 *
 * @internal
 */
import * as Cause from "#effect/Cause"
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as RcRef from "#effect/RcRef"
import * as Result from "#effect/Result"
import * as Schedule from "#effect/Schedule"
import type * as Scope from "#effect/Scope"
import { type Channel, Subscriptions } from "../../core/client/subscriptions.js"
import { RedisConnectionError, type RedisError, RedisTimeoutError } from "../../RedisError.js"
import type * as Resp from "../../Resp.js"
import { handled } from "../background.js"
import { open, reconnectSchedule } from "./connect.js"
import type { Connection } from "./connection.js"
import { awaitPending } from "./reply.js"
import type { ResolvedOptions, SubscriptionHandlers } from "./types.js"

/** One `subscribe` call: its handlers, and the signal that its channel's subscription has been confirmed. */
interface Listener {
  readonly handlers: SubscriptionHandlers
  readonly confirmed: Deferred.Deferred<void>
}

/**
 * How often the subscriber connection is sent a `PING`: often enough to notice a dead connection within a few
 * seconds, never more often than a command may take.
 *
 * @internal
 */
export const healthCheckMillis = (options: Pick<ResolvedOptions, "commandTimeoutMillis">): number =>
  Math.min(options.commandTimeoutMillis, 2_000)

/**
 * @internal
 */
export interface Subscriber {
  /** See `RedisClientShape.subscribe`. */
  readonly subscribe: (channel: string, handlers: SubscriptionHandlers) => Effect.Effect<void, never, Scope.Scope>
}

/** What the parts of one client's subscriber share. */
interface Context {
  readonly options: ResolvedOptions
  readonly subscriptions: Subscriptions<Connection, Listener>
  /** The client's scope. */
  readonly scope: Scope.Scope
  /** Forks an effect outside any fiber, with the context (logger included) the client was built in. */
  readonly runFork: (effect: Effect.Effect<void>) => void
}

// --- telling the listeners

/** Runs a listener's callback; one that throws is logged and affects neither the others nor the connection. */
const callListener = (
  ctx: Context,
  callback: "onMessage" | "onSubscribed" | "onDisconnected",
  channel: string,
  run: () => void
): void => {
  try {
    run()
  } catch (defect) {
    ctx.runFork(
      Effect.annotateLogs(
        Effect.logError(
          `pub/sub listener's ${callback} threw; the other listeners are unaffected`,
          Cause.die(defect)
        ),
        { "redis.channel": channel }
      )
    )
  }
}

/**
 * Runs `onSubscribed`, then lets the listener's `subscribe` complete: on Effect 4 completing the deferred resumes
 * that fiber at once, and its caller must find `onSubscribed` already run.
 */
const notifySubscribed = (ctx: Context, channel: string, listener: Listener): void => {
  const onSubscribed = listener.handlers.onSubscribed
  if (onSubscribed !== undefined) callListener(ctx, "onSubscribed", channel, onSubscribed)
  Deferred.doneUnsafe(listener.confirmed, Exit.void)
}

/** Tells every listener that the session ended: what is published until the next confirmation is lost. */
const notifyDisconnected = (ctx: Context, error: RedisError): void => {
  for (const channel of ctx.subscriptions.channels()) {
    for (const listener of channel.listeners) {
      const onDisconnected = listener.handlers.onDisconnected
      if (onDisconnected !== undefined) callListener(ctx, "onDisconnected", channel.name, () => onDisconnected(error))
    }
  }
}

const deliver = (ctx: Context, value: Resp.RespValue): void => {
  // ["message", channel, payload], as checked by the connection.
  const [, channelBytes, payload] = value as ReadonlyArray<Uint8Array>
  const channel = Buffer.from(channelBytes!).toString("utf8")
  const listeners = ctx.subscriptions.listenersOf(channel)
  if (listeners === undefined) return
  for (const listener of listeners) {
    callListener(ctx, "onMessage", channel, () => listener.handlers.onMessage(payload!))
  }
}

// --- the connection's life

/**
 * Writes `SUBSCRIBE channel` on `conn` at once (unless it already was) and returns the wait for its
 * confirmation, which tells every listener present by then.
 */
const subscribeOn = (ctx: Context, conn: Connection, channel: Channel<Connection, Listener>): Effect.Effect<void> => {
  if (!ctx.subscriptions.send(channel, conn)) return Effect.void
  const pending = conn.submit(["SUBSCRIBE", channel.name])
  return Effect.flatMap(Effect.result(awaitPending(pending)), (result) => {
    // Every listener left meanwhile (a later subscription is another `Channel`), or the connection died and
    // the next session subscribes again.
    if (!ctx.subscriptions.isListened(channel) || !conn.isOpen) return Effect.void
    if (Result.isFailure(result)) {
      // Refused by the server (an ACL without the channel, say): retrying on this connection would be refused
      // again, and the caller of `subscribe` stops waiting after `connectTimeout`.
      return Effect.annotateLogs(
        Effect.logWarning(`pub/sub SUBSCRIBE refused: ${Result.failureValue(result).message}`),
        { "redis.channel": channel.name }
      )
    }
    return Effect.sync(() => {
      for (const listener of ctx.subscriptions.confirm(channel, conn)) notifySubscribed(ctx, channel.name, listener)
    })
  })
}

const ping = (options: ResolvedOptions, conn: Connection): Effect.Effect<void> =>
  Effect.suspend(() => awaitPending(conn.submit(["PING"]))).pipe(
    Effect.timeoutOrElse({
      duration: options.commandTimeoutMillis,
      orElse: () =>
        Effect.fail(
          new RedisTimeoutError({
            message: `no reply to the subscriber's PING within ${options.commandTimeoutMillis} ms`,
            phase: "reply",
            timeoutMillis: options.commandTimeoutMillis,
            command: "PING"
          })
        )
    }),
    Effect.catch((error) =>
      Effect.sync(() =>
        conn.destroy(new RedisConnectionError({ message: `subscriber health check failed: ${error.message}` }))
      )
    ),
    Effect.asVoid
  )

/**
 * For the life of `conn`: every `healthCheckMillis` a `PING`, each with its own `commandTimeout`. One that fails
 * or goes unanswered destroys the connection, so a hung server or a connection lost without a FIN ends the
 * session, and the loop reconnects and re-subscribes.
 */
const healthCheck = (options: ResolvedOptions, conn: Connection): Effect.Effect<never> =>
  // The schedule never ends: `Effect.never` only gives the loop its type.
  Effect.andThen(Effect.schedule(ping(options, conn), Schedule.spaced(healthCheckMillis(options))), Effect.never)

/**
 * One subscriber connection's life: connect, subscribe to every channel, check its health until it dies. It
 * fails, so that the backoff applies, when the connection could not be opened or died before it answered
 * anything; a connection that worked is replaced at once, as the command connection is.
 */
const makeSession = (ctx: Context): Effect.Effect<void, RedisError> => {
  const { options, subscriptions } = ctx
  const onPush = (value: Resp.RespValue) => deliver(ctx, value)
  return Effect.suspend(() => {
    const died = Deferred.makeUnsafe<RedisError>()
    let opened: Connection | undefined
    return open(options, (_, error) => Deferred.doneUnsafe(died, Exit.succeed(error)), onPush).pipe(
      Effect.tapError((error) => Effect.sync(() => notifyDisconnected(ctx, error))),
      Effect.flatMap((conn) => {
        opened = conn
        subscriptions.connected(conn)
        // Written in one batch. A channel added while these are in flight is written by `subscribe` itself.
        const confirmations = Array.from(subscriptions.channels(), (channel) => subscribeOn(ctx, conn, channel))
        return Effect.race(
          Deferred.await(died),
          Effect.andThen(Effect.all(confirmations, { discard: true }), healthCheck(options, conn))
        ).pipe(
          Effect.tap((error) => Effect.sync(() => notifyDisconnected(ctx, error))),
          Effect.flatMap((error) => conn.successfulReplies === 0 ? Effect.fail(error) : Effect.void)
        )
      }),
      Effect.ensuring(Effect.sync(() => {
        opened?.destroy(new RedisConnectionError({ message: "subscriber connection closed" }))
        // A newer loop may have its own connection already.
        subscriptions.ended(opened)
      }))
    )
  })
}

// --- subscriptions

/** Adds a listener; a new channel is subscribed at once when the connection is up (else by the next session). */
const addListener = (ctx: Context, channel: string, listener: Listener): Effect.Effect<void> =>
  Effect.suspend(() => {
    const added = ctx.subscriptions.add(channel, listener)
    switch (added._tag) {
      case "Awaiting":
        return Effect.void
      case "Confirmed":
        notifySubscribed(ctx, channel, listener)
        return Effect.void
      case "Subscribe":
        // In the client's scope: the confirmation tells every listener of the channel, whoever of them goes away.
        // acquireRelease acquires uninterruptibly, and on Effect 3 a fiber forked there would inherit that.
        return Effect.asVoid(
          Effect.forkIn(
            Effect.interruptible(handled("RedisClient subscribe", subscribeOn(ctx, added.conn, added.channel))),
            ctx.scope
          )
        )
    }
  })

const removeListener = (ctx: Context, channel: string, listener: Listener): void => {
  ctx.subscriptions.remove(channel, listener)?.submit(["UNSUBSCRIBE", channel])
}

/**
 * The subscriber of a client, in the client's scope: closing it closes the subscriber connection.
 *
 * @internal
 */
export const make = (options: ResolvedOptions): Effect.Effect<Subscriber, never, Scope.Scope> =>
  Effect.gen(function*() {
    const ctx: Context = {
      options,
      subscriptions: new Subscriptions<Connection, Listener>(),
      scope: yield* Effect.scope,
      // Listeners run on the socket's data event, outside any fiber: their failures are logged in a fiber forked
      // from the context (logger included) the client was built with.
      runFork: Effect.runForkWith(yield* Effect.context<never>())
    }

    /**
     * The loop, started by the first subscription and interrupted when the last one's scope closes. It is made
     * interruptible whatever the region the first `subscribe` ran in, so that it can always be stopped.
     */
    const loop = yield* RcRef.make({
      acquire: Effect.forkScoped(
        Effect.interruptible(
          handled(
            "RedisClient subscriber",
            Effect.forever(Effect.retry(makeSession(ctx), reconnectSchedule(options)))
          )
        )
      )
    })

    const subscribe = (channel: string, handlers: SubscriptionHandlers): Effect.Effect<void, never, Scope.Scope> =>
      Effect.gen(function*() {
        const listener: Listener = { handlers, confirmed: Deferred.makeUnsafe<void>() }
        yield* Effect.acquireRelease(
          addListener(ctx, channel, listener),
          () => Effect.sync(() => removeListener(ctx, channel, listener))
        )
        // Released before the listener (finalizers run in reverse): the last subscription stops the loop first.
        yield* RcRef.get(loop)
        yield* Effect.timeout(Deferred.await(listener.confirmed), options.connectTimeoutMillis).pipe(Effect.ignore)
      })

    return { subscribe }
  })
