// The Effect 4 run of the shared suites: the same test files and the same face as `npm test`'s Effect 3 run, with
// `#effect/*` resolved to the Effect 4 adapters and `effect`, `@effect/vitest` and `vitest` to this folder's own
// install (Effect 4.1.5, @effect/vitest 4, vitest 5, which needs Node 22.12 or later). Run it with
// `npm run test:effect4`, which installs this folder and finds a Node 22 when the current one is older.
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const here = fileURLToPath(new URL(".", import.meta.url))
const root = fileURLToPath(new URL("../../", import.meta.url))
const own = (name: string) => `${here}node_modules/${name}`

export default defineConfig({
  root,
  resolve: {
    alias: [
      { find: /^#effect\/(.*)$/, replacement: `${root}src/compat/effect4/$1.ts` },
      { find: /^#test-effect\/(.*)$/, replacement: `${root}test/compat/effect4/$1.ts` },
      { find: /^effect$/, replacement: own("effect/dist/index.js") },
      // A folder module of Effect 4's (`effect/persistence`) is its index.
      { find: /^effect\/persistence$/, replacement: own("effect/dist/persistence/index.js") },
      { find: /^effect\/(.*)$/, replacement: own("effect/dist/$1.js") },
      { find: /^@effect\/vitest$/, replacement: own("@effect/vitest/dist/index.js") }
    ]
  },
  test: {
    include: [
      "test/effect4/*.test.ts",
      "test/EffectRedis*.test.ts",
      "test/MemoryBackend.test.ts",
      "test/MemcachedClient.test.ts",
      "test/MemcachedBackend.contract.test.ts",
      "test/MemcachedBackend.test.ts",
      "test/TieredCache.memcached.test.ts",
      "test/TieredCache.memcached.flight.test.ts",
      "test/TieredCache.memcached.refresh.test.ts",
      "test/TieredCache.lease.test.ts",
      "test/TieredCache.lease.attack.test.ts",
      "test/TieredCache.memcached.attack.test.ts",
      "test/MemcachedBackend.lease.test.ts",
      "test/RedisBackend.test.ts",
      "test/RedisClient.correctness.test.ts",
      "test/RedisClient.outages.test.ts",
      "test/Background.failures.test.ts",
      "test/RedisClient.startup.test.ts",
      "test/RemoteCache.test.ts",
      "test/RemoteCache.probe.test.ts",
      "test/KeyValueStore.test.ts",
      "test/Persistence.test.ts",
      "test/Persistence.cluster.test.ts",
      "test/KeyValueStore.cluster.test.ts",
      "test/RemoteCache.types.test.ts",
      "test/InvalidationBus.test.ts",
      "test/InvalidationBus.redis.test.ts",
      "test/TieredCache.test.ts",
      "test/TieredCache.l1.test.ts",
      "test/TieredCache.correctness.test.ts",
      "test/TieredCache.freshness.test.ts",
      "test/TieredCache.refresh.test.ts",
      "test/TieredCache.writes.test.ts",
      "test/TieredCache.redis.test.ts",
      "test/TieredCache.model.test.ts",
      "test/Partial.attack.test.ts"
    ],
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
