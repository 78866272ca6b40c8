import * as Schedule from "#effect/Schedule"
import { describe, expect, it } from "#test-effect/vitest"
import * as Policy from "../src/Policy.js"
import * as RemoteCache from "../src/RemoteCache.js"

// Type-level: `RemoteCache.layer` takes only a policy that never fails, and the compiler's message for any other
// names the fix (`PolicyMustEndWithRecoverToMiss`). `npm run check` type-checks this file on both majors; each
// `@ts-expect-error` fails the check if the line below it stops being an error.

describe("RemoteCache.layer's policy type", () => {
  it("accepts policies that end with recoverToMiss, refuses the others", () => {
    const accepted = [
      RemoteCache.layer(Policy.recoverToMiss),
      RemoteCache.layer(RemoteCache.defaultPolicy),
      RemoteCache.layer(Policy.timeout("50 millis").pipe(Policy.recoverToMiss)),
      RemoteCache.layer(
        Policy.timeout("50 millis").pipe(Policy.retry(Schedule.recurs(1)), Policy.log("Debug"), Policy.recoverToMiss)
      )
    ]
    expect(accepted).toHaveLength(4)

    // @ts-expect-error -- fails with CacheTimeoutError: PolicyMustEndWithRecoverToMiss<CacheError | CacheTimeoutError>
    RemoteCache.layer(Policy.timeout("50 millis"))
    // @ts-expect-error -- a retry alone still fails
    RemoteCache.layer(Policy.timeout("50 millis").pipe(Policy.retry(Schedule.recurs(1))))
    // @ts-expect-error -- identity passes every failure through
    RemoteCache.layer(Policy.identity)

    // The message type itself: what the compiler shows names the fix.
    type Message = keyof RemoteCache.PolicyMustEndWithRecoverToMiss<unknown>
    const message: Message = "RemoteCache.layer needs a policy that never fails: end it with Policy.recoverToMiss"
    expect(message).toContain("recoverToMiss")
  })
})
