export * from "effect/Ref"
