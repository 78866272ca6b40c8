export * from "effect/ConfigProvider"
