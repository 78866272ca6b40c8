export * from "effect/Metric"
