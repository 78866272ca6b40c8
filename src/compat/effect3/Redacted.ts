export * from "effect/Redacted"
