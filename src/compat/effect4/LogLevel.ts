export * from "effect/LogLevel"
