export * from "effect/Semaphore"
