/**
 * Starts a real Redis Cluster for a test, as a scoped resource: 3 primaries and 3 replicas, each a `redis-server`
 * of `RedisServer.make` (free loopback port, own temporary directory, no persistence) with `--cluster-enabled yes`
 * and a short `cluster-node-timeout`, joined by `redis-cli --cluster create … --cluster-replicas 1`. It returns once
 * every node reports `cluster_state:ok` and every replica's link to its primary is up. A node can be killed,
 * paused, resumed and restarted (it keeps its `nodes.conf`, so it rejoins as the same node).
 *
 * Waits use the platform's timers, as in `RedisServer`, so the helper works under `TestClock` too.
 *
 * @since 0.1.0
 */
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import type * as Scope from "#effect/Scope"
import * as ChildProcess from "node:child_process"
import * as RedisServer from "./RedisServer.js"

/**
 * How to start the cluster.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisClusterOptions {
  /** `cluster-node-timeout` in ms: how soon a silent primary is failed over. Default 2,000. */
  readonly nodeTimeoutMillis?: number
  /** Extra `redis-server` arguments for every node. */
  readonly args?: ReadonlyArray<string>
}

/**
 * A running cluster owned by the current test.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisClusterShape {
  /** The six servers, in creation order: `redis-cli` made the first three primaries. */
  readonly servers: ReadonlyArray<RedisServer.RedisServerShape>
  /** `redis://127.0.0.1:<port>` of every node. */
  readonly urls: ReadonlyArray<string>
  /** `CLUSTER MYID` of every node. */
  readonly ids: ReadonlyArray<string>
  /** Indexes of the nodes that are primaries serving slots now, from the first node that answers. */
  readonly primaries: Effect.Effect<ReadonlyArray<number>>
  /** The index of the node serving `slot`, as the first node that answers sees it; fails when it lists none. */
  readonly ownerOf: (slot: number) => Effect.Effect<number, Error>
  /** Waits until every running node reports `cluster_state:ok` and agrees on which node serves every slot. */
  readonly waitUntilOk: Effect.Effect<void>
  /** SIGSTOP node `index`: it keeps its sockets and answers nothing; `waitUntilOk` leaves it out until `resume`. */
  readonly pause: (index: number) => Effect.Effect<void>
  /** SIGCONT after `pause`. */
  readonly resume: (index: number) => Effect.Effect<void>
  /** `CLUSTER KEYSLOT key`, from the server. */
  readonly keySlot: (key: string) => Effect.Effect<number>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class RedisCluster extends Context.Service<RedisCluster, RedisClusterShape>()("test/RedisCluster") {
  /**
   * Starts the cluster when built, kills every node and removes their directories when released.
   *
   * @since 0.1.0
   */
  static readonly layer = (options?: RedisClusterOptions): Layer.Layer<RedisCluster> =>
    Layer.effect(RedisCluster, make(options))
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const readyTimeoutMs = 60_000

/** Runs redis-cli; past `timeoutMs` it is killed (a paused node never answers) and the call rejects. */
const runCli = (args: ReadonlyArray<string>, timeoutMs = 60_000): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn("redis-cli", args, { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (out += chunk))
    child.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once("close", (code) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`redis-cli ${args.join(" ")}: ${out}`))
    })
  })

/** `cli` that answers `undefined` instead of dying when the node does not answer (killed, paused). */
const tryCli = (server: RedisServer.RedisServerShape, ...args: ReadonlyArray<string>): Promise<string | undefined> =>
  runCli(["-h", server.host, "-p", String(server.port), ...args], 2_000).catch(() => undefined)

/** Parses `CLUSTER NODES` into the primaries (by address) and the slot ranges each serves. */
const parseNodes = (text: string) =>
  text.split("\n").filter((line) => line.trim() !== "").map((line) => {
    const fields = line.trim().split(" ")
    const address = fields[1]!.split("@")[0]!
    const flags = fields[2]!.split(",")
    const ranges = fields.slice(8).filter((f) => !f.startsWith("[")).map((f) => {
      const [start, end] = f.split("-")
      return [Number(start), Number(end ?? start)] as const
    })
    return { id: fields[0]!, port: Number(address.split(":").pop()), flags, ranges }
  })

