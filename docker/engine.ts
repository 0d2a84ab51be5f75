// The ground floor of Docker access: which engine a stack talks to and how to reach it. The
// program (config/), the local runner and the CLI all take the engine's address and client from
// here, and so do the components' dynamic providers (through docker/container-exec.ts): Pulumi
// serializes what they call into state by value, so this module keeps to Node built-ins and
// packages (dockerode, ssh2), which the serialized code requires by name
// (tests/unit/provider-serialization.test.ts runs it in a plain Node).
//
// The addresses are Docker's: unix:///path; ssh://[user@]host[:port] (the engine's API through
// `docker system dial-stdio` over SSH, as the Docker CLI does it); tcp://host[:port] with TLS when
// DOCKER_TLS_VERIFY is set (ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH, else ~/.docker;
// port 2376), and https://host[:port] likewise; plain tcp:// and http:// only when the stack
// allows it (allowInsecureDockerHost): the Docker API is root on the machine that answers it.
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import type Docker from "dockerode";
import type { AgentAuthMethod, ClientChannel, PublicKeyAuthMethod } from "ssh2";

/** An engine that cannot be reached as configured: one line, said as is (not wrapped in "did not answer"). */
export class EngineAccessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EngineAccessError";
  }
}

/**
 * The Docker engine the stack deploys to, decided once and given to the docker provider and the
 * registration check alike: `docker:host`, else DOCKER_HOST (both as the provider reads them),
 * else Docker Desktop's per-user socket on macOS when the system one is absent, else the default.
 */
export function resolveDockerHost(configured?: string, env = process.env, platform = process.platform, exists: (file: string) => boolean = fs.existsSync): string {
  if (configured) return configured;
  if (env.DOCKER_HOST) return env.DOCKER_HOST;
  const desktop = path.join(env.HOME ?? os.homedir(), ".docker", "run", "docker.sock");
  if (platform === "darwin" && !exists("/var/run/docker.sock") && exists(desktop)) return `unix://${desktop}`;
  return "unix:///var/run/docker.sock";
}

/** How an engine address is reached. */
type EngineEndpoint =
  | { kind: "unix"; socketPath: string }
  | { kind: "ssh"; host: string; port: number; username: string }
  | { kind: "tls"; host: string; port: number; certPath: string }
  | { kind: "plain"; host: string; port: number };

const home = (env: NodeJS.ProcessEnv) => env.HOME || os.homedir();

/** Where Docker's client looks for ca.pem, cert.pem and key.pem: DOCKER_CERT_PATH, else ~/.docker. */
function dockerCertPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CERT_PATH || path.join(home(env), ".docker");
}

/**
 * What an address means, as the Docker CLI reads it. `tcp://` is TLS when DOCKER_TLS_VERIFY is set
 * (any value, as Docker reads it) or when `certPath` is given (the docker provider's setting).
 */
export function engineEndpoint(address: string, env: NodeJS.ProcessEnv = process.env, certPath?: string): EngineEndpoint {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new EngineAccessError(`the Docker host address ${JSON.stringify(address)} is not one Docker reads (unix:///path, ssh://user@host, tcp://host:port)`);
  }
  const port = (fallback: number) => Number(url.port) || fallback;
  // An IPv6 literal comes back in brackets from URL; sockets want it bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  switch (url.protocol) {
    case "unix:":
      return { kind: "unix", socketPath: url.pathname };
    case "ssh:":
      return { kind: "ssh", host, port: port(22), username: decodeURIComponent(url.username) || env.USER || os.userInfo().username };
    case "https:":
      return { kind: "tls", host, port: port(2376), certPath: certPath || dockerCertPath(env) };
    case "tcp:":
      if (certPath || env.DOCKER_TLS_VERIFY) return { kind: "tls", host, port: port(2376), certPath: certPath || dockerCertPath(env) };
      return { kind: "plain", host, port: port(2375) };
    case "http:":
      return { kind: "plain", host, port: port(2375) };
    default:
      throw new EngineAccessError(`the Docker host ${address} uses ${url.protocol}//, which this program does not speak (unix://, ssh://, tcp:// with or without TLS, https://)`);
  }
}

