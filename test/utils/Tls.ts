/**
 * Throw-away TLS material for tests: a self-signed certificate authority and a server certificate it signs, made
 * with the `openssl` command line tool in a temporary directory that lives as long as the enclosing scope.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"

/**
 * A certificate authority: its certificate (PEM) and the private key that signs server certificates.
 *
 * @since 0.1.0
 * @category models
 */
export interface CertificateAuthority {
  /** The temporary directory that holds the files; removed when the scope closes. */
  readonly dir: string
  /** Path of the CA certificate (PEM). */
  readonly caFile: string
  /** Path of the CA private key (PEM). */
  readonly caKeyFile: string
  /** The CA certificate (PEM), ready for `tls.connect({ ca })`. */
  readonly ca: string
}

/**
 * A server certificate for `CN=localhost` (subjectAltName `IP:127.0.0.1`, `DNS:localhost`) and the CA that signed
 * it. The certificate also carries the `clientAuth` usage, so it may serve as a client certificate too.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsFiles {
  /** The temporary directory that holds the server files; removed when the scope closes. */
  readonly dir: string
  /** Path of the signing CA certificate (PEM). */
  readonly caFile: string
  /** Path of the server certificate (PEM). */
  readonly certFile: string
  /** Path of the server private key (PEM). */
  readonly keyFile: string
  /** The signing CA certificate (PEM). */
  readonly ca: string
  /** The server certificate (PEM). */
  readonly cert: string
  /** The server private key (PEM). */
  readonly key: string
}

// Our own config file, so the result does not depend on the distribution's openssl.cnf (which differs between
// images and may add or omit extensions such as basicConstraints on `req -x509`).
const opensslConfig = `[req]
distinguished_name = dn
prompt = no

[dn]
CN = unused

[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`

// Short validity is enough for a test run, and backdating is unnecessary because openssl sets notBefore to now.
const validityDays = "2"

const keyArgs = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

const runOpenssl = (cwd: string, args: ReadonlyArray<string>): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8")
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk
    })
    child.once("error", reject)
    child.once("close", (code) => {
      if (code === 0) resolve()
      else reject(new Error(`openssl ${args.join(" ")} exited with ${code}: ${stderr.trim()}`))
    })
  })

const makeTempDir = (label: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), `erc-${label}-`))),
    (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
  )

const writeConfig = (dir: string): Promise<string> => {
  const file = Path.join(dir, "openssl.cnf")
  return Fs.writeFile(file, opensslConfig).then(() => file)
}

// Distinct serials keep certificates from different runs apart in any verifier cache.
const randomSerial = (): string => `0x${Crypto.randomBytes(8).toString("hex")}`

const createCertificateAuthority = async (dir: string, commonName: string): Promise<CertificateAuthority> => {
  const config = await writeConfig(dir)
  const caFile = Path.join(dir, "ca.crt")
  const caKeyFile = Path.join(dir, "ca.key")
  await runOpenssl(dir, [
    "req",
    "-x509",
    ...keyArgs,
    "-keyout",
    caKeyFile,
    "-out",
    caFile,
    "-days",
    validityDays,
    "-set_serial",
    randomSerial(),
    "-subj",
    `/CN=${commonName}`,
    "-config",
    config,
    "-extensions",
    "ca_ext"
  ])
  return { dir, caFile, caKeyFile, ca: await Fs.readFile(caFile, "utf8") }
}

const issueServerCertificate = async (dir: string, authority: CertificateAuthority): Promise<TlsFiles> => {
  const config = await writeConfig(dir)
  const keyFile = Path.join(dir, "server.key")
  const csrFile = Path.join(dir, "server.csr")
  const certFile = Path.join(dir, "server.crt")
  await runOpenssl(dir, [
    "req",
    "-new",
    ...keyArgs,
    "-keyout",
    keyFile,
    "-out",
    csrFile,
    "-subj",
    "/CN=localhost",
    "-config",
    config
  ])
  await runOpenssl(dir, [
    "x509",
    "-req",
    "-in",
    csrFile,
    "-CA",
    authority.caFile,
    "-CAkey",
    authority.caKeyFile,
    "-set_serial",
    randomSerial(),
    "-out",
    certFile,
    "-days",
    validityDays,
    "-extfile",
    config,
    "-extensions",
    "server_ext"
  ])
  // redis-server runs as the same user, so the default key mode is fine; keep it private anyway.
  await Fs.chmod(keyFile, 0o600)
  const [cert, key] = await Promise.all([Fs.readFile(certFile, "utf8"), Fs.readFile(keyFile, "utf8")])
  return { dir, caFile: authority.caFile, certFile, keyFile, ca: authority.ca, cert, key }
}

/**
 * Makes a fresh self-signed certificate authority (EC prime256v1) in a scoped temporary directory. Use it alone to
 * obtain a CA that did not sign the server's certificate, for tests that such a peer is rejected.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCertificateAuthority = (
  commonName = "effect-remote-cache test CA"
): Effect.Effect<CertificateAuthority, never, Scope.Scope> =>
  Effect.flatMap(
    makeTempDir("ca"),
    (dir) => Effect.promise(() => createCertificateAuthority(dir, commonName))
  )

/**
 * Issues a server certificate for `localhost` / `127.0.0.1` signed by the given authority, in its own scoped
 * temporary directory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeServerCertificate = (
  authority: CertificateAuthority
): Effect.Effect<TlsFiles, never, Scope.Scope> =>
  Effect.flatMap(makeTempDir("tls"), (dir) => Effect.promise(() => issueServerCertificate(dir, authority)))

/**
 * Makes a new CA and a server certificate it signs; everything is removed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTlsFiles: Effect.Effect<TlsFiles, never, Scope.Scope> = Effect.flatMap(
  makeCertificateAuthority(),
  makeServerCertificate
)

/**
 * The `redis-server` arguments that serve TLS on `tlsPort` with these files. Client certificates are not required,
 * so a client needs only the CA.
 *
 * @since 0.1.0
 * @category utils
 */
export const redisTlsArgs = (files: TlsFiles, tlsPort: number): ReadonlyArray<string> => [
  "--tls-port",
  String(tlsPort),
  "--tls-cert-file",
  files.certFile,
  "--tls-key-file",
  files.keyFile,
  "--tls-ca-cert-file",
  files.caFile,
  "--tls-auth-clients",
  "no"
]
