/**
 * Metric reading for the shared suites (Effect 3): the state of one series, found by name and tags, and the tags a
 * fiber adds to every metric it updates.
 */
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Metric from "effect/Metric"
import { sameTags } from "../shared.js"

/**
 * The state of the series named `name` whose tags are exactly `tags` (a counter's `{ count }`, a histogram's
 * `{ count, sum, ... }`), `undefined` before its first update.
 */
export const seriesState = (name: string, tags: Record<string, string>): Effect.Effect<unknown> =>
  Effect.map(Metric.snapshot, (pairs) => {
    for (const pair of pairs) {
      if (pair.metricKey.name !== name) continue
      if (sameTags(pair.metricKey.tags.map((label) => [label.key, label.value] as const), tags)) {
        return pair.metricState
      }
    }
    return undefined
  })

/** Runs `self` with `tags` added to every metric it updates (Effect 3's `Effect.tagMetrics`). */
export const withTags: {
  (tags: Record<string, string>): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, tags: Record<string, string>): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, tags: Record<string, string>): Effect.Effect<A, E, R> =>
    Effect.tagMetrics(self, tags)
)
