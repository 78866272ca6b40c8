export * from "effect/Schema"

// ---------------------------------------------------------------------------------------------------------------
// Entries for the shared test suites: Effect 4's names on Effect 3.
// ---------------------------------------------------------------------------------------------------------------

/** Effect 4's `SchemaError`, the error of a value a schema rejects (Effect 3's `ParseResult.ParseError`). */
export { ParseError as SchemaError } from "effect/ParseResult"

/** Effect 4's `decodeUnknownEffect`: decodes an unknown input (Effect 3's `decodeUnknown`). */
export { decodeUnknown as decodeUnknownEffect } from "effect/Schema"
