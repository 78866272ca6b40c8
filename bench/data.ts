/**
 * The benchmark's data: key names, values and the op sequence of each workload, built once and shared by every
 * client, so each client sends the same commands for the same keys with the same value sizes.
 */

/** Every key the benchmark writes starts with this, so a run against a shared server can remove exactly its own. */
export const ROOT_PREFIX = "bench:"
/** Raw clients (bytes in, bytes out). */
export const RAW_PREFIX = "bench:raw:"
/** RedisBackend with the default v8 serializer. */
export const V8_PREFIX = "bench:v8:"
/** RedisBackend with `Serializer.json`, and the peers doing `JSON.stringify` / `JSON.parse` themselves. */
export const JSON_PREFIX = "bench:json:"
/** Our tiered caches' L2 keys. */
export const TIERED_PREFIX = "bench:tiered:"
/** bentocache's store prefix (it adds the `:` itself). */
export const BENTO_PREFIX = "bench:bento"

/** TTL of the SET workload, in milliseconds. */
export const TTL_MILLIS = 60_000

/** Kinds of operation. */
export const GET = 0
export const SET = 1
export const MGET = 2

/** A family of keys with values of one size, stored under every prefix before the rounds. */
export interface Dataset {
  readonly name: string
  readonly keyCount: number
  readonly valueBytes: number
  /** Key suffixes (the part after the prefix). */
  readonly keys: ReadonlyArray<string>
  /** Raw values, cycled over the keys. */
  readonly bytes: ReadonlyArray<Buffer>
  /** Object values (JSON text of `valueBytes` bytes), cycled over the keys. */
  readonly objects: ReadonlyArray<Record<string, unknown>>
}

/**
 * How our Effect clients keep `concurrency` operations in flight: `"workers"`, that many long-lived fibers each
 * looping over the ops; `"forEach"`, `Effect.forEach(ops, op, { concurrency })`, one short fiber per op, as
 * application code does it. The promise-based peers always run that many `async` loops.
 */
export type Loop = "workers" | "forEach"

/**
 * What a workload exercises: a Redis client or cache backend (`"client"`) or a two-tier cache (`"tiered"`);
 * each client says which it can run.
 */
export type Family = "client" | "tiered"

/**
 * What a tiered workload reads: keys every instance holds in its in-process tier (`"l1-hit"`), keys it must fetch
 * from Redis because its in-process tier keeps a single entry (`"l2-hit"`), or keys nobody has written, each read
 * once, with a computation (`"miss"`).
 */
export type TieredCase = "l1-hit" | "l2-hit" | "miss"

/** One workload: what runs, with how many in flight, and its op sequence (the same for every client). */
export interface Workload {
  readonly id: string
  readonly title: string
  readonly family: Family
  readonly loop: Loop
  /** For the tiered family: which tier answers, and whether the read is `get` or read-through. */
  readonly tiered?: { readonly case: TieredCase; readonly readThrough: boolean } | undefined
  /** The clients that run it, when not every client of its family (to keep the run short). */
  readonly clients?: ReadonlyArray<string> | undefined
  readonly concurrency: number
  readonly dataset: Dataset
  /** Ops per round. */
  readonly ops: number
  /**
   * One op in this many is timed for the latency figures (1: every op). Reading the clock twice costs about as
   * much as an in-process cache hit, so the L1-hit workloads time a sample only.
   */
  readonly sampleEvery: number
  /** Kind of op i. */
  readonly kinds: Uint8Array
  /** Key index of op i (for MGET: the first of `mgetSize` consecutive keys). */
  readonly keyIndex: Int32Array
  readonly mgetSize: number
  /** Whether SETs carry `PX`. */
  readonly ttl: boolean
}

/** A small deterministic generator: every run benchmarks the same sequence. */
export const makeRandom = (seed: number) => {
  let s = seed >>> 0
  return (): number => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]

/**
 * A value shaped like a cached record: a few scalar fields and, for larger sizes, a list of items, padded so that
 * its JSON text is exactly `bytes` bytes long.
 */
