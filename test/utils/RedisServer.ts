/**
 * Starts a real `redis-server` for a test, as a scoped resource: on a free loopback port, in its own temporary
 * directory, without persistence. The test owns the process and may kill, stop, pause, resume or restart it; the
 * port stays the same across restarts so clients can reconnect.
 *
 * Every wait in here uses the platform's timers rather than Effect's `Clock`, because `@effect/vitest` builds
 * layers and runs `it.effect` under the `TestClock`, where an `Effect.sleep` would never wake up.
 *
 * @since 0.1.0
 */
import * as Context from "#effect/Context"
import * as Effect from "#effect/Effect"
import * as Layer from "#effect/Layer"
import type * as Scope from "#effect/Scope"
import * as Semaphore from "#effect/Semaphore"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as FsPromises from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Tls from "node:tls"
import type { TlsFiles } from "./Tls.js"
import { redisTlsArgs } from "./Tls.js"

/**
 * How to start the server.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisServerOptions {
  /**
   * Extra `redis-server` arguments, e.g. `["--requirepass", "secret"]`. They come after the helper's defaults
   * (`--save "" --appendonly no`, TLS files, ACL users), so they can override them, but before the port, bind,
   * directory and log file, which the helper needs to control.
   */
  readonly args?: ReadonlyArray<string>
  /** Serve TLS on a second free port with these files (client certificates are not required). */
  readonly tls?: TlsFiles
  /** With `tls`: also listen on a plain TCP port. Defaults to `true`. */
  readonly plainPort?: boolean
  /** Users to create, each with `on >password ~* &* +@all`. They are config directives, so they survive restarts. */
  readonly aclUsers?: ReadonlyArray<{ readonly name: string; readonly password: string }>
}

/**
 * A running (or deliberately stopped) `redis-server` owned by the current test.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisServerShape {
  readonly host: "127.0.0.1"
  /** The plain TCP port, stable across restarts; the TLS port when started with `plainPort: false`. */
  readonly port: number
  /** The TLS port when started with `tls`. */
  readonly tlsPort: number | undefined
  /** `redis://127.0.0.1:<port>`, or `rediss://127.0.0.1:<tlsPort>` when there is no plain port. */
  readonly url: string
  /** The server's temporary working directory; removed when the scope closes. */
  readonly dir: string
  /** The server's log file (inside `dir`); every start appends to it. */
  readonly logFile: string
  /** The `--requirepass` value found in `args`, which `cli` uses to authenticate. */
  readonly password: string | undefined
  /** The pid of the current process, `undefined` while it is not running. */
  readonly pid: Effect.Effect<number | undefined>
  /** SIGKILL, then wait until the process has exited. Does nothing when it is not running. */
  readonly kill: Effect.Effect<void>
  /** SIGTERM (graceful shutdown), then wait until the process has exited. Does nothing when it is not running. */
  readonly stop: Effect.Effect<void>
  /** SIGSTOP: the process keeps its sockets but answers nothing, as a hung server would. */
  readonly pause: Effect.Effect<void>
  /** SIGCONT after `pause`. */
  readonly resume: Effect.Effect<void>
  /** Starts the server again on the same port(s) and waits until it answers PING. Does nothing when running. */
  readonly start: Effect.Effect<void>
  /** `kill` then `start`: every key is gone, the port is the same. */
  readonly restart: Effect.Effect<void>
  /**
   * Runs `redis-cli` against the server (over TLS when there is no plain port, authenticated when `password` is
   * set) and returns its trimmed stdout. Error replies are returned as text (`ERR ...`), as redis-cli prints them;
   * a failure to connect is a defect. Leading `--user name --pass pw` arguments switch user.
   */
  readonly cli: (...args: ReadonlyArray<string>) => Effect.Effect<string>
}

/**
 * The test's own Redis server.
 *
 * @since 0.1.0
 * @category tags
 */
export class RedisServer extends Context.Service<RedisServer, RedisServerShape>()("test/RedisServer") {
  /**
   * A layer that starts the server when built and kills it, and removes its directory, when released.
   *
   * @since 0.1.0
   */
  static readonly layer = (options?: RedisServerOptions): Layer.Layer<RedisServer> =>
    Layer.effect(RedisServer, make(options))
}

