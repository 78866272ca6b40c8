/**
 * Composable failure policies for a cache backend: how each operation is timed out, retried, guarded by a
 * circuit breaker, logged and, finally, recovered to a miss.
 *
 * A policy wraps every operation of a backend. Policies compose with `pipe`, the outer one last, as Effect's own
 * combinators do: in `a.pipe(b)`, `b` wraps `a` and sees its errors. Their types say what they do to the error
 * channel:
 *
 * ```ts
 * Policy.timeout("50 millis")                 // Policy<CacheError, CacheError | CacheTimeoutError>
 *   .pipe(
 *     Policy.retry(Schedule.recurs(1)),        // retries what `isRetryable` allows: losses, timeouts, LOADING…
 *     Policy.circuitBreaker({ failureThreshold: 5, resetAfter: "10 seconds" }), // + CacheCircuitOpenError
 *     Policy.recoverToMiss                     // Policy<CacheError, never>
 *   )
 * ```
 *
 * Every combinator is a policy on its own (`RemoteCache.layer(Policy.recoverToMiss)`) and also a step of a chain
 * that works whatever errors the steps before it add. A policy is applied when a `RemoteCache` is built, so a
 * stateful policy (the circuit breaker) gets one state per cache built.
 *
 * @since 0.1.0
 */
import * as Cause from "#effect/Cause"
import * as Clock from "#effect/Clock"
import * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import { identity as id } from "#effect/Function"
import type * as LogLevel from "#effect/LogLevel"
import * as Option from "#effect/Option"
import { type Pipeable, pipeArguments } from "#effect/Pipeable"
import * as Predicate from "#effect/Predicate"
import * as References from "#effect/References"
import * as Schedule from "#effect/Schedule"
import type * as Types from "#effect/Types"
import { durationMillis } from "./internal/duration.js"
import {
  type Fusion,
  FusionId,
  fusionOf,
  type Observable,
  type Observer,
  tapFailure,
  withFusion,
  wrapObserved,
  WrapObservedId
} from "./internal/telemetry/observe.js"
import type * as RemoteCacheBackend from "./RemoteCacheBackend.js"
import type { CacheConnectionError, CacheError, CacheReplyError, Operation } from "./RemoteCacheBackend.js"
import { CacheCircuitOpenError, CacheTimeoutError, isCacheError } from "./RemoteCacheBackend.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-remote-cache/Policy")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The operations of a cache whose failures are `E` (defined with the backend, which is `CacheOps<CacheError>`).
 *
 * @since 0.1.0
 * @category models
 */
export type CacheOps<E> = RemoteCacheBackend.CacheOps<E>

/**
 * The circuit breaker is open: the operation was not attempted (defined with the other cache errors, and the
 * same class as `RemoteCacheBackend.CacheCircuitOpenError`).
 *
 * @since 0.1.0
 * @category errors
 */
export { CacheCircuitOpenError }

/**
 * The errors that can be retryable (see each class's `isRetryable`): connection losses, timeouts, and error
 * replies that describe a passing state of the server (`LOADING`, `BUSY`…). The other cache errors never are.
 *
 * @since 0.1.0
 * @category models
 */
export type RetryableError = CacheConnectionError | CacheTimeoutError | CacheReplyError

/**
 * Variance of a policy: it consumes operations failing with `EIn` and produces operations failing with `EOut`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Variance<in EIn, out EOut> {
  /** The errors of the operations the policy consumes. */
  readonly _In: Types.Contravariant<EIn>
  /** The errors of the operations the policy produces. */
  readonly _Out: Types.Covariant<EOut>
}

/**
 * A policy: turns operations failing with `EIn` into operations failing with `EOut`.
 *
 * A policy is also a step: called with a policy `self`, it returns `self` followed by this one, which is what
 * `self.pipe(policy)` does.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy<in EIn, out EOut> extends Pipeable {
  /** Marks a policy and carries its error types. */
  readonly [TypeId]: Variance<EIn, EOut>
  /**
   * `self`, then this policy around it. (`NoInfer`: when a combinator such as `timeout(d)` is passed where a
   * `Policy<CacheError, E>` is expected, `E` must come from the policy's variance, not from its generic step.)
   */
  <E0>(self: Policy<E0, NoInfer<EIn>>): Policy<E0, NoInfer<EOut>>
  /** Applies the policy to `ops`; each application gets its own state (one circuit breaker per cache built). */
  readonly wrap: (ops: CacheOps<EIn>) => Effect.Effect<CacheOps<EOut>>
}

