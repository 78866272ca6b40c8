/**
 * Every agreement listed in `internal/seams.ts` is an optional fast path: code that does not know it still works,
 * only slower. These tests fail when one of the library's own pieces stops offering or taking its fast path, which
 * no behaviour test would notice.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Schedule, Schema } from "effect"
import { leaseReadOf } from "../../src/internal/backend/lease.js"
import { ViewComputeId } from "../../src/internal/seams.js"
import { WrapObservedId } from "../../src/internal/telemetry/observe.js"
import { FusionId, fusionOf } from "../../src/internal/telemetry/observe.js"
import * as InvalidationBus from "../../src/InvalidationBus.js"
import * as MemcachedBackend from "../../src/MemcachedBackend.js"
import * as MemoryBackend from "../../src/MemoryBackend.js"
import * as Policy from "../../src/Policy.js"
import * as RemoteCache from "../../src/RemoteCache.js"
import { RemoteCacheBackend } from "../../src/RemoteCacheBackend.js"
import * as TieredCache from "../../src/TieredCache.js"

describe("internal seams", () => {
  it("every policy Policy builds can be told the telemetry observer (WrapObservedId)", () => {
    const policies = [
      Policy.identity,
      Policy.timeout("1 second"),
      Policy.retry(Schedule.recurs(1)),
      Policy.circuitBreaker({ failureThreshold: 3, resetAfter: "1 second" }),
      Policy.log("Debug"),
      Policy.recoverToMiss,
      RemoteCache.defaultPolicy,
      Policy.timeout("1 second").pipe(Policy.recoverToMiss)
    ]
    for (const policy of policies) expect(WrapObservedId in policy).toBe(true)
  })

  it("the default policy is fused: its failure-only steps run from RemoteCache's own handler", () => {
    expect(FusionId in RemoteCache.defaultPolicy).toBe(true)
    const { inner, steps } = fusionOf(RemoteCache.defaultPolicy)
    expect(inner).toBeUndefined()
    expect(steps.length).toBeGreaterThan(0)
  })

  it.scoped("a typed view of the library's own tiered cache takes the view-aware getOrCompute (ViewComputeId)", () =>
    Effect.gen(function*() {
      const cache = yield* TieredCache.make().pipe(
        Effect.provide(
          Layer.merge(RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer())), InvalidationBus.layerMemory)
        )
      )
      expect(typeof (cache as unknown as Record<symbol, unknown>)[ViewComputeId]).toBe("function")
      // The same cache with its plain getOrCompute poisoned: the view still works, so it never called it.
      const poisoned: TieredCache.TieredCacheShape = {
        ...cache,
        getOrCompute: () => Effect.die("the typed view took the plain getOrCompute")
      }
      const view = yield* Effect.provideService(
        TieredCache.forSchema(Schema.Struct({ n: Schema.Number })),
        TieredCache.TieredCache,
        poisoned
      )
      expect(yield* view.getOrCompute("k", Effect.succeed({ n: 1 }))).toStrictEqual({ n: 1 })
      expect(yield* view.get("k")).toStrictEqual(Option.some({ n: 1 }))
    }))

  it.scoped("MemcachedBackend offers the leased read, and RemoteCache forwards it under the default policy only", () =>
    Effect.gen(function*() {
      // Nothing connects before the first command: no server is needed to look at the seams.
      const backend = MemcachedBackend.layer({ servers: ["127.0.0.1:1"] })
      const built = yield* Layer.build(backend)
      const remote = (policy: Policy.Policy<any, never>) =>
        Effect.provide(RemoteCache.make(policy), Layer.succeedContext(built))
      expect(typeof leaseReadOf(Context.get(built, RemoteCacheBackend))).toBe("function")
      expect(typeof leaseReadOf(yield* remote(RemoteCache.defaultPolicy))).toBe("function")
      expect(leaseReadOf(yield* remote(Policy.timeout("1 second").pipe(Policy.recoverToMiss)))).toBeUndefined()
      expect(leaseReadOf(yield* Effect.provide(RemoteCache.make(RemoteCache.defaultPolicy), MemoryBackend.layer())))
        .toBeUndefined()
    }))
})