/**
 * Same as `RedisServer.layer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: RedisServerOptions): Layer.Layer<RedisServer> => RedisServer.layer(options)

const host = "127.0.0.1"
const readinessTimeoutMs = 10_000
const pollIntervalMs = 20
const pingTimeoutMs = 1_000
const freshPortAttempts = 5
const samePortAttempts = 30
const samePortRetryDelayMs = 100
const stopTimeoutMs = 10_000
const logTailBytes = 4_096

// ---------------------------------------------------------------------------------------------------------------
// Never let a server outlive the test process: scope finalizers cover the normal path, this covers a worker that
// exits without running them. The registry lives on globalThis because test isolation may evaluate this module
// many times in one process, and one 'exit' listener per evaluation would pile up.
// ---------------------------------------------------------------------------------------------------------------

const registryKey = Symbol.for("effect-remote-cache/test/RedisServer/registry")

interface Registry {
  readonly children: Set<ChildProcess.ChildProcess>
  readonly dirs: Set<string>
}

const registry = (): Registry => {
  const global = globalThis as { [registryKey]?: Registry }
  const existing = global[registryKey]
  if (existing !== undefined) return existing
  const created: Registry = { children: new Set(), dirs: new Set() }
  global[registryKey] = created
  // Only synchronous work can run in an 'exit' listener.
  process.once("exit", () => {
    for (const child of created.children) {
      try {
        // SIGKILL also ends a SIGSTOPped process.
        child.kill("SIGKILL")
      } catch {
        // already gone
      }
    }
    for (const dir of created.dirs) {
      try {
        Fs.rmSync(dir, { recursive: true, force: true })
      } catch {
        // best effort: a leftover temp dir is harmless
      }
    }
  })
  return created
}

// ---------------------------------------------------------------------------------------------------------------
// Plain promise-based process plumbing.
// ---------------------------------------------------------------------------------------------------------------

interface Running {
  readonly child: ChildProcess.ChildProcess
  readonly exited: Promise<void>
  /** True once the process has exited or could not be spawned at all (then `child` never reports an exit). */
  readonly isGone: () => boolean
  readonly output: () => string
  readonly logOffset: number
}

interface Ports {
  readonly plain: number | undefined
  readonly tls: number | undefined
}

interface Config {
  readonly dir: string
  readonly logFile: string
  readonly baseArgs: ReadonlyArray<string>
  readonly tls: TlsFiles | undefined
  readonly expectReadyLine: boolean
}

class StartFailure extends Error {
  constructor(message: string, readonly addressInUse: boolean) {
    super(message)
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const hasExited = (child: ChildProcess.ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null

/** Reserves `count` distinct free loopback ports by holding them all open at once, then releases them. */
const freePorts = async (count: number): Promise<ReadonlyArray<number>> => {
  const servers: Array<Net.Server> = []
  try {
    const ports: Array<number> = []
    for (let i = 0; i < count; i++) {
      const server = Net.createServer()
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject)
        server.listen(0, host, () => resolve())
      })
      ports.push((server.address() as Net.AddressInfo).port)
    }
    return ports
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
  }
}

const readFrom = async (file: string, offset: number): Promise<string> => {
  try {
    const handle = await FsPromises.open(file, "r")
    try {
      const { size } = await handle.stat()
      const length = Math.max(0, size - offset)
      const buffer = Buffer.alloc(length)
      await handle.read(buffer, 0, length, offset)
      return buffer.toString("utf8")
    } finally {
      await handle.close()
    }
  } catch {
    return ""
  }
}

const fileSize = (file: string): number => {
  try {
    return Fs.statSync(file).size
  } catch {
    return 0
  }
}

const tail = (text: string): string => text.length > logTailBytes ? `...${text.slice(-logTailBytes)}` : text

const PING = "*1\r\n$4\r\nPING\r\n"

