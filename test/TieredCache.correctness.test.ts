/**
 * Races and edge cases of the two-tier cache, forced deterministically: a remote layer that holds a reply until
 * the test releases it, Effect's `TestClock`, and gated computations.
 */
import * as Cause from "#effect/Cause"
import * as Context from "#effect/Context"
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Fiber from "#effect/Fiber"
import * as Layer from "#effect/Layer"
import * as Option from "#effect/Option"
import * as Result from "#effect/Result"
import * as Schema from "#effect/Schema"
import * as Scope from "#effect/Scope"
import * as TestClock from "#test-effect/TestClock"
import { describe, expect, it } from "#test-effect/vitest"
import * as MemoryBackend from "../src/MemoryBackend.js"
import * as Policy from "../src/Policy.js"
import * as RemoteCache from "../src/RemoteCache.js"
import type { RemoteCacheBackend } from "../src/RemoteCacheBackend.js"
import * as TieredCache from "../src/TieredCache.js"

/**
 * A `RemoteCache` whose next `set` or `getWithTtl` reply can be held: the operation is applied, then its reply
 * waits for whatever the test installed (a gate, a sleep on the `TestClock`).
 */
const heldRemote = (backend: Layer.Layer<RemoteCacheBackend>) => {
  const hold: { set: Effect.Effect<void> | undefined; getWithTtl: Effect.Effect<void> | undefined } = {
    set: undefined,
    getWithTtl: undefined
  }
  const take = (name: keyof typeof hold) =>
    Effect.suspend(() => {
      const held = hold[name]
      hold[name] = undefined
      return held ?? Effect.void
    })
  const layer = Layer.effect(
    RemoteCache.RemoteCache,
    Effect.map(RemoteCache.make(RemoteCache.defaultPolicy), (inner) => ({
      ...inner,
      getWithTtl: (key: string) => Effect.tap(inner.getWithTtl(key), () => take("getWithTtl")),
      set: (key: string, value: unknown, ttl?: Parameters<typeof inner.set>[2]) =>
        Effect.tap(inner.set(key, value, ttl), () => take("set"))
    }))
  ).pipe(Layer.provide(backend))
  return { hold, layer }
}

/** A gate: `passed` completes when an effect reaches it, which then waits for `open`. */
const makeGate = Effect.map(
  Effect.all([Deferred.make<void>(), Deferred.make<void>()]),
  ([reached, opened]) => ({
    wait: Effect.andThen(Deferred.succeed(reached, undefined), Deferred.await(opened)),
    reached: Deferred.await(reached),
    open: Deferred.succeed(opened, undefined)
  })
)

const tieredOver = (
  remote: Layer.Layer<RemoteCache.RemoteCache>,
  bus: Layer.Layer<TieredCache.InvalidationBus>,
  options: TieredCache.TieredCacheOptions = {}
) =>
  Effect.map(
    Layer.build(TieredCache.layer(options).pipe(Layer.provide(remote), Layer.provide(bus))),
    Context.get(TieredCache.TieredCache)
  )

/** Two instances ("processes") over one store and one bus; `a` sees its L2 through a held remote. */
const pair = Effect.gen(function*() {
  const store = yield* MemoryBackend.makeStore()
  const backend = MemoryBackend.layer({ store })
  const bus = Layer.succeedContext(yield* Layer.build(TieredCache.layerMemoryBus))
  const held = heldRemote(backend)
  const a = yield* tieredOver(held.layer, bus)
  const b = yield* tieredOver(RemoteCache.layerDefault.pipe(Layer.provide(backend)), bus)
  return { a, b, hold: held.hold, store }
})

const defectOf = <A, E>(exit: Exit.Exit<A, E>): unknown => {
  if (Exit.isSuccess(exit)) return undefined
  const defect = Cause.findDefect(exit.cause)
  return Result.isSuccess(defect) ? Result.successValue(defect) : undefined
}

