/**
 * The telemetry hook of policies, kept off the public surface: `RemoteCache` applies a policy with an observer,
 * and every step that makes errors of its own (`timeout`, `circuitBreaker`, a custom policy) applies the observer
 * to its output, so each error is seen where it arises, before any recovery. One of the cross-module
 * agreements listed in `internal/seams.ts`.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import * as Predicate from "#effect/Predicate"
import type { CacheOps, Operation } from "../../RemoteCacheBackend.js"

/**
 * Wraps operations to watch their errors; it must not change what they do.
 *
 * @internal
 */
export type Observer = <E>(ops: CacheOps<E>) => CacheOps<E>

/**
 * The key of a policy's observed form of `wrap`.
 *
 * @internal
 */
export const WrapObservedId: unique symbol = Symbol.for("effect-remote-cache/Policy/wrapObserved")

/**
 * What every policy built by `Policy` carries under {@link WrapObservedId}: `wrap`, told the observer.
 *
 * @internal
 */
export interface Observable<EIn, EOut> {
  readonly [WrapObservedId]: (ops: CacheOps<EIn>, observe: Observer | undefined) => Effect.Effect<CacheOps<EOut>>
}

/**
 * Applies `policy` to `ops`, telling it `observe`. A policy made by hand, without the observed form, has its
 * output observed as a whole, as `Policy.make`'s are.
 *
 * @internal
 */
export const wrapObserved = <EIn, EOut>(
  policy: { readonly wrap: (ops: CacheOps<EIn>) => Effect.Effect<CacheOps<EOut>> },
  ops: CacheOps<EIn>,
  observe: Observer | undefined
): Effect.Effect<CacheOps<EOut>> => {
  if (Predicate.hasProperty(policy, WrapObservedId)) {
    // Only `Policy`'s constructors set this key, always with the signature of `Observable`.
    return (policy as typeof policy & Observable<EIn, EOut>)[WrapObservedId](ops, observe)
  }
  return observe === undefined ? policy.wrap(ops) : Effect.map(policy.wrap(ops), (out) => observe(out))
}

/**
 * `Effect.tapError` at no cost on success: `f` sees the error of a failed `effect`, which then fails as before
 * (exactly as `tapError` would). `tapError` re-emits every success as a new step; a failure handler is skipped by a
 * success, so the operations of a cache pay for their watchers only when they fail.
 *
 * @internal
 */
export const tapFailure = <A, E, X>(
  effect: Effect.Effect<A, E>,
  f: (error: E) => Effect.Effect<X>
): Effect.Effect<A, E> => Effect.catchCause(effect, (cause) => Effect.tapError(Effect.failCause(cause), f))

/**
 * The key under which a policy says how it can be applied as one failure handler (see {@link Fusion}).
 *
 * @internal
 */
export const FusionId: unique symbol = Symbol.for("effect-remote-cache/Policy/fusion")

/**
 * One step of a policy that acts only when an operation fails (`log`, `recoverToMiss`, `RemoteCache.logOutages`),
 * made for one cache: `onFailure` is the step's own wrapper, applied to the failed operation only (a success would
 * pass through it unchanged, so it is not needed then); `onSuccess`, when present, is what the step does after a
 * success, `undefined` when it has nothing to do (the usual case).
 *
 * @internal
 */
export interface FusedStep {
  readonly onFailure: (
    failed: Effect.Effect<any, any>,
    operation: Operation,
    key: string | undefined,
    keys: ReadonlyArray<string> | undefined
  ) => Effect.Effect<any, any>
  readonly onSuccess?: ((operation: Operation) => Effect.Effect<void> | undefined) | undefined
}

/**
 * What a fused step is made for: the backend of one cache (its prefix, and what it says about its health).
 *
 * @internal
 */
export type StepTarget = Pick<CacheOps<unknown>, "prefix" | "diagnosis">

/**
 * A policy seen as `inner` (any policy, `undefined` for none) followed by steps that act on failure only, each
 * made per cache from the backend (see {@link StepTarget}). `RemoteCache` applies `inner` as usual and runs the steps from its
 * own telemetry handler: a successful operation then pays for none of them.
 *
 * @internal
 */
export interface Fusion {
  readonly inner: { readonly wrap: (ops: CacheOps<any>) => Effect.Effect<CacheOps<any>> } | undefined
  readonly steps: ReadonlyArray<(target: StepTarget) => FusedStep>
}

/**
 * The fusion of `policy`: what it carries, else the whole policy as `inner`.
 *
 * @internal
 */
export const fusionOf = (policy: unknown): Fusion =>
  Predicate.hasProperty(policy, FusionId)
    ? policy[FusionId] as Fusion
    : { inner: policy as Fusion["inner"], steps: [] }

/**
 * Marks `policy` as `inner` (by default none) followed by the failure steps `steps`, so that it and its
 * compositions can be fused.
 *
 * @internal
 */
export const withFusion = <P extends object>(
  policy: P,
  steps: ReadonlyArray<(target: StepTarget) => FusedStep>,
  inner: Fusion["inner"] = undefined
): P => Object.assign(policy, { [FusionId]: { inner, steps } satisfies Fusion })
