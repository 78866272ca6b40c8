export * from "effect/Schema"

// ---------------------------------------------------------------------------------------------------------------
// Schema 4's names for a codec, its encoder and its error, as typed views use them.
// ---------------------------------------------------------------------------------------------------------------
import type * as EffectForSchemaV3 from "effect/Effect"
import type { ParseError as ParseErrorV3 } from "effect/ParseResult"
import * as SchemaV3 from "effect/Schema"
import type { ParseOptions as ParseOptionsV3 } from "effect/SchemaAST"

/** Schema 4's `SchemaError`, the failure of a decoder or an encoder: Effect 3's `ParseResult.ParseError`. */
export { ParseError as SchemaError } from "effect/ParseResult"

/**
 * Schema 4's `Codec<Type, Encoded, DecodingServices, EncodingServices>`: on Effect 3, a `Schema<Type, Encoded, R>`,
 * whose one requirement serves both directions.
 */
export type Codec<A, I = A, RD = never, RE = never> = SchemaV3.Schema<A, I, RD | RE>

/** Schema 4's `encodeEffect(schema)`: the encoder as an `Effect` (Effect 3's `Schema.encode`). */
export const encodeEffect: <A, I, R>(
  schema: SchemaV3.Schema<A, I, R>,
  options?: ParseOptionsV3
) => (a: A, overrideOptions?: ParseOptionsV3) => EffectForSchemaV3.Effect<I, ParseErrorV3, R> = SchemaV3.encode