describe("TieredCache: stale or lost data in L1", () => {
  it.effect("a delete that lands while a set's reply is on its way is not undone in the writer's L1", () =>
    Effect.gen(function*() {
      const { a, b, hold } = yield* pair
      yield* a.set("k", "old")
      expect(yield* a.get("k")).toStrictEqual(Option.some("old"))
      const gate = yield* makeGate
      hold.set = gate.wait
      const writing = yield* Effect.forkChild(a.set("k", "new"))
      yield* gate.reached // "new" is in L2; its reply is held
      yield* b.delete("k")
      yield* gate.open
      yield* Fiber.join(writing)
      expect(yield* a.get("k")).toStrictEqual(Option.none())
      expect(yield* b.get("k")).toStrictEqual(Option.none())
    }))

  it.effect("a delete that lands while a computed value's write is on its way keeps it out of L1", () =>
    Effect.gen(function*() {
      const { a, b, hold } = yield* pair
      const gate = yield* makeGate
      hold.set = gate.wait
      const computing = yield* Effect.forkChild(a.getOrCompute("k", Effect.succeed("computed")))
      yield* gate.reached
      yield* b.delete("k")
      yield* gate.open
      expect(yield* Fiber.join(computing)).toBe("computed") // the callers that waited get it
      expect(yield* a.get("k")).toStrictEqual(Option.none())
      expect(yield* a.l1Size).toBe(0)
    }))

  it.effect("L1 expiry counts from before the request: with 400 ms of latency a 1 s key is gone at 1.2 s", () =>
    Effect.gen(function*() {
      const { a, b, hold } = yield* pair
      yield* b.set("k", "v", "1 second")
      hold.getWithTtl = Effect.sleep("400 millis") // the reply arrives 400 ms after the server measured PTTL
      const reading = yield* Effect.forkChild(a.get("k"))
      yield* TestClock.adjust("400 millis")
      expect(yield* Fiber.join(reading)).toStrictEqual(Option.some("v"))
      yield* TestClock.adjust("599 millis") // 999 ms: alive in both tiers
      expect(yield* a.get("k")).toStrictEqual(Option.some("v"))
      yield* TestClock.adjust("201 millis") // 1.2 s: expired in L2, so it must not be an L1 hit
      expect(yield* a.get("k")).toStrictEqual(Option.none())
    }))

  it.effect("a value L2 cannot serialize never lands in the writer's L1: every instance reads what L2 holds", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      yield* a.set("k", "old")
      expect(yield* b.get("k")).toStrictEqual(Option.some("old"))
      // The v8 serializer rejects functions: a value that cannot be stored is a defect under every policy.
      const exit = yield* Effect.exit(a.set("k", { f: () => 1 }))
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      expect(yield* a.get("k")).toStrictEqual(Option.some("old"))
      expect(yield* b.get("k")).toStrictEqual(Option.some("old"))
    }))

  it.effect("nested prefixes: changes under \"a:\" reach the L1 of the cache on \"a:b:\", and the reverse", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore()
      const bus = Layer.succeedContext(yield* Layer.build(TieredCache.layerMemoryBus))
      const over = (prefix: string) =>
        tieredOver(RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer({ store, prefix }))), bus)
      const outer = yield* over("a:")
      const inner = yield* over("a:b:")

      yield* inner.set("x", 1)
      expect(yield* inner.get("x")).toStrictEqual(Option.some(1)) // in inner's L1
      yield* outer.clear // removes a:b:x from L2
      expect(yield* inner.get("x")).toStrictEqual(Option.none())

      yield* inner.set("x", 1)
      expect(yield* inner.get("x")).toStrictEqual(Option.some(1))
      yield* outer.set("b:x", 2) // the same full key
      expect(yield* inner.get("x")).toStrictEqual(Option.some(2))

      expect(yield* outer.get("b:x")).toStrictEqual(Option.some(2)) // in outer's L1
      yield* inner.delete("x")
      expect(yield* outer.get("b:x")).toStrictEqual(Option.none())

      yield* outer.set("b:y", 3)
      yield* outer.set("c", 4)
      expect(yield* outer.get("b:y")).toStrictEqual(Option.some(3))
      expect(yield* outer.get("c")).toStrictEqual(Option.some(4))
      expect(yield* outer.l1Size).toBe(2)
      yield* inner.clear // removes a:b:y only
      expect(yield* outer.l1Size).toBe(1)
      expect(yield* outer.get("b:y")).toStrictEqual(Option.none())
      expect(yield* outer.get("c")).toStrictEqual(Option.some(4))
    }))
})

const User = Schema.Struct({ name: Schema.String, age: Schema.Int })
const Other = Schema.Struct({ title: Schema.String })

