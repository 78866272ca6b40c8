import type * as Config from "#effect/Config"
import * as ConfigProvider from "#effect/ConfigProvider"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import { describe, expect, it } from "#test-effect/vitest"
import * as fc from "fast-check"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import { resolveOptions } from "../src/internal/client/options.js"
import * as RedisBackend from "../src/RedisBackend.js"
import * as RedisClient from "../src/RedisClient.js"
import * as RedisCluster from "../src/RedisCluster.js"
import type { RedisConfigError } from "../src/RedisError.js"
import * as FakeServer from "./utils/FakeServer.js"
import { hostileUrl, markers } from "./utils/HostileUrls.js"
import * as RedisServer from "./utils/RedisServer.js"

// `connect: "eager"`: every way a first connection can fail makes building the layer fail, typed, within
// connectTimeout, with a message naming the server and what to check, and never the password; `"lazy"` (the
// default) builds in every one of those cases.

const secret = "s3cret-Pa55-do-not-print"

/** A port nothing listens on: bound, then released. */
const closedPort = Effect.callback<number>((resume) => {
  const probe = Net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const port = (probe.address() as Net.AddressInfo).port
    probe.close(() => resume(Effect.succeed(port)))
  })
})

interface Built {
  readonly millis: number
  readonly error: { readonly _tag: string; readonly message: string } | undefined
}

/** Builds `layer` in a scope of its own, closed at once: how long it took, and its error if it failed. */
const build = <A, E>(layer: Layer.Layer<A, E>): Effect.Effect<Built> =>
  Effect.suspend(() => {
    const started = performance.now()
    return Layer.build(layer).pipe(
      Effect.scoped,
      Effect.match({
        onFailure: (error) => ({ millis: performance.now() - started, error: error as Built["error"] }),
        onSuccess: () => ({ millis: performance.now() - started, error: undefined })
      })
    )
  })

/** The eager build failed as `tag`, within `connectTimeout` (plus a margin for a busy machine), without the secret. */
const expectFailure = (built: Built, tag: string, timeoutMillis: number, ...texts: ReadonlyArray<string>) => {
  expect(built.error?._tag).toBe(tag)
  expect(built.millis).toBeLessThan(timeoutMillis + 2_000)
  const message = built.error!.message
  if (process.env.SHOW_MESSAGES) console.log(built.error!._tag, message)
  expect(message).toContain("startup check of ")
  for (const text of texts) expect(message).toContain(text)
  expect(message).not.toContain(secret)
  expect(String(built.error)).not.toContain(secret)
}

const connectTimeout = "4 seconds"
const connectMillis = 4_000

