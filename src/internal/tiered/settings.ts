/**
 * Settings resolution of a tiered cache: the cache's options checked once when it is built, each call's own
 * options checked once before the call does any work, and the checks of keys and tags. A bad value is returned,
 * never thrown: the caller turns it into a defect (a programming error) at its boundary.
 *
 * @internal
 */
import * as Cause from "#effect/Cause"
import type * as Duration from "#effect/Duration"
import * as Result from "#effect/Result"
import { resolveTtl } from "../backend/ttl.js"
import type { ComputeOptions, FreshnessOptions, TieredCacheOptions } from "./api.js"
import { TieredCacheDefect } from "./defects.js"
import { checkFreshness, millisOf } from "./options.js"

/** The lease of `distributedSingleFlight: true`. */
const defaultLeaseMillis = 5_000

/**
 * The freshness settings of one call, in milliseconds.
 *
 * @internal
 */
export interface CallSettings {
  readonly grace: number
  readonly backoff: number
  readonly timeout: number | undefined
  readonly hardTimeout: number | undefined
  readonly early: number | undefined
}

/** One call's freshness options (those of `set` may be only a grace). */
type CallOptions = Omit<FreshnessOptions, "grace"> & { readonly grace?: Duration.Input | undefined }

/**
 * A cache's settings, checked, and the checks of what each call brings.
 *
 * @internal
 */
export class Settings {
  /** The freshness defaults of every call. */
  readonly defaults: CallSettings

  constructor(
    readonly capacity: number,
    readonly l1TtlMillis: number,
    readonly defaultTtl: Duration.Input | undefined,
    defaults: CallSettings,
    readonly channel: string,
    readonly tagKeyPrefix: string,
    /** The lease of cross-process single flight (`distributedSingleFlight`), `undefined` when it is off. */
    readonly leaseMillis: number | undefined = undefined
  ) {
    this.defaults = defaults
  }

  /** A call's settings (its own, else the cache's), or why its options are invalid. */
  readonly resolve = (call: CallOptions | undefined): CallSettings | Cause.IllegalArgumentError => {
    if (call === undefined) return this.defaults
    const result = checkFreshness(call, "TieredCache call")
    if (Result.isFailure(result)) return Result.failureValue(result)
    const checked = Result.successValue(result)
    const defaults = this.defaults
    return {
      grace: checked.grace ?? defaults.grace,
      backoff: checked.graceBackoff ?? defaults.backoff,
      timeout: call.timeout === undefined ? defaults.timeout : checked.timeout,
      hardTimeout: call.hardTimeout === undefined ? defaults.hardTimeout : checked.hardTimeout,
      early: checked.earlyRefresh ?? defaults.early
    }
  }

  /**
   * The settings of a call whose options {@link checkCall} accepted, read again by each later step of the call
   * (not remembered per options object: a caller may reuse one object with other values for a later call). Only
   * an options object changed to an invalid value while its call runs fails here, as the defect it is.
   */
  readonly settingsOf = (call: CallOptions | undefined): CallSettings => {
    const settings = this.resolve(call)
    if (settings instanceof Cause.IllegalArgumentError) throw settings
    return settings
  }

  /**
   * Checks a compute call's key and options before it reads or computes anything: `undefined` when they are
   * valid. A `ttl` function's result is checked when the value is written.
   */
  readonly checkCall = (
    operation: string,
    key: string,
    computeOptions: ComputeOptions<any> | undefined
  ): TieredCacheDefect | Cause.IllegalArgumentError | undefined => {
    const badKey = this.checkKey(operation, key)
    if (badKey !== undefined || computeOptions === undefined) return badKey
    const settings = this.resolve(computeOptions)
    if (settings instanceof Cause.IllegalArgumentError) return settings
    return computeOptions.tags === undefined ? undefined : this.checkTags(operation, computeOptions.tags)
  }

