import * as pulumi from "@pulumi/pulumi";
import { detectHostCgroupVersion, resolveDockerHost } from "./host";
import { HostCgroupVersion } from "./keys";
import { validateClusterConfig } from "./parse";
import { ClusterSpec, buildSpec } from "./spec";

export type { ClusterSpec, WorkerSpec } from "./spec";
export { ClusterConfigError } from "./parse";

/** What the spec needs to know of the Docker engine, asked only when the config says auto. */
export interface EngineQuery {
  hostCgroupVersion(dockerHost: string): Promise<HostCgroupVersion>;
}

/** The real engine, through its API. */
export const dockerEngineQuery: EngineQuery = { hostCgroupVersion: detectHostCgroupVersion };

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
  return buildSpec({ ...settings, ...context, hostCgroupVersion, dockerHost });
}
