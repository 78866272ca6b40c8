/**
 * A command on its way to its reply, and how it settles. Plain TypeScript: the face that awaits commands (Effect's
 * `reply.ts`) reads what it settled with.
 *
 * @internal
 */
import type { RespValue } from "../resp/resp.js"

/**
 * A command written on a connection. It settles exactly once, with the reply read in its position of the FIFO
 * or with an error. Whoever awaits it may go away (fiber interrupted): the reply is then still read and
 * dropped, so the stream never desynchronises.
 *
 * `E` is the face's error; `Resume`, what its awaiter keeps in `resume`.
 *
 * @internal
 */
export class Pending<E, Resume = unknown> {
  done = false
  value: RespValue = null
  error: E | undefined = undefined
  callback: ((pending: Pending<E, Resume>) => void) | undefined = undefined
  /**
   * The awaiting fiber's resume, for a `callback` that is one shared function rather than a closure per command
   * (see `reply.ts`).
   */
  resume: Resume | undefined = undefined
  /**
   * When it times out, on the monotonic clock (`performance.now()`): set by the flush that writes it, or at
   * `submit` when it has to wait for room under `maxInFlight` (the wait counts against its timeout); 0 until then.
   */
  deadline = 0
  /** The arguments, kept only while the command waits to be written. */
  args: ReadonlyArray<string | Uint8Array> | undefined = undefined
  /** Its awaiter went away before it was written: it is then never written at all. */
  cancelled = false
  /** The batch it belongs to while waiting for room: a batch is written whole (or not at all, when cancelled). */
  group: ReadonlyArray<Pending<E, Resume>> | undefined = undefined
  /**
   * Its longest argument in bytes when that is over `SERVER_MIN_BULK_LIMIT`, else 0: set by the flush that writes
   * it, only for such commands, so that a server's refusal can be pinned on it (see `ArgumentLimit`).
   */
  largestArgument = 0
  constructor(readonly command: string) {}
}

/**
 * Settles `pending` with a reply or an error, once (later calls do nothing), and calls its callback.
 *
 * @internal
 */
export const settle = <E, Resume>(pending: Pending<E, Resume>, value: RespValue, error: E | undefined): void => {
  if (pending.done) return
  pending.done = true
  pending.value = value
  pending.error = error
  const callback = pending.callback
  if (callback !== undefined) {
    pending.callback = undefined
    callback(pending)
  }
}

/**
 * A settled pending for commands that cannot be written at all.
 *
 * @internal
 */
export const failed = <E, Resume>(command: string, error: E): Pending<E, Resume> => {
  const pending = new Pending<E, Resume>(command)
  settle(pending, null, error)
  return pending
}
