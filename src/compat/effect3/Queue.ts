export * from "effect/Queue"
