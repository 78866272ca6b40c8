import { fileURLToPath } from "node:url"
import { configDefaults, defineConfig } from "vitest/config"

const root = fileURLToPath(new URL(".", import.meta.url))

export default defineConfig({
  resolve: {
    // The face imports Effect's modules through `#effect/*`: this run resolves them to the Effect 3 adapters
    // (the Effect 4 run, `test/effect4/vitest.config.ts`, to the Effect 4 ones).
    alias: [
      { find: /^#effect\/(.*)$/, replacement: `${root}src/compat/effect3/$1.ts` },
      { find: /^#test-effect\/(.*)$/, replacement: `${root}test/compat/effect3/$1.ts` }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    // Effect 4 only (the module they test is in the Effect 4 line alone): the Effect 4 run has them.
    exclude: [...configDefaults.exclude, "test/EffectRedis*.test.ts"],
    // Tests against a real redis-server start their own processes; keep two cores from thrashing.
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
