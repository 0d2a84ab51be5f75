import * as pulumi from "@pulumi/pulumi";
import { loadClusterSpec } from "./config";
import { clusterStack } from "./stacks/cluster";
import { backupBeforeUpgrade } from "./stacks/upgrade";
import { workersStack } from "./stacks/workers";

// The program: stack config -> validated spec -> rendered Slurm files -> components -> outputs.
// Exported as a function so the same program runs under `pulumi up` and under the local runner.
export = async () => {
  // Throws before any resource exists when config is bad (and, for a workers stack, when its
  // controller stack has no outputs, another Slurm, or cannot be reached).
  const spec = await loadClusterSpec(pulumi.runtime.allConfig(), { project: pulumi.getProject(), stack: pulumi.getStack() });
  if (spec.upgrade && spec.role === "cluster") {
    // An upgrade of slurmRelease starts with a backup, before any resource is declared (so
    // before anything changes); a preview only says so.
    const say = (line: string) => console.error(`[upgrade] ${line}`);
    if (pulumi.runtime.isDryRun()) say(`up would upgrade Slurm ${spec.upgrade.from} to ${spec.upgrade.to}, after a backup into ./backups`);
    else await backupBeforeUpgrade(spec, say);
  }
  return spec.role === "workers" ? workersStack(spec) : clusterStack(spec);
};
