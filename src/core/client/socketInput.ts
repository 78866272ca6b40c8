/**
 * The way from a socket's reads to its connection's parser.
 *
 * @internal
 */

/** Size of a TCP connection's read buffer: what Node reads at most per system call by default. */
const READ_BUFFER_SIZE = 64 * 1024

/**
 * What a socket reads, on its way to the connection's parser. A TCP socket is opened with Node's `onread`: every
 * read lands in one buffer owned by the socket and reused, instead of a fresh buffer per read and a trip through
 * the stream machinery to a `data` event (per read, that was about a tenth of a sequential command's CPU time).
 * The parser copies whatever it keeps (bulk payloads, partial lines), so handing it the reused buffer is safe. A
 * TLS socket keeps its `data` events, which come here too.
 *
 * Bytes read before the connection takes over (a server at `maxclients` says so as soon as it accepts) are copied
 * and handed over when it does.
 *
 * @internal
 */
export class SocketInput {
  private target: ((chunk: Buffer) => void) | undefined = undefined
  private early: Array<Buffer> = []
  private readonly buffer = Buffer.allocUnsafe(READ_BUFFER_SIZE)

  /** For `net.connect`'s `onread` option. */
  readonly onread = {
    buffer: this.buffer,
    callback: (length: number): boolean => {
      this.receive(this.buffer.subarray(0, length))
      return true
    }
  }

  /** A chunk read; it may be overwritten as soon as this returns. */
  readonly receive = (chunk: Buffer): void => {
    if (this.target !== undefined) this.target(chunk)
    else this.early.push(Buffer.from(chunk))
  }

  /** Delivers every chunk from now on to `target`, starting with those read before. */
  attach(target: (chunk: Buffer) => void): void {
    this.target = target
    const early = this.early
    this.early = []
    for (const chunk of early) target(chunk)
  }
}