/**
 * Starts a cluster in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: RedisClusterOptions = {}): Effect.Effect<RedisClusterShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const nodeTimeout = options.nodeTimeoutMillis ?? 2_000
    const servers = yield* Effect.all(
      Array.from({ length: 6 }, () =>
        RedisServer.make({
          args: [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            String(nodeTimeout),
            // A replica may always take over, however long it was cut off: the tests kill and pause nodes.
            "--cluster-replica-validity-factor",
            "0",
            ...(options.args ?? [])
          ]
        })),
      { concurrency: "unbounded" }
    )
    const addresses = servers.map((server) => `${server.host}:${server.port}`)
    yield* Effect.promise(() =>
      runCli(["--cluster", "create", ...addresses, "--cluster-replicas", "1", "--cluster-yes"])
    )
    const portIndex = new Map(servers.map((server, i) => [server.port, i]))

    const nodesView = Effect.promise(async () => {
      for (const server of servers) {
        const text = await tryCli(server, "CLUSTER", "NODES")
        if (text !== undefined && text.includes("myself")) return parseNodes(text)
      }
      throw new Error("no node of the cluster answered CLUSTER NODES")
    })

    const paused = new Set<RedisServer.RedisServerShape>()
    const waitUntilOk = Effect.promise(async () => {
      const deadline = Date.now() + readyTimeoutMs
      let last = ""
      for (;;) {
        let ok = true
        let view: string | undefined
        for (const server of servers) {
          const pid = await Effect.runPromise(server.pid)
          if (pid === undefined || paused.has(server)) continue
          const info = await tryCli(server, "CLUSTER", "INFO")
          if (info === undefined || !info.includes("cluster_state:ok")) {
            ok = false
            last = `${server.port}: ${info?.split("\n")[0] ?? "no answer"}`
            break
          }
          // Every node must see the same owner for every slot, or a client asking one of them is sent astray.
          const nodes = await tryCli(server, "CLUSTER", "NODES")
          const role = await tryCli(server, "ROLE")
          if (nodes === undefined || role === undefined) {
            ok = false
            break
          }
          const owners = parseNodes(nodes)
            .filter((node) => node.flags.includes("master") && !node.flags.includes("fail") && node.ranges.length > 0)
            .map((node) => `${node.port}:${node.ranges.map(([start, end]) => `${start}-${end}`).join(",")}`)
            .sort()
            .join(" ")
          if (view === undefined) view = owners
          else if (view !== owners) {
            ok = false
            last = `nodes disagree on the slots`
            break
          }
          if (role.startsWith("slave") && !role.includes("connected")) {
            ok = false
            last = `${server.port}: replica not connected`
            break
          }
        }
        if (ok) return
        if (Date.now() > deadline) throw new Error(`cluster not ok within ${readyTimeoutMs} ms: ${last}`)
        await sleep(100)
      }
    })
    yield* waitUntilOk
    const ids = yield* Effect.forEach(servers, (server) => server.cli("CLUSTER", "MYID"))

    const shape: RedisClusterShape = {
      servers,
      urls: servers.map((server) => server.url),
      ids,
      primaries: Effect.map(
        nodesView,
        (nodes) =>
          nodes.filter((node) =>
            node.flags.includes("master") && !node.flags.includes("fail") && node.ranges.length > 0
          )
            .map((node) => portIndex.get(node.port)!)
      ),
      // A failure, not a defect: during a failover the node asked may briefly list no owner, and pollers retry.
      ownerOf: (slot) =>
        Effect.flatMap(nodesView, (nodes) => {
          const owner = nodes.find((node) =>
            node.flags.includes("master") && node.ranges.some(([start, end]) => start <= slot && slot <= end)
          )
          return owner === undefined
            ? Effect.fail(new Error(`no node serves slot ${slot}`))
            : Effect.succeed(portIndex.get(owner.port)!)
        }),
      waitUntilOk,
      pause: (index) => Effect.andThen(servers[index]!.pause, Effect.sync(() => paused.add(servers[index]!))),
      resume: (index) => Effect.andThen(Effect.sync(() => paused.delete(servers[index]!)), servers[index]!.resume),
      keySlot: (key) => Effect.map(servers[0]!.cli("CLUSTER", "KEYSLOT", key), Number)
    }
    return shape
  })
