/**
 * The local cluster of 3 primaries + 3 replicas the cluster workloads run on (`test/utils/RedisCluster.ts`,
 * started on free loopback ports, stopped by `close`). That helper is written for Effect 3: it runs in a process on
 * the Effect 3 line (`npm run bench`'s own, `npm run bench:cluster`), and is loaded by a path the Effect 4
 * type-check does not follow. A run on the Effect 4 line gets the nodes' URLs instead (`bench/cluster.ts --nodes`).
 */
import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Scope from "#effect/Scope"

/** A started cluster: its nodes and how to stop it. */
export interface ClusterNodes {
  readonly urls: ReadonlyArray<string>
  readonly close: () => Promise<void>
}

interface TestCluster {
  readonly make: () => Effect.Effect<{ readonly urls: ReadonlyArray<string> }, never, Scope.Scope>
}

export const startCluster = async (): Promise<ClusterNodes> => {
  const path = "../test/utils/RedisCluster.js"
  const { make } = await import(path) as TestCluster
  const scope = Effect.runSync(Scope.make())
  const cluster = await Effect.runPromise(Scope.provide(make(), scope))
  return { urls: cluster.urls, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}
