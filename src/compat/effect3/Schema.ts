export * from "effect/Schema"

// ---------------------------------------------------------------------------------------------------------------
// Schema 4's names for what a typed view of a cache needs (the two-tier cache's `forSchema`): a codec's type, its
// error, and encoding as an effect. On Effect 3 a codec is a `Schema<A, I, R>` (one set of services for both
// directions) and its error the `ParseError`.
// ---------------------------------------------------------------------------------------------------------------

import type * as EffectV3 from "effect/Effect"
import type * as ParseResultV3 from "effect/ParseResult"
import * as SchemaV3 from "effect/Schema"
import type * as SchemaASTV3 from "effect/SchemaAST"

/** Schema 4's `Codec<T, E, RD, RE>`: Effect 3's `Schema<T, E, RD | RE>`. */
export type Codec<T, E = T, RD = never, RE = never> = SchemaV3.Schema<T, E, RD | RE>

/** Schema 4's `SchemaError`, the failure of decoding or encoding: Effect 3's `ParseError`. */
export type SchemaError = ParseResultV3.ParseError

/** Schema 4's `encodeEffect`: Effect 3's `Schema.encode`. */
export const encodeEffect: <A, I, R>(
  schema: SchemaV3.Schema<A, I, R>,
  options?: SchemaASTV3.ParseOptions
) => (input: A, options?: SchemaASTV3.ParseOptions) => EffectV3.Effect<I, SchemaError, R> = SchemaV3.encode
