/**
 * effect-remote-cache: remote (L2) caching for Effect, with its own pipelined RESP client for Redis.
 *
 * @since 0.1.0
 */

/**
 * The bus that carries a tiered cache's invalidations between processes: Redis pub/sub or in-process.
 *
 * @since 0.1.0
 */
export * as InvalidationBus from "./InvalidationBus.js"

/**
 * The Memcached backend over the library's own meta-protocol client: keys spread over several servers, `clear` by
 * namespace generation.
 *
 * @since 0.2.0
 */
export * as MemcachedBackend from "./MemcachedBackend.js"

/**
 * A memcached client on the meta protocol: one pipelined connection per server, keys spread by a ketama ring.
 *
 * @since 0.2.0
 */
export * as MemcachedClient from "./MemcachedClient.js"

/**
 * The typed errors of the memcached client.
 *
 * @since 0.2.0
 */
export * as MemcachedError from "./MemcachedError.js"

/**
 * The in-process backend: same contract as Redis, no server; for demos and tests.
 *
 * @since 0.1.0
 */
export * as MemoryBackend from "./MemoryBackend.js"

/**
 * Composable failure policies: timeout, retry, circuit breaker, log, recover-to-miss.
 *
 * @since 0.1.0
 */
export * as Policy from "./Policy.js"

/**
 * The Redis backend over the library's own client.
 *
 * @since 0.1.0
 */
export * as RedisBackend from "./RedisBackend.js"

/**
 * The Redis client: a scoped layer that owns the socket, pipelines commands and fails with typed errors.
 *
 * @since 0.1.0
 */
export * as RedisClient from "./RedisClient.js"

/**
 * The Redis Cluster client: the `RedisClient` service over every node of a cluster, routed by slot.
 *
 * @since 0.1.0
 */
export * as RedisCluster from "./RedisCluster.js"

/**
 * The typed errors of the Redis client.
 *
 * @since 0.1.0
 */
export * as RedisError from "./RedisError.js"

/**
 * What applications use: a backend seen through a policy, with telemetry and typed views.
 *
 * @since 0.1.0
 */
export * as RemoteCache from "./RemoteCache.js"

/**
 * The remote cache service (get / set with TTL / delete / clear) and its typed errors.
 *
 * @since 0.1.0
 */
export * as RemoteCacheBackend from "./RemoteCacheBackend.js"

/**
 * RESP2/RESP3 values, encoder and incremental parser. Pure, no I/O.
 *
 * @since 0.1.0
 */
export * as Resp from "./Resp.js"

/**
 * Value serializers: v8 (default), JSON, Schema.
 *
 * @since 0.1.0
 */
export * as Serializer from "./Serializer.js"

/**
 * The two-tier cache: a bounded in-process L1 over the remote L2, with single-flight read-through and
 * cross-process invalidation.
 *
 * @since 0.1.0
 */
export * as TieredCache from "./TieredCache.js"