describe("connect: \"eager\"", () => {
  it.live("a wrong password fails the build with RedisAuthError and says to check the password", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ args: ["--requirepass", "the-right-one"] })
      const url = `redis://:${secret}@127.0.0.1:${server.port}`
      const eager = yield* build(RedisClient.layer({ url, connect: "eager", connectTimeout }))
      expectFailure(eager, "RedisAuthError", connectMillis, `127.0.0.1:${server.port}`, "Check the password")
      expect((yield* build(RedisClient.layer({ url }))).error).toBeUndefined()
      expect((yield* build(RedisClient.layer({ url, connect: "lazy" }))).error).toBeUndefined()
      // No password at all: the server's NOAUTH, at PING, says one is needed.
      const none = yield* build(RedisClient.layer({ port: server.port, host: "127.0.0.1", connect: "eager" }))
      expectFailure(none, "RedisAuthError", connectMillis, "requires a password")
      // The backend's layers build the client the same way.
      const backend = yield* build(RedisBackend.layer({ url, connect: "eager", connectTimeout }))
      expectFailure(backend, "RedisAuthError", connectMillis, "Check the password")
    }))

  it.live("a db out of range fails with RedisReplyError and tells how many databases the server has", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const options = { host: server.host, port: server.port, db: 99, connectTimeout } as const
      const eager = yield* build(RedisClient.layer({ ...options, connect: "eager" }))
      expectFailure(eager, "RedisReplyError", connectMillis, "has 16 databases", "db 99")
      expect((yield* build(RedisClient.layer(options))).error).toBeUndefined()
    }))

  it.live("an unresolvable host fails with RedisConnectionError and says the name does not resolve", () =>
    Effect.gen(function*() {
      const options = { url: `redis://:${secret}@nohost.invalid:6379`, connectTimeout } as const
      const eager = yield* build(RedisClient.layer({ ...options, connect: "eager" }))
      expectFailure(eager, "RedisConnectionError", connectMillis, "nohost.invalid:6379", "does not resolve")
      expect((yield* build(RedisClient.layer(options))).error).toBeUndefined()
    }))

  it.live("a refused port fails with RedisConnectionError and asks whether redis-server runs there", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const options = { host: "127.0.0.1", port, connectTimeout } as const
      const eager = yield* build(RedisClient.layer({ ...options, connect: "eager" }))
      expectFailure(eager, "RedisConnectionError", connectMillis, `Is redis-server running on 127.0.0.1:${port}?`)
      expect((yield* build(RedisClient.layer(options))).error).toBeUndefined()
    }))

  it.live("TLS to a plain port fails (Redis waits for the rest of a line) and suspects the port is not TLS", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const url = `rediss://:${secret}@127.0.0.1:${server.port}`
      const eager = yield* build(RedisClient.layer({ url, connect: "eager", connectTimeout: "1 second" }))
      expectFailure(eager, "RedisTimeoutError", 1_000, "TLS handshake", "may not speak TLS")
      expect((yield* build(RedisClient.layer({ url }))).error).toBeUndefined()
    }))

  it.live("an HTTP server on the port fails with RedisProtocolError that says it looks like HTTP", () =>
    Effect.gen(function*() {
      const http = yield* FakeServer.make(FakeServer.garbage)
      const eager = yield* build(
        RedisClient.layer({ host: http.host, port: http.port, connect: "eager", connectTimeout })
      )
      expectFailure(eager, "RedisProtocolError", connectMillis, "HTTP", `${http.host}:${http.port}`)
    }))

  it.live("a server that accepts and never answers fails within connectTimeout, at the PING", () =>
    Effect.gen(function*() {
      const silent = yield* FakeServer.make(FakeServer.silent)
      const eager = yield* build(
        RedisClient.layer({ host: silent.host, port: silent.port, connect: "eager", connectTimeout: "700 millis" })
      )
      expectFailure(eager, "RedisTimeoutError", 700, "PING", "connectTimeout")
    }))

  it.live("a usable server: the eager client is connected when built and keeps that connection", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const client = yield* RedisClient.make({ host: server.host, port: server.port, connect: "eager" })
      const clients = Number(/connected_clients:(\d+)/.exec(yield* server.cli("INFO", "clients"))?.[1])
      // redis-cli is one of them.
      expect(clients).toBe(2)
      expect(yield* client.send(["PING"])).toBe("PONG")
    }))

  it.live("connect is checked like any option, and REDIS_CONNECT chooses it for layerConfig", () =>
    Effect.gen(function*() {
      const invalid = yield* build(RedisClient.layer({ connect: "soon" as "eager" }))
      expect(invalid.error?._tag).toBe("RedisConfigError")
      expect(invalid.error?.message).toContain("\"lazy\" or \"eager\"")

      const port = yield* closedPort
      const withEnv = <A, E>(env: Record<string, string>, layer: Layer.Layer<A, E>) =>
        build(Layer.provide(layer, ConfigProvider.layer(ConfigProvider.fromEnv({ env }))))
      const env = { REDIS_URL: `redis://127.0.0.1:${port}` }
      const client = RedisClient.layerConfig({ url: RedisClient.urlConfig(), connect: RedisClient.connectConfig() })
      expect((yield* withEnv(env, client)).error).toBeUndefined()
      expect((yield* withEnv({ ...env, REDIS_CONNECT: "lazy" }, client)).error).toBeUndefined()
      expect((yield* withEnv({ ...env, REDIS_CONNECT: " Eager " }, client)).error?._tag).toBe("RedisConnectionError")
      const wrong = yield* withEnv({ ...env, REDIS_CONNECT: "sometimes" }, client)
      expect(String(wrong.error)).toContain("REDIS_CONNECT")

      const backend = RedisBackend.layerConfig({ connect: RedisClient.connectConfig() })
      expect((yield* withEnv(env, backend)).error).toBeUndefined()
      expect((yield* withEnv({ ...env, REDIS_CONNECT: "eager" }, backend)).error?._tag).toBe("RedisConnectionError")
    }))

  it.live("a cluster: eager reads the slot map at startup and fails typed when no seed tells it", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const refused = { nodes: [`127.0.0.1:${port}`], connectTimeout } as const
      expect((yield* build(RedisCluster.layer(refused))).error).toBeUndefined()
      const eager = yield* build(RedisCluster.layer({ ...refused, connect: "eager" }))
      expectFailure(eager, "RedisConnectionError", connectMillis, `Is redis-server running on 127.0.0.1:${port}?`)

      // A plain server is no cluster node: it says so, and what to use instead.
      const plain = yield* RedisServer.make({ args: ["--requirepass", "the-right-one"] })
      const notCluster = yield* build(
        RedisBackend.layerCluster({ nodes: [`redis://:the-right-one@127.0.0.1:${plain.port}`], connect: "eager" })
      )
      expect(notCluster.error?._tag).toBe("RedisReplyError")
      expect(notCluster.error?.message).toContain("not a cluster node")
      const wrongPassword = yield* build(
        RedisCluster.layer({ nodes: [`redis://:${secret}@127.0.0.1:${plain.port}`], connect: "eager" })
      )
      expectFailure(wrongPassword, "RedisAuthError", connectMillis, "Check the password")
    }))
})