const TLS_FILES = ["ca.pem", "cert.pem", "key.pem"] as const;

/** The TLS files of an engine: the CA to verify it against and the client certificate to present. */
function tlsMaterial(address: string, certPath: string): { ca: Buffer; cert: Buffer; key: Buffer } {
  const missing = TLS_FILES.filter((f) => !fs.existsSync(path.join(certPath, f)));
  if (missing.length > 0) {
    throw new EngineAccessError(
      `the Docker engine at ${address} is reached over TLS, but ${missing.map((f) => path.join(certPath, f)).join(", ")} ` +
        `${missing.length > 1 ? "are" : "is"} missing: put the engine's CA and your client certificate and key there, or point DOCKER_CERT_PATH at them`,
    );
  }
  const [ca, cert, key] = TLS_FILES.map((f) => fs.readFileSync(path.join(certPath, f)));
  return { ca, cert, key };
}

/**
 * Why the stack may not use this engine address, before anything is created; undefined if it may.
 * `source` names where the address came from (docker:host or DOCKER_HOST).
 */
export function engineAddressProblem(address: string, allowInsecure: boolean, source: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  let endpoint: EngineEndpoint;
  try {
    endpoint = engineEndpoint(address, env);
  } catch (e) {
    return `${source} = ${JSON.stringify(address)}: ${(e as Error).message}`;
  }
  if (endpoint.kind === "plain" && !allowInsecure) {
    return (
      `${source} = ${JSON.stringify(address)} is the Docker API over unencrypted, unauthenticated TCP, and the Docker API is root on that machine: ` +
      `use ssh://user@${endpoint.host}, or TLS (DOCKER_TLS_VERIFY=1 with ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH), ` +
      `or set slurm-cluster:allowInsecureDockerHost=true to accept it`
    );
  }
  if (endpoint.kind === "tls") {
    try {
      tlsMaterial(address, endpoint.certPath);
    } catch (e) {
      return `${source} = ${JSON.stringify(address)}: ${(e as Error).message}`;
    }
  }
  return undefined;
}

/**
 * What the docker provider (pulumi-docker, which connects as the Docker CLI does) needs for the
 * engine: TLS engines as tcp:// with certPath, ssh:// engines with host keys checked against
 * known_hosts and no prompt (pulumi runs it without a terminal).
 */
export function dockerProviderArgs(address: string, env: NodeJS.ProcessEnv = process.env): { host: string; certPath?: string; sshOpts?: string[] } {
  const endpoint = engineEndpoint(address, env);
  if (endpoint.kind === "tls") return { host: `tcp://${bracket(endpoint.host)}:${endpoint.port}`, certPath: endpoint.certPath };
  if (endpoint.kind === "ssh") return { host: address, sshOpts: ["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"] };
  return { host: address };
}

const bracket = (host: string) => (host.includes(":") ? `[${host}]` : host);

// docker-modem fills in whatever the constructor is not given from DOCKER_HOST, DOCKER_TLS_VERIFY
// and DOCKER_CERT_PATH: every field is given here, so the address alone decides the engine.
const NOTHING_FROM_ENV = { socketPath: undefined, host: undefined, port: undefined, protocol: undefined, ca: undefined, cert: undefined, key: undefined, username: undefined, sshOptions: undefined };

/**
 * dockerode options for a Docker host address. `certPath` is the docker provider's setting of
 * that name (TLS from those files). ssh:// engines get an HTTP agent that opens the connection
 * (see sshAgent); plain TCP is refused by config validation unless the stack allows it.
 */
export function dockerClientOptions(address: string, env: NodeJS.ProcessEnv = process.env, certPath?: string): Docker.DockerOptions {
  const endpoint = engineEndpoint(address, env, certPath);
  switch (endpoint.kind) {
    case "unix":
      return { ...NOTHING_FROM_ENV, socketPath: endpoint.socketPath };
    case "ssh":
      // Plain HTTP over the SSH channel: docker-modem's own "ssh" protocol would not check host keys.
      return { ...NOTHING_FROM_ENV, host: endpoint.host, port: endpoint.port, protocol: "http", agent: sshAgent(endpoint, env) } as Docker.DockerOptions;
    case "tls":
      return { ...NOTHING_FROM_ENV, host: endpoint.host, port: endpoint.port, protocol: "https", ...tlsMaterial(address, endpoint.certPath) };
    case "plain":
      return { ...NOTHING_FROM_ENV, host: endpoint.host, port: endpoint.port, protocol: "http" };
  }
}

