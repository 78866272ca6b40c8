export * from "effect/Schema"
