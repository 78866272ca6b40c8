export * from "effect/Fiber"
