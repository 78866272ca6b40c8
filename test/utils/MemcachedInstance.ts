/**
 * Tiered caches over memcached as separate processes see it, for the cross-process tests (single flight, refresh
 * claims, their attacks): each with a `MemcachedBackend` and a client of its own, and a bus of its own unless one is
 * shared on purpose, so that nothing one instance writes reaches another's L1 but through memcached.
 */
import * as Context from "#effect/Context"
import * as Deferred from "#effect/Deferred"
import type * as Duration from "#effect/Duration"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import * as MemcachedBackend from "../../src/MemcachedBackend.js"
import * as RemoteCache from "../../src/RemoteCache.js"
import * as TieredCache from "../../src/TieredCache.js"
import type * as MemcachedServer from "./MemcachedServer.js"
import * as MemcachedServerUtil from "./MemcachedServer.js"

/** What an instance may set beyond the cache's own options. */
export interface InstanceOptions {
  readonly prefix?: string
  readonly commandTimeout?: Duration.Input
  /** A bus shared with other instances (default: one of its own). */
  readonly bus?: TieredCache.InvalidationBusShape
  readonly maxItemSize?: number
  readonly generationTtl?: Duration.Input
}

/** One tiered cache with a client of its own: another process, as memcached sees it. Closed with the scope. */
export const instance = (
  server: MemcachedServer.MemcachedServerShape,
  options: TieredCache.TieredCacheOptions,
  extra: InstanceOptions = {}
) =>
  Effect.map(
    Layer.build(
      TieredCache.layer(options).pipe(
        Layer.provide(
          extra.bus === undefined
            ? TieredCache.layerMemoryBus
            : Layer.succeed(TieredCache.InvalidationBus, extra.bus)
        ),
        Layer.provide(RemoteCache.layerDefault),
        Layer.provide(MemcachedBackend.layer({
          servers: [server.address],
          ...(extra.prefix === undefined ? {} : { prefix: extra.prefix }),
          ...(extra.commandTimeout === undefined ? {} : { commandTimeout: extra.commandTimeout }),
          ...(extra.maxItemSize === undefined ? {} : { maxItemSize: extra.maxItemSize }),
          ...(extra.generationTtl === undefined ? {} : { generationTtl: extra.generationTtl })
        })),
        Layer.orDie
      )
    ),
    Context.get(TieredCache.TieredCache)
  )

/** `n` instances with the same options. */
export const instances = (
  server: MemcachedServer.MemcachedServerShape,
  n: number,
  options: TieredCache.TieredCacheOptions
) => Effect.forEach(Array.from({ length: n }), () => instance(server, options))

/**
 * A computation held at a gate: `compute(value)` signals `started` when it runs, then waits for `release` before it
 * answers `value`, so that a test can act while it is in flight.
 */
export const gate = Effect.gen(function*() {
  const started = yield* Deferred.make<void>()
  const release = yield* Deferred.make<void>()
  return {
    started: Deferred.await(started),
    release: Deferred.succeed(release, undefined),
    compute: <A>(value: A) =>
      Effect.andThen(Deferred.succeed(started, undefined), Effect.as(Deferred.await(release), value))
  }
})

/** A memcached of its own (stopped with the scope) and two instances over it with the same options. */
export const pair = (options: TieredCache.TieredCacheOptions) =>
  Effect.gen(function*() {
    const server = yield* MemcachedServerUtil.make()
    return { server, a: yield* instance(server, options), b: yield* instance(server, options) }
  })
