export * from "effect/Config"

// ---------------------------------------------------------------------------------------------------------------
// Entries for the cluster face (`RedisCluster.nodesConfig`): one neutral helper that Effect 4 has no single name
// for (Effect 3's `ConfigError.InvalidData`).
// ---------------------------------------------------------------------------------------------------------------
import { ConfigError as ConfigError4 } from "effect/Config"
import * as Schema4 from "effect/Schema"
import * as SchemaIssue4 from "effect/SchemaIssue"

/**
 * Neutral helper: the `ConfigError` saying the value at `path` is not usable, for `message`: a schema error whose
 * issue is an `InvalidValue` carrying `message`, at `path` (Effect 3: `ConfigError.InvalidData(path, message)`).
 */
export const invalidData = (path: ReadonlyArray<string>, message: string): ConfigError4 =>
  new ConfigError4(new Schema4.SchemaError(new SchemaIssue4.Pointer(path, new SchemaIssue4.InvalidValue({ message }))))