/**
 * A combinator that works on any error type: on its own it is a policy over `CacheError` adding `X` (`never` for
 * those that add nothing: `retry`, `log`, `identity`); as a step after `self` it adds `X` to whatever `self`
 * fails with.
 *
 * @since 0.1.0
 * @category models
 */
export interface Adds<X> extends Pipeable {
  /** See {@link Policy}. */
  readonly [TypeId]: Variance<CacheError, CacheError | X>
  /** `self`, then this policy around it. */
  <E0, E>(self: Policy<E0, E>): Policy<E0, E | X>
  /** See {@link Policy}. */
  readonly wrap: (ops: CacheOps<CacheError>) => Effect.Effect<CacheOps<CacheError | X>>
}

/**
 * The type of {@link recoverToMiss}: whatever the steps before it fail with, the result never fails.
 *
 * @since 0.1.0
 * @category models
 */
export interface Recovers extends Pipeable {
  /** See {@link Policy}. */
  readonly [TypeId]: Variance<CacheError, never>
  /** `self`, then this policy around it. */
  <E0, E>(self: Policy<E0, E>): Policy<E0, never>
  /** See {@link Policy}. */
  readonly wrap: (ops: CacheOps<CacheError>) => Effect.Effect<CacheOps<never>>
}

// ---------------------------------------------------------------------------------------------------------------
// Representation. The type parameters only exist for the compiler: at run time every policy is one function
// object with `wrap`, and composition is sequencing of `wrap`s.
// ---------------------------------------------------------------------------------------------------------------

// Internally the error types are erased (`any`): one run-time object serves every error type, and the public
// signatures above, given where each policy is exported, carry them.
type AnyOps = CacheOps<any>
type Wrap = (ops: AnyOps, observe: Observer | undefined) => Effect.Effect<AnyOps>

const variance: Variance<unknown, unknown> = { _In: id, _Out: id }

function pipeThis(this: unknown) {
  return pipeArguments(this, arguments)
}

// `any`: the result is a `Policy`, `Adds` or `Recovers` depending on the export, whose annotation gives the type.
const fromWrap = (wrap: Wrap): any => {
  const policy = (self: Policy<unknown, unknown>): unknown => {
    const composed = fromWrap((ops, observe) =>
      Effect.flatMap(wrapObserved(self, ops, observe), (inner) => wrap(inner, observe))
    )
    // Steps that act on failure only, after any policy, stay fusible: `self`'s own part, then all of the steps.
    // Read from the function itself, as a step may be marked after it was made (`RemoteCache.logOutages`).
    const own = (policy as Partial<Record<typeof FusionId, Fusion>>)[FusionId]
    if (own !== undefined && own.inner === undefined) {
      const before = fusionOf(self)
      withFusion(composed, [...before.steps, ...own.steps], before.inner)
    }
    return composed
  }
  const observable: Observable<unknown, unknown> = { [WrapObservedId]: wrap }
  return Object.assign(policy, observable, {
    [TypeId]: variance,
    wrap: (ops: AnyOps) => wrap(ops, undefined),
    pipe: pipeThis
  })
}

// A built-in step. Only steps that create errors of their own are observed: an error that merely passes through
// (retry's last attempt, a logged one) was already seen below. `any` as for `fromWrap`.
const step = (makesErrors: boolean, build: (ops: AnyOps) => AnyOps): any =>
  fromWrap((ops, observe) =>
    Effect.sync(() => {
      const out = build(ops)
      return makesErrors && observe !== undefined ? observe(out) : out
    })
  )

// A one-shot iterator must be read once, at call time, so that every attempt writes the same entries.
const toList = (
  entries: Iterable<readonly [key: string, value: unknown]>
): ReadonlyArray<readonly [key: string, value: unknown]> => Array.isArray(entries) ? entries : Array.from(entries)

