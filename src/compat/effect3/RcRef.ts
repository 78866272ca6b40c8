export * from "effect/RcRef"
