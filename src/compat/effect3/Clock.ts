export * from "effect/Clock"
