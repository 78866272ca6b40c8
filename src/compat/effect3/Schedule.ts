export * from "effect/Schedule"
