/**
 * How the typed views of `RemoteCache` and `TieredCache` read a stored value.
 *
 * @internal
 */
import * as Effect from "#effect/Effect"
import * as Option from "#effect/Option"
import * as Schema from "#effect/Schema"
import { countError } from "./telemetry/metrics.js"

/**
 * Decodes a stored value, `None` when it does not match the schema.
 *
 * @internal
 */
export type DecodeOrMiss<A, R> = (
  operation: string,
  key: string,
  stored: unknown
) => Effect.Effect<Option.Option<A>, never, R>

/**
 * The decoder of a typed view: a stored value that does not match the schema (written by an older schema, or by
 * another view of the key) is a miss, counted in `remote_cache_errors_total` with the schema error's tag
 * (`ParseError` on Effect 3, `SchemaError` on Effect 4) and logged at debug level with the operation and the key.
 * The schema error's text may quote the stored value, so neither the log line nor the metric carries it.
 *
 * @internal
 */
export const decodeOrMiss = <A, I, RD, RE>(schema: Schema.Codec<A, I, RD, RE>): DecodeOrMiss<A, RD | RE> => {
  const decode = Schema.decodeUnknownEffect(schema)
  const miss = (operation: string, key: string, error: Schema.SchemaError) =>
    Effect.andThen(
      countError(operation, error),
      Effect.as(
        Effect.annotateLogs(
          Effect.logDebug(`cache ${operation} miss: the stored value does not match the schema`),
          { "cache.operation": operation, "cache.key": key }
        ),
        Option.none<A>()
      )
    )
  return (operation, key, stored) =>
    Effect.matchEffect(decode(stored), {
      onFailure: (error) => miss(operation, key, error),
      onSuccess: Effect.succeedSome
    })
}
