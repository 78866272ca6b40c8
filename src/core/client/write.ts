/**
 * How a connection's batch of commands becomes socket writes: one buffer in the common case, bounded chunks for a
 * batch too large to copy whole.
 *
 * @internal
 */
import { encodeCommand, encodeCommands } from "../resp/resp.js"

/**
 * Where chunks are written: a socket (`net.Socket`, `tls.TLSSocket`), or a stand-in in tests.
 *
 * @internal
 */
export interface ChunkSink {
  write(chunk: Uint8Array): unknown
}

/**
 * Most bytes one flush copies into a single buffer. Larger batches are written in chunks of at most this size
 * (each argument over a quarter of it as its own write, without a copy). 64 MiB: well above any batch of keys and
 * ordinary values, so the common case stays one buffer and one write, and far below Node's 4 GiB buffer limit;
 * past a few MiB the chunk size makes no measurable difference to throughput. Mutable only so that a test can
 * exercise the chunked path without allocating gigabytes.
 *
 * @internal
 */
export const writeLimits = { maxChunkBytes: 64 * 1024 * 1024 }

// The most bytes an argument's header and trailing CRLF take ("$", 16 digits, CRLF, CRLF), and a command's.
const ARGUMENT_OVERHEAD = 21
const COMMAND_OVERHEAD = 19

/**
 * An upper bound on the bytes a batch encodes to, from lengths only (3 bytes per UTF-16 unit of a string): one
 * pass over the arguments, without reading any string.
 *
 * @internal
 */
export const batchBound = (batch: ReadonlyArray<ReadonlyArray<string | Uint8Array>>): number => {
  let bound = 0
  for (let c = 0; c < batch.length; c++) bound += commandBound(batch[c]!)
  return bound
}

const commandBound = (args: ReadonlyArray<string | Uint8Array>): number => {
  let bound = COMMAND_OVERHEAD
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    bound += ARGUMENT_OVERHEAD + (typeof arg === "string" ? arg.length * 3 : arg.byteLength)
  }
  return bound
}

/**
 * Writes a batch as chunks of at most `limit` bytes: runs of commands of at most a quarter of `limit` encoded
 * together, and each larger command piece by piece (see `writeLargeCommand`). The socket is corked by the caller.
 *
 * @internal
 */
export const writeChunked = (
  socket: ChunkSink,
  batch: ReadonlyArray<ReadonlyArray<string | Uint8Array>>,
  limit: number
): void => {
  const own = Math.floor(limit / 4)
  let run: Array<ReadonlyArray<string | Uint8Array>> = []
  let runBytes = 0
  const writeRun = () => {
    if (run.length === 0) return
    socket.write(run.length === 1 ? encodeCommand(run[0]!) : encodeCommands(run))
    run = []
    runBytes = 0
  }
  for (let c = 0; c < batch.length; c++) {
    const args = batch[c]!
    const bound = commandBound(args)
    if (bound <= own) {
      if (runBytes + bound > limit) writeRun()
      run.push(args)
      runBytes += bound
    } else {
      writeRun()
      writeLargeCommand(socket, args, limit, own)
    }
  }
  writeRun()
}

const CRLF = Buffer.from("\r\n")

/**
 * Writes one command larger than `own` bytes: its headers and small arguments gathered into buffers of at most
 * `limit` bytes, each byte argument over `own` as a view of the caller's own bytes (not copied: like every
 * argument, it must not change until the command is answered), each string argument over `own` as UTF-8 slices of
 * at most `limit` bytes.
 */
const writeLargeCommand = (
  socket: ChunkSink,
  args: ReadonlyArray<string | Uint8Array>,
  limit: number,
  own: number
): void => {
  let parts: Array<Buffer> = [Buffer.from(`*${args.length}\r\n`)]
  let partsBytes = parts[0]!.length
  const add = (part: Buffer) => {
    if (partsBytes + part.length > limit) writeParts()
    parts.push(part)
    partsBytes += part.length
  }
  const writeParts = () => {
    if (parts.length === 0) return
    socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts, partsBytes))
    parts = []
    partsBytes = 0
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (typeof arg !== "string" && arg.byteLength > own) {
      add(Buffer.from(`$${arg.byteLength}\r\n`))
      writeParts()
      socket.write(Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength))
    } else if (typeof arg === "string" && arg.length * 3 > own) {
      add(Buffer.from(`$${Buffer.byteLength(arg)}\r\n`))
      writeParts()
      writeStringSlices(socket, arg, Math.floor(limit / 3))
    } else {
      const bytes = typeof arg === "string" ? Buffer.from(arg) : Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength)
      add(Buffer.from(`$${bytes.length}\r\n`))
      add(bytes)
    }
    add(CRLF)
  }
  writeParts()
}

/**
 * A long string as UTF-8, `units` UTF-16 units at a time. A slice never ends between the two halves of a surrogate
 * pair, so the slices' bytes are exactly the whole string's (a lone surrogate becomes U+FFFD either way).
 */
const writeStringSlices = (socket: ChunkSink, s: string, units: number): void => {
  for (let from = 0; from < s.length;) {
    let to = Math.min(s.length, from + units)
    const last = s.charCodeAt(to - 1)
    if (to < s.length && to - 1 > from && last >= 0xd800 && last <= 0xdbff) to--
    socket.write(Buffer.from(s.slice(from, to), "utf8"))
    from = to
  }
}
