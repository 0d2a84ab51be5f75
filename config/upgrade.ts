// A change of slurmRelease on a running stack: an upgrade in SchedMD's order, or a refusal before
// anything changes. SchedMD's rule (upgrade guide, since 24.11): a release reads the state files
// and answers the RPCs of the three major releases before it, and never of a newer one; so an
// upgrade may skip at most two releases, and there is no way back but a backup of the old release.
import { CONFIG_NAMESPACE, SlurmRelease } from "./keys";

/** SchedMD's major releases in order: those the project builds and those between them. */
export const SLURM_RELEASE_LINE = ["23.11", "24.05", "24.11", "25.05", "25.11", "26.05"] as const;
/** How many major releases back a release reads state and RPCs from (24.11 and later). */
export const RELEASES_READ_BACK = 3;

/** What `up` does about the running release: nothing, or an upgrade from one release to another. */
export interface ReleaseUpgrade {
  readonly from: string;
  readonly to: SlurmRelease;
}

/** Major releases from `from` to `to` (negative: `to` is older); undefined when either is not known. */
export function releaseSteps(from: string, to: string): number | undefined {
  const a = SLURM_RELEASE_LINE.indexOf(from as (typeof SLURM_RELEASE_LINE)[number]);
  const b = SLURM_RELEASE_LINE.indexOf(to as (typeof SLURM_RELEASE_LINE)[number]);
  return a < 0 || b < 0 ? undefined : b - a;
}

/** The release in a project image's tag (slurm-cluster/slurm:24.11-<hash>), or undefined. */
export function releaseOfImage(image: string): string | undefined {
  return /^slurm-cluster\/[a-z0-9-]+:(\d+\.\d+)-[0-9a-f]+$/.exec(image)?.[1];
}

/** Slurm's release of a version string: 24.11.5 -> 24.11. */
export const releaseOfVersion = (version: string) => version.split(".").slice(0, 2).join(".");

/**
 * What changing to `wanted` means for a stack whose Slurm containers run `running` (undefined:
 * none run, or their images are not the project's): an upgrade, nothing, or a problem (one line)
 * for a downgrade or a jump further than Slurm reads back.
 */
export function planReleaseChange(running: string | undefined, wanted: SlurmRelease, where: string): { upgrade?: ReleaseUpgrade; problem?: string } {
  if (running === undefined || running === wanted) return {};
  const key = `${CONFIG_NAMESPACE}:slurmRelease`;
  const steps = releaseSteps(running, wanted);
  if (steps === undefined) return { problem: `${key} = "${wanted}": ${where} runs Slurm ${running}, a release this program does not know how to upgrade from; nothing was changed` };
  if (steps < 0) {
    return {
      problem:
        `${key} = "${wanted}": ${where} runs Slurm ${running}, and Slurm cannot read a newer release's state or accounting database, so a downgrade is refused; nothing was changed. ` +
        `Keep ${key}=${running}, or go back with the backup made before the upgrade: down --volumes, up with ${key}=${wanted}, then slurm-cluster restore <archive> (README, Upgrading Slurm)`,
    };
  }
  if (steps > RELEASES_READ_BACK) {
    const via = SLURM_RELEASE_LINE[SLURM_RELEASE_LINE.indexOf(running as (typeof SLURM_RELEASE_LINE)[number]) + RELEASES_READ_BACK];
    return {
      problem: `${key} = "${wanted}": ${where} runs Slurm ${running}, ${steps} major releases older; Slurm ${wanted} reads the state of the ${RELEASES_READ_BACK} releases before it only: upgrade to ${via} first; nothing was changed`,
    };
  }
  return { upgrade: { from: running, to: wanted } };
}

/**
 * slurm.conf keys an older release does not know, with the release that brought each: its slurmd
 * refuses the whole file ("Parsing error at unrecognized key", then fatal; 24.11's slurmd, measured
 * here). The metrics keys came with slurmctld's HTTP listener (25.11).
 */
const SLURM_CONF_KEYS_SINCE: Record<string, string> = {
  MetricsType: "25.11",
  MetricsAuthUsers: "25.11",
  MetricsParameters: "25.11",
  SlurmctldHttpAuthParameters: "25.11",
};

/**
 * The cluster's slurm.conf as a node of an older release can read it: the lines of keys newer than
 * `release` left out (they configure slurmctld alone). slurmctld then logs that the node's
 * slurm.conf differs from its own until the node is upgraded; nothing else changes.
 */
export function slurmConfForRelease(slurmConf: string, release: string): string {
  return slurmConf
    .split("\n")
    .filter((line) => {
      const since = SLURM_CONF_KEYS_SINCE[/^\s*([A-Za-z]+)\s*=/.exec(line)?.[1] ?? ""];
      return since === undefined || (releaseSteps(since, release) ?? 0) >= 0;
    })
    .join("\n");
}