  /** Keys under the tag key prefix hold tag times: writing one as a value would corrupt every entry tagged so. */
  readonly checkKey = (operation: string, key: string): TieredCacheDefect | undefined =>
    key.startsWith(this.tagKeyPrefix)
      ? new TieredCacheDefect({
        message: `TieredCache.${operation}: keys starting with the tagKeyPrefix ${
          JSON.stringify(this.tagKeyPrefix)
        } are reserved for tag invalidation times`
      })
      : undefined

  /** Tags are free strings but for U+0000, which separates a tag from its hard-invalidation key's suffix. */
  readonly checkTags = (operation: string, tags: ReadonlyArray<string>): TieredCacheDefect | undefined => {
    for (const tag of tags) {
      if (typeof tag !== "string" || tag.includes("\u0000")) {
        return new TieredCacheDefect({ message: `TieredCache.${operation}: a tag must be a string without U+0000` })
      }
    }
    return undefined
  }
}

/**
 * The cache's settings from its options, every one checked (a bad one is a programming error, returned).
 *
 * @internal
 */
export const resolve = (
  options: TieredCacheOptions,
  defaults: { readonly channel: string; readonly tagKeyPrefix: string }
): Result.Result<Settings, Cause.IllegalArgumentError> => {
  const capacity = options.capacity ?? 10_000
  if (!(Number.isInteger(capacity) && capacity > 0)) {
    return Result.fail(
      new Cause.IllegalArgumentError(`TieredCache capacity must be a positive integer, got ${capacity}`)
    )
  }
  const l1Ttl = resolveTtl(options.l1Ttl ?? "1 minute")
  if (l1Ttl._tag === "Invalid" || l1Ttl._tag === "Expired") {
    return Result.fail(new Cause.IllegalArgumentError("TieredCache l1Ttl must be a positive duration"))
  }
  const defaultTtl = options.defaultTtl
  if (defaultTtl !== undefined && resolveTtl(defaultTtl)._tag === "Invalid") {
    return Result.fail(new Cause.IllegalArgumentError("TieredCache defaultTtl is not a valid duration"))
  }
  const checkedFreshness = checkFreshness(options, "TieredCache")
  if (Result.isFailure(checkedFreshness)) return Result.fail(Result.failureValue(checkedFreshness))
  const freshness = Result.successValue(checkedFreshness)
  const tagKeyPrefix = options.tagKeyPrefix ?? defaults.tagKeyPrefix
  if (typeof tagKeyPrefix !== "string" || tagKeyPrefix.length === 0) {
    // An empty prefix would make a tag's key a user key: invalidateTags would overwrite it.
    return Result.fail(new Cause.IllegalArgumentError("TieredCache tagKeyPrefix must be a non-empty string"))
  }
  const distributed = options.distributedSingleFlight
  let leaseMillis: number | undefined = undefined
  if (distributed === true || (typeof distributed === "object" && distributed !== null)) {
    const lease = distributed === true ? undefined : distributed.lease
    const checked = lease === undefined
      ? Result.succeed(defaultLeaseMillis)
      : millisOf(lease, "distributedSingleFlight.lease")
    if (Result.isFailure(checked)) return Result.fail(Result.failureValue(checked))
    leaseMillis = Result.successValue(checked)
    if (!(leaseMillis > 0 && Number.isFinite(leaseMillis))) {
      return Result.fail(
        new Cause.IllegalArgumentError("TieredCache distributedSingleFlight.lease must be a positive finite duration")
      )
    }
  }
  return Result.succeed(
    new Settings(
      capacity,
      l1Ttl._tag === "Millis" ? l1Ttl.millis : Infinity,
      defaultTtl,
      {
        grace: freshness.grace ?? 0,
        backoff: freshness.graceBackoff ?? 10_000,
        timeout: freshness.timeout,
        hardTimeout: freshness.hardTimeout,
        early: freshness.earlyRefresh
      },
      options.channel ?? defaults.channel,
      tagKeyPrefix,
      leaseMillis
    )
  )
}
