/**
 * A fault-injecting TCP proxy for tests, as a scoped resource: it listens on a free loopback port and forwards each
 * accepted connection to an upstream server (a test's own `redis-server`), while a mode that can be switched at
 * run time decides what happens to the bytes the server sends back:
 *
 * - `pass`: forwarded as they come;
 * - `latency(ms)`: both directions delayed by `ms`, order kept;
 * - `dropMidReply`: the next server chunk is forwarded only in part, then both sides are destroyed;
 * - `truncate(then)`: the next server chunk is forwarded only in part, then the connection stalls for good
 *   (`"stall"`) or is closed gracefully (`"close"`);
 * - `stall`: nothing more is forwarded to the client; what the server sends is held and delivered, in order,
 *   once the mode changes (a network that recovers), unless the connection is gone by then;
 * - `drip(ms)`: server bytes are forwarded one at a time, `ms` apart.
 *
 * The client-to-server direction is never altered except by `latency`, so every fault happens on the reply path,
 * where a client can lose track of which reply belongs to which command.
 *
 * Timers are the platform's, not Effect's `Clock`: the proxy must run in real time under `it.live`.
 *
 * @since 0.1.0
 */
import * as Effect from "#effect/Effect"
import type * as Scope from "#effect/Scope"
import * as Net from "node:net"

/**
 * What the proxy does to the server-to-client bytes.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode =
  | { readonly _tag: "Pass" }
  | { readonly _tag: "Latency"; readonly millis: number }
  | { readonly _tag: "DropMidReply" }
  | { readonly _tag: "Truncate"; readonly then: "stall" | "close" }
  | { readonly _tag: "Stall" }
  | { readonly _tag: "Drip"; readonly delayMillis: number }

/**
 * Forward everything as it comes.
 *
 * @since 0.1.0
 * @category modes
 */
export const pass: Mode = { _tag: "Pass" }

/**
 * Delay both directions by `millis`.
 *
 * @since 0.1.0
 * @category modes
 */
export const latency = (millis: number): Mode => ({ _tag: "Latency", millis })

/**
 * Forward part of the next server chunk, then destroy both sides.
 *
 * @since 0.1.0
 * @category modes
 */
export const dropMidReply: Mode = { _tag: "DropMidReply" }

/**
 * Forward part of the next server chunk, then stall that connection for good or close it gracefully.
 *
 * @since 0.1.0
 * @category modes
 */
export const truncate = (then: "stall" | "close" = "stall"): Mode => ({ _tag: "Truncate", then })

/**
 * Stop forwarding server bytes (they are held until the mode changes).
 *
 * @since 0.1.0
 * @category modes
 */
export const stall: Mode = { _tag: "Stall" }

/**
 * Forward server bytes one at a time, `delayMillis` apart.
 *
 * @since 0.1.0
 * @category modes
 */
export const drip = (delayMillis = 1): Mode => ({ _tag: "Drip", delayMillis })

/**
 * Counters of what the proxy did, for a test's report.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Connections accepted so far. */
  readonly accepted: number
  /** Connections open now (client side accepted and not yet closed). */
  readonly open: number
  /** Most connections open at once. */
  readonly maxOpen: number
  /** Connections cut by `dropMidReply`. */
  readonly dropped: number
  /** Connections cut by `truncate`. */
  readonly truncated: number
  /** Bytes forwarded client to server and server to client. */
  readonly bytesUp: number
  readonly bytesDown: number
}

/**
 * A running proxy.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultProxy {
  readonly host: "127.0.0.1"
  readonly port: number
  /** The current mode. */
  readonly mode: Effect.Effect<Mode>
  /** Switches the mode for every connection, open or future. */
  readonly setMode: (mode: Mode) => Effect.Effect<void>
  /** Destroys every open connection (both sides) at once, as a network partition would. */
  readonly dropAll: Effect.Effect<void>
  readonly stats: Effect.Effect<Stats>
}

/**
 * Options of the proxy.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultProxyOptions {
  /** Where to forward, on loopback. */
  readonly upstreamPort: number
  readonly upstreamHost?: string | undefined
  readonly mode?: Mode | undefined
  /** Source of randomness for cut points; `Math.random` by default. */
  readonly random?: (() => number) | undefined
}

/** Bytes held for a stalled connection before the oldest are discarded, so a stall can never exhaust memory. */
const maxHeldBytes = 64 * 1024 * 1024

/**
 * An ordered output for one direction: chunks wait until their time, and a chunk never overtakes an earlier one,
 * whatever the delays, so latency and dripping reorder nothing.
 */
class Lane {
  private readonly queue: Array<{ readonly chunk: Buffer; readonly at: number }> = []
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private last = 0
  private closed = false
  constructor(private readonly target: Net.Socket, private readonly onWrite: (bytes: number) => void) {}

  /**
   * Queues `chunk` to leave `delayMillis` from now (never before the chunk ahead of it), or, when `spaced`,
   * `delayMillis` after the chunk ahead of it, which is how bytes are dripped.
   */
  push(chunk: Buffer, delayMillis: number, spaced = false): void {
    if (this.closed || chunk.length === 0) return
    const now = Date.now()
    const at = spaced ? Math.max(now, this.last) + delayMillis : Math.max(now + delayMillis, this.last)
    this.last = at
    if (at <= now && this.queue.length === 0) return this.write(chunk)
    this.queue.push({ chunk, at })
    this.schedule()
  }

