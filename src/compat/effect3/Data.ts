export * from "effect/Data"