/**
 * Wraps every operation of `ops` with `f`, which is told the operation and the key (for `getMany`, `setMany` and
 * `deleteMany` the first key, for `clear` none). The building block of custom policies (see {@link make}).
 *
 * @since 0.1.0
 * @category combinators
 */
export const aroundEach = <EIn, EOut>(
  ops: CacheOps<EIn>,
  f: <A>(effect: Effect.Effect<A, EIn>, operation: Operation, key: string | undefined) => Effect.Effect<A, EOut>
): CacheOps<EOut> => ({
  prefix: ops.prefix,
  get: (key) => f(ops.get(key), "get", key),
  getWithTtl: (key) => f(ops.getWithTtl(key), "getWithTtl", key),
  getMany: (keys) => f(ops.getMany(keys), "getMany", keys[0]),
  set: (key, value, ttl) => f(ops.set(key, value, ttl), "set", key),
  setMany: (entries, ttl) => {
    const list = toList(entries)
    return f(ops.setMany(list, ttl), "setMany", list[0]?.[0])
  },
  setIfAbsent: (key, value, ttl) => f(ops.setIfAbsent(key, value, ttl), "setIfAbsent", key),
  delete: (key) => f(ops.delete(key), "delete", key),
  deleteMany: (keys) => f(ops.deleteMany(keys), "deleteMany", keys[0]),
  clear: f(ops.clear, "clear", undefined),
  diagnosis: ops.diagnosis
})

/**
 * A custom policy. `wrap` runs once per application (once per cache built), so state it creates is per cache.
 *
 * ```ts
 * // Count the operations of one cache.
 * const counted = Policy.make((ops: Policy.CacheOps<CacheError>) =>
 *   Effect.map(Ref.make(0), (count) =>
 *     Policy.aroundEach(ops, (effect) => Effect.andThen(Ref.update(count, (n) => n + 1), effect)))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <EIn, EOut>(
  wrap: (ops: CacheOps<EIn>) => Effect.Effect<CacheOps<EOut>>
): Policy<EIn, EOut> =>
  fromWrap((ops, observe) => observe === undefined ? wrap(ops) : Effect.map(wrap(ops), (out) => observe(out)))

/**
 * `true` for a policy.
 *
 * @since 0.1.0
 * @category guards
 */
export const isPolicy = (u: unknown): u is Policy<unknown, unknown> => typeof u === "function" && TypeId in u

/**
 * The policy that changes nothing: the backend's errors reach the caller as they are.
 *
 * @since 0.1.0
 * @category constructors
 */
export const identity: Adds<never> = withFusion(step(false, id), [])

// ---------------------------------------------------------------------------------------------------------------
// timeout
// ---------------------------------------------------------------------------------------------------------------

/**
 * Fails an operation that has no result within `duration` with `CacheTimeoutError`, interrupting it. Interrupting
 * a Redis command only stops the waiting: its reply is still read in its place, so the connection stays in step.
 *
 * Before `retry`, each attempt has its own timeout; after it, the timeout bounds all attempts together.
 *
 * `duration` may be `0` (every operation times out) or infinite (none does); a `NaN`, negative or unparsable one
 * throws `IllegalArgumentError` (Effect 3's `IllegalArgumentException`) here, when the policy is made.
 *
 * @since 0.1.0
 * @category combinators
 */
export const timeout = (duration: Duration.Input): Adds<CacheTimeoutError> => {
  const checked = durationMillis(duration, "Policy.timeout duration", { allowZero: true })
  if (checked._tag === "Invalid") throw new Cause.IllegalArgumentError(checked.message)
  const millis = checked.millis
  const decoded = Duration.millis(millis)
  const message = `no result within ${Duration.format(decoded)}`
  // A platform timer cannot wait longer than this; such a timeout is left to Effect's own.
  const onPlatformTimer = millis <= maxTimerMillis
  const timed = <A, E>(
    effect: Effect.Effect<A, E>,
    operation: Operation,
    key: string | undefined
  ): Effect.Effect<A, E | CacheTimeoutError> =>
    Effect.withFiber((fiber) => {
      const onTimeout = () => new CacheTimeoutError({ operation, key, message })
      return onPlatformTimer && References.getUnsafe(fiber, Clock.Clock) === Clock.live
        ? timeoutOnTimer(effect, millis, onTimeout)
        : Effect.timeoutOrElse(effect, { duration: decoded, orElse: () => Effect.fail(onTimeout()) })
    })
  return step(true, (ops) => aroundEach(ops, timed))
}

