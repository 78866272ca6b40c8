/**
 * Metric reading for the shared suites (Effect 4): the state of one series, found by name and attributes, and the
 * attributes a fiber adds to every metric it updates.
 */
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Metric from "effect/Metric"
import { sameTags } from "../shared.js"

/**
 * The state of the series named `name` whose attributes are exactly `tags` (a counter's `{ count }`, a histogram's
 * `{ count, sum, ... }`), `undefined` before its first update.
 */
export const seriesState = (name: string, tags: Record<string, string>): Effect.Effect<unknown> =>
  Effect.map(Metric.snapshot, (series) => {
    for (const one of series) {
      if (one.id === name && sameTags(Object.entries(one.attributes ?? {}), tags)) return one.state
    }
    return undefined
  })

/** Runs `self` with `tags` added to every metric it updates (the fiber's `Metric.CurrentMetricAttributes`). */
export const withTags: {
  (tags: Record<string, string>): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, tags: Record<string, string>): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, tags: Record<string, string>): Effect.Effect<A, E, R> =>
    Effect.flatMap(
      Metric.CurrentMetricAttributes,
      (current) => Effect.provideService(self, Metric.CurrentMetricAttributes, { ...current, ...tags })
    )
)
