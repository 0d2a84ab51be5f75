import * as pulumi from "@pulumi/pulumi";
import { detectHostCgroupVersion } from "./host";
import { ClusterConfigError, validateClusterConfig } from "./parse";
import { ClusterSpec, buildSpec } from "./spec";

export type { ClusterSpec, WorkerSpec } from "./spec";
export { ClusterConfigError } from "./parse";

/** Reads this stack's config and validates it, before any resource is declared. */
export async function loadClusterSpec(): Promise<ClusterSpec> {
  let settings;
  try {
    settings = validateClusterConfig(pulumi.runtime.allConfig());
  } catch (err) {
    // RunError: the Pulumi CLI prints the message alone, without a stack trace.
    if (err instanceof ClusterConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
  let hostCgroupVersion = settings.hostCgroupVersion;
  if (hostCgroupVersion === "auto") {
    try {
      hostCgroupVersion = await detectHostCgroupVersion(new pulumi.Config("docker").get("host"));
    } catch (err) {
      throw new pulumi.RunError((err as Error).message);
    }
  }
  return buildSpec({ ...settings, project: pulumi.getProject(), stack: pulumi.getStack(), hostCgroupVersion });
}
