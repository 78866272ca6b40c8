/**
 * The probed read: a `get` that tells its watcher when its command settles, so that `RemoteCache` can record an
 * operation's telemetry from the backend's own callback instead of wrapping each call in a handler of its own
 * (an uninterruptible region, a continuation and a final step per call, about a quarter of a cached read's cost
 * under `Effect.forEach`). `RedisBackend` attaches it to the backends whose reads are callbacks (a single-node
 * client of this library); the public contract, hand-made backends and policies are unchanged: without it,
 * `RemoteCache` takes its general path.
 *
 * @internal
 */
import type * as Effect from "#effect/Effect"
import type * as Option from "#effect/Option"
import type { CacheError } from "../../RemoteCacheBackend.js"

/** The property a backend with a probed `get` carries. */
export const ProbedGetTypeId: unique symbol = Symbol.for("effect-remote-cache/internal/ProbedGet")

/**
 * The watcher of one read. `settle` is called exactly once per call, when the command settles (a reply or a typed
 * failure, a timeout included), whether or not the caller still waits: an interrupted caller's read is counted
 * then. It is given what the caller would continue with and returns what it continues with instead.
 */
export interface ReadProbe<A> {
  readonly settle: (outcome: Effect.Effect<A, CacheError>) => Effect.Effect<A, CacheError>
}

/** `get`, told its watcher. It does exactly what the backend's `get` does. */
export type ProbedGet = (
  key: string,
  probe: ReadProbe<Option.Option<unknown>>
) => Effect.Effect<Option.Option<unknown>, CacheError>

/** `backend` with `get` attached (the same object, so it stays the service value its maker returns). */
export const attach = <A extends object>(backend: A, get: ProbedGet): A =>
  Object.defineProperty(backend, ProbedGetTypeId, { value: get, enumerable: false })

/** The probed `get` of `backend`, `undefined` when it has none (a backend made by hand, or a policy's view). */
export const probedGetOf = (backend: object): ProbedGet | undefined =>
  (backend as { readonly [ProbedGetTypeId]?: ProbedGet })[ProbedGetTypeId]
