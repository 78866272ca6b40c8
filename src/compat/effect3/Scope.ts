export * from "effect/Scope"
