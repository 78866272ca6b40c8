export * from "effect/Chunk"