export const makeObject = (i: number, bytes: number): Record<string, unknown> => {
  const random = makeRandom(i + 1)
  const value: Record<string, unknown> = {
    id: i,
    name: `user-${i}`,
    active: i % 2 === 0,
    score: Math.round(random() * 1e6) / 100,
    note: ""
  }
  const items: Array<Record<string, unknown>> = []
  if (bytes > 200) {
    value["items"] = items
    // Each item adds its own JSON plus a comma; counting as we go keeps building a 16 KiB value linear.
    let length = JSON.stringify(value).length
    for (;;) {
      const item = {
        sku: `sku-${Math.floor(random() * 1e6)}`,
        title: `${WORDS[Math.floor(random() * WORDS.length)]} ${WORDS[Math.floor(random() * WORDS.length)]}`,
        price: Math.round(random() * 1e5) / 100,
        qty: Math.floor(random() * 10)
      }
      const added = JSON.stringify(item).length + (items.length === 0 ? 0 : 1)
      if (length + added > bytes - 120) break
      items.push(item)
      length += added
    }
  }
  const missing = bytes - JSON.stringify(value).length
  if (missing < 0) throw new Error(`a ${bytes}-byte value is too small for the record shape`)
  let note = ""
  while (note.length < missing) note += WORDS[Math.floor(random() * WORDS.length)]! + " "
  value["note"] = note.slice(0, missing)
  return value
}

const VARIANTS = 64

/** A dataset of `keyCount` keys whose values are `valueBytes` long (64 distinct values, cycled). */
export const makeDataset = (name: string, keyCount: number, valueBytes: number): Dataset => {
  const random = makeRandom(valueBytes)
  const bytes: Array<Buffer> = []
  const objects: Array<Record<string, unknown>> = []
  for (let v = 0; v < VARIANTS; v++) {
    const buf = Buffer.allocUnsafe(valueBytes)
    for (let j = 0; j < valueBytes; j++) buf[j] = Math.floor(random() * 256)
    bytes.push(buf)
    objects.push(makeObject(v, valueBytes))
  }
  const keys: Array<string> = []
  for (let k = 0; k < keyCount; k++) keys.push(`${name}:${k}`)
  return { name, keyCount, valueBytes, keys, bytes, objects }
}

/** The workload's op sequence, drawn with a fixed seed. */
export const makeWorkload = (options: {
  readonly id: string
  readonly title: string
  readonly concurrency: number
  readonly dataset: Dataset
  readonly ops: number
  readonly setRatio?: number
  readonly mgetSize?: number
  readonly ttl?: boolean
  readonly sequentialKeys?: boolean
  readonly loop?: Loop
  readonly family?: Family
  readonly tiered?: { readonly case: TieredCase; readonly readThrough: boolean }
  readonly clients?: ReadonlyArray<string>
  readonly sampleEvery?: number
}): Workload => {
  const random = makeRandom(options.ops + options.concurrency)
  const kinds = new Uint8Array(options.ops)
  const keyIndex = new Int32Array(options.ops)
  const mgetSize = options.mgetSize ?? 0
  const keyCount = options.dataset.keyCount
  for (let i = 0; i < options.ops; i++) {
    if (mgetSize > 0) {
      kinds[i] = MGET
      keyIndex[i] = Math.floor(random() * (keyCount - mgetSize + 1))
    } else {
      kinds[i] = options.setRatio !== undefined && random() < options.setRatio ? SET : GET
      keyIndex[i] = options.sequentialKeys === true ? i % keyCount : Math.floor(random() * keyCount)
    }
  }
  return {
    id: options.id,
    title: options.title,
    family: options.family ?? "client",
    loop: options.loop ?? "workers",
    tiered: options.tiered,
    clients: options.clients,
    concurrency: options.concurrency,
    dataset: options.dataset,
    ops: options.ops,
    sampleEvery: options.sampleEvery ?? 1,
    kinds,
    keyIndex,
    mgetSize,
    ttl: options.ttl ?? false
  }
}

/** Full keys of a dataset under one prefix, built once so no client pays for the concatenation. */
export const fullKeys = (dataset: Dataset, prefix: string): Array<string> => dataset.keys.map((key) => prefix + key)

/** The keys each MGET of a workload reads, indexed by op (empty for other ops), built once per key family. */
export const mgetGroups = (workload: Workload, keys: ReadonlyArray<string>): Array<Array<string>> => {
  const groups: Array<Array<string>> = new Array(workload.ops)
  const byStart = new Map<number, Array<string>>()
  for (let i = 0; i < workload.ops; i++) {
    if (workload.kinds[i] !== MGET) {
      groups[i] = []
      continue
    }
    const start = workload.keyIndex[i]!
    let group = byStart.get(start)
    if (group === undefined) {
      group = keys.slice(start, start + workload.mgetSize)
      byStart.set(start, group)
    }
    groups[i] = group
  }
  return groups
}
