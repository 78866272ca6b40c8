export * from "effect/Function"
