export * from "effect/Equal"