/** Sends a raw PING and resolves with the first reply line (e.g. `+PONG`, `-NOAUTH ...`). */
const ping = (port: number, tls: TlsFiles | undefined): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket: Net.Socket = tls === undefined
      ? Net.connect({ host, port })
      : Tls.connect({ host, port, ca: tls.ca, servername: "localhost" })
    let received = ""
    const finish = (error: Error | undefined, line?: string) => {
      clearTimeout(timer)
      socket.destroy()
      if (error !== undefined) reject(error)
      else resolve(line ?? "")
    }
    const timer = setTimeout(() => finish(new Error("PING timed out")), pingTimeoutMs)
    socket.setEncoding("utf8")
    socket.on("data", (chunk: string) => {
      received += chunk
      const end = received.indexOf("\r\n")
      if (end >= 0) finish(undefined, received.slice(0, end))
    })
    socket.once("error", (error) => finish(error))
    socket.once("close", () => finish(new Error("connection closed before a reply")))
    socket.write(PING)
  })

const commandLine = (config: Config, ports: Ports): ReadonlyArray<string> => [
  ...config.baseArgs,
  ...(config.tls !== undefined && ports.tls !== undefined ? redisTlsArgs(config.tls, ports.tls) : []),
  // Last, so that nothing in the caller's args can move the server off the ports and files we watch.
  "--port",
  String(ports.plain ?? 0),
  "--bind",
  host,
  "--daemonize",
  "no",
  "--dir",
  config.dir,
  "--logfile",
  config.logFile
]

const spawnServer = (config: Config, ports: Ports): Running => {
  const logOffset = fileSize(config.logFile)
  // Not detached: a Ctrl-C on the terminal reaches the whole process group, the server included.
  const child = ChildProcess.spawn("redis-server", commandLine(config, ports), {
    cwd: config.dir,
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const collect = (chunk: string) => {
    // Only early failures (bad arguments, before the log file is open) land here; keep the end of it.
    output = tail(output + chunk)
  }
  child.stdout.setEncoding("utf8").on("data", collect)
  child.stderr.setEncoding("utf8").on("data", collect)
  let gone = false
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve())
    child.once("error", (error) => {
      collect(`\n${error.message}`)
      resolve()
    })
  }).then(() => {
    gone = true
  })
  const { children } = registry()
  children.add(child)
  void exited.then(() => children.delete(child))
  return { child, exited, isGone: () => gone || hasExited(child), output: () => output, logOffset }
}

const killAndWait = async (running: Running): Promise<void> => {
  if (!running.isGone()) running.child.kill("SIGKILL")
  await running.exited
}

const describePorts = (ports: Ports): string =>
  [
    ...(ports.plain !== undefined ? [`port ${ports.plain}`] : []),
    ...(ports.tls !== undefined ? [`tls-port ${ports.tls}`] : [])
  ].join(", ")

/** Spawns the server and waits until it answers PING; on failure, the process is gone and the error tells why. */
const startOnce = async (config: Config, ports: Ports): Promise<Running> => {
  const running = spawnServer(config, ports)
  const deadline = Date.now() + readinessTimeoutMs
  const probePort = (ports.plain ?? ports.tls)!
  const probeTls = ports.plain === undefined ? config.tls : undefined
  let lastProbe = "no answer yet"
  const failure = async (reason: string): Promise<StartFailure> => {
    await killAndWait(running)
    const log = await readFrom(config.logFile, running.logOffset)
    const details = tail([running.output(), log].filter((text) => text.trim() !== "").join("\n"))
    return new StartFailure(
      `redis-server (${describePorts(ports)}) ${reason}; last probe: ${lastProbe}\n--- log tail ---\n${details}`,
      /Address already in use/i.test(details)
    )
  }
  for (;;) {
    if (running.isGone()) {
      throw await failure(`exited with ${running.child.exitCode ?? running.child.signalCode ?? "a spawn error"}`)
    }
    // The log line proves that *our* process holds the port: a PONG alone could come from another server that grabbed
    // the port between our probe for a free one and redis-server's bind.
    const ready = !config.expectReadyLine
      || (await readFrom(config.logFile, running.logOffset)).includes("Ready to accept connections")
    if (ready) {
      try {
        const reply = await ping(probePort, probeTls)
        lastProbe = reply
        if ((reply.startsWith("+PONG") || reply.startsWith("-NOAUTH")) && !running.isGone()) return running
      } catch (error) {
        lastProbe = error instanceof Error ? error.message : String(error)
      }
    }
    if (Date.now() > deadline) throw await failure(`did not answer PING within ${readinessTimeoutMs} ms`)
    await sleep(pollIntervalMs)
  }
}

