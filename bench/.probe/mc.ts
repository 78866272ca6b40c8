import * as Effect from "#effect/Effect"
import * as Exit from "#effect/Exit"
import * as Scope from "#effect/Scope"
import { Client as Memjs } from "memjs"
import * as MemcachedClient from "../../src/MemcachedClient.js"
const port = Number(process.env.MCPORT)
const N = 10000
const keys = Array.from({ length: N }, (_, i) => `bench:k:${i}`)
const value = Buffer.alloc(100, 7)
const main = async () => {
  const scope = Effect.runSync(Scope.make())
  const client = await Effect.runPromise(Scope.extend(MemcachedClient.make({ servers: [`127.0.0.1:${port}`] }), scope))
  await Effect.runPromise(Effect.forEach(keys, (k) => client.metaSet(k, value), { concurrency: 256, discard: true }))
  const memjs = Memjs.create(`127.0.0.1:${port}`, { logger: { log() {} } as any })
  const ids = Array.from({ length: 100000 }, () => keys[Math.floor(Math.random() * N)]!)
  const ours = () =>
    Effect.runPromise(
      Effect.forEach(ids, (k) => client.metaGet(k, { value: true }), { concurrency: 256, discard: true })
    )
  const theirs = async () => {
    let i = 0
    await Promise.all(Array.from({ length: 256 }, async () => {
      while (i < ids.length) {
        const k = ids[i++]!
        await memjs.get(k)
      }
    }))
  }
  for (let r = 0; r < 4; r++) {
    for (
      const [name, f] of (process.env.ONLY === "ours" ? [["ours", ours]] : [["ours", ours], ["memjs", theirs]]) as any
    ) {
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      await f()
      const c = process.cpuUsage(c0)
      const t = performance.now() - t0
      console.log(
        name,
        "cpu µs/op",
        ((c.user + c.system) / ids.length).toFixed(2),
        "ops/s",
        Math.round(ids.length / t * 1000)
      )
    }
  }
  memjs.close()
  await Effect.runPromise(Scope.close(scope, Exit.void))
}
main()
