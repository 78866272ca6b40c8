/**
 * Span recording for the shared suites (Effect 3): a tracer that hands every span it makes to the current tracer
 * and keeps it, as an exporter would see it.
 */
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"

/** A fresh recorder over the current tracer: install `tracer` (`Effect.withTracer`) and read `spans`. */
export const recording: Effect.Effect<{ readonly spans: Array<Tracer.Span>; readonly tracer: Tracer.Tracer }> = Effect
  .map(Effect.tracer, (base) => {
    const spans: Array<Tracer.Span> = []
    const tracer = Tracer.make({
      span: (name, parent, context, links, startTime, kind, options) => {
        const span = base.span(name, parent, context, links, startTime, kind, options)
        spans.push(span)
        return span
      },
      context: (f, fiber) => base.context(f, fiber)
    })
    return { spans, tracer }
  })
