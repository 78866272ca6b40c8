export * from "effect/Context"
