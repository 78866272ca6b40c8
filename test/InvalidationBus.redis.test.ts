/**
 * The Redis bus: a message published reaches the subscribers of other buses, through the client's callback-level
 * send when it has one (no fiber per publish), and through a fiber when the connection must open first.
 */
import * as Context from "#effect/Context"
import * as Deferred from "#effect/Deferred"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import { describe, expect, it } from "#test-effect/vitest"
import { ClientSeamId, clientSeamOf } from "../src/internal/seams.js"
import * as InvalidationBus from "../src/InvalidationBus.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisServer from "./utils/RedisServer.js"

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** The client with its callback-level send recorded (or hidden, so the bus takes the documented path). */
const recorded = (client: RedisClient.RedisClientShape, withSeam: boolean) => {
  const submitted: Array<string> = []
  const seam = clientSeamOf(client)
  const spy: RedisClient.RedisClientShape = {
    ...client,
    [ClientSeamId]: withSeam
      ? {
        ...seam,
        submit: (command: ReadonlyArray<string | Uint8Array>, resume: (effect: Effect.Effect<any, any>) => void) => {
          submitted.push(String(command[0]))
          seam.submit!(command, resume)
        }
      }
      : {}
  } as RedisClient.RedisClientShape
  return { spy, submitted }
}

describe("InvalidationBus.layerRedis", () => {
  for (const withSeam of [true, false]) {
    it.effect(
      `delivers to another process's bus ${withSeam ? "through the callback-level send" : "by a fiber"}`,
      () =>
        Effect.scoped(Effect.gen(function*() {
          const server = yield* RedisServer.make()
          // A lazy client: the first PUBLISH must wait for the connection to open, the next ones go out at once.
          const publisher = yield* RedisClient.make({ host: server.host, port: server.port })
          const listener = yield* RedisClient.make({ host: server.host, port: server.port })
          const { spy, submitted } = recorded(publisher, withSeam)
          const publishing = yield* Layer.build(InvalidationBus.layerRedis.pipe(
            Layer.provide(Layer.succeed(RedisClient.RedisClient, spy))
          ))
          const listening = yield* Layer.build(InvalidationBus.layerRedis.pipe(
            Layer.provide(Layer.succeed(RedisClient.RedisClient, listener))
          ))
          const send = Context.get(publishing, InvalidationBus.InvalidationBus).publish
          const listen = Context.get(listening, InvalidationBus.InvalidationBus).subscribe
          const received: Array<string> = []
          const all = yield* Deferred.make<void>()
          const subscribed = yield* Deferred.make<void>()
          yield* listen("ch", {
            onMessage: (message) => {
              received.push(text(message))
              if (received.length === 3) Deferred.doneUnsafe(all, Effect.void)
            },
            onSubscribed: () => Deferred.doneUnsafe(subscribed, Effect.void)
          })
          yield* Deferred.await(subscribed)
          for (const message of ["a", "b", "c"]) yield* send("ch", new TextEncoder().encode(message))
          yield* Deferred.await(all)
          expect(received).toStrictEqual(["a", "b", "c"])
          expect(submitted).toStrictEqual(withSeam ? ["PUBLISH", "PUBLISH", "PUBLISH"] : [])
        })),
      30_000
    )
  }
})
