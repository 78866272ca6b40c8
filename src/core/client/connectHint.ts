/**
 * What to tell someone whose client could not make its first connection: the failure as the client saw it (its
 * error's tag and message, the reply code or the socket's error code), turned into one sentence of advice. Used by
 * the startup check (`connect: "eager"`), where the error is the first thing an operator reads about the cache.
 *
 * Plain data in, plain text out: no secret is ever given to it (the messages it receives are already scrubbed) and
 * it quotes nothing but the address, the database and what it is given.
 *
 * @internal
 */

/**
 * A failed first connection, as the client's typed error tells it.
 *
 * @internal
 */
export interface ConnectFailure {
  /** The error's tag: `RedisConnectionError`, `RedisTimeoutError`, `RedisAuthError`, `RedisReplyError`… */
  readonly tag: string
  /** The error's message (already free of secrets). */
  readonly message: string
  /** The first word of an error reply (`WRONGPASS`, `ERR`, `NOAUTH`), or the socket error's code (`ECONNREFUSED`). */
  readonly code?: string | undefined
  /** The command an error reply answered (`AUTH`, `SELECT`, `PING`, `CLUSTER`). */
  readonly command?: string | undefined
}

/**
 * Where the client tried to connect, and with what: enough to make the advice concrete, nothing secret.
 *
 * @internal
 */
export interface ConnectTarget {
  readonly host: string
  readonly port: number
  readonly db: number
  readonly tls: boolean
  /** A password was given (never the password itself). */
  readonly hasPassword: boolean
  /** An ACL user name was given. */
  readonly hasUsername: boolean
  /** `connectTimeout` in milliseconds. */
  readonly connectTimeoutMillis: number
  /** The server's `databases` setting, when it could be read. */
  readonly databases?: number | undefined
}

const dnsCodes = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_NODATA", "EAI_FAIL"])
const unreachableCodes = new Set(["ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN"])
const resetCodes = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"])
const certificateCodes = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])

/**
 * One sentence of advice for `failure` at `target`, or `undefined` when there is nothing useful to add.
 *
 * @internal
 */
export const connectHint = (failure: ConnectFailure, target: ConnectTarget): string | undefined => {
  const where = `${target.host}:${target.port}`
  const code = failure.code ?? ""
  const message = failure.message
  const command = (failure.command ?? "").toUpperCase()
  switch (failure.tag) {
    case "RedisAuthError": {
      if (code === "NOAUTH" || (!target.hasPassword && /NOAUTH|authentication required/i.test(message))) {
        return "The server requires a password: give it in the URL (redis://:password@host) or the `password` " +
          "option."
      }
      if (/without any password configured|no password is set/i.test(message)) {
        return "The server has no password set for this user: remove the password from the URL or the `password` " +
          "option, or set one on the server (requirepass or ACL)."
      }
      if (/unknown command|wrong number of arguments/i.test(message)) {
        return target.hasUsername
          ? "The server does not know AUTH with a user name (Redis before 6.0 has no ACL users): drop the user name."
          : "The server refused the AUTH command itself (renamed, or too old for this form)."
      }
      return target.hasUsername
        ? "Check the user name and the password in the URL or the `username` and `password` options, and that the " +
          "ACL user is enabled."
        : "Check the password in the URL or the `password` option."
    }
    case "RedisReplyError": {
      if (command === "SELECT" || /DB index/i.test(message)) {
        if (/cluster/i.test(message)) {
          return "The server is a cluster node, where only database 0 exists: use RedisCluster, or db 0."
        }
        if (/out of range|invalid/i.test(message)) {
          return target.databases !== undefined
            ? `The server has ${target.databases} databases (0..${target.databases - 1}); db ${target.db} is not ` +
              "one of them: check the db in the URL path or the `db` option."
            : `The server has fewer than ${target.db + 1} databases (its \`databases\` setting): check the db in the ` +
              "URL path or the `db` option."
        }
        return "Check the db in the URL path or the `db` option."
      }
      if (/max(imum)? number of clients/i.test(message)) {
        return "The server is at its maxclients limit: close idle clients or raise maxclients."
      }
      if (code === "LOADING") return "The server is loading its dataset into memory: try again once it is done."
      if (/cluster support disabled/i.test(message)) {
        return `${where} is not a cluster node: use RedisClient (or RedisBackend.layer) for a single server.`
      }
      if (code === "NOPERM") return "The ACL user may not run this command: grant it in the user's ACL rules."
      if (command === "CLIENT") return "The server refused CLIENT SETNAME: check the `clientName` option."
      return undefined
    }
    case "RedisTimeoutError":
      // The connection's own text already suspects a plain port.
      if (/may not speak TLS/.test(message)) return undefined
      if (/accepted the connection/.test(message)) {
        return `Is ${where} a Redis server (and not a proxy or another service on that port)? If it is only slow, ` +
          `raise connectTimeout (now ${target.connectTimeoutMillis} ms).`
      }
      return `Is ${where} reachable from here (a firewall that drops packets answers nothing), and is it a Redis ` +
        `server? If it is only slow, raise connectTimeout (now ${target.connectTimeoutMillis} ms).`
    case "RedisProtocolError":
      return /HTTP/.test(message)
        ? `${where} answered like an HTTP server: check the port (Redis listens on 6379 by default).`
        : `${where} does not speak RESP: is it a Redis server${target.tls ? "" : " (or one that expects TLS)"}?`
    case "RedisConnectionError": {
      if (code === "ECONNREFUSED") return `Is redis-server running on ${where}?`
      if (dnsCodes.has(code)) {
        return `The host name ${target.host} does not resolve: check the host in the URL or the \`host\` option.`
      }
      if (unreachableCodes.has(code)) {
        return `No route to ${where}: check the host, the port and any firewall between here and there.`
      }
      if (certificateCodes.has(code) || /certificate/i.test(message)) {
        return "The server's TLS certificate was not accepted: give its CA as `tls: { ca }` (and check the host " +
          "name it was issued for)."
      }
      if (/may not speak TLS/.test(message)) return undefined
      if (/TLS|SSL|wrong version number|EPROTO/i.test(message) || code === "EPROTO") {
        return target.tls
          ? "The TLS handshake failed: does this port serve TLS? A plain port needs redis://, not rediss://."
          : "The connection failed during setup: if the server expects TLS, use rediss:// or the `tls` option."
      }
      if (resetCodes.has(code) || /closed|reset|ended/i.test(message)) {
        return `${where} closed the connection: is it a Redis server, and does it accept this client ` +
          `(protected-mode, bind, maxclients${target.tls ? "" : ", a TLS-only port"})?`
      }
      if (/serves no slot|told its topology/i.test(message)) {
        return "Check that the nodes given are nodes of a Redis Cluster (cluster-enabled yes) and are reachable."
      }
      return undefined
    }
  }
  return undefined
}

/**
 * The message of a failed startup check: which server, what happened, and the advice when there is some.
 *
 * @internal
 */
export const startupMessage = (failure: ConnectFailure, target: ConnectTarget): string => {
  const hint = connectHint(failure, target)
  const what = failure.message.replace(/[.\s]+$/, "")
  return `startup check of ${target.host}:${target.port} failed: ${what}.${hint === undefined ? "" : ` ${hint}`}`
}
