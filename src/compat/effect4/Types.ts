export * from "effect/Types"
