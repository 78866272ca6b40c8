/**
 * The failure policies of the README, compiled with the rest of the project. `npx tsx examples/policies.ts` runs
 * them on the in-memory backend.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Option, Schedule, Schema } from "effect"
import { MemoryBackend, Policy, RemoteCache } from "../src/index.js"

// --- Each combinator on its own -------------------------------------------------------------------------------

// The seed's behaviour: every failure logged at debug level, then a miss (get) or a no-op (set, delete, clear).
const Seed = RemoteCache.layerDefault // = RemoteCache.layer(Policy.log("Debug").pipe(Policy.recoverToMiss))

// Failures become misses silently.
const Quiet = RemoteCache.layer(Policy.recoverToMiss)

// Without recoverToMiss, `make` gives the operations with the policy's error type, to handle yourself.
const bounded = RemoteCache.make(Policy.timeout("50 millis")) // fails with CacheError (CacheTimeoutError included)
const retried = RemoteCache.make(
  Policy.retry(Schedule.exponential("10 millis").pipe(Schedule.intersect(Schedule.recurs(2))))
)
const guarded = RemoteCache.make(Policy.circuitBreaker({ failureThreshold: 5, resetAfter: "10 seconds" }))
const logged = RemoteCache.make(Policy.log("Warning"))

const handled = Effect.gen(function*() {
  const cache = yield* guarded
  // The error channel is CacheError | CacheCircuitOpenError: every tag can be caught.
  return yield* cache.get("user:1").pipe(
    Effect.catchTag("CacheCircuitOpenError", () => Effect.succeedNone),
    Effect.catchTag("CacheConnectionError", () => Effect.succeedNone)
  )
})

// --- Composed: each step wraps the ones before it --------------------------------------------------------------

const Resilient = RemoteCache.layer(
  Policy.timeout("50 millis").pipe(
    Policy.retry(Schedule.recurs(1)), // a second attempt after a timeout or a lost connection
    Policy.circuitBreaker({ failureThreshold: 5, resetAfter: "10 seconds" }), // then fail fast for 10 s
    Policy.log("Warning"), // what is about to be hidden
    Policy.recoverToMiss // the application sees misses, never errors
  )
)

// A breaker whose state you can watch (every cache it is applied to shares it).
const watched = Effect.gen(function*() {
  const breaker = yield* Policy.makeCircuitBreaker({ failureThreshold: 5, resetAfter: "10 seconds" })
  const cache = yield* RemoteCache.make(
    Policy.timeout("50 millis").pipe(breaker.policy, Policy.recoverToMiss)
  )
  yield* cache.get("user:1")
  return yield* breaker.state // "Closed" | "Open" | "HalfOpen"
})

// --- Typed views --------------------------------------------------------------------------------------------------

const User = Schema.Struct({ id: Schema.Number, name: Schema.String, joined: Schema.Date })

const typed = Effect.gen(function*() {
  const users = yield* RemoteCache.forSchema(User)
  yield* users.set("user:1", { id: 1, name: "Ada", joined: new Date(0) }, "10 minutes") // stored encoded
  return yield* users.get("user:1") // Option<User>; a value stored under an older schema is a miss
})

// --- Run them on the in-memory backend -------------------------------------------------------------------------

const Backend = MemoryBackend.layer({ prefix: "examples:" })

const program = Effect.gen(function*() {
  const user = yield* typed.pipe(Effect.provide(Resilient))
  yield* Console.log(`typed view -> ${Option.match(user, { onNone: () => "miss", onSome: (u) => u.name })}`)
  yield* Console.log(`breaker -> ${yield* watched}`)
  yield* Console.log(`handled -> ${Option.isNone(yield* handled) ? "miss" : "hit"}`)
  const cache = yield* bounded
  yield* cache.set("k", 1)
  yield* Console.log(`bounded -> ${Option.getOrElse(yield* cache.get("k"), () => "miss")}`)
  yield* Effect.all([retried, logged])
  for (const layer of [Seed, Quiet]) yield* Effect.provide(RemoteCache.RemoteCache, layer)
}).pipe(Effect.provide(Backend))

program.pipe(NodeRuntime.runMain)
