/**
 * The rules of `TieredCache`'s freshness options (grace, backoff, timeouts, early refresh), on inputs whatever the
 * face's duration type is: the face decodes each duration (with the core's rules, `core/options/millis`), this
 * module checks them together.
 *
 * @internal
 */
import type { CheckedMillis } from "../options/millis.js"

/**
 * The freshness options in milliseconds (`Infinity` for an infinite duration).
 *
 * @internal
 */
export interface CheckedFreshness {
  readonly grace?: number | undefined
  readonly graceBackoff?: number | undefined
  readonly timeout?: number | undefined
  readonly hardTimeout?: number | undefined
  readonly earlyRefresh?: number | undefined
}

/**
 * The freshness options as given, their durations in the face's own type `D`.
 *
 * @internal
 */
export interface FreshnessInput<D> {
  readonly grace?: D | undefined
  readonly graceBackoff?: D | undefined
  readonly timeout?: D | undefined
  readonly hardTimeout?: D | undefined
  readonly earlyRefresh?: number | undefined
}

/**
 * Why freshness options are invalid: a message naming the option (a programming error).
 *
 * @internal
 */
export type InvalidFreshness = Extract<CheckedMillis, { readonly _tag: "Invalid" }>

/**
 * `true` when {@link checkFreshnessWith} refused the options. The checked options are answered as they are (no
 * wrapper around them), as they may be checked on every call.
 *
 * @internal
 */
export const isInvalidFreshness = (checked: CheckedFreshness | InvalidFreshness): checked is InvalidFreshness =>
  "_tag" in checked

/**
 * Checks the freshness options, in the order grace, graceBackoff, timeout, hardTimeout, earlyRefresh (the first
 * invalid one is reported). `millisOf` decodes one duration of the face's type and checks it, zero allowed (an
 * immediate timeout, no grace); `label` names the caller in the messages (`"TieredCache"`, `"TieredCache call"`).
 *
 * @internal
 */
export const checkFreshnessWith = <D>(
  given: FreshnessInput<D>,
  label: string,
  millisOf: (input: D, name: string) => CheckedMillis
): CheckedFreshness | InvalidFreshness => {
  const result: Record<string, number | undefined> = {}
  for (const name of ["grace", "graceBackoff", "timeout", "hardTimeout"] as const) {
    const input = given[name]
    if (input === undefined) continue
    const millis = millisOf(input, `${label} ${name}`)
    if (millis._tag === "Invalid") return millis
    result[name] = millis.millis
  }
  if (result["hardTimeout"] === 0) {
    return { _tag: "Invalid", message: `${label} hardTimeout must be a positive duration` }
  }
  const early = given.earlyRefresh
  if (early !== undefined) {
    if (!(early > 0 && early < 1)) {
      return { _tag: "Invalid", message: `${label} earlyRefresh must be a fraction between 0 and 1, got ${early}` }
    }
    result["earlyRefresh"] = early
  }
  return result
}