const maxTimerMillis = 2_147_483_647

// `Effect.timeoutOrElse` on Effect's live clock, for a fraction of its cost: it races the operation against a
// sleep, two fibers per operation; this forks the operation alone and waits for it or a platform timer, whichever
// comes first. Like `timeoutOrElse`, it interrupts the operation on time-out and waits for the interruption, and
// interrupts it when the caller is interrupted. On Effect 3 it also keeps the fiber-local changes the operation
// made when it completes, as Effect 3's race does (`Fiber.inheritAll`; on Effect 4 fiber-local values are
// provided for a region and never written back, so there is nothing to keep). Any other clock (`TestClock`) gets
// `timeoutOrElse` itself, so tests drive time as before.
const timeoutOnTimer = <A, E, E1>(
  effect: Effect.Effect<A, E>,
  millis: number,
  onTimeout: () => E1
): Effect.Effect<A, E | E1> =>
  Effect.uninterruptibleMask((restore) =>
    // The child ends with the operation's `Exit` as its value: its failure is this wait's, never an unhandled one.
    Effect.flatMap(Effect.forkChild(Effect.exit(restore(effect))), (child) =>
      restore(Effect.callback<A, E | E1>((resume) => {
        // Whichever of the operation, the timer or the caller's interruption comes first settles the wait; the
        // observer of a fiber whose result is no longer awaited is then left to be dropped with the fiber.
        let waiting = true
        const timer = setTimeout(() => {
          if (!waiting) return
          waiting = false
          resume(Effect.andThen(Fiber.interrupt(child), Effect.fail(onTimeout())))
        }, millis)
        child.addObserver((outer: Exit.Exit<Exit.Exit<A, E>>) => {
          if (!waiting) {
            return
          }
          waiting = false
          clearTimeout(timer)
          const exit: Exit.Exit<A, E> = Exit.isSuccess(outer) ? outer.value : (outer as Exit.Exit<never>)
          resume(Effect.andThen(Fiber.inheritAll(child), exit))
        })
        return Effect.suspend(() => {
          waiting = false
          clearTimeout(timer)
          return Fiber.interrupt(child)
        })
      })))
  )

// ---------------------------------------------------------------------------------------------------------------
// retry
// ---------------------------------------------------------------------------------------------------------------

