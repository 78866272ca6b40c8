/**
 * Effect 4's `Tracer.nativeTracer` on Effect 3: the tracer every fiber has unless one is installed.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Tracer from "effect/Tracer"

export * from "effect/Tracer"

/**
 * Effect's built-in tracer, which keeps its spans in memory and hands them to nobody (Effect 4's
 * `Tracer.nativeTracer`): on Effect 3, the tracer of the default services.
 */
export const nativeTracer: Tracer.Tracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)
