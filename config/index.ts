import * as pulumi from "@pulumi/pulumi";
import { ClusterConfigError, parseClusterConfig } from "./parse";
import { ClusterSpec } from "./spec";

export type { ClusterSpec, WorkerSpec } from "./spec";
export { ClusterConfigError } from "./parse";

/** Reads this stack's config and validates it, before any resource is declared. */
export function loadClusterSpec(): ClusterSpec {
  try {
    return parseClusterConfig(pulumi.runtime.allConfig(), pulumi.getProject(), pulumi.getStack());
  } catch (err) {
    // RunError: the Pulumi CLI prints the message alone, without a stack trace.
    if (err instanceof ClusterConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}
