export * from "effect/Logger"
