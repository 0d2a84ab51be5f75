// Reads stack config the way the Pulumi CLI hands it to a program: project defaults from
// Pulumi.yaml, then Pulumi.<stack>.yaml, then `-c key=value` overrides; every value a string.
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { PROJECT_NAME, PROJECT_ROOT } from "../config/project";

function asConfigString(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Full key with namespace: `workerCount` -> `slurm-cluster:workerCount`. */
function fullKey(key: string): string {
  return key.includes(":") ? key : `${PROJECT_NAME}:${key}`;
}

/**
 * A command's arguments after the stack: `-c key=value` (or `--config`) overrides, and `--flag`s
 * when the command takes any; anything else is an error.
 */
export function parseStackArgs(args: string[], allowFlags: boolean): { overrides: string[]; flags: Set<string> } {
  const overrides: string[] = [];
  const flags = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-c" || args[i] === "--config") overrides.push(args[++i] ?? "");
    else if (allowFlags && args[i].startsWith("--")) flags.add(args[i]);
    else throw new Error(`unexpected argument ${args[i]}`);
  }
  return { overrides, flags };
}

function parseOverride(override: string): [string, string] {
  const eq = override.indexOf("=");
  if (eq <= 0) throw new Error(`-c ${override}: expected key=value`);
  return [fullKey(override.slice(0, eq)), override.slice(eq + 1)];
}