/** A dockerode client for the engine at `address`; dockerode is loaded by the first caller, not by importers. */
export function connectEngine(address: string, env: NodeJS.ProcessEnv = process.env, certPath?: string): Docker {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Dockerode: typeof Docker = require("dockerode");
  return new Dockerode(dockerClientOptions(address, env, certPath));
}

// ---- SSH ----------------------------------------------------------------------------------

/** The known_hosts files ssh reads by default: the user's, then the system's. */
function knownHostsFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  return [path.join(home(env), ".ssh", "known_hosts"), "/etc/ssh/ssh_known_hosts"];
}

/** How a host is written in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/** One host pattern of a known_hosts line: hashed (|1|salt|hash), or a name with * and ? wildcards. */
function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith("|1|")) {
    const [, , salt, hash] = pattern.split("|");
    if (!salt || !hash) return false;
    return crypto.createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64") === hash;
  }
  const glob = new RegExp(`^${pattern.toLowerCase().replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
  return glob.test(name);
}

/** Whether a known_hosts host field (comma-separated patterns, `!` negates) names the host. */
function hostFieldMatches(field: string, name: string): boolean {
  let matched = false;
  for (const raw of field.split(",")) {
    const negated = raw.startsWith("!");
    if (patternMatches(negated ? raw.slice(1) : raw, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

type HostKeyVerdict = { ok: true } | { ok: false; reason: "unknown" | "mismatch" | "revoked"; message: string };

/**
 * Checks the key an SSH server presented (its wire-format blob, as ssh2 hands it over) against
 * known_hosts, as ssh does with StrictHostKeyChecking=yes: a listed key passes; a host listed only
 * with other keys, a revoked key or a host not listed fails, with one line saying what to do.
 */
export function checkHostKey(host: string, port: number, key: Buffer, files: string[], username?: string, homeDir = os.homedir()): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const login = `ssh ${port === 22 ? "" : `-p ${port} `}${username ? `${username}@` : ""}${host}`;
  let listed = false;
  let matchedIn = "";
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      const fields = line.trim().split(/\s+/);
      if (!fields[0] || fields[0].startsWith("#")) continue;
      const marker = fields[0].startsWith("@") ? fields.shift() : undefined;
      const [hosts, , blob] = fields;
      if (!hosts || !blob || marker === "@cert-authority" || !hostFieldMatches(hosts, name)) continue;
      const same = Buffer.from(blob, "base64").equals(key);
      if (marker === "@revoked") {
        if (same) return { ok: false, reason: "revoked", message: `the SSH host key of ${name} is marked @revoked in ${tilde(file, homeDir)}; nothing was done` };
        continue;
      }
      if (same) matchedIn = file;
      listed = true;
    }
  }
  if (matchedIn) return { ok: true };
  const userFile = tilde(files[0] ?? "~/.ssh/known_hosts", homeDir);
  if (listed) {
    return {
      ok: false,
      reason: "mismatch",
      message:
        `the SSH host key of ${name} does not match the one in known_hosts (someone may be in between, or the machine was reinstalled): ` +
        `check the new key, then ssh-keygen -R '${name}' and run \`${login}\` once to accept it`,
    };
  }
  return { ok: false, reason: "unknown", message: `the SSH host key of ${name} is not in ${userFile}; run \`${login}\` once to check and accept it` };
}

function tilde(file: string, homeDir: string): string {
  return file.startsWith(`${homeDir}/`) ? `~${file.slice(homeDir.length)}` : file;
}

