/**
 * The rules every duration option of the library follows, on milliseconds already decoded: one place, so that
 * `NaN`, a negative value, zero, infinity and values past what a platform timer can wait mean the same in the
 * client, the cluster, the policies and the caches.
 *
 * @internal
 */

/**
 * The longest delay a platform timer (`setTimeout`) can wait: anything longer fires after 1 ms.
 *
 * @internal
 */
export const maxTimerMillis = 2 ** 31 - 1

/**
 * What a duration option accepts besides a positive finite duration.
 *
 * @internal
 */
export interface MillisRule {
  /** `0` is a valid value (an immediate timeout, no grace). Default: it must be positive. */
  readonly allowZero?: boolean | undefined
  /** An infinite duration is refused (a reset delay must end). Default: accepted. */
  readonly finite?: boolean | undefined
  /** Waited for with a platform timer: capped at {@link maxTimerMillis} (so an infinite one waits the longest). */
  readonly timer?: boolean | undefined
}

/**
 * A checked option: its milliseconds, or a message naming it and saying what is wrong.
 *
 * @internal
 */
export type CheckedMillis =
  | { readonly _tag: "Valid"; readonly millis: number }
  | { readonly _tag: "Invalid"; readonly message: string }

const invalid = (message: string): CheckedMillis => ({ _tag: "Invalid", message })

/**
 * Checks the milliseconds of the option `name` against `rule`. `NaN` is never valid (a timer or a comparison with
 * it silently means 0 or "never"), nor is a negative duration.
 *
 * @internal
 */
export const checkMillis = (millis: number, name: string, rule: MillisRule = {}): CheckedMillis => {
  if (Number.isNaN(millis)) return invalid(`${name} is NaN`)
  if (millis < 0) return invalid(`${name} must not be negative`)
  if (millis === 0 && rule.allowZero !== true) return invalid(`${name} must be positive`)
  if (millis === Infinity && rule.finite === true) return invalid(`${name} must be finite`)
  return { _tag: "Valid", millis: rule.timer === true ? Math.min(millis, maxTimerMillis) : millis }
}
