import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigProvider, Duration, Effect, Layer, Option } from "effect"
import * as RedisBackend from "../src/RedisBackend.js"
import { RemoteCacheBackend } from "../src/RemoteCacheBackend.js"
import * as RedisServer from "./utils/RedisServer.js"

/** Builds `layer` with `env` as the only configuration, and writes then reads one key through it. */
const roundTrip = (
  layer: ReturnType<typeof RedisBackend.layerConfig>,
  env: Record<string, string>
) =>
  Effect.gen(function*() {
    const backend = yield* Layer.build(layer).pipe(
      Effect.map((context) => context.unsafeMap.get(RemoteCacheBackend.key) as RemoteCacheBackend["Type"]),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
    )
    yield* backend.set("k", "v")
    expect(yield* backend.get("k")).toStrictEqual(Option.some("v"))
    return backend
  })

describe("RedisBackend.layerConfig", () => {
  it.scoped("batchReads can be read from the configuration, and read batching is on when it is not given", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const mgets = Effect.map(
        server.cli("INFO", "commandstats"),
        (stats) => Number(/cmdstat_mget:calls=(\d+)/.exec(stats)?.[1] ?? 0)
      )
      const burst = (backend: RemoteCacheBackend["Type"]) =>
        Effect.forEach(Array.from({ length: 100 }, () => "k"), (key) => backend.get(key), { concurrency: 256 })
      const byDefault = yield* roundTrip(RedisBackend.layerConfig(), { REDIS_URL: server.url })
      yield* burst(byDefault)
      expect(yield* mgets).toBe(1)
      const off = yield* roundTrip(
        RedisBackend.layerConfig({ batchReads: Config.boolean("CACHE_BATCH_READS") }),
        { REDIS_URL: server.url, CACHE_BATCH_READS: "false" }
      )
      yield* burst(off)
      expect(yield* mgets).toBe(1)
    }))

  it.scoped("a field given overrides its default only: CACHE_PREFIX and REDIS_URL are still read", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const backend = yield* roundTrip(
        RedisBackend.layerConfig({ scanCount: Config.succeed(10) }),
        { REDIS_URL: server.url, CACHE_PREFIX: "mine:" }
      )
      expect(backend.prefix).toBe("mine:")
      expect(yield* server.cli("EXISTS", "mine:k")).toBe("1")
    }))

  it.scoped("a whole Config keeps the defaults of the fields it leaves out", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const backend = yield* roundTrip(
        RedisBackend.layerConfig(Config.all({ connectTimeout: Config.succeed(Duration.seconds(2)) })),
        { REDIS_URL: server.url, CACHE_PREFIX: "whole:" }
      )
      expect(backend.prefix).toBe("whole:")
    }))

  it.scoped("a field given overrides the environment", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const backend = yield* roundTrip(
        RedisBackend.layerConfig({ prefix: Config.succeed("given:") }),
        { REDIS_URL: server.url, CACHE_PREFIX: "env:" }
      )
      expect(backend.prefix).toBe("given:")
    }))

  it.scoped("a plain value is taken as given, next to Configs; nested records of Configs still read", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const backend = yield* roundTrip(
        RedisBackend.layerConfig({
          prefix: "plain:",
          batchReads: false,
          connectTimeout: "2 seconds",
          scanCount: Config.succeed(10)
        }),
        { REDIS_URL: server.url, CACHE_PREFIX: "env:" }
      )
      expect(backend.prefix).toBe("plain:")
      expect(yield* server.cli("EXISTS", "plain:k")).toBe("1")
    }))

  it.effect("a plain string where a Config was expected no longer overflows the stack", () =>
    Effect.gen(function*() {
      // Effect's Config.unwrap walked into the string's characters until the stack overflowed.
      const exit = yield* Layer.build(
        RedisBackend.layerConfig({ url: "redis://127.0.0.1:1/0" as never, commandTimeout: "1 second" })
      ).pipe(Effect.scoped, Effect.exit)
      expect(exit._tag).toBe("Success")
    }))

  it.scoped("without any configuration the prefix is the default one", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const backend = yield* roundTrip(RedisBackend.layerConfig(), { REDIS_URL: server.url })
      expect(backend.prefix).toBe(RedisBackend.defaultPrefix)
    }))

  describe("an optional password in one line", () => {
    const withOptionalPassword = RedisBackend.layerConfig({
      password: Config.redacted("REDIS_PASSWORD").pipe(Config.withDefault(undefined))
    })

    it.scoped("is sent when REDIS_PASSWORD is set", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make({ args: ["--requirepass", "s3cret"] })
        yield* roundTrip(withOptionalPassword, { REDIS_URL: server.url, REDIS_PASSWORD: "s3cret" })
      }))

    it.scoped("is left out when REDIS_PASSWORD is not set", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const backend = yield* roundTrip(withOptionalPassword, { REDIS_URL: server.url, CACHE_PREFIX: "p:" })
        expect(backend.prefix).toBe("p:")
      }))
  })
  it.effect("REDIS_URL: empty means the default URL, invalid is a ConfigError naming the variable", () =>
    Effect.gen(function*() {
      const build = (env: Record<string, string>) =>
        Layer.build(RedisBackend.layerConfig()).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
          Effect.scoped,
          Effect.either
        )
      // The connection is lazy: an empty URL builds against the default without touching the network.
      expect((yield* build({ REDIS_URL: "" }))._tag).toBe("Right")
      const invalid = yield* build({ REDIS_URL: "not-a-url" })
      expect(invalid._tag).toBe("Left")
      if (invalid._tag === "Left") {
        expect(String(invalid.left)).toContain("REDIS_URL")
        expect(String(invalid.left)).not.toContain("not-a-url")
      }
    }))
})

describe("RedisBackend: former names", () => {
  it("layerWithClient and BackendOptions still work, as layerWithoutClient and MakeOptions", () => {
    expect(RedisBackend.layerWithClient).toBe(RedisBackend.layerWithoutClient)
    const options: RedisBackend.BackendOptions = { prefix: "p:" } satisfies RedisBackend.MakeOptions
    expect(options.prefix).toBe("p:")
  })
})