/**
 * `true` for the errors `retry` retries: a cache error whose `isRetryable` is `true` (a connection loss, a
 * timeout, an error reply such as `LOADING` or `BUSY` that describes a passing state of the server). Anything
 * else, an error that is not a cache error included, is `false`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isRetryable = (u: unknown): u is RetryableError => isCacheError(u) && u.isRetryable

// What `Effect.retry(schedule)` does with the errors `isRetryable` allows, the others failing at once, except
// that nothing is made before the first failure: the schedule's step function is made only when there is
// something to retry, so an operation that succeeds pays for one failure handler only.
const retryWith = (schedule: Schedule.Schedule<unknown, unknown>) => {
  const attempt = <A, E>(
    effect: Effect.Effect<A, E>,
    onRetryable: (error: E) => Effect.Effect<A, E>
  ): Effect.Effect<A, E> =>
    Effect.catchCause(effect, (cause) => {
      // The first typed error, if any: a defect or an interruption alone is not retried.
      const failure = Cause.findErrorOption(cause)
      if (Option.isNone(failure)) return Effect.failCause(cause)
      return isRetryable(failure.value) ? onRetryable(failure.value) : Effect.fail(failure.value)
    })
  // The schedule's step function, made at the first retryable failure: it waits the delay the schedule asks for,
  // then gives the metadata of the recurrence, or fails once the schedule is done.
  const retrying = <A, E>(effect: Effect.Effect<A, E>, first: E): Effect.Effect<A, E> =>
    Effect.flatMap(Schedule.toStepWithMetadata(schedule), (step) => {
      const loop = (error: E): Effect.Effect<A, E> =>
        Effect.matchEffect(step(error), {
          // The schedule is done: the last error is the one reported.
          onFailure: () => Effect.fail(error),
          // Each retry sees the schedule's metadata, as under `Effect.retry`.
          onSuccess: (metadata) => attempt(Effect.provideService(effect, Schedule.CurrentMetadata, metadata), loop)
        })
      return loop(first)
    })
  return <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> => attempt(effect, (error) => retrying(effect, error))
}

/**
 * Retries an operation that failed with a retryable error (see {@link isRetryable}: a connection loss, a timeout,
 * an error reply of a server in a passing state such as `LOADING`), as `schedule` allows. Any other error reply,
 * a serialization error, an invalid input, a protocol error or an open circuit is never retried: another attempt
 * would get the same answer (or, for the breaker, defeat it). Every operation is safe to repeat: writes store the
 * same value again, deletes remove the same keys again. One answer may change: a `setIfAbsent` whose first attempt
 * stored its value before failing (a reply lost or timed out) answers `false` on the retry, the key then holding
 * that first attempt's value.
 *
 * The schedule sees only retryable errors. Retrying hides nothing: the last error is the one reported. An
 * operation that succeeds at once pays for no schedule step.
 *
 * @since 0.1.0
 * @category combinators
 */
export const retry = <X>(schedule: Schedule.Schedule<X, RetryableError>): Adds<never> => {
  // Only retryable errors reach the schedule, as its input type says.
  const retried = retryWith(schedule as Schedule.Schedule<unknown, unknown>)
  return step(false, (ops) => aroundEach(ops, retried))
}

// ---------------------------------------------------------------------------------------------------------------
// circuit breaker
// ---------------------------------------------------------------------------------------------------------------

/**
 * The state of a circuit breaker: `Closed` (operations run), `Open` (they fail fast with
 * `CacheCircuitOpenError`), `HalfOpen` (`resetAfter` has passed: the next operation runs as a probe, the others
 * keep failing fast until it ends).
 *
 * @since 0.1.0
 * @category models
 */
export type CircuitState = "Closed" | "Open" | "HalfOpen"

/**
 * Options of {@link circuitBreaker} and {@link makeCircuitBreaker}.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit: a positive integer. */
  readonly failureThreshold: number
  /** How long the circuit stays open before letting one probe through. */
  readonly resetAfter: Duration.Input
  /**
   * Which errors count as failures of the server. By default every error except `CacheSerializationError` and
   * `CacheInputError`, which say something about the value or the call, not about the server. An error that does
   * not count neither opens nor closes the circuit.
   */
  readonly isFailure?: ((error: unknown) => boolean) | undefined
}

/**
 * A circuit breaker whose state is observable: {@link policy} is the step to put in a chain; every cache it is
 * applied to shares this one breaker.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker {
  /** The current state, on Effect's `Clock` (`HalfOpen` as soon as `resetAfter` has passed). */
  readonly state: Effect.Effect<CircuitState>
  /** The consecutive failures counted while closed. */
  readonly failures: Effect.Effect<number>
  /** The policy step guarded by this breaker. */
  readonly policy: Adds<CacheCircuitOpenError>
}

const defaultIsFailure = (error: unknown): boolean =>
  !(isCacheError(error) && (error._tag === "CacheSerializationError" || error._tag === "CacheInputError"))

interface Breaker {
  readonly state: (now: number) => CircuitState
  readonly failures: () => number
  readonly guard: <A, E>(
    effect: Effect.Effect<A, E>,
    operation: Operation,
    key: string | undefined
  ) => Effect.Effect<A, E | CacheCircuitOpenError>
}