/** The private key files ssh tries by default that exist and need no passphrase (ssh-agent holds the others). */
function defaultKeyFiles(env: NodeJS.ProcessEnv = process.env): { file: string; key: Buffer }[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { utils } = require("ssh2") as typeof import("ssh2");
  const keys: { file: string; key: Buffer }[] = [];
  for (const name of ["id_ed25519", "id_ecdsa", "id_rsa"]) {
    const file = path.join(home(env), ".ssh", name);
    let key: Buffer;
    try {
      key = fs.readFileSync(file);
    } catch {
      continue;
    }
    if (!(utils.parseKey(key) instanceof Error)) keys.push({ file, key });
  }
  return keys;
}

/** How ssh2 logs in as the Docker CLI's ssh would: the agent's keys (SSH_AUTH_SOCK), then ~/.ssh/id_* files. */
function sshLogin(username: string, env: NodeJS.ProcessEnv = process.env): { methods: (AgentAuthMethod | PublicKeyAuthMethod)[]; offered: string[] } {
  const methods: (AgentAuthMethod | PublicKeyAuthMethod)[] = [];
  const offered: string[] = [];
  if (env.SSH_AUTH_SOCK) {
    methods.push({ type: "agent", username, agent: env.SSH_AUTH_SOCK });
    offered.push("the keys in ssh-agent");
  }
  for (const { file, key } of defaultKeyFiles(env)) {
    methods.push({ type: "publickey", username, key });
    offered.push(tilde(file, home(env)));
  }
  return { methods, offered };
}

/** Options for the SSH connection to an engine: everything but the host key check and the socket. */
interface SshEngineOptions {
  /** known_hosts files to check the host key against (default: ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts). */
  knownHosts?: string[];
  /** How long connecting and logging in may take, in ms. */
  readyTimeout?: number;
}

/**
 * Opens `docker system dial-stdio` on the engine's machine over SSH: a byte stream to its Docker
 * API. The host key is checked against known_hosts first; any failure is one EngineAccessError line.
 */
function dialEngineOverSsh(endpoint: Extract<EngineEndpoint, { kind: "ssh" }>, env: NodeJS.ProcessEnv = process.env, options: SshEngineOptions = {}): Promise<ClientChannel> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Client } = require("ssh2") as typeof import("ssh2");
  const { host, port, username } = endpoint;
  const where = `ssh://${username}@${bracket(host)}${port === 22 ? "" : `:${port}`}`;
  const login = sshLogin(username, env);
  return new Promise((resolve, reject) => {
    if (login.methods.length === 0) {
      reject(new EngineAccessError(`no SSH key to log in to ${where} with: start ssh-agent with your key (SSH_AUTH_SOCK), or keep an unencrypted ~/.ssh/id_ed25519, id_ecdsa or id_rsa`));
      return;
    }
    const conn = new Client();
    let refused: string | undefined;
    let settled = false;
    const fail = (message: string) => {
      if (!settled) reject(new EngineAccessError(message));
      settled = true;
      conn.end();
    };
    conn.on("error", (err: Error & { level?: string; code?: string }) => {
      if (refused) return fail(refused);
      if (err.level === "client-authentication") return fail(`${where} refused every key offered (${login.offered.join(", ")}): add yours to ~/.ssh/authorized_keys of ${username} on ${host}`);
      if (err.level === "client-socket" || err.level === "client-timeout" || err.code) return fail(`the Docker engine at ${where} cannot be reached: ${err.code ?? err.message}`);
      fail(`SSH to ${where} failed: ${err.message}`);
    });
    conn.on("ready", () => {
      conn.exec("docker system dial-stdio", (err, stream) => {
        if (err) return fail(`${where} would not run \`docker system dial-stdio\`: ${err.message}`);
        let stderr = "";
        stream.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
        stream.on("exit", (code: number | null) => {
          // dial-stdio exits at once when docker is missing or the user may not use its socket.
          if (!code) return;
          const err = new EngineAccessError(`\`docker system dial-stdio\` failed on ${host} (exit ${code}): ${stderr.trim().split("\n")[0] || "no output"}`);
          if (stream.listenerCount("error") > 0) {
            stream.emit("error", err);
            stream.destroy();
          } else {
            // The exit came in the same read as the exec's reply (a command that fails at once), before
            // the HTTP client listens: the agent hands this error over instead of an ended stream
            // (which the client would report as "socket hang up").
            (stream as ClientChannel & { dialFailure?: Error }).dialFailure = err;
          }
        });
        stream.once("close", () => conn.end());
        settled = true;
        resolve(stream);
      });
    });
    conn.on("close", () => fail(`the Docker engine at ${where} closed the SSH connection`));
    conn.connect({
      host,
      port,
      username,
      readyTimeout: options.readyTimeout ?? 20_000,
      authHandler: login.methods,
      hostVerifier: (key: Buffer) => {
        const verdict = checkHostKey(host, port, key, options.knownHosts ?? knownHostsFiles(env), username, home(env));
        if (verdict.ok) return true;
        refused = verdict.message;
        return false;
      },
    });
  });
}

