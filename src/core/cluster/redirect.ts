/**
 * How the cluster client reads a node's failure: a redirection it follows (`MOVED`, `ASK`, `TRYAGAIN`,
 * `CLUSTERDOWN`), a connection failure it may re-send after, or the caller's own error; and how long it waits
 * before trying again.
 *
 * @internal
 */
import { parseRedirection } from "./topology.js"

const redirectCodes = new Set(["MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN"])

/**
 * `true` for the error codes of a redirection: `MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`.
 *
 * @internal
 */
export const isRedirectCode = (code: string): boolean => redirectCodes.has(code)

/**
 * A typed error of a node's client, as far as these decisions need it (the client's `RedisError`s are such values).
 *
 * @internal
 */
export interface NodeFailure {
  readonly _tag: string
  readonly code?: string | undefined
  readonly outcomeUnknown?: boolean | undefined
}

/**
 * A lost connection or a timeout: the node may be failing over.
 *
 * @internal
 */
export const isConnectionFailure = (error: NodeFailure): boolean =>
  error._tag === "RedisConnectionError" || error._tag === "RedisTimeoutError"

/**
 * A failure of a node's command that the cluster client handles rather than the caller: a redirection, a lost
 * connection, a timeout.
 *
 * @internal
 */
export const isClusterFailure = (error: NodeFailure): boolean =>
  error._tag === "RedisReplyError"
    ? redirectCodes.has(error.code!)
    : error._tag === "RedisConnectionError" || error._tag === "RedisTimeoutError"

/**
 * Whether the failed command had been written, so it may have run (see `RedisConnectionError`).
 *
 * @internal
 */
export const isOutcomeUnknown = (error: NodeFailure): boolean =>
  (error._tag === "RedisConnectionError" || error._tag === "RedisTimeoutError") && error.outcomeUnknown === true

/**
 * What to do with a redirection reply:
 *
 * - `Moved`: the slot lives at `host:port` now (update the map, send there);
 * - `Ask`: send this once to `host:port`, preceded by `ASKING`, the map untouched;
 * - `Retry`: the same again a little later (`TRYAGAIN`, a multi-key command while its slot migrates, or
 *   `CLUSTERDOWN`); `refresh` when the map should be read again (`CLUSTERDOWN`);
 * - `Malformed`: a `MOVED` or `ASK` that names no usable target: the same again a little later, to the primary.
 *
 * `host` is `undefined` when the redirection names no host: the host of the node that answered.
 *
 * @internal
 */
export type RedirectAction =
  | ({ readonly _tag: "Moved" } & RedirectTarget)
  | ({ readonly _tag: "Ask" } & RedirectTarget)
  | { readonly _tag: "Retry"; readonly refresh: boolean }
  | { readonly _tag: "Malformed" }

/**
 * Where a `MOVED` or `ASK` sends the command.
 *
 * @internal
 */
export interface RedirectTarget {
  readonly slot: number
  readonly host: string | undefined
  readonly port: number
}

const tryAgain: RedirectAction = { _tag: "Retry", refresh: false }
const clusterDown: RedirectAction = { _tag: "Retry", refresh: true }
const malformed: RedirectAction = { _tag: "Malformed" }

/**
 * Classifies a redirection reply by its code and message (see `RedirectAction`).
 *
 * @internal
 */
export const redirectAction = (code: string, message: string): RedirectAction => {
  if (code === "MOVED" || code === "ASK") {
    const redirection = parseRedirection(message)
    if (redirection === undefined) return malformed
    const { host, port, slot } = redirection
    return code === "MOVED" ? { _tag: "Moved", slot, host, port } : { _tag: "Ask", slot, host, port }
  }
  return code === "CLUSTERDOWN" ? clusterDown : tryAgain
}

/**
 * Refreshes closer together than this are merged: a burst of `MOVED` or of failures reads the map once.
 *
 * @internal
 */
export const minRefreshGapMillis = 100

/** First delay before re-sending after `TRYAGAIN` / `CLUSTERDOWN` or a failed connection; it doubles up to the cap. */
const retryBaseMillis = 5
const retryMaxMillis = 100

/**
 * The pause before round `attempt` of re-sends: 5 ms doubling up to 100 ms.
 *
 * @internal
 */
export const retryDelay = (attempt: number): number =>
  Math.min(retryMaxMillis, retryBaseMillis * 2 ** Math.min(attempt, 10))

/**
 * How long a node whose command failed (connection error, timeout) is passed over by keyless commands and replica
 * reads, unless it answers a command meanwhile: then one of them tries it again (a hung node costs that one a
 * timeout and a re-send, no failure). Four command timeouts, at least 2 s.
 *
 * @internal
 */
export const healthMarkMillisFor = (commandTimeoutMillis: number): number => Math.max(4 * commandTimeoutMillis, 2_000)

/**
 * How long one node may take to tell the topology: bounded per node, so a paused node delays a refresh by this much,
 * not by a whole command timeout.
 *
 * @internal
 */
export const probeTimeoutMillisFor = (commandTimeoutMillis: number): number => Math.min(commandTimeoutMillis, 1_000)
