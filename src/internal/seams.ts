/**
 * The agreements between this library's modules that the public types do not show, listed in one place. Each is
 * an optional fast path or a richer call: code that does not know it (a hand-made `RedisClientShape`, a custom
 * policy) takes the documented path and loses only speed, and a test checks that each fast path is taken.
 *
 * - **Client seam** (this module): what `RedisClient.make` and `RedisCluster.make` offer `RedisBackend` beyond
 *   `RedisClientShape`, under {@link ClientSeamId}: `submit` (a callback-level `send`, single node), and
 *   `sendSettled` / `pipelineSettled` (a cluster's split commands whose failed shares do not fail the rest).
 *   Tested in `RedisBackend.batch.test.ts` ("the client's own fast path is used").
 * - **Policy observation and fusion** (`internal/telemetry/observe.ts`): `WrapObservedId` (a policy applied with the
 *   telemetry observer) and `FusionId` (failure-only steps that `RemoteCache` runs from its own handler).
 * - **Probed read** (`internal/backend/probe.ts`): a backend's `get` that tells its watcher when it settles, so that
 *   `RemoteCache` records telemetry from the backend's callback (`RedisBackend` on a single-node client). Tested in
 *   `RemoteCache.probe.test.ts` (the same values and metrics as the general path, and the fast path taken).
 * - **Leased read** (`internal/backend/lease.ts`): a read that, on a miss, says whether this process should compute
 *   the value or another one already is (`MemcachedBackend`, through `mg … N`), forwarded by `RemoteCache` under a
 *   policy of failure-only steps (its failures recovered to "compute"), used by `TieredCache`'s single-flight leader
 *   with `distributedSingleFlight`. Tested in `seams.test.ts` and `TieredCache.memcached.flight.test.ts`.
 * - **Typed views of a tiered cache** (this module, `ViewComputeId`): the view-aware `getOrCompute` that a
 *   `forSchema` view calls when the cache is the library's own.
 * - **`writingSchemaView`** (`RemoteCache.ts`): a fiber flag that only words a schema view's serialization error.
 * - **`RedisClientShape.primaries`** is public (documented on `RedisCluster`): a cluster client's per-primary
 *   clients, which `RedisBackend.clear` runs on.
 *
 * @internal
 */
import type * as Effect from "#effect/Effect"
import type { RedisError } from "../RedisError.js"
import type * as Resp from "../Resp.js"
import type { ComputeOptions } from "./tiered/api.js"
import type { View } from "./tiered/view.js"

/** A command: its name and arguments. */
type Command = ReadonlyArray<string | Uint8Array>

/**
 * The key of a client's seam.
 *
 * @internal
 */
export const ClientSeamId: unique symbol = Symbol.for("effect-remote-cache/RedisClient/seam")

/**
 * What the library's own clients offer its backend beyond the public shape; every member optional.
 *
 * @internal
 */
export interface ClientSeam {
  /**
   * `send` at the level of a callback, for `RedisBackend`'s reads (single-node client only). It does exactly what
   * running `send(command)` does, synchronously, and hands `resume` what `send`'s fiber would continue with: in
   * the usual case a finished `Exit` (the reply, or the typed error, `commandTimeout` included), else an effect
   * (the connection opening, room awaited under `maxInFlight`) that must run in a fiber, where it keeps `send`'s
   * guarantees, interruption included. `resume` is called once, perhaps before `submit` returns.
   */
  readonly submit?:
    | ((command: Command, resume: (effect: Effect.Effect<Resp.RespValue, RedisError>) => void) => void)
    | undefined
  /**
   * Cluster client only: `send`, except that for an `MGET` split across nodes a share whose node failed
   * (connection error, timeout) does not fail the command. Each of that share's keys then holds, in the merged
   * array reply, a `PartFailure` (an `ErrorReply` carrying the node's typed error), and the keys of healthy nodes
   * their values. The failed share is not sent again (no wait for a failover): the healthy nodes' keys are answered
   * once it has failed once, and the caller asks the failed keys again itself. Any other command behaves as with
   * `send`. So that one hung node neither fails nor holds up the reads of other nodes' keys.
   */
  readonly sendSettled?: ((command: Command) => Effect.Effect<Resp.RespValue, RedisError>) | undefined
  /**
   * Cluster client only: `pipeline`, except that a node's share that failed (connection error, timeout) is not
   * waited for and does not fail the batch: each of its commands' places holds a `PartFailure`, the others their
   * replies.
   */
  readonly pipelineSettled?:
    | ((commands: ReadonlyArray<Command>) => Effect.Effect<ReadonlyArray<Resp.RespValue>, RedisError>)
    | undefined
}

/**
 * A value that may carry a client seam (any `RedisClientShape`).
 *
 * @internal
 */
export interface WithClientSeam {
  readonly [ClientSeamId]?: ClientSeam | undefined
}

const none: ClientSeam = {}

/**
 * The seam of `client`: empty for a client this library did not make (or a wrapper that dropped it).
 *
 * @internal
 */
export const clientSeamOf = (client: object): ClientSeam => (client as WithClientSeam)[ClientSeamId] ?? none

/**
 * The key of a tiered cache's view-aware `getOrCompute`, which `TieredCache.forSchema` calls when the cache is the
 * library's own (a hand-made `TieredCacheShape` has none: the view then decodes what the plain `getOrCompute`
 * returns). With it, callers of different views share single flight and L1 without one view decoding another's
 * value as its own. `Symbol.for`, so that two copies of the library in one process still find each other's.
 *
 * @internal
 */
export const ViewComputeId: unique symbol = Symbol.for("effect-remote-cache/TieredCache/viewCompute")

/**
 * The view-aware `getOrCompute` under {@link ViewComputeId}.
 *
 * @internal
 */
export type ViewCompute = <A, E, R, RV>(
  key: string,
  compute: Effect.Effect<A, E, R>,
  options: ComputeOptions<A> | undefined,
  view: View<A, RV>
) => Effect.Effect<A, E, R | RV>
