export * from "effect/Exit"
