import { BUILT_CGROUP_MODES, CONFIG_KEY_NAMES, CONFIG_KEYS, CONFIG_NAMESPACE, CgroupMode, ConfigKey } from "./keys";
import { ClusterSpec, buildSpec } from "./spec";

/** Bad stack config: every problem found, one line each, naming the key, the value and what is allowed. */
export class ClusterConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(
      `The stack config is not valid; nothing was created.\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ClusterConfigError";
  }
}

/**
 * Parses raw stack config (keys as `namespace:key`, values as the strings Pulumi stores)
 * into a ClusterSpec. Keys of other namespaces (docker:, pulumi:) are left to their owners.
 */
export function parseClusterConfig(
  raw: Record<string, string>,
  project: string,
  stack: string,
): ClusterSpec {
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

  const mode = values.cgroupMode as CgroupMode | undefined;
  if (mode !== undefined && !BUILT_CGROUP_MODES.includes(mode)) {
    problems.push(
      `${prefix}cgroupMode = ${JSON.stringify(mode)}: this mode is not built yet; ` +
        `use one of ${BUILT_CGROUP_MODES.join(", ")} (cgroup and systemd modes are planned)`,
    );
  }

  if (problems.length > 0) throw new ClusterConfigError(problems);

  const v = values as { [K in ConfigKey]: unknown };
  return buildSpec({
    project,
    stack,
    clusterName: v.clusterName as string,
    workerCount: v.workerCount as number,
    workerCpus: v.workerCpus as number,
    workerMemoryMb: v.workerMemoryMb as number,
    cgroupMode: v.cgroupMode as CgroupMode,
    baseImage: v.baseImage as string,
    sharedVolume: v.sharedVolume as string,
    registrationTimeoutSeconds: v.registrationTimeoutSeconds as number,
  });
}
