// Secrets in the runner's state file are encrypted at rest, as Pulumi's passphrase secrets provider
// keeps them in a checkpoint: AES-256-GCM, each value written as "v1:<nonce>:<ciphertext>" (base64)
// inside Pulumi's secret envelope. The key is PBKDF2-SHA256 (1,000,000 rounds) of
// PULUMI_CONFIG_PASSPHRASE (or the file PULUMI_CONFIG_PASSPHRASE_FILE names) over a salt kept in the
// state file; with neither set, a random key generated once into the user's config directory (0600),
// outside the state directory, so the state file alone gives no secret away.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Pulumi's marker of a secret value (in checkpoints and on the wire). */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export interface SecretsKey {
  key: Buffer;
  /** What the state file records so the same key is found again: the salt, or the key file. */
  describe: { type: "passphrase"; salt: string } | { type: "keyfile"; path: string };
}

const ROUNDS = 1_000_000;
const derived = new Map<string, Buffer>();

function passphrase(env: NodeJS.ProcessEnv): string | undefined {
  if (env.PULUMI_CONFIG_PASSPHRASE !== undefined) return env.PULUMI_CONFIG_PASSPHRASE;
  if (env.PULUMI_CONFIG_PASSPHRASE_FILE) return fs.readFileSync(env.PULUMI_CONFIG_PASSPHRASE_FILE, "utf8").replace(/\r?\n$/, "");
  return undefined;
}

/** Where the generated key lives when no passphrase is given: the user's config directory. */
export function keyFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), ".config");
  return path.join(base, "slurm-cluster", "local-runner-secrets.key");
}

/**
 * The key for a state file: the provider its file records (as a Pulumi stack keeps the secrets
 * provider it was created with), or for a new one the passphrase if given, else the key file.
 */
export function secretsKey(recorded: SecretsKey["describe"] | undefined, env: NodeJS.ProcessEnv = process.env): SecretsKey {
  const phrase = passphrase(env);
  if (recorded?.type === "passphrase" && phrase === undefined) {
    throw new Error("the runner's state holds secrets encrypted with a passphrase: set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE");
  }
  if (recorded?.type === "passphrase" || (recorded === undefined && phrase !== undefined)) {
    const useSalt = recorded?.type === "passphrase" ? recorded.salt : crypto.randomBytes(8).toString("base64");
    const id = `${phrase}\n${useSalt}`;
    let key = derived.get(id);
    if (!key) {
      key = crypto.pbkdf2Sync(phrase!, Buffer.from(useSalt, "base64"), ROUNDS, 32, "sha256");
      derived.set(id, key);
    }
    return { key, describe: { type: "passphrase", salt: useSalt } };
  }
  const file = recorded?.type === "keyfile" ? recorded.path : keyFilePath(env);
  return { key: keyFromFile(file), describe: { type: "keyfile", path: file } };
}

/**
 * The key kept in `file`, made by the first runner that needs it. Two runners may start at once:
 * each writes a whole key under a name of its own and links it into place, which only one link
 * can do (the other gets EEXIST and uses the key that won), so no runner ever reads a key half
 * written, nor goes on with a key another runner's state will not be encrypted with.
 */
function keyFromFile(file: string): Buffer {
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const own = `${file}.${process.pid}.${crypto.randomBytes(6).toString("hex")}.tmp`;
    fs.writeFileSync(own, crypto.randomBytes(32).toString("base64"), { mode: 0o600, flag: "wx" });
    try {
      fs.linkSync(own, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    } finally {
      fs.rmSync(own, { force: true });
    }
  }
  const key = Buffer.from(fs.readFileSync(file, "utf8").trim(), "base64");
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte key (base64); it encrypts the runner's state secrets, so restore it rather than remove it`);
  return key;
}

/**
 * Ciphertexts made in this process, by key and plaintext: the state is saved after each step, and
 * re-encrypting every unchanged secret each time cost seconds on a 64-worker stack. Pulumi's engine
 * keeps such a cache too (a secret keeps its ciphertext while its value is unchanged); a fresh
 * nonce per value still, and a new process starts empty.
 */
const sealedCache = new Map<string, Map<string, string>>();

export function encrypt(key: Buffer, value: unknown): Record<string, string> {
  const plain = JSON.stringify(value ?? null);
  const keyId = crypto.createHash("sha256").update(key).digest("base64");
  let cache = sealedCache.get(keyId);
  if (!cache) sealedCache.set(keyId, (cache = new Map()));
  let ciphertext = cache.get(plain);
  if (ciphertext === undefined) {
    const nonce = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv("aes-256-gcm", key, nonce);
    const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final(), cipher.getAuthTag()]);
    ciphertext = `v1:${nonce.toString("base64")}:${body.toString("base64")}`;
    cache.set(plain, ciphertext);
  }
  return { [SECRET_SIG]: SECRET_VALUE, ciphertext };
}

export function isEncrypted(value: unknown): value is { ciphertext: string } {
  return value !== null && typeof value === "object" && (value as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE && "ciphertext" in value;
}

export function decrypt(key: Buffer, envelope: { ciphertext: string }): unknown {
  const [version, nonce, body] = envelope.ciphertext.split(":");
  if (version !== "v1") throw new Error(`unknown secret format ${version}`);
  const data = Buffer.from(body, "base64");
  const decipher = crypto.createDecipheriv("aes-256-gcm", key, Buffer.from(nonce, "base64"));
  decipher.setAuthTag(data.subarray(data.length - 16));
  try {
    return JSON.parse(Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString("utf8"));
  } catch {
    throw new Error("cannot decrypt the secrets in the runner's state: wrong PULUMI_CONFIG_PASSPHRASE (or key file)");
  }
}
