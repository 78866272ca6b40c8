/**
 * Where a subscription that may listen on any of several nodes listens next. Classic pub/sub reaches every node of
 * a Redis Cluster, so there the choice is about health, not about data; a topology whose nodes do not all hear a
 * channel names only those that do as live. Plain functions, no `effect`.
 *
 * @internal
 */

/**
 * What the choice is made from. Nodes are compared by identity.
 *
 * @internal
 */
export interface PickInput<N> {
  /** The node listened on now, if any. */
  readonly current: N | undefined
  /** Where the subscription would rather listen (a cluster: the primary of the channel's slot). */
  readonly preferred: N | undefined
  /** The live nodes of the last topology, in order of preference (primaries first). */
  readonly live: ReadonlyArray<N>
  /** When a node last failed this subscription (its connection lost or not opened), in milliseconds. */
  readonly failedAt: ReadonlyMap<N, number>
  readonly now: number
  /** A node that failed less than this long ago is chosen only when every live node did. */
  readonly avoidMillis: number
  /** Where to start looking among `live` when neither `current` nor `preferred` will do, so channels spread out. */
  readonly offset: number
}

/**
 * The node to listen on: the current one while it is live and has not just failed (a subscription never moves for
 * nothing: a move loses the messages published meanwhile); else the preferred one; else the next live node that has
 * not just failed; else, when every live node failed recently, the one that failed longest ago (its own reconnection
 * backoff then paces the attempts). Without any live node, the current or the preferred one.
 *
 * A node that just failed stays avoided although the topology still lists it: a cluster takes its
 * `cluster-node-timeout` and more to fail a dead primary over, and any other node hears the channel meanwhile.
 *
 * @internal
 */
export const pickNode = <N>(input: PickInput<N>): N | undefined => {
  const { current, failedAt, live, now, preferred } = input
  const recentlyFailed = (node: N): boolean => {
    const at = failedAt.get(node)
    return at !== undefined && now - at < input.avoidMillis
  }
  const usable = (node: N | undefined): node is N => node !== undefined && live.includes(node) && !recentlyFailed(node)
  if (usable(current)) return current
  if (usable(preferred)) return preferred
  const n = live.length
  if (n === 0) return current ?? preferred
  const start = ((input.offset % n) + n) % n
  for (let i = 0; i < n; i++) {
    const node = live[(start + i) % n]!
    if (usable(node)) return node
  }
  let oldest: N = live[start]!
  for (const node of live) if ((failedAt.get(node) ?? -Infinity) < (failedAt.get(oldest) ?? -Infinity)) oldest = node
  return oldest
}
