import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { type Observer, wrapObserved } from "../../src/internal/telemetry/observe.js"
import * as MemoryBackend from "../../src/MemoryBackend.js"
import * as Policy from "../../src/Policy.js"
import { type CacheError, CacheReplyError } from "../../src/RemoteCacheBackend.js"

// Records the operations each observed layer saw fail.
const recording = () => {
  const seen: Array<string> = []
  const observe: Observer = (ops) =>
    Policy.aroundEach(
      ops,
      (effect, operation) => Effect.tapError(effect, () => Effect.sync(() => seen.push(operation)))
    )
  return { seen, observe }
}

describe("wrapObserved", () => {
  it.effect("a policy's own errors are observed where they arise, once per step that makes them", () =>
    Effect.gen(function*() {
      const backend = yield* MemoryBackend.make()
      const { observe, seen } = recording()
      const failing = Policy.make((ops: Policy.CacheOps<CacheError>) =>
        Effect.succeed({
          ...ops,
          get: (key: string) => Effect.fail(new CacheReplyError({ operation: "get", key, message: "ERR x" }))
        })
      )
      const cache = yield* wrapObserved(failing.pipe(Policy.log("Debug"), Policy.recoverToMiss), backend, observe)
      expect(yield* cache.get("k")).toStrictEqual(Option.none())
      // `failing` is observed, `log` and `recoverToMiss` are not: the error is seen once.
      expect(seen).toStrictEqual(["get"])
    }))

  it.effect("a policy made by hand, without the observed form, has its output observed", () =>
    Effect.gen(function*() {
      const backend = yield* MemoryBackend.make()
      const { observe, seen } = recording()
      const byHand = {
        wrap: (ops: Policy.CacheOps<CacheError>) =>
          Effect.succeed({
            ...ops,
            delete: (key: string) => Effect.fail(new CacheReplyError({ operation: "delete", key, message: "ERR x" }))
          })
      }
      const cache = yield* wrapObserved(byHand, backend, observe)
      yield* Effect.flip(cache.delete("k"))
      expect(seen).toStrictEqual(["delete"])
    }))

  it.effect("Policy's public wrap takes the operations only, and applies no observer", () =>
    Effect.gen(function*() {
      expect(Policy.identity.wrap.length).toBe(1)
      const backend = yield* MemoryBackend.make()
      const cache = yield* Policy.timeout("1 second").wrap(backend)
      yield* cache.set("k", 1)
      expect(yield* cache.get("k")).toStrictEqual(Option.some(1))
    }))
})