/**
 * At most this many SSH logins to one engine in progress at a time in this process (more wait their
 * turn): sshd drops new connections beyond 10 unauthenticated ones (MaxStartups 10:30:100), which
 * 64 workers created at once would pass. http.Agent's maxSockets does not bound this: it counts a
 * connection only once createConnection has handed it over, and ours come later, when the login is
 * done (seen against a real sshd: 40 requests at once, some dropped before the handshake). The
 * queue is on globalThis: each dynamic provider's serialized copy of this code waits in it too.
 */
const SSH_CONNECTIONS_PER_ENGINE = 8;

/** The logins to one engine under way and those waiting, per process (globalThis: every serialized copy shares it). */
interface SshTurns {
  active: number;
  waiting: (() => void)[];
}

/** Runs `login` when fewer than SSH_CONNECTIONS_PER_ENGINE logins to the engine are under way; its turn ends when it settles. */
function inSshTurn<T>(engineKey: string, login: () => Promise<T>): Promise<T> {
  const shared = globalThis as { slurmClusterSshTurns?: Map<string, SshTurns> };
  const all = (shared.slurmClusterSshTurns ??= new Map());
  let turns = all.get(engineKey);
  if (!turns) all.set(engineKey, (turns = { active: 0, waiting: [] }));
  const queue = turns;
  return new Promise<T>((resolve, reject) => {
    const go = () => {
      queue.active++;
      Promise.resolve()
        .then(login)
        .then(resolve, reject)
        .finally(() => {
          queue.active--;
          queue.waiting.shift()?.();
        });
    };
    if (queue.active < SSH_CONNECTIONS_PER_ENGINE) go();
    else queue.waiting.push(go);
  });
}

/** The key of an engine's queue of logins. */
const sshEngineKey = (endpoint: { host: string; port: number; username: string }) => `${endpoint.username}@${endpoint.host}:${endpoint.port}`;

/** An HTTP agent whose every connection is a fresh `docker system dial-stdio` over SSH, as Docker's CLI connects. */
function sshAgent(endpoint: Extract<EngineEndpoint, { kind: "ssh" }>, env: NodeJS.ProcessEnv = process.env, options: SshEngineOptions = {}): http.Agent {
  // One connection per request, closed when it is answered: no keep-alive and no maxSockets, so
  // Node sends `Connection: close` and the engine ends the connection, which ends dial-stdio and
  // the SSH connection. (With maxSockets set, Node asks for keep-alive and hands a finished
  // connection to a waiting request; against a real sshd, 12 execs at once left 7 SSH sessions
  // open until the process exited.) inSshTurn bounds the logins.
  const agent = new http.Agent();
  (agent as unknown as { createConnection: unknown }).createConnection = (_opts: unknown, callback: (err: Error | null, socket?: ClientChannel) => void) => {
    inSshTurn(sshEngineKey(endpoint), () => dialEngineOverSsh(endpoint, env, options)).then(
      (stream) => {
        const failure = (stream as ClientChannel & { dialFailure?: Error }).dialFailure;
        return failure ? callback(failure) : callback(null, stream);
      },
      (err: Error) => callback(err),
    );
    return undefined;
  };
  return agent;
}
