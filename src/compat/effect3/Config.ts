export * from "effect/Config"

// ---------------------------------------------------------------------------------------------------------------
// Entries for the cluster face (`RedisCluster.nodesConfig` / `layerConfig`): Effect 4's names on Effect 3, plus
// one neutral helper (`invalidData`) that Effect 4 has no single name for.
// ---------------------------------------------------------------------------------------------------------------
import * as Config3 from "effect/Config"
import type * as ConfigError3 from "effect/ConfigError"
import { InvalidData as InvalidData3 } from "effect/ConfigError"
import * as Effect3 from "effect/Effect"
import { dual as dual3 } from "effect/Function"

/** Effect 4's `Config.ConfigError` (the error of a config that cannot be read): Effect 3's `ConfigError.ConfigError`. */
export type ConfigError = ConfigError3.ConfigError

/** Effect 4's `Config.Wrap<A>` (a config, or a record of configs, of `A`): Effect 3's `Config.Config.Wrap<A>`. */
export type Wrap<A> = Config3.Config.Wrap<A>

/**
 * Effect 4's `Config.String(name)`, a string read from `name`: Effect 3's `Config.string`. (Declared here, the name
 * shadows the global `String` in this module.)
 */
export const String: (name?: string) => Config3.Config<string> = Config3.string

/**
 * Effect 4's `Config.mapEffect`: a config whose value goes through `f`, which may fail with a `ConfigError`. Effect
 * 3's nearest is `mapOrFail`, whose function returns an `Either`: `f` is run at once with `Effect.runSync`, so it
 * must be synchronous (an asynchronous or dying `f` is a defect).
 */
export const mapEffect: {
  <A, B>(f: (a: A) => Effect3.Effect<B, ConfigError>): (self: Config3.Config<A>) => Config3.Config<B>
  <A, B>(self: Config3.Config<A>, f: (a: A) => Effect3.Effect<B, ConfigError>): Config3.Config<B>
} = dual3(
  2,
  <A, B>(self: Config3.Config<A>, f: (a: A) => Effect3.Effect<B, ConfigError>): Config3.Config<B> =>
    Config3.mapOrFail(self, (a) => Effect3.runSync(Effect3.either(f(a))))
)

/**
 * Neutral helper: the `ConfigError` saying the value at `path` is not usable, for `message`. Effect 3's
 * `ConfigError.InvalidData(path, message)`; on Effect 4 an `InvalidValue` schema issue at that path.
 */
export const invalidData = (path: ReadonlyArray<string>, message: string): ConfigError =>
  InvalidData3([...path], message)

// ---------------------------------------------------------------------------------------------------------------
// Entries for the client face (`RedisClient.urlConfig`): Effect 4's names on Effect 3.
// ---------------------------------------------------------------------------------------------------------------

export {
  /** Effect 4's `Config.Redacted(name)`, a string read from `name` and kept `Redacted`: Effect 3's `Config.redacted`. */
  redacted as Redacted
} from "effect/Config"