/** First start: on a port clash (someone took the port after we found it free), try again with new ports. */
const startOnFreshPorts = async (
  config: Config,
  wantPlain: boolean
): Promise<{ readonly running: Running; readonly ports: Ports }> => {
  let lastError: unknown
  for (let attempt = 0; attempt < freshPortAttempts; attempt++) {
    const wanted = (wantPlain ? 1 : 0) + (config.tls !== undefined ? 1 : 0)
    const found = await freePorts(wanted)
    const ports: Ports = {
      plain: wantPlain ? found[0] : undefined,
      tls: config.tls !== undefined ? found[wantPlain ? 1 : 0] : undefined
    }
    try {
      return { running: await startOnce(config, ports), ports }
    } catch (error) {
      lastError = error
      if (!(error instanceof StartFailure && error.addressInUse)) break
    }
  }
  throw lastError
}

/** Restart: the port must stay the same, so wait out a port the previous process (or its sockets) still holds. */
const startOnSamePorts = async (config: Config, ports: Ports): Promise<Running> => {
  let lastError: unknown
  for (let attempt = 0; attempt < samePortAttempts; attempt++) {
    try {
      return await startOnce(config, ports)
    } catch (error) {
      lastError = error
      if (!(error instanceof StartFailure && error.addressInUse)) break
      await sleep(samePortRetryDelayMs)
    }
  }
  throw lastError
}

/** Waits until /proc shows the process stopped (or not), so a test acts on the state it asked for. */
const waitForStopState = async (pid: number | undefined, stopped: boolean): Promise<void> => {
  if (pid === undefined) return
  const deadline = Date.now() + 1_000
  while (Date.now() < deadline) {
    let state: string
    try {
      // The state is the first field after the parenthesised command name, which may itself contain spaces.
      const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
      state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
    } catch {
      return // no procfs (not Linux) or the process is gone: nothing to wait for
    }
    if ((state === "T" || state === "t") === stopped) return
    await sleep(5)
  }
}

const runCli = (args: ReadonlyArray<string>): Effect.Effect<string> =>
  Effect.callback<string>((resume) => {
    const child = ChildProcess.spawn("redis-cli", args, { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    child.once("error", (error) => resume(Effect.die(error)))
    child.once("close", (code, signal) => {
      if (code === 0) resume(Effect.succeed(stdout.trim()))
      else {
        resume(Effect.die(new Error(`redis-cli exited with ${code ?? signal}: ${(stderr + stdout).trim()}`)))
      }
    })
    // Interrupting the Effect (a test's timeout) must not leave a redis-cli waiting on a paused server.
    return Effect.sync(() => {
      if (!hasExited(child)) child.kill("SIGKILL")
    })
  })

const findPassword = (args: ReadonlyArray<string>): string | undefined => {
  const index = args.lastIndexOf("--requirepass")
  return index >= 0 ? args[index + 1] : undefined
}

const findLogLevel = (args: ReadonlyArray<string>): string | undefined => {
  const index = args.lastIndexOf("--loglevel")
  return index >= 0 ? args[index + 1] : undefined
}

// ---------------------------------------------------------------------------------------------------------------
// The Effect surface.
// ---------------------------------------------------------------------------------------------------------------

const makeTempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = await FsPromises.mkdtemp(Path.join(Os.tmpdir(), "erc-redis-"))
    registry().dirs.add(dir)
    return dir
  }),
  (dir) =>
    Effect.promise(async () => {
      await FsPromises.rm(dir, { recursive: true, force: true })
      registry().dirs.delete(dir)
    })
)