/** A line that holds nothing for YAML: blank, or only a comment. */
const isBlankOrComment = (line: string) => /^\s*(#.*)?$/.test(line);
const indentOf = (line: string) => /^ */.exec(line)![0].length;

/** The key a `key: value` line at the start of `line` names (quotes undone), or undefined. */
function mappingKey(line: string): string | undefined {
  const m = /^ *(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'|([^\s#'"\-?:,[\]{}](?:[^:#]|:(?!\s|$)|(?<!\s)#)*?))\s*:(?:\s|$)/.exec(line);
  if (!m) return undefined;
  if (m[1] !== undefined) return JSON.parse(`"${m[1]}"`) as string;
  if (m[2] !== undefined) return m[2].replace(/''/g, "'");
  return m[3];
}

/** The comment that ends a one-line `key: value` (`  # ...`), kept when the value is replaced. */
function trailingComment(line: string): string {
  const value = line.slice(line.search(/:(\s|$)/) + 1);
  const scalar = /^\s*("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^#]*?(?:(?<!\s)#[^#]*?)*)(\s+#.*)?$/.exec(value);
  return scalar?.[2] ?? "";
}

/**
 * `pulumi up -c key=value` (and preview, destroy) saves each value into Pulumi.<stack>.yaml, as
 * `pulumi config set` does, so every later command uses it. Lines are edited in place, with the
 * indentation the file's config block uses (a block is added when there is none): the file's
 * comments stay. Values are written as strings, as Pulumi writes them. The edited text is read back
 * before it is written: an edit that would not say exactly what was asked is refused, not saved.
 */
export function saveConfigOverrides(stack: string, overrides: string[], root = PROJECT_ROOT): void {
  if (overrides.length === 0) return;
  const stackFile = path.join(root, `Pulumi.${stack}.yaml`);
  const expected = readStackConfig(stack, overrides, root); // an unknown stack or a bad override fails before anything is written
  const original = fs.readFileSync(stackFile, "utf8");
  const eol = original.includes("\r\n") ? "\r\n" : "\n";
  const lines = original.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  const refuse = (why: string): never => {
    throw new Error(`${stackFile}: ${why}; set the value with pulumi config set or an editor, not -c`);
  };
  let section = lines.findIndex((l) => /^config\s*:\s*(\{\s*\}\s*)?(#.*)?$/.test(l));
  if (section < 0) {
    if (lines.some((l) => /^config\s*:/.test(l))) refuse("its config is not a block mapping");
    while (lines.length > 0 && lines[lines.length - 1].trim() === "") lines.pop();
    lines.push("config:");
    section = lines.length - 1;
  } else {
    lines[section] = lines[section].replace(/^config\s*:\s*\{\s*\}/, "config:");
  }
  for (const override of overrides) {
    const [key, value] = parseOverride(override);
    const short = key.startsWith(`${PROJECT_NAME}:`) ? key.slice(PROJECT_NAME.length + 1) : undefined;
    // The block runs until the next line at column 0 that is not blank or a comment.
    let end = section + 1;
    while (end < lines.length && (isBlankOrComment(lines[end]) || indentOf(lines[end]) > 0)) end++;
    const entries = lines.slice(section + 1, end).filter((l) => !isBlankOrComment(l));
    if (entries.some((l) => l.startsWith("\t"))) refuse("its config block is indented with tabs");
    // The file's indentation: that of its config entries, else that of another block in it, else two spaces.
    const nested = lines.findIndex((l, i) => i > 0 && /^\S[^#]*:\s*(#.*)?$/.test(lines[i - 1]) && /^ +[^\s#]/.test(l));
    const width = entries.length > 0 ? indentOf(entries[0]) : nested > 0 ? indentOf(lines[nested]) : 2;
    const pad = " ".repeat(width);
    const [first, ...more] = yaml.dump({ [key]: value }, { lineWidth: -1, indent: width }).trimEnd().split("\n");
    const names = (l: string) => {
      const k = mappingKey(l);
      return k !== undefined && (k === key || k === short);
    };
    let at = lines.findIndex((l, i) => i > section && i < end && indentOf(l) === width && !isBlankOrComment(l) && names(l));
    if (at >= 0) {
      // The entry's value runs on over the lines indented deeper than it (a block scalar, a nested map).
      let last = at;
      for (let i = at + 1; i < end && (lines[i].trim() === "" || indentOf(lines[i]) > width); i++) if (lines[i].trim() !== "") last = i;
      const comment = last === at && more.length === 0 ? trailingComment(lines[at]) : "";
      lines.splice(at, last - at + 1, `${pad}${first}${comment}`, ...more.map((l) => `${pad}${l}`));
      continue;
    }
    // A new entry goes after the block's last entry, ahead of blank lines and of column-0 comments that lead into what follows.
    at = end;
    while (at > section + 1 && (lines[at - 1].trim() === "" || /^#/.test(lines[at - 1]))) at--;
    lines.splice(at, 0, `${pad}${first}`, ...more.map((l) => `${pad}${l}`));
  }
  const text = `${lines.join(eol)}${eol}`;
  // Read back as the next command will: each override says what was asked, and nothing else moved.
  let readBack: Record<string, string> | undefined;
  try {
    readBack = configFrom(stackFile, text, [], root, "refuse");
  } catch {
    readBack = undefined;
  }
  const sorted = (c: Record<string, string>) => JSON.stringify(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  if (!readBack || sorted(readBack) !== sorted(expected)) refuse("the edit would not read back as the values given");
  fs.writeFileSync(stackFile, text);
}

/**
 * The runner cannot decrypt `secure:` values: the alert webhook (which may carry a token, so a
 * stack keeps it with `pulumi config set --secret`) comes from this variable instead, over the
 * stack file; the program keeps what it renders from it secret, in the runner's state too.
 */
export const ALERT_WEBHOOK_ENV = "SLURM_CLUSTER_ALERT_WEBHOOK_URL";
const ALERT_WEBHOOK_KEY = fullKey("alertWebhookUrl");

/**
 * The stack's config: Pulumi.yaml's defaults, the stack file, then `-c` overrides. A `secure:` value
 * (only the Pulumi CLI can decrypt it) is refused, or left out with `secureValues: "omit"` for
 * readers that need no secret (the operator CLI finding a stack's engine).
 */
export function readStackConfig(stack: string, overrides: string[] = [], root = PROJECT_ROOT, secureValues: "refuse" | "omit" = "refuse"): Record<string, string> {
  const stackFile = path.join(root, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(stackFile)) {
    const known = fs.readdirSync(root).filter((f) => /^Pulumi\..+\.yaml$/.test(f)).map((f) => f.slice(7, -5));
    throw new Error(`no stack "${stack}": ${stackFile} does not exist (stacks: ${known.join(", ")})`);
  }
  return configFrom(stackFile, fs.readFileSync(stackFile, "utf8"), overrides, root, secureValues);
}

/** The config a stack file's text gives (readStackConfig, for text not yet written too). */
function configFrom(stackFile: string, stackText: string, overrides: string[], root: string, secureValues: "refuse" | "omit"): Record<string, string> {
  const project = yaml.load(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as {
    config?: Record<string, { default?: unknown }>;
  };
  const config: Record<string, string> = {};
  for (const [key, decl] of Object.entries(project.config ?? {})) {
    if (decl && typeof decl === "object" && "default" in decl) config[fullKey(key)] = asConfigString(decl.default);
  }
  const stackDoc = (yaml.load(stackText) ?? {}) as { config?: Record<string, unknown> };
  const webhookFromEnv = process.env[ALERT_WEBHOOK_ENV];
  for (const [key, value] of Object.entries(stackDoc.config ?? {})) {
    if (value && typeof value === "object" && "secure" in value) {
      if (secureValues === "omit") continue;
      if (fullKey(key) === ALERT_WEBHOOK_KEY && webhookFromEnv !== undefined) continue;
      const hint = fullKey(key) === ALERT_WEBHOOK_KEY ? `; give the runner its value in ${ALERT_WEBHOOK_ENV}` : "";
      throw new Error(`${stackFile}: ${key} is a secure value, which only the Pulumi CLI can decrypt${hint}`);
    }
    config[fullKey(key)] = asConfigString(value);
  }
  if (webhookFromEnv !== undefined) config[ALERT_WEBHOOK_KEY] = webhookFromEnv;
  for (const override of overrides) {
    const [key, value] = parseOverride(override);
    config[key] = value;
  }
  return config;
}
