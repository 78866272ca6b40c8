export * from "effect/PubSub"
