export * from "effect/Effect"
