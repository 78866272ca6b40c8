export * from "effect/Config"
