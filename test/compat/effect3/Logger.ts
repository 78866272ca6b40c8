/**
 * Log capture for the shared suites (Effect 3): a logger that records every line at every level, in a shape that
 * reads the same on both majors.
 */
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
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
        level: options.logLevel.label,
        message: messageText(options.message),
        annotations: Object.fromEntries(HashMap.toEntries(options.annotations)),
        formatted: Logger.logfmtLogger.log(options)
      })
    })
    const layer = Layer.merge(Logger.add(logger), Logger.minimumLogLevel(LogLevel.All))
    return { lines, layer }
  })
