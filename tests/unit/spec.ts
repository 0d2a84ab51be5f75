// Specs for unit tests, through the program's own loader; the engine's answer is given, not asked.
import { ClusterSpec, ControllerStackReader, EngineQuery, loadClusterSpec } from "../../config";
import { EngineCgroupSupport } from "../../config/keys";

/**
 * An engine that reports the given cgroup version (unit tests ask no Docker engine); by default
 * a current one (cgroupfs driver, Docker 28+ with writable-cgroups).
 */
export const engineReporting = (
  version: 1 | 2,
  memoryMiB = 24 * 1024,
  platform: "linux/amd64" | "linux/arm64" = "linux/amd64",
  dockerDesktop = false,
  cgroup: EngineCgroupSupport = { driver: "cgroupfs", writableCgroups: true },
): EngineQuery => ({
  cgroupSupport: async () => cgroup,
  hostCgroupVersion: async () => version,
  memoryBytes: async () => memoryMiB * 2 ** 20,
  platform: async () => ({ platform, dockerDesktop }),
});

/** No other stack: a test that reads one names its reader. */
const noStacks: ControllerStackReader = {
  join: async (stack) => {
    throw new Error(`this test names no controller stack (asked for ${stack})`);
  },
  reach: async () => "this test reaches nothing",
};

export function testSpec(raw: Record<string, string> = {}, stack = "ubuntu", engine = engineReporting(2), stacks = noStacks): Promise<ClusterSpec> {
  return loadClusterSpec(raw, { project: "slurm-cluster", stack }, engine, stacks);
}
