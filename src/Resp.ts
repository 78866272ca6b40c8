/**
 * RESP2 / RESP3 values, their encoders, and an incremental, binary-safe parser.
 *
 * This module is pure (no I/O) and runs on the client's hot path, so it is plain, allocation-aware TypeScript:
 * the parser works on bytes, keeps only the reply that is still incomplete, and never throws. The implementation
 * is shared by every Effect version this library serves; this module adds the Effect error of a protocol
 * violation.
 *
 * @since 0.1.0
 */
import * as Data from "#effect/Data"
import * as Core from "./core/resp/resp.js"

export {
  /**
   * @since 0.1.0
   * @category encoding
   */
  encodeCommand,
  /**
   * @since 0.1.0
   * @category encoding
   */
  encodeCommands,
  /**
   * @since 0.1.0
   * @category models
   */
  ErrorReply,
  /**
   * @since 0.1.0
   * @category models
   */
  RespMap,
  /**
   * @since 0.1.0
   * @category models
   */
  RespPush,
  /**
   * @since 0.1.0
   * @category models
   */
  RespSet,
  /**
   * @since 0.1.0
   * @category models
   */
  VerbatimString
} from "./core/resp/resp.js"

export type {
  /**
   * @since 0.1.0
   * @category parsing
   */
  ParserOptions,
  /**
   * @since 0.1.0
   * @category models
   */
  RespValue
} from "./core/resp/resp.js"

/**
 * The bytes received violate the protocol (or a configured limit). The stream position is lost after this, so the
 * connection that produced it must be closed and never reused. Its tag is `"RespProtocolError"`, namespaced so that
 * it cannot collide with another library's `ProtocolError` in an error union.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolError extends Data.TaggedError("RespProtocolError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

const toProtocolError = (failure: Core.ProtocolFailure): ProtocolError => new ProtocolError(failure)

/**
 * An incremental RESP2 / RESP3 parser for one connection's byte stream, reporting violations as
 * {@link ProtocolError}.
 *
 * Feed it the chunks as they arrive, split anywhere (inside a CRLF, a length, a payload); it delivers every complete
 * top-level reply, in order, and keeps only the reply still incomplete: a partial line, the payload of the bulk
 * string being received (allocated once its length is known, so a large value costs one copy), and a stack of the
 * aggregates being built (so a large array split over many chunks is never re-parsed).
 *
 * - Attributes (`|`) are parsed in full (they count against the limits) and dropped; the value that follows them
 *   is delivered in their place.
 * - RESP3 streamed strings and aggregates (`$?`, `*?`, `;`, `.`) are a {@link ProtocolError}: Redis never sends
 *   them.
 * - A simple string or error line may not contain a CR or LF, and every line must end in CRLF.
 * - Bulk strings are delivered as `Buffer`s that own their bytes: they never alias the fed chunk (small ones may
 *   share Node's allocation pool, like any `Buffer.allocUnsafe`).
 * - A bulk payload's buffer is allocated (uninitialised) as soon as its header is read, so `maxBulkLength` is also
 *   the most one header can make the parser allocate.
 *
 * `feed(chunk, onReply)` calls `onReply` synchronously for every complete top-level reply, in order, and returns a
 * `ProtocolError` when the bytes violate the protocol or a limit (the parser is then poisoned until `reset()`); it
 * never throws. The constructor throws a `RangeError` when a limit is not a non-negative number.
 *
 * @since 0.1.0
 * @category parsing
 */
export class Parser extends Core.Parser<ProtocolError> {
  constructor(options?: Core.ParserOptions) {
    super(options, toProtocolError)
  }
}
