/**
 * Heap figures for soak and chaos tests: a full GC first, when the runtime lets us ask for one, so figures taken
 * before and after a run are comparable.
 */
import * as V8 from "node:v8"
import * as Vm from "node:vm"

const collectGarbage: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  V8.setFlagsFromString("--expose-gc")
  return Vm.runInNewContext("gc") as () => void
})()

/** Heap in use, in MiB, after two full collections. */
export const heapMb = (): number => {
  collectGarbage()
  collectGarbage()
  return process.memoryUsage().heapUsed / 1024 / 1024
}
