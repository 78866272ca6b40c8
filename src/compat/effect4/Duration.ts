export * from "effect/Duration"
