import * as pulumi from "@pulumi/pulumi";
import { detectHostCgroupVersion, engineMemoryBytes, resolveDockerHost } from "./host";
import { workerContainerSettings } from "./render/container-settings";
import { HostCgroupVersion } from "./keys";
import { ClusterConfigError, validateClusterConfig } from "./parse";
import { ClusterSpec, buildSpec } from "./spec";

export type { ClusterSpec, WorkerSpec } from "./spec";
export { ClusterConfigError } from "./parse";

/** What the spec needs to know of the Docker engine, asked only when the config says auto. */
export interface EngineQuery {
  hostCgroupVersion(dockerHost: string): Promise<HostCgroupVersion>;
  memoryBytes(dockerHost: string): Promise<number>;
}

/** The real engine, through its API. */
export const dockerEngineQuery: EngineQuery = { hostCgroupVersion: detectHostCgroupVersion, memoryBytes: engineMemoryBytes };

/** Refuses a worker count whose container memory limits add up to more than the engine has. */
function checkFitsEngine(spec: ClusterSpec, memoryBytes: number): void {
  const perWorker = spec.workerMemoryMb + workerContainerSettings(spec).memoryHeadroomMb;
  const total = spec.workers.length * perWorker;
  const available = Math.floor(memoryBytes / 2 ** 20);
  if (total > available) {
    throw new ClusterConfigError([
      `slurm-cluster:workerCount = "${spec.workers.length}": ${spec.workers.length} workers x (${spec.workerMemoryMb} MiB workerMemoryMb + ` +
        `${perWorker - spec.workerMemoryMb} MiB headroom) = ${total} MiB of container memory limits, more than the ${available} MiB ` +
        `the Docker engine at ${spec.dockerHost} has; lower workerCount, workerMemoryMb or workerMemoryHeadroomMb`,
    ]);
  }
}

/**
 * The one way from stack config to a ClusterSpec, for the program and its tests alike: raw config
 * (`namespace:key` -> string, as Pulumi hands it over) is validated, engine facts are asked of
 * `engine` where the config leaves them to it, and names and wiring are derived. Bad config
 * throws ClusterConfigError (every problem, one line each) before any resource exists.
 */
export async function loadClusterSpec(
  raw: Record<string, string>,
  context: { project: string; stack: string },
  engine: EngineQuery = dockerEngineQuery,
): Promise<ClusterSpec> {
  const settings = validateClusterConfig(raw);
  const dockerHost = resolveDockerHost(raw["docker:host"]);
  let hostCgroupVersion: HostCgroupVersion;
  try {
    hostCgroupVersion = settings.hostCgroupVersion === "auto" ? await engine.hostCgroupVersion(dockerHost) : settings.hostCgroupVersion;
  } catch (err) {
    // RunError: the Pulumi CLI prints the message alone, without a stack trace.
    throw new pulumi.RunError((err as Error).message);
  }
  const spec = buildSpec({ ...settings, ...context, hostCgroupVersion, dockerHost });
  let memoryBytes: number;
  try {
    memoryBytes = await engine.memoryBytes(dockerHost);
  } catch (err) {
    throw new pulumi.RunError((err as Error).message);
  }
  checkFitsEngine(spec, memoryBytes);
  return spec;
}
