export * from "effect/Layer"
