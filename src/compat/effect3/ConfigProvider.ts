/**
 * Effect 4's `ConfigProvider` constructors on Effect 3: `fromEnv` takes the variables to read as a record, and
 * `layer` installs a provider (Effect 3's `Layer.setConfigProvider`).
 *
 * @internal
 */
import * as ConfigProvider from "effect/ConfigProvider"
import * as Layer from "effect/Layer"

export * from "effect/ConfigProvider"

/** Reads configuration from environment variables: `options.env` when given, else the process's own. */
export const fromEnv = (options?: {
  readonly env?: Record<string, string> | undefined
}): ConfigProvider.ConfigProvider =>
  options?.env === undefined ? ConfigProvider.fromEnv() : ConfigProvider.fromMap(new Map(Object.entries(options.env)))

/** A layer that makes `provider` the one every `Config` is read from. */
export const layer = (provider: ConfigProvider.ConfigProvider): Layer.Layer<never> => Layer.setConfigProvider(provider)
