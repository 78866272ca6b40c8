/**
 * Starts a real `memcached` for a test, as a scoped resource: on a free loopback port, without UDP. The test owns
 * the process and may pause (SIGSTOP), resume, kill or restart it; the port stays the same across restarts so
 * clients can reconnect. Mirrors `RedisServer.ts`.
 *
 * Every wait in here uses the platform's timers rather than Effect's `Clock`, because tests may run under the
 * `TestClock`, where an `Effect.sleep` would never wake up.
 */
import * as Effect from "#effect/Effect"
import type * as Scope from "#effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"

/**
 * How to start the server.
 */
export interface MemcachedServerOptions {
  /** `-I`: the largest item, e.g. `"1m"` or `"64k"`. */
  readonly itemSize?: string
  /** `-m`: megabytes of memory for items. */
  readonly memoryMb?: number
  /** More `memcached` arguments. */
  readonly args?: ReadonlyArray<string>
}

/**
 * A running (or deliberately stopped) `memcached` owned by the current test.
 */
export interface MemcachedServerShape {
  readonly host: "127.0.0.1"
  /** Stable across restarts. */
  readonly port: number
  /** `127.0.0.1:<port>`. */
  readonly address: string
  /** SIGKILL, then wait until the process has exited. Does nothing when it is not running. */
  readonly kill: Effect.Effect<void>
  /** SIGSTOP: it keeps its sockets but answers nothing, as a hung server would. */
  readonly pause: Effect.Effect<void>
  /** SIGCONT after `pause`. */
  readonly resume: Effect.Effect<void>
  /** Starts it again on the same port and waits until it answers. Does nothing when running. */
  readonly start: Effect.Effect<void>
  /** `kill` then `start`: every item is gone, the port is the same. */
  readonly restart: Effect.Effect<void>
}

const host = "127.0.0.1"
const readinessTimeoutMs = 10_000

const registryKey = Symbol.for("effect-remote-cache/test/MemcachedServer/registry")

/** Never let a server outlive the test process, even when a worker exits without running finalizers. */
const children = (): Set<ChildProcess.ChildProcess> => {
  const global = globalThis as { [registryKey]?: Set<ChildProcess.ChildProcess> }
  if (global[registryKey] !== undefined) return global[registryKey]
  const created = new Set<ChildProcess.ChildProcess>()
  global[registryKey] = created
  process.once("exit", () => {
    for (const child of created) {
      try {
        child.kill("SIGKILL")
      } catch {
        // already gone
      }
    }
  })
  return created
}

/** The process's state letter from /proc (`T`: stopped). */
const processState = (pid: number): string => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
  } catch {
    return "?"
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, host, () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

/** `mn` answered `MN`: the server accepts and serves. */
const answers = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = Net.connect({ host, port })
    let received = ""
    const done = (ok: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), 1_000)
    socket.setEncoding("latin1")
    socket.on("data", (chunk: string) => {
      received += chunk
      if (received.includes("\r\n")) done(received.startsWith("MN\r\n"))
    })
    socket.once("error", () => done(false))
    socket.once("close", () => done(false))
    socket.write("mn\r\n")
  })

interface Running {
  readonly child: ChildProcess.ChildProcess
  readonly exited: Promise<void>
  readonly gone: () => boolean
  readonly output: () => string
}

const spawn = (port: number, options: MemcachedServerOptions): Running => {
  const args = ["-l", host, "-p", String(port), "-U", "0"]
  // memcached refuses to run as root without -u.
  if (process.getuid?.() === 0) args.push("-u", "root")
  if (options.itemSize !== undefined) args.push("-I", options.itemSize)
  if (options.memoryMb !== undefined) args.push("-m", String(options.memoryMb))
  args.push(...(options.args ?? []))
  const child = ChildProcess.spawn("memcached", args, { stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-4096)
  }
  child.stdout?.on("data", collect)
  child.stderr?.on("data", collect)
  let gone = false
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      gone = true
      resolve()
    })
    child.once("error", () => {
      gone = true
      resolve()
    })
  })
  children().add(child)
  void exited.then(() => children().delete(child))
  return { child, exited, gone: () => gone, output: () => output }
}

/** Waits until the server on `port` answers, or fails with what it printed. */
const ready = async (running: Running, port: number): Promise<void> => {
  const deadline = Date.now() + readinessTimeoutMs
  while (Date.now() < deadline) {
    if (running.gone()) throw new Error(`memcached exited at start: ${running.output()}`)
    if (await answers(port)) return
    await sleep(20)
  }
  running.child.kill("SIGKILL")
  throw new Error(`memcached did not answer within ${readinessTimeoutMs} ms: ${running.output()}`)
}

/**
 * Starts a server in the current scope; closing the scope kills it (resuming it first if paused). A server that
 * cannot start is a defect carrying what it printed.
 */
export const make = (options: MemcachedServerOptions = {}): Effect.Effect<MemcachedServerShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    let port = 0
    let running: Running | undefined
    // A port found free may be taken before memcached binds it: try a few.
    for (let attempt = 0; running === undefined; attempt++) {
      port = yield* Effect.promise(freePort)
      const candidate = spawn(port, options)
      const started = yield* Effect.promise(() => ready(candidate, port).then(() => true, (error: Error) => error))
      if (started === true) running = candidate
      else if (attempt >= 4) return yield* Effect.die(started)
    }

    const kill = Effect.promise(async () => {
      const current = running
      if (current === undefined || current.gone()) return
      current.child.kill("SIGCONT")
      current.child.kill("SIGKILL")
      await current.exited
    })
    const start = Effect.promise(async () => {
      if (running !== undefined && !running.gone()) return
      // The same port: the previous process's sockets may hold it a moment.
      for (let attempt = 0;; attempt++) {
        const candidate = spawn(port, options)
        try {
          await ready(candidate, port)
          running = candidate
          return
        } catch (error) {
          if (attempt >= 30) throw error
          await sleep(100)
        }
      }
    })
    // A signal is delivered asynchronously: wait until the kernel says the process is stopped (or running again),
    // so that nothing sent after `pause` can still be answered.
    const signal = (name: NodeJS.Signals, state: (s: string) => boolean) =>
      Effect.promise(async () => {
        const current = running
        if (current === undefined || current.gone()) return
        current.child.kill(name)
        const deadline = Date.now() + readinessTimeoutMs
        while (!state(processState(current.child.pid!)) && Date.now() < deadline) await sleep(2)
      })

    yield* Effect.addFinalizer(() => kill)
    return {
      host,
      port,
      address: `${host}:${port}`,
      kill,
      pause: signal("SIGSTOP", (s) => s === "T"),
      resume: signal("SIGCONT", (s) => s !== "T"),
      start,
      restart: Effect.andThen(kill, start)
    } satisfies MemcachedServerShape
  })