describe("TieredCache: (re)subscription of the bus", () => {
  it.effect("a (re)subscription during a computation keeps its value out of L1 but still writes it to L2", () =>
    Effect.gen(function*() {
      // A bus whose subscription the test confirms by hand, as a Redis bus does once SUBSCRIBE is answered.
      const confirmations: Array<() => void> = []
      const bus = Layer.succeed(TieredCache.InvalidationBus, {
        publish: () => Effect.void,
        subscribe: (_channel, handlers) => Effect.sync(() => void confirmations.push(handlers.onSubscribed))
      })
      const store = yield* MemoryBackend.makeStore()
      const cache = yield* tieredOver(RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer({ store }))), bus)
      const gate = yield* makeGate
      const computing = yield* Effect.forkChild(cache.getOrCompute("k", Effect.as(gate.wait, "computed")))
      yield* gate.reached
      for (const confirm of confirmations) confirm()
      yield* gate.open
      expect(yield* Fiber.join(computing)).toBe("computed")
      expect(yield* cache.l1Size).toBe(0) // messages may have been lost: L1 takes nothing from before
      let computedAgain = false
      const again = yield* cache.getOrCompute("k", Effect.sync(() => (computedAgain = true)))
      expect(again).toBe("computed") // read from L2: the write went through
      expect(computedAgain).toBe(false)
    }))
})

describe("TieredCache typed view", () => {
  it.effect("a wrong shape joined from another view's computation is a miss: the caller computes its own value", () =>
    Effect.gen(function*() {
      const { a } = yield* pair
      const users = yield* Effect.provideService(TieredCache.forSchema(User), TieredCache.TieredCache, a)
      const others = yield* Effect.provideService(TieredCache.forSchema(Other), TieredCache.TieredCache, a)
      const gate = yield* makeGate
      const untyped = yield* Effect.forkChild(a.getOrCompute("k", Effect.as(gate.wait, { nom: "legacy" })))
      yield* gate.reached
      const typed = yield* Effect.forkChild(users.getOrCompute("k", Effect.succeed({ name: "Ada", age: 36 })))
      yield* Effect.yieldNow
      yield* gate.open
      expect(yield* Fiber.join(untyped)).toStrictEqual({ nom: "legacy" })
      expect(yield* Fiber.join(typed)).toStrictEqual({ name: "Ada", age: 36 })

      // Another schema's computation, joined the same way.
      const gate2 = yield* makeGate
      const first = yield* Effect.forkChild(others.getOrCompute("j", Effect.as(gate2.wait, { title: "t" })))
      yield* gate2.reached
      const second = yield* Effect.forkChild(users.getOrCompute("j", Effect.succeed({ name: "Bo", age: 1 })))
      yield* Effect.yieldNow
      yield* gate2.open
      expect(yield* Fiber.join(first)).toStrictEqual({ title: "t" })
      expect(yield* Fiber.join(second)).toStrictEqual({ name: "Bo", age: 1 })
    }))

  it.effect("a stored value of an older shape is a miss for getOrCompute: recomputed and overwritten", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const users = yield* Effect.provideService(TieredCache.forSchema(User), TieredCache.TieredCache, a)
      yield* b.set("u", { name: "Ada" }) // an older schema without age
      expect(yield* users.getOrCompute("u", Effect.succeed({ name: "Ada", age: 36 }))).toStrictEqual({
        name: "Ada",
        age: 36
      })
      expect(yield* b.get("u")).toStrictEqual(Option.some({ name: "Ada", age: 36 }))
    }))

  it.effect("a computed value the schema cannot encode is a defect with a clear message, not a ParseError", () =>
    Effect.gen(function*() {
      const { a } = yield* pair
      const users = yield* Effect.provideService(TieredCache.forSchema(User), TieredCache.TieredCache, a)
      // The error channel is the computation's own: no ParseError to handle.
      const program: Effect.Effect<Schema.Schema.Type<typeof User>, "NotFound"> = users.getOrCompute(
        "u",
        Effect.succeed({ name: "Ada", age: 36.5 }) as Effect.Effect<Schema.Schema.Type<typeof User>, "NotFound">
      )
      const exit = yield* Effect.exit(program)
      const defect = defectOf(exit)
      expect(defect).toBeInstanceOf(TieredCache.TieredCacheDefect)
      const { cause, message } = defect as TieredCache.TieredCacheDefect
      expect(message).toContain("does not match the schema")
      expect(cause).toBeInstanceOf(Schema.SchemaError)
      expect(yield* a.get("u")).toStrictEqual(Option.none())
    }))
})

