import * as pulumi from "@pulumi/pulumi";
import { CONFIG_KEY_NAMES, CONFIG_KEYS, CONFIG_NAMESPACE, ClusterSettings } from "./keys";

/**
 * Bad stack config: every problem found, one line each, naming the key, the value and what is
 * allowed. A RunError, so the Pulumi CLI prints the message alone, without a stack trace.
 */
export class ClusterConfigError extends pulumi.RunError {
  constructor(public readonly problems: string[]) {
    super(
      `The stack config is not valid; nothing was created.\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ClusterConfigError";
  }
}

/**
 * Validates raw stack config (keys as `namespace:key`, values as the strings Pulumi stores).
 * Keys of other namespaces (docker:, pulumi:) are left to their owners.
 */
export function validateClusterConfig(raw: Record<string, string>): ClusterSettings {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  const prefix = `${CONFIG_NAMESPACE}:`;

  for (const fullKey of Object.keys(raw).sort()) {
    if (!fullKey.startsWith(prefix)) continue;
    const key = fullKey.slice(prefix.length);
    if (!(CONFIG_KEY_NAMES as string[]).includes(key)) {
      problems.push(
        `${fullKey} is not a known key; known keys: ${CONFIG_KEY_NAMES.map((k) => prefix + k).join(", ")}`,
      );
    }
  }

  for (const key of CONFIG_KEY_NAMES) {
    const def = CONFIG_KEYS[key];
    const rawValue = raw[prefix + key];
    if (rawValue === undefined) {
      values[key] = def.default;
      continue;
    }
    const result = (def.schema as { safeParse(v: unknown): { success: boolean; data?: unknown } }).safeParse(
      rawValue.trim() === "" && typeof def.default === "number" ? undefined : rawValue,
    );
    if (!result.success) {
      problems.push(`${prefix}${key} = ${JSON.stringify(rawValue)}: expected ${def.allowed}`);
      continue;
    }
    values[key] = result.data;
  }

  if (problems.length === 0) {
    const published = ["restPort", ...(values.monitoring ? ["prometheusPort", "slurmExporterPort", ...(values.grafana ? ["grafanaPort"] : [])] : [])];
    const ports = published.map((k) => [k, values[k] as number] as const);
    const clash = ports.find(([k, port]) => ports.some(([other, p]) => other !== k && p === port));
    if (clash) {
      problems.push(
        `${prefix}${clash[0]} = ${JSON.stringify(String(clash[1]))}: expected a port no other service of the stack publishes ` +
          `(in use by ${ports.filter(([k, p]) => p === clash[1] && k !== clash[0]).map(([k]) => prefix + k).join(", ")})`,
      );
    }
  }

  if (problems.length > 0) throw new ClusterConfigError(problems);
  return values as unknown as ClusterSettings;
}
