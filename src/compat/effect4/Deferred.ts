export * from "effect/Deferred"