const validateBreaker = (options: CircuitBreakerOptions): Effect.Effect<void> => {
  const { failureThreshold } = options
  if (!Number.isSafeInteger(failureThreshold) || failureThreshold < 1) {
    return Effect.die(
      new Cause.IllegalArgumentError(
        `circuitBreaker: failureThreshold must be a positive integer, got ${String(failureThreshold)}`
      )
    )
  }
  const resetAfter = durationMillis(options.resetAfter, "circuitBreaker: resetAfter", { allowZero: true, finite: true })
  if (resetAfter._tag === "Invalid") return Effect.die(new Cause.IllegalArgumentError(resetAfter.message))
  return Effect.void
}

// Plain mutable state changed only inside synchronous sections: JavaScript runs each to completion, so no fiber
// sees a half-made transition and no lock is needed.
const unsafeMakeBreaker = (options: CircuitBreakerOptions): Breaker => {
  const threshold = options.failureThreshold
  const resetMillis = Duration.toMillis(options.resetAfter)
  const isFailure = options.isFailure ?? defaultIsFailure
  let state: "Closed" | "Open" = "Closed"
  let failures = 0
  let openedAt = 0
  let probing = false
  // Bumped each time the circuit opens: a call started while closed remembers it, so once the circuit has opened
  // (and perhaps closed again after a probe) its late result is known to belong to an earlier closed period.
  let epoch = 0
  const message = `circuit open after ${threshold} consecutive failure${threshold === 1 ? "" : "s"}; next probe after ${
    Duration.format(Duration.millis(resetMillis))
  }`

  const open = (now: number) => {
    state = "Open"
    openedAt = now
    failures = 0
    epoch++
  }

  // A call that started while closed only counts while the circuit is still in that same closed period: once it
  // has opened, a late result of an older call says nothing about the server now, even after a probe closed the
  // circuit again. The probe alone decides the half-open state.
  const settle = <A, E>(exit: Exit.Exit<A, E>, isProbe: boolean, startedIn: number, now: number) => {
    if (isProbe) probing = false
    else if (state !== "Closed" || startedIn !== epoch) return
    if (exit._tag === "Success") {
      state = "Closed"
      failures = 0
      return
    }
    const failure = Cause.findErrorOption(exit.cause)
    // Interruptions, defects and errors that do not count leave the state as it is (a probe slot is freed).
    if (Option.isNone(failure) || !isFailure(failure.value)) return
    if (isProbe) open(now)
    else if (++failures >= threshold) open(now)
  }

  // A probe must free its slot however it ends, interruption included: an exit handler.
  const probe = <A, E>(effect: Effect.Effect<A, E>, clock: Clock.Clock) => {
    const startedIn = epoch
    return Effect.onExit(effect, (exit) => {
      settle(exit, true, startedIn, Clock.currentTimeMillisUnsafe(clock))
      return Effect.void
    })
  }

  // A call while closed: its interruption changes nothing (see `settle`), so a plain handler of its result does,
  // without the uninterruptible region of an exit handler.
  const call = <A, E>(effect: Effect.Effect<A, E>, clock: Clock.Clock) => {
    const startedIn = epoch
    return Effect.matchCauseEffect(effect, {
      onFailure: (cause) => {
        settle(Exit.failCause(cause), false, startedIn, Clock.currentTimeMillisUnsafe(clock))
        return Effect.failCause(cause)
      },
      onSuccess: (value) => {
        settle(Exit.succeed(value), false, startedIn, Clock.currentTimeMillisUnsafe(clock))
        return Effect.succeed(value)
      }
    })
  }

  return {
    state: (now) => state === "Closed" ? "Closed" : probing || now - openedAt >= resetMillis ? "HalfOpen" : "Open",
    failures: () => failures,
    guard: <A, E>(effect: Effect.Effect<A, E>, operation: Operation, key: string | undefined) =>
      Effect.withFiber((fiber): Effect.Effect<A, E | CacheCircuitOpenError> => {
        // The calling fiber's `Clock`, so that `TestClock` drives the breaker.
        const clock = References.getUnsafe(fiber, Clock.Clock)
        if (state === "Closed") return call(effect, clock)
        if (probing || Clock.currentTimeMillisUnsafe(clock) - openedAt < resetMillis) {
          return Effect.fail(new CacheCircuitOpenError({ operation, key, message }))
        }
        probing = true
        return probe(effect, clock)
      })
  }
}

