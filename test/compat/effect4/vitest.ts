/** The test runner the shared suites use: `@effect/vitest` 4 as it is. */
export * from "@effect/vitest"
