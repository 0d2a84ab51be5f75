import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { SlurmUserSpec } from "./accounting";

// Users' SSH public keys (users config `sshKey=<file>`), read on the deploying machine before
// anything is created. Only public keys leave this machine: a file that holds a private key is
// refused without its content being read any further or quoted.

/** The key types OpenSSH's sshd accepts in authorized_keys. */
const KEY_TYPES = [
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
];

/** `~` and `~/...` are the deploying user's home, as a shell would expand them. */
function expandHome(file: string, home = os.homedir()): string {
  if (file === "~") return home;
  if (file.startsWith("~/")) return path.join(home, file.slice(2));
  return file;
}

/** One authorized_keys line, checked: a known type, and a base64 blob that names the same type. */
function publicKeyLine(line: string): string | undefined {
  const [type, blob, ...comment] = line.trim().split(/\s+/);
  if (!KEY_TYPES.includes(type) || !blob || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) return undefined;
  const bytes = Buffer.from(blob, "base64");
  if (bytes.length < 4) return undefined;
  const length = bytes.readUInt32BE(0);
  if (bytes.length < 4 + length || bytes.subarray(4, 4 + length).toString("latin1") !== type) return undefined;
  return [type, blob, ...comment].join(" ");
}

/**
 * The public keys in a user's sshKey file, one authorized_keys line each; throws a one-line
 * message naming the user and the file (never its content) when the file is missing, holds a
 * private key, or is not a public key.
 */
export function readPublicKeys(user: string, file: string, home = os.homedir()): string[] {
  const where = `user ${user}: sshKey=${file}`;
  const full = path.resolve(expandHome(file, home));
  let text: string;
  try {
    const stat = fs.statSync(full);
    if (!stat.isFile()) throw new Error(`${where} is not a file`);
    if (stat.size > 64 * 1024) throw new Error(`${where} is ${stat.size} bytes, too big for a public key file`);
    text = fs.readFileSync(full, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Error(`${where} does not exist (${full})`);
    if (code === "EACCES") throw new Error(`${where} cannot be read (${full}: permission denied)`);
    throw err;
  }
  if (/PRIVATE KEY/.test(text)) {
    throw new Error(`${where} is a private key; give the public key (usually the same path with .pub): a private key is never uploaded`);
  }
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const keys = lines.map(publicKeyLine);
  if (lines.length === 0 || keys.some((k) => k === undefined)) {
    throw new Error(`${where} is not an OpenSSH public key file (expected lines like "ssh-ed25519 AAAA... comment", as ssh-keygen writes to a .pub file)`);
  }
  return keys as string[];
}

/** Every user's public keys (empty for a user without sshKey), and the problems found, one line each. */
export function readUsersPublicKeys(users: SlurmUserSpec[], home = os.homedir()): { keys: Record<string, string[]>; problems: string[] } {
  const keys: Record<string, string[]> = {};
  const problems: string[] = [];
  for (const u of users) {
    keys[u.name] = [];
    if (u.sshKeyPath === undefined) continue;
    try {
      keys[u.name] = readPublicKeys(u.name, u.sshKeyPath, home);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return { keys, problems };
}

/** The authorized keys as the login node's entrypoint takes them: `user key` lines. */
export function renderAuthorizedKeys(keys: Record<string, string[]>): string {
  return Object.entries(keys)
    .flatMap(([user, lines]) => lines.map((k) => `${user} ${k}\n`))
    .join("");
}
