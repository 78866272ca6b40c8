export * from "effect/Cause"
