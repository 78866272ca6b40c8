/**
 * What the client's reconnection backoff allows, for tests that check it was respected without timing their own
 * loop: a loaded machine runs a test's loop slower, never the backoff faster.
 *
 * @since 0.1.0
 */

/**
 * The most connection attempts a client can make within `elapsedMillis` of its first one: one at once, then one
 * after each delay (`baseMillis`, doubling up to `maxMillis`) at its shortest, 0.8 of it with the client's jitter.
 *
 * @since 0.1.0
 * @category utils
 */
export const maxAttemptsWithin = (elapsedMillis: number, baseMillis: number, maxMillis: number): number => {
  let attempts = 1
  let at = 0
  let delay = baseMillis
  for (;;) {
    at += Math.floor(delay * 0.8)
    if (at > elapsedMillis) return attempts
    attempts++
    delay = Math.min(delay * 2, maxMillis)
  }
}
