/**
 * Effect 4's `Redis` service (`effect/persistence`), the names the face uses. Effect 3 has no such service, so there
 * is no `effect3/Redis.ts`: only `src/EffectRedis.ts` imports this adapter, and that module is built into the
 * Effect 4 line only (`omit` in scripts/lines.mjs; `npm run check` keeps every other module off it).
 *
 * @internal
 */
import { Redis as R } from "effect/persistence"

/** Effect 4's service tag. */
export const Redis: typeof R.Redis = R.Redis
/** Effect 4's service class, the identifier of the service in a layer's type. */
export type Redis = R.Redis
/** Effect 4's service: `send`, `subscribe`, `eval` and `reserve`. */
export type Service = R.Redis["Service"]
/** Effect 4's `make`: the service over raw `send`, `subscribe` and `connect` operations. */
export const make: typeof R.make = R.make
/** Effect 4's error of a command, a script or a reservation; the client's error is its `cause`. */
export const RedisError: typeof R.RedisError = R.RedisError
/** Effect 4's error of a command, a script or a reservation. */
export type RedisError = R.RedisError
/** Effect 4's message of a pub/sub channel. */
export type RedisMessage = R.RedisMessage
/** Effect 4's options of the pool behind `reserve`. */
export type PoolOptions = R.PoolOptions
