/**
 * Log capture for the shared suites (Effect 4): a logger that records every line at every level, in a shape that
 * reads the same on both majors.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"

/** One logged line. */
export interface CapturedLine {
  /** The level's label in capitals: `DEBUG`, `INFO`, `WARN`, ... */
  readonly level: string
  /** The message, its parts joined by spaces. */
  readonly message: string
  /** The log annotations of the fiber that logged it. */
  readonly annotations: Record<string, unknown>
  /** The whole line as logfmt prints it: message, annotations, spans and cause. */
  readonly formatted: string
}

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
        message: Array.isArray(options.message) ? options.message.join(" ") : String(options.message),
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
