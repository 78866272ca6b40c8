/**
 * An in-process stand-in for a Redis server, for `bench/client.ts --sim`: `net.connect` / `net.createConnection`
 * return a duplex stream that answers every GET with a fixed bulk string and anything else with `+OK`, a macrotask
 * after the write (as a socket would), in chunks of at most 64 KiB. No system call and no other process is
 * involved, so the CPU time it measures is the clients' own JavaScript (plus this stand-in, the same for all):
 * a figure a busy machine disturbs far less than a round trip through the kernel.
 */
import { createRequire } from "node:module"
import { Duplex } from "node:stream"

const require = createRequire(import.meta.url)

const CHUNK = 64 * 1024

class FakeSocket extends Duplex {
  private pending: Array<Buffer> = []
  private scheduled = false
  private rest: Buffer = Buffer.alloc(0)
  constructor(
    private readonly getReply: Buffer,
    // Node's `onread` option: reads land in this buffer and go to this callback instead of 'data' events.
    private readonly onread: { buffer: Buffer; callback: (length: number, buffer: Buffer) => unknown } | undefined
  ) {
    super()
    process.nextTick(() => this.emit("connect"))
  }
  setNoDelay() {
    return this
  }
  setKeepAlive() {
    return this
  }
  setTimeout() {
    return this
  }
  ref() {
    return this
  }
  unref() {
    return this
  }
  override _read() {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void) {
    this.consume(typeof chunk === "string" ? Buffer.from(chunk) : chunk)
    callback()
  }
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void) {
    for (const { chunk } of chunks) this.consume(typeof chunk === "string" ? Buffer.from(chunk) : chunk)
    callback()
  }
  override _destroy(error: Error | null, callback: (error?: Error | null) => void) {
    callback(error)
    process.nextTick(() => this.emit("close"))
  }
  // Commands are arrays of bulk strings: only the first argument's first letter matters here.
  private consume(chunk: Buffer) {
    let buf = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk])
    let pos = 0
    for (;;) {
      const start = pos
      const lineEnd = buf.indexOf(13, pos)
      if (lineEnd === -1 || buf[pos] !== 42) break
      const n = Number(buf.toString("latin1", pos + 1, lineEnd))
      pos = lineEnd + 2
      let name = -1
      let complete = true
      for (let i = 0; i < n; i++) {
        const headerEnd = buf.indexOf(13, pos)
        if (headerEnd === -1) {
          complete = false
          break
        }
        const length = Number(buf.toString("latin1", pos + 1, headerEnd))
        if (headerEnd + 2 + length + 2 > buf.length) {
          complete = false
          break
        }
        if (i === 0) name = buf[headerEnd + 2]! | 0x20
        pos = headerEnd + 2 + length + 2
      }
      if (!complete) {
        pos = start
        break
      }
      this.pending.push(name === 0x67 && n === 2 ? this.getReply : OK)
    }
    this.rest = pos === buf.length ? Buffer.alloc(0) : buf.subarray(pos)
    if (!this.scheduled && this.pending.length > 0) {
      this.scheduled = true
      setImmediate(this.reply)
    }
  }
  private readonly reply = () => {
    this.scheduled = false
    const all = Buffer.concat(this.pending)
    this.pending = []
    const onread = this.onread
    const size = onread === undefined ? CHUNK : Math.min(CHUNK, onread.buffer.length)
    for (let i = 0; i < all.length; i += size) {
      const chunk = all.subarray(i, i + size)
      if (onread === undefined) {
        this.push(chunk)
      } else {
        chunk.copy(onread.buffer)
        onread.callback(chunk.length, onread.buffer)
      }
    }
  }
}

const OK = Buffer.from("+OK\r\n")

/** Makes `net.connect` and `net.createConnection` return the stand-in; GETs are answered with `value`. */
export const install = (value: Buffer): void => {
  const reply = Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from("\r\n")])
  const net = require("node:net")
  const make = (options?: { onread?: ConstructorParameters<typeof FakeSocket>[1] }) =>
    new FakeSocket(reply, options?.onread)
  net.connect = make
  net.createConnection = make
  require("node:module").syncBuiltinESMExports()
}
