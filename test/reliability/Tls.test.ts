import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { resolveOptions } from "../../src/internal/client/options.js"
import * as RedisBackend from "../../src/RedisBackend.js"
import * as RedisClient from "../../src/RedisClient.js"
import * as RedisServer from "../utils/RedisServer.js"
import * as Tls from "../utils/Tls.js"

// TLS verifies by default. RedisClient.test.ts covers a CA-signed server (accepted with its CA, rejected with an
// unrelated one or none). Here: a self-signed server certificate, as many deployments start with, is rejected
// unless it is given as the CA; a valid chain for another name is rejected; only an explicit opt-out skips checks.

const openssl = (cwd: string, args: ReadonlyArray<string>) =>
  Effect.async<void>((resume) => {
    const child = ChildProcess.spawn("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.once("error", (error) => resume(Effect.die(error)))
    child.once("close", (code) =>
      resume(code === 0 ? Effect.void : Effect.die(new Error(`openssl exited with ${code}: ${stderr}`))))
  })

// A leaf that signs itself: no CA above it, so no trust store can vouch for it unless told to trust it directly.
const selfSignedConfig = `[req]
distinguished_name = dn
prompt = no

[dn]
CN = localhost

[self_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
`

/** A self-signed certificate for 127.0.0.1 / localhost, in the shape the server helper takes. */
const selfSigned: Effect.Effect<Tls.TlsFiles, never, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "erc-self-signed-"))),
    (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
  )
  const config = Path.join(dir, "openssl.cnf")
  yield* Effect.promise(() => Fs.writeFile(config, selfSignedConfig))
  const certFile = Path.join(dir, "server.crt")
  const keyFile = Path.join(dir, "server.key")
  yield* openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "2",
    "-config",
    config,
    "-extensions",
    "self_ext"
  ])
  const [cert, key] = yield* Effect.promise(() =>
    Promise.all([Fs.readFile(certFile, "utf8"), Fs.readFile(keyFile, "utf8")])
  )
  // The server needs a CA file to be configured at all; it does not ask clients for certificates.
  return { dir, caFile: certFile, certFile, keyFile, ca: cert, cert, key }
})

describe("TLS", () => {
  it.scopedLive("a self-signed server certificate is rejected by default and accepted once given as the CA", () =>
    Effect.gen(function*() {
      const files = yield* selfSigned
      const server = yield* RedisServer.make({ tls: files, plainPort: false })
      const options = { host: "127.0.0.1", port: server.port, connectTimeout: "2 seconds" } as const

      for (const tls of [{ tls: true }, { url: `rediss://127.0.0.1:${server.port}` }, { tls: {} }]) {
        const client = yield* RedisClient.make({ ...options, ...tls })
        const error = yield* Effect.flip(client.send(["PING"]))
        expect(error._tag).toBe("RedisConnectionError")
        // The reason is in the message, for whoever has to fix the deployment.
        expect(error.message).toMatch(/self[- ]signed/i)
        const cache = yield* Effect.provideService(RedisBackend.make(), RedisClient.RedisClient, client)
        expect((yield* Effect.flip(cache.get("k")))._tag).toBe("CacheConnectionError")
      }

      const trusted = yield* RedisClient.make({ ...options, tls: { ca: files.cert } })
      expect(yield* trusted.send(["SET", "k", "over tls"])).toBe("OK")
      expect(Buffer.from((yield* trusted.send(["GET", "k"])) as Uint8Array).toString()).toBe("over tls")
    }))

  it.scopedLive("a valid chain for another name is rejected: the host is verified, not only the signature", () =>
    Effect.gen(function*() {
      const files = yield* Tls.makeTlsFiles
      const server = yield* RedisServer.make({ tls: files, plainPort: false })
      const wrongName = yield* RedisClient.make({
        host: "127.0.0.1",
        port: server.port,
        tls: { ca: files.ca, servername: "cache.example.org" }
      })
      const error = yield* Effect.flip(wrongName.send(["PING"]))
      expect(error._tag).toBe("RedisConnectionError")
      expect(error.message).toMatch(/cache\.example\.org|altnames|hostname/i)

      const rightName = yield* RedisClient.make({ host: "127.0.0.1", port: server.port, tls: { ca: files.ca } })
      expect(yield* rightName.send(["PING"])).toBe("PONG")
    }))

  it.scopedLive("only an explicit rejectUnauthorized: false skips verification", () =>
    Effect.gen(function*() {
      const files = yield* selfSigned
      const server = yield* RedisServer.make({ tls: files, plainPort: false })
      const client = yield* RedisClient.make({
        host: "127.0.0.1",
        port: server.port,
        tls: { rejectUnauthorized: false }
      })
      expect(yield* client.send(["PING"])).toBe("PONG")
      // The resolved options of a default TLS client carry no such opt-out.
      const defaults = yield* resolveOptions({ url: "rediss://127.0.0.1:6380" })
      expect(defaults.tls).toEqual({})
    }))
})
