export * from "effect/Predicate"
