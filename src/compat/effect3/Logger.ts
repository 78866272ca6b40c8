export * from "effect/Logger"

// ---------------------------------------------------------------------------------------------------------------
// Entries for the two-tier test suites: Effect 4's names on Effect 3.
// ---------------------------------------------------------------------------------------------------------------
import * as Effect3 from "effect/Effect"
import * as FiberRef3 from "effect/FiberRef"
import * as HashSet3 from "effect/HashSet"
import * as Layer3 from "effect/Layer"
import type * as Logger3 from "effect/Logger"

/**
 * Effect 4's `Logger.layer(loggers)`: the loggers in place of every current one (with `mergeWithExisting`, beside
 * them). `Logger.layer([])` silences logging.
 */
export const layer = (
  loggers: ReadonlyArray<Logger3.Logger<unknown, unknown>>,
  options?: { readonly mergeWithExisting?: boolean | undefined }
): Layer3.Layer<never> =>
  Layer3.scopedDiscard(
    Effect3.locallyScopedWith(
      FiberRef3.currentLoggers,
      (current) =>
        HashSet3.fromIterable<Logger3.Logger<unknown, any>>(
          options?.mergeWithExisting === true ? [...current, ...loggers] : loggers
        )
    )
  )
