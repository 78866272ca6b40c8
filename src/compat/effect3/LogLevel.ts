/**
 * Effect 4's `LogLevel.Severity` on Effect 3, where a level is a `LogLevel` value or its literal.
 *
 * @internal
 */
import type * as LogLevel from "effect/LogLevel"

export * from "effect/LogLevel"

/**
 * A level a message is logged at (Effect 4's `LogLevel.Severity`, `"Warn"` included). On Effect 3, a `LogLevel` or
 * its literal (`"Warning"`, `"All"` and `"None"` included), as Effect 3's own `logWithLevel` accepts, so that code
 * written for Effect 3 keeps compiling.
 */
export type Severity = LogLevel.Literal | "Warn" | LogLevel.LogLevel