describe("hostile URLs", () => {
  it.live("resolveOptions, urlConfig and a cluster's nodes refuse them typed, and no message quotes the password", () =>
    Effect.gen(function*() {
      const urls = fc.sample(hostileUrl, { numRuns: 300, seed: 20_260_101 })
      const quoted = (text: string) => markers.filter((marker) => text.includes(marker))
      for (const url of urls) {
        // Options: a RedisConfigError or resolved options, never a defect.
        const options = yield* Effect.match(resolveOptions({ url }), {
          onFailure: (error) => ({ tag: error._tag as string, text: `${error.message} ${String(error)}` }),
          onSuccess: () => ({ tag: "ok", text: "" })
        })
        expect(["ok", "RedisConfigError"]).toContain(options.tag)
        expect(quoted(options.text)).toEqual([])
        // The same URL from the environment (the layer is lazy: nothing is opened).
        const env = { REDIS_URL: url, REDIS_CLUSTER_NODES: url }
        for (
          const layer of [
            RedisClient.layerConfig({ url: RedisClient.urlConfig() }),
            RedisCluster.layerConfig({ nodes: RedisCluster.nodesConfig() })
          ] as const
        ) {
          const built = yield* build(Layer.provide(layer, ConfigProvider.layer(ConfigProvider.fromEnv({ env }))))
          expect(quoted(`${built.error?.message} ${String(built.error)}`)).toEqual([])
        }
      }
    }))
})

describe("the types say which layers can fail at startup", () => {
  it("lazy layers keep RedisConfigError alone; eager ones, and ones whose connect is read from config, add RedisError", () => {
    type Narrow<A> = Layer.Layer<A, RedisConfigError>
    const lazy: ReadonlyArray<Narrow<never>> = [
      RedisClient.layer(),
      RedisClient.layer({ connect: "lazy" }),
      RedisCluster.layer({ nodes: ["127.0.0.1:7000"] }),
      RedisBackend.layer({ prefix: "p:" }),
      RedisBackend.layerCluster({ nodes: ["127.0.0.1:7000"] })
    ]
    // @ts-expect-error -- eager: building the layer can fail with RedisError
    const eager: Narrow<never> = RedisClient.layer({ connect: "eager" })
    // @ts-expect-error -- the same through the backend
    const backend: Narrow<never> = RedisBackend.layer({ connect: "eager" })
    // @ts-expect-error -- and through the cluster
    const cluster: Narrow<never> = RedisCluster.layer({ nodes: ["127.0.0.1:7000"], connect: "eager" })
    const fromEnv = RedisBackend.layerConfig({ connect: RedisClient.connectConfig() })
    // @ts-expect-error -- REDIS_CONNECT may say eager
    const fromEnvNarrow: Layer.Layer<never, RedisConfigError | Config.ConfigError> = fromEnv
    expect([lazy, eager, backend, cluster, fromEnvNarrow]).toHaveLength(5)
  })
})
