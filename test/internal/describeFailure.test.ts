import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { outcomeUnknownText } from "../../src/core/client/connection.js"
import { describeFailure } from "../../src/internal/client/connect.js"
import { resolveOptions } from "../../src/internal/client/options.js"
import { RedisAuthError, RedisConnectionError } from "../../src/RedisError.js"

describe("describeFailure (the client's diagnosis of a failed connection)", () => {
  it.effect("says what happened to the connection, not whether the handshake's command may have run", () =>
    Effect.gen(function*() {
      const options = yield* resolveOptions({ url: "redis://:s3cret@127.0.0.1:6390" })
      const lost = new RedisConnectionError({ message: `connection closed by the server${outcomeUnknownText}` })
      expect(describeFailure(options, lost)).toBe("connection closed by the server")
      const refused = new RedisConnectionError({ message: "cannot connect to 127.0.0.1:6390: connect ECONNREFUSED" })
      expect(describeFailure(options, refused)).toBe(refused.message)
      const auth = describeFailure(options, new RedisAuthError({ message: "WRONGPASS invalid username-password pair" }))
      expect(auth).toBe("authentication to 127.0.0.1:6390 failed: WRONGPASS invalid username-password pair")
      expect(auth).not.toContain("s3cret")
    }))
})
