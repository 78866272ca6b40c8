/**
 * The argument of every `layerConfig`: a whole `Config` of the options, or an object whose fields are each a
 * `Config` (or a record of them, as `Config.Wrap` reads), or a plain value, taken as given.
 *
 * Plain values are accepted because `layerConfig({ prefix: "app:" })` is what a reader writes first: Effect's
 * `Config.unwrap` expects a `Config` in every field, and given a string it recursed into its characters until the
 * stack overflowed, an error that names nothing the caller wrote.
 *
 * @internal
 */
import * as Config from "#effect/Config"

/** A `layerConfig` argument for options `A`. */
export type ConfigInput<A> = Config.Config<A> | { readonly [K in keyof A]?: A[K] | Config.Wrap<A[K]> }

const isPlainRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype

const holdsConfig = (value: unknown): boolean =>
  Config.isConfig(value) || (isPlainRecord(value) && Object.values(value).some(holdsConfig))

/** One `Config` per field given; a field left `undefined` is a field not given. */
export const fieldConfigs = <A>(
  input: { readonly [K in keyof A]?: A[K] | Config.Wrap<A[K]> }
): Record<string, Config.Config<unknown>> => {
  const fields: Record<string, Config.Config<unknown>> = {}
  for (const [name, value] of Object.entries(input)) {
    if (value === undefined) continue
    fields[name] = Config.isConfig(value)
      ? value as Config.Config<unknown>
      : holdsConfig(value)
      ? Config.unwrap(value as Config.Wrap<unknown>)
      : Config.succeed(value)
  }
  return fields
}

/** The options `input` describes, as one `Config`. */
export const toConfig = <A>(input: ConfigInput<A>): Config.Config<A> => {
  if (Config.isConfig(input)) return input as Config.Config<A>
  const fields = fieldConfigs(input as { readonly [K in keyof A]?: A[K] | Config.Wrap<A[K]> })
  // Effect 3's `Config.all` of an empty record throws: no field given is the empty options.
  return (Object.keys(fields).length === 0 ? Config.succeed({}) : Config.all(fields)) as unknown as Config.Config<A>
}