describe("TieredCache: decided semantics of races", () => {
  it.effect("a set made while a computation runs wins: the older computed value is returned but not stored", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const gate = yield* makeGate
      const computing = yield* Effect.forkChild(a.getOrCompute("k", Effect.as(gate.wait, "computed")))
      yield* gate.reached
      yield* a.set("k", "newer")
      yield* gate.open
      expect(yield* Fiber.join(computing)).toBe("computed")
      expect(yield* a.get("k")).toStrictEqual(Option.some("newer"))
      expect(yield* b.get("k")).toStrictEqual(Option.some("newer"))
    }))

  it.effect("callers arriving after a delete start a fresh computation instead of joining the older one", () =>
    Effect.gen(function*() {
      const { a, b } = yield* pair
      const gate = yield* makeGate
      const first = yield* Effect.forkChild(a.getOrCompute("k", Effect.as(gate.wait, "before delete")))
      yield* gate.reached
      yield* a.delete("k")
      // Completes while the first computation is still held: it did not join it.
      expect(yield* a.getOrCompute("k", Effect.succeed("after delete"))).toBe("after delete")
      yield* gate.open
      expect(yield* Fiber.join(first)).toBe("before delete")
      expect(yield* a.get("k")).toStrictEqual(Option.some("after delete"))
      expect(yield* b.get("k")).toStrictEqual(Option.some("after delete"))
    }))

  it.effect("one undecodable value fails a whole getMany: under recoverToMiss every key of the batch is a miss", () =>
    Effect.gen(function*() {
      const store = yield* MemoryBackend.makeStore()
      const cache = yield* RemoteCache.make(Policy.recoverToMiss).pipe(
        Effect.provide(MemoryBackend.layer({ store, prefix: "p:" }))
      )
      yield* cache.set("good", 1)
      yield* MemoryBackend.unsafeSetRaw(store, "p:bad", new Uint8Array([0xff, 0x00, 0x13]))
      expect(yield* cache.getMany(["good", "bad"])).toStrictEqual([Option.none(), Option.none()])
      expect(yield* cache.get("good")).toStrictEqual(Option.some(1))
    }))
})

describe("TieredCache: no hang", () => {
  it.effect("closing the layer mid-computation interrupts every waiter; getOrCompute afterwards is a defect", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const remote = RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer()))
      const cache = yield* Layer.buildWithScope(
        TieredCache.layer().pipe(Layer.provide(remote), Layer.provide(TieredCache.layerMemoryBus)),
        scope
      ).pipe(Effect.map(Context.get(TieredCache.TieredCache)))
      const started = yield* Deferred.make<void>()
      const forever = Effect.andThen(Deferred.succeed(started, undefined), Effect.never)
      const waiters = yield* Effect.forEach(
        Array.from({ length: 3 }),
        () => Effect.forkChild(cache.getOrCompute("k", forever))
      )
      yield* Deferred.await(started)
      yield* Scope.close(scope, Exit.void)
      for (const waiter of waiters) {
        const exit = yield* Fiber.await(waiter)
        expect(Exit.hasInterrupts(exit)).toBe(true)
      }
      const after = yield* Effect.exit(cache.getOrCompute("k", Effect.succeed(1)))
      expect(defectOf(after)).toBeInstanceOf(TieredCache.TieredCacheDefect)
      expect((defectOf(after) as Error).message).toContain("scope is closed")
    }))

  it.effect("a computation that calls getOrCompute on its own key is a defect that says so, not a deadlock", () =>
    Effect.gen(function*() {
      const { a } = yield* pair
      const recursive: Effect.Effect<number> = Effect.suspend(() => a.getOrCompute("k", recursive))
      const exit = yield* Effect.exit(a.getOrCompute("k", recursive))
      const defect = defectOf(exit)
      expect(defect).toBeInstanceOf(TieredCache.TieredCacheDefect)
      expect((defect as Error).message).toContain("would wait for itself")

      // Also from a fiber the computation forked.
      const viaChild = a.getOrCompute(
        "j",
        Effect.flatMap(Effect.forkChild(a.getOrCompute("j", Effect.succeed(1))), Fiber.join)
      )
      expect(defectOf(yield* Effect.exit(viaChild))).toBeInstanceOf(TieredCache.TieredCacheDefect)

      // Another key is fine.
      expect(yield* a.getOrCompute("outer", a.getOrCompute("inner", Effect.succeed(2)))).toBe(2)
    }))
})

describe("TieredCache options", () => {
  it.effect("invalid options die with IllegalArgumentError", () =>
    Effect.gen(function*() {
      const remote = RemoteCache.layerDefault.pipe(Layer.provide(MemoryBackend.layer()))
      for (
        const options of [{ capacity: 0 }, { capacity: 1.5 }, { l1Ttl: Number.NaN }, { l1Ttl: 0 }, {
          defaultTtl: Number.NaN
        }]
      ) {
        const exit = yield* Effect.exit(Effect.scoped(tieredOver(remote, TieredCache.layerMemoryBus, options)))
        expect(Cause.isIllegalArgumentError(defectOf(exit))).toBe(true)
      }
    }))
})
