// The files Docker sends as an image's build context: everything under the context folder that its
// .dockerignore does not exclude. An image's tag hashes exactly these (as pulumi-docker's
// contextDigest hashes the context with .dockerignore applied), so a file the Dockerfile copies
// from an ignored-but-re-included folder (node_modules/prom-client) changes the tag.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../config/project";

interface IgnoreRules {
  ignores(pathname: string): boolean;
}

function readRules(context: string): { rules: IgnoreRules; exceptions: string[] } {
  const file = path.join(context, ".dockerignore");
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const rules = require("@balena/dockerignore")().add(text) as IgnoreRules;
  const exceptions = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("!"))
    .map((l) => l.slice(1).replace(/^\/+/, "").replace(/\/+$/, ""));
  return { rules, exceptions };
}

/** Whether an ignored folder may still hold something an exception (!pattern) brings back. */
function mayHoldExceptions(dir: string, exceptions: string[]): boolean {
  return exceptions.some((e) => /[*?[]/.test(e.split("/")[0]) || e.startsWith(`${dir}/`) || dir === e || dir.startsWith(`${e}/`));
}

/** The context's files, relative and sorted, as Docker would send them. */
export function contextFiles(context: string): string[] {
  const { rules, exceptions } = readRules(context);
  const files: string[] = [];
  const walk = (relative: string) => {
    for (const entry of fs.readdirSync(path.join(context, relative)).sort()) {
      const rel = relative ? `${relative}/${entry}` : entry;
      if (fs.statSync(path.join(context, rel)).isDirectory()) {
        if (!rules.ignores(rel) || mayHoldExceptions(rel, exceptions)) walk(rel);
      } else if (!rules.ignores(rel)) {
        files.push(rel);
      }
    }
  };
  walk("");
  return files;
}

const digests = new Map<string, string>();
/**
 * Digests by the files' names, inodes, sizes and modification and change times: the contents are
 * read again only when one changed (a copy that keeps the modification time still gets a new change
 * time). Kept in the checkout's git-ignored .local-state/, which only its owner writes.
 */
const DIGEST_CACHE = path.join(PROJECT_ROOT, ".local-state", "context-digests.json");

function readCache(): Record<string, string> {
  try {
    return JSON.parse(fs.readFileSync(DIGEST_CACHE, "utf8")) as Record<string, string>;
  } catch {
    return {};
  }
}

/** A sha256 over the context's files (names and contents) and the Dockerfile. */
export function contextDigest(context: string, dockerfile: string): string {
  const files = contextFiles(context).map((f) => path.join(context, f));
  const stamp = crypto.createHash("sha256");
  for (const file of [...files, dockerfile]) {
    const st = fs.statSync(file);
    stamp.update(`${file}\t${st.ino}\t${st.size}\t${st.mtimeMs}\t${st.ctimeMs}\n`);
  }
  const key = stamp.digest("hex");
  const known = digests.get(key) ?? readCache()[key];
  if (known) return known;
  const hash = crypto.createHash("sha256");
  for (const file of files) hash.update(`${path.relative(context, file)}\n`).update(fs.readFileSync(file));
  hash.update(`dockerfile=${path.relative(context, dockerfile)}\n`).update(fs.readFileSync(dockerfile));
  const digest = hash.digest("hex");
  digests.set(key, digest);
  try {
    fs.mkdirSync(path.dirname(DIGEST_CACHE), { recursive: true, mode: 0o700 });
    fs.writeFileSync(DIGEST_CACHE, JSON.stringify({ ...Object.fromEntries(Object.entries(readCache()).slice(-50)), [key]: digest }), { mode: 0o600 });
  } catch {
    // A cache that cannot be written only costs time.
  }
  return digest;
}
