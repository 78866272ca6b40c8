/**
 * Effect 4's `Result` on Effect 3, where the same data type is `Either`: `Result<A, E>` is `Either<A, E>`, so a value
 * made by either name fits where the other is expected. Code reads the two sides through `getSuccess` /
 * `getFailure`-free accessors below, because the fields differ (`right` / `left` against `success` / `failure`).
 *
 * @internal
 */
import * as Either from "effect/Either"

/** A success or a failure. */
export type Result<A, E = never> = Either.Either<A, E>
/** The success side. */
export type Success<A, E = never> = Either.Right<E, A>
/** The failure side. */
export type Failure<A, E = never> = Either.Left<E, A>

export const succeed: <A>(value: A) => Result<A, never> = Either.right
export const fail: <E>(error: E) => Result<never, E> = Either.left
export const isResult: (input: unknown) => input is Result<unknown, unknown> = Either.isEither
export const isSuccess: <A, E>(self: Result<A, E>) => self is Success<A, E> = Either.isRight
export const isFailure: <A, E>(self: Result<A, E>) => self is Failure<A, E> = Either.isLeft
export const map = Either.map
export const mapError = Either.mapLeft
export const flatMap = Either.flatMap
export const getOrElse = Either.getOrElse
export const getOrThrow = Either.getOrThrow
export const fromOption = Either.fromOption
export const match: {
  <A, E, B, C = B>(
    options: { readonly onFailure: (e: E) => B; readonly onSuccess: (a: A) => C }
  ): (self: Result<A, E>) => B | C
  <A, E, B, C = B>(
    self: Result<A, E>,
    options: { readonly onFailure: (e: E) => B; readonly onSuccess: (a: A) => C }
  ): B | C
} = function(this: unknown, ...args: Array<any>): any {
  if (args.length === 1) {
    return (self: Result<any, any>) => Either.match(self, { onLeft: args[0].onFailure, onRight: args[0].onSuccess })
  }
  return Either.match(args[0], { onLeft: args[1].onFailure, onRight: args[1].onSuccess })
} as any

/** The value of a success (the field is `right` on Effect 3, `success` on Effect 4). */
export const successValue = <A, E>(self: Success<A, E>): A => self.right
/** The error of a failure (the field is `left` on Effect 3, `failure` on Effect 4). */
export const failureValue = <A, E>(self: Failure<A, E>): E => self.left