/**
 * Starts a server in the current scope. Closing the scope kills it (resuming it first if paused) and removes its
 * directory. A server that cannot start is a defect whose message carries the tail of its log.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: RedisServerOptions = {}): Effect.Effect<RedisServerShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* makeTempDir
    const userArgs = options.args ?? []
    const logLevel = findLogLevel(userArgs)
    const config: Config = {
      dir,
      logFile: Path.join(dir, "redis.log"),
      baseArgs: [
        "--save",
        "",
        "--appendonly",
        "no",
        ...(options.aclUsers ?? []).flatMap(({ name, password }) => [
          // Separate arguments: redis-server quotes each one, so a single "name on >pw ..." would be one token.
          "--user",
          name,
          "on",
          `>${password}`,
          "~*",
          "&*",
          "+@all"
        ]),
        ...userArgs
      ],
      tls: options.tls,
      // The ready line is logged at notice level; quieter servers are judged by PING alone.
      expectReadyLine: logLevel !== "warning" && logLevel !== "nothing"
    }
    const wantPlain = options.tls === undefined || options.plainPort !== false
    const lock = yield* Semaphore.make(1)

    let current: Running | undefined
    let paused = false
    let closed = false

    const started = yield* Effect.acquireRelease(
      Effect.promise(() => startOnFreshPorts(config, wantPlain)),
      () =>
        lock.withPermits(1)(Effect.promise(async () => {
          closed = true
          const running = current
          current = undefined
          if (running === undefined) return
          // SIGKILL ends a stopped process too; resuming first just leaves no signal state behind to reason about.
          if (paused && !running.isGone()) running.child.kill("SIGCONT")
          paused = false
          await killAndWait(running)
        }))
    )
    current = started.running
    const ports = started.ports

    const killUnlocked = Effect.promise(async () => {
      const running = current
      current = undefined
      paused = false
      if (running !== undefined) await killAndWait(running)
    })

    const startUnlocked = Effect.promise(async () => {
      if (current !== undefined && !current.isGone()) return
      const running = await startOnSamePorts(config, ports)
      // The scope may have closed while we were starting (an interrupted test): do not leak the new process.
      if (closed) await killAndWait(running)
      else current = running
    })

    const stop = Effect.promise(async () => {
      const running = current
      current = undefined
      if (running === undefined || running.isGone()) return
      // A stopped process would hold SIGTERM pending forever.
      if (paused) running.child.kill("SIGCONT")
      paused = false
      running.child.kill("SIGTERM")
      const timedOut = await Promise.race([running.exited.then(() => false), sleep(stopTimeoutMs).then(() => true)])
      if (timedOut) await killAndWait(running)
    })

    const signal = (name: "SIGSTOP" | "SIGCONT") =>
      Effect.promise(async () => {
        const running = current
        if (running === undefined || running.isGone()) return
        running.child.kill(name)
        paused = name === "SIGSTOP"
        await waitForStopState(running.child.pid, paused)
      })

    const tlsOnly = !wantPlain
    const port = (ports.plain ?? ports.tls)!
    const password = findPassword(userArgs)
    const cliPrefix: ReadonlyArray<string> = [
      "-h",
      host,
      "-p",
      String(port),
      ...(tlsOnly && options.tls !== undefined ? ["--tls", "--cacert", options.tls.caFile] : []),
      ...(password !== undefined ? ["-a", password, "--no-auth-warning"] : [])
    ]

    const shape: RedisServerShape = {
      host,
      port,
      tlsPort: ports.tls,
      url: tlsOnly ? `rediss://${host}:${port}` : `redis://${host}:${port}`,
      dir,
      logFile: config.logFile,
      password,
      pid: Effect.sync(() => current !== undefined && !current.isGone() ? current.child.pid : undefined),
      kill: lock.withPermits(1)(killUnlocked),
      stop: lock.withPermits(1)(stop),
      pause: lock.withPermits(1)(signal("SIGSTOP")),
      resume: lock.withPermits(1)(signal("SIGCONT")),
      start: lock.withPermits(1)(startUnlocked),
      restart: lock.withPermits(1)(Effect.andThen(killUnlocked, startUnlocked)),
      cli: (...args) => runCli([...cliPrefix, ...args])
    }
    return shape
  })
