export * from "effect/Random"
