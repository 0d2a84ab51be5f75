import * as pulumi from "@pulumi/pulumi";
import { accountingProblems } from "./accounting";
import { SLURMCTLD_PORT, SRUN_PORTS } from "./spec";
import { CONFIG_KEY_NAMES, CONFIG_KEYS, CONFIG_NAMESPACE, ClusterSettings, SECRET_CONFIG_KEYS } from "./keys";

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
    const schema = def.schema as { safeParse(v: unknown): { success: boolean; data?: unknown; error?: { issues: { code: string; message: string; params?: { entry?: boolean } }[] } } };
    if (rawValue === undefined) {
      // A default written as text (a list, say) goes through its schema like a configured value.
      values[key] = typeof def.default === "string" ? schema.safeParse(def.default).data : def.default;
      continue;
    }
    const result = schema.safeParse(rawValue.trim() === "" && typeof def.default === "number" ? undefined : rawValue);
    if (!result.success) {
      // A list's entries each say what is wrong with them; other keys say what is allowed.
      const own = (result.error?.issues ?? []).filter((i) => i.params?.entry);
      if (own.length > 0) problems.push(...own.map((i) => `${prefix}${key}: ${i.message}`));
      else problems.push(`${prefix}${key} = ${SECRET_CONFIG_KEYS.has(key) ? "(secret, not shown)" : JSON.stringify(rawValue)}: expected ${def.allowed}`);
      continue;
    }
    values[key] = result.data;
  }

  if (problems.length === 0) {
    const published = ["restPort", ...(values.role === "cluster" ? ["loginPort"] : []), ...(values.monitoring ? ["prometheusPort", "slurmExporterPort", "alertmanagerPort", ...(values.grafana ? ["grafanaPort"] : [])] : [])];
    const ports = published.map((k) => [k, values[k] as number] as const);
    const clash = ports.find(([k, port]) => ports.some(([other, p]) => other !== k && p === port));
    if (clash) {
      problems.push(
        `${prefix}${clash[0]} = ${JSON.stringify(String(clash[1]))}: expected a port no other service of the stack publishes ` +
          `(in use by ${ports.filter(([k, p]) => p === clash[1] && k !== clash[0]).map(([k]) => prefix + k).join(", ")})`,
      );
    }
  }

  if (problems.length === 0) problems.push(...crossKeyProblems(values as unknown as ClusterSettings));

  if (problems.length > 0) throw new ClusterConfigError(problems);
  return values as unknown as ClusterSettings;
}

/** Problems of keys that are each valid but do not fit together. */
function crossKeyProblems(v: ClusterSettings): string[] {
  const key = (k: string) => `${CONFIG_NAMESPACE}:${k}`;
  const problems: string[] = accountingProblems(v.accounts, v.users, v.qos, key);
  if (v.role === "workers") {
    if (!v.controllerStack) problems.push(`${key("controllerStack")} is empty: a workers stack must name the stack that runs its controller (e.g. ubuntu)`);
    if (!v.advertiseAddress) {
      problems.push(`${key("advertiseAddress")} is empty: a workers stack publishes each slurmd on this host's address that the controller's machine reaches`);
    }
  } else if (v.controllerStack) {
    problems.push(`${key("controllerStack")} = ${JSON.stringify(v.controllerStack)} on a stack whose role is cluster: set ${key("role")}=workers to join that stack`);
  }
  if (v.role === "workers" && v.monitoring && v.nodeExporterPort >= v.slurmdPort && v.nodeExporterPort < v.slurmdPort + v.workerCount) {
    problems.push(`${key("nodeExporterPort")} = "${v.nodeExporterPort}": expected a port none of the ${v.workerCount} slurmd ports from ${key("slurmdPort")} ${v.slurmdPort} uses`);
  }
  if (v.role === "cluster" && v.advertiseAddress && (v.loginPort === SLURMCTLD_PORT || (v.loginPort >= SRUN_PORTS.first && v.loginPort <= SRUN_PORTS.last))) {
    problems.push(
      `${key("loginPort")} = "${v.loginPort}": expected a port slurmctld (${SLURMCTLD_PORT}) and srun (${SRUN_PORTS.first}-${SRUN_PORTS.last}) do not publish on ${key("advertiseAddress")}`,
    );
  }
  if (v.slurmdPort + v.workerCount - 1 > 65535) problems.push(`${key("slurmdPort")} = "${v.slurmdPort}": with ${v.workerCount} workers the ports pass 65535`);
  if (v.gpusPerWorker > 0) {
    const devices = v.gpuDevices ? v.gpuDevices.split(",") : [];
    if (devices.length > 0 && devices.length !== v.gpusPerWorker * v.workerCount) {
      problems.push(
        `${key("gpuDevices")} names ${devices.length} device file(s); ${v.workerCount} workers x ${v.gpusPerWorker} ${key("gpusPerWorker")} need ${v.gpusPerWorker * v.workerCount}`,
      );
    }
  } else if (v.gpuDevices || v.gpuType || v.nvidiaRuntime) {
    problems.push(`${key("gpuDevices")}, ${key("gpuType")} and ${key("nvidiaRuntime")} need ${key("gpusPerWorker")} above 0`);
  }
  return problems;
}
