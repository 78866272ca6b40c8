export * from "effect/Tracer"