  close(): void {
    this.closed = true
    this.queue.length = 0
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  private write(chunk: Buffer): void {
    if (this.target.destroyed) return
    this.onWrite(chunk.length)
    this.target.write(chunk)
  }

  private schedule(): void {
    if (this.timer !== undefined || this.queue.length === 0) return
    this.timer = setTimeout(this.pump, Math.max(0, this.queue[0]!.at - Date.now()))
  }

  private readonly pump = (): void => {
    this.timer = undefined
    if (this.closed) return
    const now = Date.now()
    while (this.queue.length > 0 && this.queue[0]!.at <= now) this.write(this.queue.shift()!.chunk)
    this.schedule()
  }
}

interface Link {
  readonly client: Net.Socket
  readonly upstream: Net.Socket
  readonly up: Lane
  readonly down: Lane
  /** Server bytes withheld while the mode is `stall`. */
  held: Array<Buffer>
  heldBytes: number
  /** Cut by `dropMidReply` or `truncate`: nothing is ever forwarded to the client again. */
  deaf: boolean
  readonly destroy: () => void
}

/**
 * Starts a proxy in the current scope. Closing the scope destroys every connection and closes the listener.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: FaultProxyOptions): Effect.Effect<FaultProxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    const upstreamHost = options.upstreamHost ?? "127.0.0.1"
    const random = options.random ?? Math.random
    let mode: Mode = options.mode ?? pass
    const links = new Set<Link>()
    const stats = { accepted: 0, open: 0, maxOpen: 0, dropped: 0, truncated: 0, bytesUp: 0, bytesDown: 0 }

    // A cut point strictly inside the chunk when it has room for one, so the client always sees an incomplete
    // reply: at least the first byte is sent, never the last.
    const cutPoint = (length: number): number => length <= 1 ? 0 : 1 + Math.floor(random() * (length - 1))

    const fromServer = (link: Link, chunk: Buffer): void => {
      if (link.deaf) return
      switch (mode._tag) {
        case "Pass":
          return link.down.push(chunk, 0)
        case "Latency":
          return link.down.push(chunk, mode.millis)
        case "Stall": {
          link.held.push(chunk)
          link.heldBytes += chunk.length
          while (link.heldBytes > maxHeldBytes && link.held.length > 1) link.heldBytes -= link.held.shift()!.length
          return
        }
        case "Drip": {
          for (let i = 0; i < chunk.length; i++) link.down.push(chunk.subarray(i, i + 1), mode.delayMillis, true)
          return
        }
        case "DropMidReply": {
          stats.dropped++
          link.down.push(chunk.subarray(0, cutPoint(chunk.length)), 0)
          // More server chunks may arrive before the connection is gone: forwarding them after the cut would
          // splice two parts of the stream together, which no real network does.
          link.deaf = true
          // Let the part already queued reach the socket before the connection goes, so the client does read an
          // incomplete reply rather than nothing.
          setImmediate(link.destroy)
          return
        }
        case "Truncate": {
          stats.truncated++
          link.down.push(chunk.subarray(0, cutPoint(chunk.length)), 0)
          link.deaf = true
          if (mode.then === "close") {
            const client = link.client
            setImmediate(() => {
              link.upstream.destroy()
              client.end()
            })
          }
          return
        }
      }
    }

    const release = (link: Link): void => {
      const held = link.held
      link.held = []
      link.heldBytes = 0
      for (const chunk of held) fromServer(link, chunk)
    }

    const onConnection = (client: Net.Socket): void => {
      stats.accepted++
      stats.open++
      stats.maxOpen = Math.max(stats.maxOpen, stats.open)
      client.pause()
      // Small writes must leave as they are written, or Nagle would coalesce the bytes being dripped.
      client.setNoDelay(true)
      const upstream = Net.connect({ host: upstreamHost, port: options.upstreamPort })
      let gone = false
      const link: Link = {
        client,
        upstream,
        up: new Lane(upstream, (n) => (stats.bytesUp += n)),
        down: new Lane(client, (n) => (stats.bytesDown += n)),
        held: [],
        heldBytes: 0,
        deaf: false,
        destroy: () => {
          if (gone) return
          gone = true
          stats.open--
          links.delete(link)
          link.up.close()
          link.down.close()
          link.held = []
          client.destroy()
          upstream.destroy()
        }
      }
      links.add(link)
      // Either side's error or close ends both: the proxy never keeps half a connection.
      client.on("error", link.destroy)
      upstream.on("error", link.destroy)
      client.on("close", link.destroy)
      upstream.on("close", link.destroy)
      upstream.on("connect", () => client.resume())
      client.on("data", (chunk: Buffer) => link.up.push(chunk, mode._tag === "Latency" ? mode.millis : 0))
      upstream.on("data", (chunk: Buffer) => fromServer(link, chunk))
    }

    const server = yield* Effect.acquireRelease(
      Effect.callback<Net.Server>((resume) => {
        const server = Net.createServer(onConnection)
        server.once("error", (error) => resume(Effect.die(error)))
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.callback<void>((resume) => {
          // close() waits for open connections: destroy them first or the finalizer would wait on a silent peer.
          server.close(() => resume(Effect.void))
          for (const link of [...links]) link.destroy()
        })
    )

    const proxy: FaultProxy = {
      host: "127.0.0.1",
      port: (server.address() as Net.AddressInfo).port,
      mode: Effect.sync(() => mode),
      setMode: (next) =>
        Effect.sync(() => {
          mode = next
          if (next._tag !== "Stall") { for (const link of [...links]) release(link) }
        }),
      dropAll: Effect.sync(() => {
        for (const link of [...links]) link.destroy()
      }),
      stats: Effect.sync(() => ({ ...stats }))
    }
    return proxy
  })