const breakerStep = (breaker: Breaker): Adds<CacheCircuitOpenError> =>
  step(true, (ops) => aroundEach(ops, breaker.guard))

/**
 * A circuit breaker: after `failureThreshold` consecutive failures it opens, and every operation fails fast with
 * `CacheCircuitOpenError` without touching the server; once `resetAfter` has passed it lets one operation through
 * as a probe (the others keep failing fast): a success closes it, a failure opens it again for `resetAfter`.
 * Time is Effect's `Clock`, so `TestClock` drives it.
 *
 * Each cache built with this policy gets its own breaker. To observe the state, or share one breaker between
 * caches, use {@link makeCircuitBreaker}. An invalid option is a defect when the policy is applied.
 *
 * @since 0.1.0
 * @category combinators
 */
export const circuitBreaker = (options: CircuitBreakerOptions): Adds<CacheCircuitOpenError> =>
  fromWrap((ops, observe) =>
    Effect.flatMap(
      validateBreaker(options),
      () => wrapObserved(breakerStep(unsafeMakeBreaker(options)), ops, observe)
    )
  )

/**
 * Makes a circuit breaker (see {@link circuitBreaker}) with an observable state. Its `policy` is a step like any
 * other; every cache it is applied to shares this breaker. An invalid option is a defect.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCircuitBreaker = (options: CircuitBreakerOptions): Effect.Effect<CircuitBreaker> =>
  Effect.flatMap(validateBreaker(options), () =>
    Effect.sync((): CircuitBreaker => {
      const breaker = unsafeMakeBreaker(options)
      return {
        state: Effect.clockWith((clock) => Effect.sync(() => breaker.state(Clock.currentTimeMillisUnsafe(clock)))),
        failures: Effect.sync(breaker.failures),
        policy: breakerStep(breaker)
      }
    }))

// ---------------------------------------------------------------------------------------------------------------
// log
// ---------------------------------------------------------------------------------------------------------------

const describe = (error: unknown): string => {
  const tag = Predicate.hasProperty(error, "_tag") && Predicate.isString(error._tag) ? error._tag : "UnknownError"
  const message = Predicate.hasProperty(error, "message") && Predicate.isString(error.message) ? error.message : ""
  return message === "" ? tag : `${tag}: ${message}`
}

/**
 * Logs every failure through Effect's logger at `level`, then lets it through:
 * `cache <operation> failed: <error tag>: <message>`, annotated with `cache.operation` and `cache.key` (the key
 * that failed; none for `clear`). Never the value, never the error's `cause`; this library's error messages
 * quote neither values nor secrets.
 *
 * `level` is a severity (`"Debug"`, `"Info"`, `"Warn"`...); on Effect 3 also a `LogLevel` or its literal
 * (`"Warning"`), as Effect 3's `logWithLevel` takes it.
 *
 * @since 0.1.0
 * @category combinators
 */
export const log = (level: LogLevel.Severity): Adds<never> => {
  const logAtLevel = Effect.logWithLevel(level)
  const logged = <A, E>(effect: Effect.Effect<A, E>, operation: Operation, key: string | undefined) =>
    tapFailure(effect, (error) => {
      const failedKey = Predicate.hasProperty(error, "key") && Predicate.isString(error.key) ? error.key : key
      const annotations: Record<string, string> = { "cache.operation": operation }
      if (failedKey !== undefined) annotations["cache.key"] = failedKey
      return Effect.annotateLogs(logAtLevel(`cache ${operation} failed: ${describe(error)}`), annotations)
    })
  return withFusion(step(false, (ops) => aroundEach(ops, logged)), [() => ({ onFailure: logged })])
}

// ---------------------------------------------------------------------------------------------------------------
// recoverToMiss
// ---------------------------------------------------------------------------------------------------------------

const noneOf = (keys: ReadonlyArray<string>): ReadonlyArray<Option.Option<unknown>> => keys.map(() => Option.none())

