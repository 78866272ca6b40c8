/**
 * The errors a connection fails commands with, made by the face that uses it: the core says which kind of error
 * and with which fields, the face builds its own error classes from them (the Effect 3 face, the `RedisError`
 * classes). Factories run only when something fails, never on a command's way to its reply.
 *
 * @internal
 */
/**
 * What the connection reads of an error it was given (`destroy`'s): a tagged error with a message, as the
 * `RedisError` classes are.
 *
 * @internal
 */
export interface ErrorLike {
  readonly _tag: string
  readonly message: string
  readonly cause?: unknown
}

/**
 * The fields of a lost, closed or refused connection (`RedisConnectionError`).
 *
 * @internal
 */
export interface ConnectionFields {
  readonly message: string
  readonly cause?: unknown
  readonly outcomeUnknown?: boolean | undefined
}

/**
 * The fields of a command that got no reply in time (`RedisTimeoutError`).
 *
 * @internal
 */
export interface TimeoutFields {
  readonly message: string
  readonly phase: "reply"
  readonly timeoutMillis: number
  readonly command: string
  readonly outcomeUnknown?: boolean | undefined
}

/**
 * The fields of a stream that is not RESP, or of a reply that no command was waiting for (`RedisProtocolError`).
 *
 * @internal
 */
export interface ProtocolFields {
  readonly message: string
  readonly cause?: unknown
}

/**
 * The fields of a command that cannot be sent as given (`RedisInputError`).
 *
 * @internal
 */
export interface InputFields {
  readonly message: string
  readonly command: string
}

/**
 * The error factories a connection is made with, one per kind. `connection` must make errors tagged
 * `"RedisConnectionError"`: a command written before such a loss fails with a copy that says it may have run.
 *
 * @internal
 */
export interface ConnectionErrors<E extends ErrorLike> {
  readonly connection: (fields: ConnectionFields) => E
  readonly timeout: (fields: TimeoutFields) => E
  readonly protocol: (fields: ProtocolFields) => E
  readonly input: (fields: InputFields) => E
}
