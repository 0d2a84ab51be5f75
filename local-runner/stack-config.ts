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

/**
 * `pulumi up -c key=value` (and preview, destroy) saves each value into Pulumi.<stack>.yaml, as
 * `pulumi config set` does, so every later command uses it. Lines are edited in place: the file's
 * comments stay. Values are written as strings, as Pulumi writes them.
 */
export function saveConfigOverrides(stack: string, overrides: string[], root = PROJECT_ROOT): void {
  if (overrides.length === 0) return;
  const stackFile = path.join(root, `Pulumi.${stack}.yaml`);
  readStackConfig(stack, overrides, root); // an unknown stack or a bad override fails before anything is written
  let lines = fs.readFileSync(stackFile, "utf8").replace(/\n$/, "").split("\n");
  for (const override of overrides) {
    const [key, value] = parseOverride(override);
    const short = key.startsWith(`${PROJECT_NAME}:`) ? key.slice(PROJECT_NAME.length + 1) : undefined;
    // A multi-line value is a block scalar: its lines go one level deeper than the key.
    const [first, ...more] = yaml.dump(value, { lineWidth: -1 }).trimEnd().split("\n");
    const line = [`  ${key}: ${first}`, ...more.map((l) => `  ${l}`)].join("\n");
    const existing = lines.findIndex((l) => l.startsWith(`  ${key}:`) || (short !== undefined && l.startsWith(`  ${short}:`)));
    if (existing >= 0 && !/:\s*[|>]/.test(lines[existing]) && !/^\s{4}/.test(lines[existing + 1] ?? "")) {
      lines[existing] = line;
      continue;
    }
    if (existing >= 0) throw new Error(`${stackFile}: ${key} holds a multi-line value; set it with an editor, not -c`);
    if (!lines.includes("config:")) lines = [...lines, "config:"];
    const section = lines.indexOf("config:");
    let end = section + 1;
    while (end < lines.length && (/^\s+\S/.test(lines[end]) || lines[end].trim() === "")) end++;
    while (end > section + 1 && lines[end - 1].trim() === "") end--;
    lines.splice(end, 0, line);
  }
  fs.writeFileSync(stackFile, `${lines.join("\n")}\n`);
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
  const project = yaml.load(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as {
    config?: Record<string, { default?: unknown }>;
  };
  const config: Record<string, string> = {};
  for (const [key, decl] of Object.entries(project.config ?? {})) {
    if (decl && typeof decl === "object" && "default" in decl) config[fullKey(key)] = asConfigString(decl.default);
  }
  const stackDoc = (yaml.load(fs.readFileSync(stackFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
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
