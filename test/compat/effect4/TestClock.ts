/** The test clock (on Effect 3 it lives in `effect`, on Effect 4 in `effect/testing`). */
export * from "effect/testing/TestClock"
