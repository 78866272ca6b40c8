export * from "effect/Pipeable"
