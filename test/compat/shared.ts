/**
 * What the two majors' test adapters share: the shape of a captured log line and the rules for reading a metric
 * series and a log message, so that the adapters differ only where Effect does.
 */

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

/** A log message as text: its parts joined by spaces. */
export const messageText = (message: unknown): string => Array.isArray(message) ? message.join(" ") : String(message)

/** Whether a series' tags (or attributes) are exactly `tags`, whatever their order. */
export const sameTags = (actual: ReadonlyArray<readonly [string, string]>, tags: Record<string, string>): boolean =>
  JSON.stringify([...actual].sort()) === JSON.stringify(Object.entries(tags).sort())
