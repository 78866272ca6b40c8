/**
 * The Effect side of an exchange: sending it on its server's connection (opening one when needed) and waiting for
 * its reply. A request still waiting for room under `maxInFlight` is never written once its awaiter goes away; one
 * already written is not taken back (its reply is still read in its place and dropped).
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import type { Exchange } from "../../core/memcached/connection.js"
import type { MemcachedError } from "../../MemcachedError.js"
import type { Connection, Resume, ServerConnection } from "./server.js"

/**
 * An exchange of this face.
 *
 * @internal
 */
export type MetaExchange = Exchange<MemcachedError, Resume>

/**
 * Hands `resume` the outcome of a settled exchange: a reply at once, a failure a microtask later. A failure
 * settles while its connection is being finished, and Effect 4 runs a resumed fiber at once: what the caller sent
 * next would land on the connection being closed.
 */
const deliver = <A>(
  exchange: MetaExchange,
  result: (exchange: MetaExchange) => Effect.Effect<A, MemcachedError>,
  resume: (effect: Effect.Effect<A, MemcachedError>) => void
): void => {
  if (exchange.error === undefined) resume(result(exchange))
  else queueMicrotask(() => resume(result(exchange)))
}

const failedResult = <A>(
  exchange: MetaExchange,
  result: (exchange: MetaExchange) => Effect.Effect<A, MemcachedError>
): Effect.Effect<A, MemcachedError> => exchange.error !== undefined ? Effect.fail(exchange.error) : result(exchange)

/**
 * Waits for `exchange`, then maps it with `result` (which runs only when it settled without an error).
 *
 * @internal
 */
export const awaitExchange = <A>(
  exchange: MetaExchange,
  result: (exchange: MetaExchange) => Effect.Effect<A, MemcachedError>
): Effect.Effect<A, MemcachedError> => {
  if (exchange.done) return failedResult(exchange, result)
  return Effect.callback<A, MemcachedError>((resume) => {
    // The fiber may have yielded since this effect was made (a scheduler's turn, a reply read meanwhile): an exchange
    // settled by then has no callback to call, and would never resume it.
    if (exchange.done) return resume(failedResult(exchange, result))
    exchange.callback = (settled) => deliver(settled, (done) => failedResult(done, result), resume)
    // Without a canceller, Effect.callback skips its interruption wrapper: only an exchange still waiting for room
    // needs one.
    if (exchange.pieces === undefined) return
    return Effect.sync(() => {
      exchange.callback = undefined
      if (exchange.pieces !== undefined) exchange.cancelled = true
    })
  })
}

/**
 * Submits with `submit` on `server`'s connection when the effect runs (every run sends anew) and waits for the
 * result. The common case, an open connection and room in flight, is one `Effect.callback` and nothing else.
 *
 * @internal
 */
export const run = <A>(
  server: ServerConnection,
  submit: (conn: Connection) => MetaExchange,
  result: (exchange: MetaExchange) => Effect.Effect<A, MemcachedError>
): Effect.Effect<A, MemcachedError> =>
  Effect.callback<A, MemcachedError>((resume) => {
    const conn = server.current()
    if (conn === undefined || !conn.isOpen) {
      resume(Effect.flatMap(server.ensure, (fresh) => awaitExchange(submit(fresh), result)))
      return
    }
    const exchange = submit(conn)
    if (exchange.done) return resume(failedResult(exchange, result))
    if (exchange.pieces !== undefined) return resume(awaitExchange(exchange, result))
    exchange.callback = (settled) => deliver(settled, (done) => failedResult(done, result), resume)
  })
