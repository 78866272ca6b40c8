import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import * as InvalidationBus from "../src/InvalidationBus.js"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as RemoteCache from "../src/RemoteCache.js"
import * as TieredCache from "../src/TieredCache.js"

const bytes = (text: string) => new TextEncoder().encode(text)

describe("InvalidationBus", () => {
  it.effect("the in-process bus delivers to every subscriber of the channel until its scope closes", () =>
    Effect.gen(function*() {
      const bus = InvalidationBus.makeMemory()
      const heard: Array<string> = []
      let subscribed = 0
      const scope = yield* Scope.make()
      yield* Scope.extend(
        bus.subscribe("c", {
          onMessage: (message) => heard.push(new TextDecoder().decode(message)),
          onSubscribed: () => subscribed++
        }),
        scope
      )
      yield* bus.publish("c", bytes("one"))
      yield* bus.publish("other", bytes("elsewhere"))
      yield* Scope.close(scope, Exit.void)
      yield* bus.publish("c", bytes("after close"))
      expect(subscribed).toBe(1)
      expect(heard).toStrictEqual(["one"])
    }))

  it.effect("the names TieredCache kept find the same service as the module's own", () =>
    Effect.gen(function*() {
      expect(TieredCache.InvalidationBus).toBe(InvalidationBus.InvalidationBus)
      expect(TieredCache.layerMemoryBus).toBe(InvalidationBus.layerMemory)
      expect(TieredCache.layerRedisBus).toBe(InvalidationBus.layerRedis)
      // A cache built on a bus provided under the new name runs, and a set invalidates the other instance's L1.
      const bus = InvalidationBus.layerMemory
      const remote = RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer()))
      const [a, b] = yield* Effect.all([TieredCache.make(), TieredCache.make()]).pipe(
        Effect.provide(Layer.merge(remote, bus))
      )
      yield* a.set("k", 1)
      expect(yield* b.get("k")).toStrictEqual(expect.objectContaining({ _tag: "Some", value: 1 }))
      yield* a.set("k", 2)
      expect(yield* b.get("k")).toStrictEqual(expect.objectContaining({ _tag: "Some", value: 2 }))
    }).pipe(Effect.scoped))
})
