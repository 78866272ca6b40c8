export * from "effect/Hash"
