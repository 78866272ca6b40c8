import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Layer from "#effect/Layer"
import * as Logger from "#effect/Logger"
import * as Scope from "#effect/Scope"
import { describe, expect, it } from "#test-effect/vitest"
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
      yield* Scope.provide(
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

  it.effect("a subscriber that throws is logged; the others still get the message and publish succeeds", () =>
    Effect.gen(function*() {
      const bus = InvalidationBus.makeMemory()
      const heard: Array<string> = []
      const logged: Array<string> = []
      const logger = Logger.make(({ message }) => {
        logged.push(String(Array.isArray(message) ? message[0] : message))
      })
      const scope = yield* Scope.make()
      const listen = (name: string, onMessage: (message: Uint8Array) => void) =>
        Scope.provide(bus.subscribe("c", { onMessage, onSubscribed: () => heard.push(`${name} subscribed`) }), scope)
      yield* listen("first", () => heard.push("first"))
      yield* listen("bad", () => {
        throw new Error("boom")
      })
      yield* listen("last", () => heard.push("last"))
      yield* Scope.provide(
        bus.subscribe("c", {
          onMessage: () => heard.push("late"),
          onSubscribed: () => {
            throw new Error("boom on subscribe")
          }
        }),
        scope
      ).pipe(Effect.provide(Logger.layer([logger])))
      const published = yield* Effect.exit(
        bus.publish("c", bytes("m")).pipe(Effect.provide(Logger.layer([logger])))
      )
      expect(Exit.isSuccess(published)).toBe(true)
      expect(heard).toStrictEqual(["first subscribed", "bad subscribed", "last subscribed", "first", "last", "late"])
      expect(logged).toStrictEqual([
        "in-process bus: a subscriber's onSubscribed threw; the other subscribers are unaffected",
        "in-process bus: a subscriber's onMessage threw; the other subscribers are unaffected"
      ])
      yield* Scope.close(scope, Exit.void)
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

  it.effect("a hand-made bus whose publish dies leaves the cache's writes done", () =>
    Effect.gen(function*() {
      const dying: InvalidationBus.InvalidationBusShape = {
        publish: () => Effect.die(new Error("bus down")),
        subscribe: () => Effect.void
      }
      const remote = RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer()))
      const cache = yield* TieredCache.make().pipe(
        Effect.provide(Layer.merge(remote, Layer.succeed(InvalidationBus.InvalidationBus, dying))),
        Effect.provide(Logger.layer([]))
      )
      yield* cache.set("k", 1)
      expect(yield* cache.get("k")).toStrictEqual(expect.objectContaining({ _tag: "Some", value: 1 }))
      yield* cache.delete("k")
      expect(yield* cache.get("k")).toStrictEqual(expect.objectContaining({ _tag: "None" }))
    }).pipe(Effect.scoped))
})
