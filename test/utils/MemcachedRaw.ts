/**
 * Plain-text commands to a test's own `memcached`, on a socket of their own, for what the client does not offer:
 * `flush_all` (to empty a server between tests) and `stats` (its clock). Uses the platform's timers, never Effect's
 * `Clock`, since a test may run under the `TestClock`.
 */
import * as Effect from "#effect/Effect"
import * as Net from "node:net"

/** Sends `line` and resolves with the reply up to and including a line for which `done` holds. */
const exchange = (port: number, line: string, done: (reply: string) => boolean): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    let received = ""
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`memcached on ${port} did not answer ${JSON.stringify(line)}: ${received}`))
    }, 10_000)
    socket.setEncoding("latin1")
    socket.on("data", (chunk: string) => {
      received += chunk
      if (done(received)) {
        clearTimeout(timer)
        socket.destroy()
        resolve(received)
      }
    })
    socket.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    socket.write(`${line}\r\n`)
  })

/** `flush_all`: every item of the server invalid at once. */
export const flushAll = (port: number): Effect.Effect<void> =>
  Effect.asVoid(Effect.promise(() => exchange(port, "flush_all", (reply) => reply.endsWith("\r\n"))))

/** `stats`, as a map of the `STAT name value` lines. */
export const stats = (port: number): Effect.Effect<ReadonlyMap<string, string>> =>
  Effect.promise(async () => {
    const reply = await exchange(port, "stats", (text) => text.endsWith("END\r\n"))
    const out = new Map<string, string>()
    for (const line of reply.split("\r\n")) {
      const [stat, name, value] = line.split(" ")
      if (stat === "STAT" && name !== undefined && value !== undefined) out.set(name, value)
    }
    return out
  })

/** The server's clock (`STAT time`, Unix seconds): it ticks once a second, and item expiry is checked against it. */
export const serverTime = (port: number): Effect.Effect<number> =>
  Effect.map(stats(port), (all) => Number(all.get("time")))

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Waits until the clock of the server on `port` reads at least `seconds`: the condition item expiry depends on.
 */
export const untilServerTime = (port: number, seconds: number): Effect.Effect<void> =>
  Effect.promise(async () => {
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const now = Number(
        (await exchange(port, "stats", (text) => text.endsWith("END\r\n"))).match(/STAT time (\d+)/)?.[1]
      )
      if (now >= seconds) return
      await sleep(20)
    }
    throw new Error(`memcached on ${port} did not reach time ${seconds}`)
  })
