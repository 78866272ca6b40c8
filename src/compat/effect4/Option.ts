export * from "effect/Option"
