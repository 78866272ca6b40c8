/**
 * The longest argument a client may send, as far as it knows its server.
 *
 * @internal
 */

/**
 * The smallest `proto-max-bulk-len` Redis accepts (`CONFIG SET` refuses less): a command whose arguments are all
 * within it is never refused for their length, so only longer ones are tracked.
 *
 * @internal
 */
export const SERVER_MIN_BULK_LIMIT = 1024 * 1024

/**
 * How long a limit guessed from a reset (rather than read from the server) is kept.
 *
 * @internal
 */
export const SUSPECTED_LIMIT_MILLIS = 60_000

/**
 * The longest argument the client sends. `current`, which every command is checked against, is the least of
 * `maxArgumentLength`, the server's `proto-max-bulk-len` once read on the current connection, and one byte below
 * an argument the server refused. Until the server's limit is read on a connection it is taken as
 * `SERVER_MIN_BULK_LIMIT`, the least Redis allows: commands within it (nearly all) need nothing more, and the first
 * one past it makes the client ask the server (`CONFIG GET`, once per connection) before sending it, so nothing
 * is read at connect and no connection is slowed for the rare large value. A reconnection asks anew.
 *
 * Where the server does not say (`CONFIG` refused or renamed away), its refusal teaches the limit: Redis answers
 * "invalid bulk length" and closes the connection. What the server said holds until it tells its limit; a refusal
 * inferred from a reset (see `Connection`'s `blameReset`) only for `SUSPECTED_LIMIT_MILLIS`, since a server that
 * crashed or was killed mid-write resets the connection the same way.
 *
 * @internal
 */
export class ArgumentLimit {
  /** What every command is checked against. */
  current: number
  /** Whether the client asks servers for their limit; off once a connection was lost while asking (a proxy). */
  askServer = true
  private server: "unknown" | "known" | "unreadable" = "unknown"
  private serverLimit = Infinity
  private refused = Infinity
  private refusedUntil = Infinity
  constructor(readonly configured: number) {
    this.current = this.compute()
  }

  /** The server's limit was read on this connection: a reset is then not taken for a refusal. */
  get serverKnown(): boolean {
    return this.server === "known"
  }

  /** Asking the server could raise `current`. */
  get mayAsk(): boolean {
    return this.askServer && this.server === "unknown"
  }

  /** The limit without the server's part, which holds only on the connection it was read on. */
  get withoutServer(): number {
    return Math.min(this.configured, this.refused)
  }

  /** A connection was lost while asking: perhaps a proxy that hangs up on `CONFIG`, so the client stops asking. */
  stopAsking(): void {
    this.askServer = false
    this.current = this.compute()
  }

  /** A new connection: the server's limit is to be read again (the server may have changed). */
  newConnection(): void {
    this.server = "unknown"
    this.serverLimit = Infinity
    this.current = this.compute()
  }

  /** The server's `proto-max-bulk-len`, or `undefined` when it could not be read on this connection. */
  learnServer(value: number | undefined): void {
    this.server = value === undefined ? "unreadable" : "known"
    this.serverLimit = value ?? Infinity
    // The server's own word is better than what a refusal taught.
    if (value !== undefined) this.refused = Infinity
    this.current = this.compute()
  }

  /** An argument of `bytes` bytes was refused (`certain`: the server said so), at `now` (`performance.now()`). */
  rejected(bytes: number, certain: boolean, now: number): void {
    if (bytes - 1 < this.refused) {
      this.refused = bytes - 1
      this.refusedUntil = certain ? Infinity : now + SUSPECTED_LIMIT_MILLIS
    } else if (certain) {
      this.refusedUntil = Infinity
    }
    this.current = this.compute()
  }

  /** Forgets a guessed refusal that has expired; `true` when it did. Only on a failed check. */
  refresh(now: number): boolean {
    if (this.refused === Infinity || now < this.refusedUntil) return false
    this.refused = Infinity
    this.refusedUntil = Infinity
    this.current = this.compute()
    return true
  }

  /** Which limit `limit` is, for messages. */
  readonly describe = (limit: number): string =>
    limit === this.configured
      ? `maxArgumentLength (${limit})`
      : limit === this.serverLimit
      ? `the server's proto-max-bulk-len (${limit})`
      : limit === this.refused
      ? `the server's proto-max-bulk-len, at most ${limit} since it refused an argument of ${limit + 1} bytes`
      : `${limit} bytes`

  private compute(): number {
    const server = this.server === "known"
      ? this.serverLimit
      : this.server === "unknown" && this.askServer
      ? SERVER_MIN_BULK_LIMIT
      : Infinity
    return Math.min(this.configured, this.refused, server)
  }
}

/**
 * The byte length of a command's longest argument (a string's counted exactly only when it could matter).
 *
 * @internal
 */
export const largestArgument = (args: ReadonlyArray<string | Uint8Array>): number => {
  let largest = 0
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const bytes = typeof arg !== "string"
      ? arg.byteLength
      : arg.length * 3 > SERVER_MIN_BULK_LIMIT
      ? Buffer.byteLength(arg)
      : 0
    if (bytes > largest) largest = bytes
  }
  return largest
}
