/**
 * Effect 4's unsafe `Deferred` constructors on Effect 3.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import type * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as MutableRef from "effect/MutableRef"

export * from "effect/Deferred"

// Effect 3's `Deferred.unsafeMake` copies every property of an effect (a dozen, symbols included) into each new
// deferred, about 2 us per deferred, and a tiered cache makes one or two per miss. Every deferred of the same
// `blockingOn` differs only in its state: the rest is shared here through a prototype, made once from a deferred
// Effect 3 made itself, so it carries exactly what Effect 3 gives one.
const template = Deferred.unsafeMake<unknown, unknown>(FiberId.none)
const { state: _templateState, ...shared } = template as unknown as { readonly state: unknown }
const deferredPrototype: object = Object.assign(Object.create(Object.getPrototypeOf(template)), shared)
// Effect 3's state of a deferred not yet done (`internal/deferred`'s `pending([])`).
const pendingTag = (MutableRef.get(_templateState as MutableRef.MutableRef<{ readonly _tag: string }>))._tag

/** A deferred made outside a fiber (Effect 3's `Deferred.unsafeMake(FiberId.none)`, its shared part shared). */
export const makeUnsafe = <A, E = never>(): Deferred.Deferred<A, E> => {
  const deferred = Object.create(deferredPrototype)
  deferred.state = MutableRef.make({ _tag: pendingTag, joiners: [] })
  return deferred
}
/** Completes a deferred outside a fiber (Effect 4 also says whether this call completed it; nothing here reads that). */
export const doneUnsafe = <A, E>(self: Deferred.Deferred<A, E>, effect: Effect.Effect<A, E>): void =>
  Deferred.unsafeDone(self, effect)