// What a failed `getMany` answers once recovered: what it read of the keys that did not fail (a backend over several
// servers, one down), else a `None` per key. The partial result is the backend's (a hand-made one may set anything):
// taken only when it is an array of one Option per key, and copied, so that no caller's answer is another's.
const missesOf = (keys: ReadonlyArray<string>, error: unknown): ReadonlyArray<Option.Option<unknown>> => {
  const partial: unknown = typeof error === "object" && error !== null
    ? (error as { readonly partial?: unknown }).partial
    : undefined
  if (!Array.isArray(partial) || partial.length !== keys.length) return noneOf(keys)
  const answered = new Array<Option.Option<unknown>>(keys.length)
  for (let i = 0; i < keys.length; i++) {
    const item: unknown = partial[i]
    if (!Option.isOption(item)) return noneOf(keys)
    answered[i] = item
  }
  return answered
}

// `Effect.orElseSucceed` and `Effect.ignore`, deciding exactly as they do, but from a failure handler, which a
// success skips: the usual outcome, a working backend, costs no step here.
const orElse = <A, E>(effect: Effect.Effect<A, E>, evaluate: () => A): Effect.Effect<A> =>
  Effect.catchCause(effect, (cause) => Effect.orElseSucceed(Effect.failCause(cause), evaluate))
// `orElse` with the failure's error: a `getMany`'s recovery reads what the batch read (see `missesOf`).
const orElseMisses = <E>(
  effect: Effect.Effect<ReadonlyArray<Option.Option<unknown>>, E>,
  keys: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<Option.Option<unknown>>> =>
  Effect.catchCause(
    effect,
    (cause) => Effect.catch(Effect.failCause(cause), (error) => Effect.succeed(missesOf(keys, error)))
  )
const ignore = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<void> =>
  Effect.catchCause(effect, (cause) => Effect.ignore(Effect.failCause(cause))) as Effect.Effect<void>

// `recoverToMiss` applied to one failed operation (see `Fusion`), deciding as the operations below do.
const recoverFailed = (
  failed: Effect.Effect<any, any>,
  operation: Operation,
  _key: string | undefined,
  keys: ReadonlyArray<string> | undefined
): Effect.Effect<any> => {
  switch (operation) {
    case "get":
    case "getWithTtl":
      return orElse(failed, Option.none)
    case "getMany":
      return orElseMisses(failed, keys ?? [])
    case "setIfAbsent":
      return orElse(failed, () => false)
    default:
      return ignore(failed)
  }
}

/**
 * Turns every failure into what a cache without the value would answer: `get` and `getWithTtl` yield `None`,
 * `getMany` a `None` per key (per failed key, when the backend read the others: a server of several down, see
 * `CacheErrorFields.partial`), `set` / `setMany` / `delete` / `deleteMany` / `clear` succeed without effect (`void`),
 * and `setIfAbsent` answers `false`, "not stored", which is what the caller must assume when it cannot know (the
 * write may or may not have happened: a caller that must know reads the key). The error channel becomes `never`.
 * Defects and interruptions are not failures and still propagate.
 *
 * Put `log` before it to keep a trace of what it hides; `RemoteCache`'s metrics count errors before recovery.
 *
 * @since 0.1.0
 * @category combinators
 */
export const recoverToMiss: Recovers = withFusion(
  step(false, (ops): AnyOps => ({
    prefix: ops.prefix,
    get: (key) => orElse(ops.get(key), Option.none),
    getWithTtl: (key) => orElse(ops.getWithTtl(key), Option.none),
    getMany: (keys) => orElseMisses(ops.getMany(keys), keys),
    set: (key, value, ttl) => ignore(ops.set(key, value, ttl)),
    setMany: (entries, ttl) => ignore(ops.setMany(toList(entries), ttl)),
    setIfAbsent: (key, value, ttl) => orElse(ops.setIfAbsent(key, value, ttl), () => false),
    delete: (key) => ignore(ops.delete(key)),
    deleteMany: (keys) => ignore(ops.deleteMany(keys)),
    clear: ignore(ops.clear),
    diagnosis: ops.diagnosis
  })),
  [() => ({ onFailure: recoverFailed })]
)
