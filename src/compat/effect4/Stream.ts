export * from "effect/Stream"
