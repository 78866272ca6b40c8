/**
 * Log capture for the shared suites (Effect 4): a logger that records every line at every level, in a shape that
 * reads the same on both majors.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import { type CapturedLine, messageText } from "../shared.js"

/** One logged line. */
export type { CapturedLine }

/**
 * A fresh capture: `layer` adds a logger that appends every line, whatever its level, to `lines` (the other loggers
 * keep logging).
 */
export const capture: Effect.Effect<{ readonly lines: Array<CapturedLine>; readonly layer: Layer.Layer<never> }> =
  Effect.sync(() => {
    const lines: Array<CapturedLine> = []
    const logger = Logger.make((options) => {
      lines.push({
        level: options.logLevel.toUpperCase(),
        message: messageText(options.message),
        annotations: { ...options.fiber.getRef(References.CurrentLogAnnotations) },
        formatted: Logger.formatLogFmt.log(options)
      })
    })
    const layer = Layer.merge(
      Logger.layer([logger], { mergeWithExisting: true }),
      Layer.succeed(References.MinimumLogLevel, "All")
    )
    return { lines, layer }
  })
