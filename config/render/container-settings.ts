import { ClusterSpec } from "../spec";

/** A mount in the docker provider's shape. */
export interface MountSetting {
  type: "bind" | "volume";
  source: string;
  target: string;
  readOnly?: boolean;
}

/** A host directory bind-mounted the way `docker run -v` does it (the engine creates a missing source). */
export interface HostPathSetting {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

/**
 * The cgroup v1 controllers Slurm's cgroup/v1 plugin uses (memory for --mem, cpuset for cores,
 * devices, freezer for proctrack/cgroup, cpuacct for jobacct_gather/cgroup).
 */
export const SLURM_V1_CONTROLLERS = ["cpuacct", "cpuset", "devices", "freezer", "memory"];

/** What a worker container needs for its cgroupMode and host cgroup version: the least that works. */
export interface WorkerContainerSettings {
  /** Which project image runs the worker. */
  image: "slurm" | "slurm-systemd";
  /** The entrypoint's role argument. */
  command: string[];
  capabilityAdds: string[];
  securityOpts: string[];
  privileged: boolean;
  /** Docker cgroup namespace mode: "host" or "private" (undefined: the engine's default). */
  cgroupnsMode?: "host" | "private";
  mounts: MountSetting[];
  tmpfs: Record<string, string>;
  stopSignal?: string;
  /** Extra memory for slurmd, munged (and systemd) above what Slurm may give to jobs. */
  memoryHeadroomMb: number;
  /** Healthcheck command (Docker's CMD form). */
  healthcheck: string[];
  /** Command run in the worker to show slurmd's log when registration fails (undefined: docker logs). */
  logCommand?: string[];
  /** Why each grant is there, in a line (the README's mode table says the same). */
  why: string[];
  /** Why this mode writes the host's cgroups on this host (undefined: the worker owns only its own subtree). */
  hostCgroupWrite?: string;
  /** cgroup v1 hosts: the controllers in which the worker gets its own parent cgroup read-write. */
  ownCgroupControllers: string[];
}

/**
 * A cgroup v1 worker's own subtree: Docker creates the container's cgroup under a parent named for
 * the container, and only that parent, in each controller Slurm uses, is bind-mounted read-write
 * at the controller's place; slurmd's job cgroups are made inside it, and a bind mount's root is
 * as far up as a path in the container can reach.
 */
export function workerCgroupSubtree(settings: WorkerContainerSettings, containerName: string): { cgroupParent?: string; volumes: HostPathSetting[] } {
  if (settings.ownCgroupControllers.length === 0) return { volumes: [] };
  return {
    cgroupParent: `/${containerName}`,
    volumes: settings.ownCgroupControllers.map((c) => ({ hostPath: `/sys/fs/cgroup/${c}/${containerName}`, containerPath: `/sys/fs/cgroup/${c}`, readOnly: false })),
  };
}

const HOST_CGROUPFS_RW: MountSetting = { type: "bind", source: "/sys/fs/cgroup", target: "/sys/fs/cgroup", readOnly: false };

export function workerContainerSettings(spec: ClusterSpec): WorkerContainerSettings {
  const settings = modeSettings(spec);
  return spec.workerMemoryHeadroomMb === "auto" ? settings : { ...settings, memoryHeadroomMb: spec.workerMemoryHeadroomMb };
}

/** Why a host cannot give a worker only its own cgroup subtree in this mode, or undefined. */
function hostCgroupWriteReason(spec: ClusterSpec): string | undefined {
  const v1 = spec.hostCgroupVersion === 1;
  if (spec.cgroupMode === "none") return undefined;
  if (!v1) {
    return spec.engineCgroup.writableCgroups
      ? undefined
      : "this Docker engine is older than 28 (no --security-opt writable-cgroups), so a cgroup v2 worker's own cgroup namespace becomes writable only with CAP_SYS_ADMIN and apparmor=unconfined";
  }
  if (spec.cgroupMode === "systemd") {
    return "systemd as PID 1 on a cgroup v1 host finds its units' processes by their cgroup paths, which a bind of the worker's own subtree does not keep (munge.service is refused)";
  }
  if (spec.gpus.perWorker > 0) {
    return "GPUs on a cgroup v1 host need CAP_SYS_ADMIN (the kernel lets slurmstepd write a job's devices.deny only with it), which also lets the worker mount the host's cgroup hierarchies";
  }
  if (spec.engineCgroup.driver === "systemd") {
    return "this Docker engine uses the systemd cgroup driver on a cgroup v1 host, which takes no per-container parent cgroup path to delegate";
  }
  return undefined;
}

function modeSettings(spec: ClusterSpec): WorkerContainerSettings {
  const base = {
    image: "slurm" as const,
    command: ["worker"],
    capabilityAdds: [] as string[],
    securityOpts: [] as string[],
    privileged: false,
    mounts: [] as MountSetting[],
    tmpfs: {} as Record<string, string>,
    memoryHeadroomMb: 128,
    healthcheck: ["CMD", "pgrep", "-x", "slurmd"],
    ownCgroupControllers: [] as string[],
  };
  const v = spec.hostCgroupVersion;
  const hostCgroupWrite = hostCgroupWriteReason(spec);
  // What each mode gets for its cgroups: its own subtree where the host can delegate one, else
  // (only with allowHostCgroupWrite, checked by the config loader) the host's.
  const ownSubtree = (who: string) =>
    v === 1
      ? {
          cgroupnsMode: "private" as const,
          ownCgroupControllers: SLURM_V1_CONTROLLERS,
          why: [`cgroup v1: ${who} gets only its own parent cgroup (named for the container) read-write in ${SLURM_V1_CONTROLLERS.join(", ")}, in a private cgroup namespace; no capability is needed to write cgroupfs as root`],
        }
      : {
          cgroupnsMode: "private" as const,
          securityOpts: ["writable-cgroups=true"],
          why: [`cgroup v2: a private cgroup namespace, mounted read-write by Docker (writable-cgroups=true): ${who} writes only its own subtree, and the kernel keeps its own limits out of reach`],
        };
  const hostCgroups = (who: string) =>
    v === 1
      ? {
          cgroupnsMode: "host" as const,
          mounts: [HOST_CGROUPFS_RW],
          hostCgroupWrite,
          why: [`cgroup v1 (allowHostCgroupWrite): the host's /sys/fs/cgroup read-write and the host cgroup namespace for ${who}`],
        }
      : {
          cgroupnsMode: "private" as const,
          capabilityAdds: ["SYS_ADMIN"],
          securityOpts: ["apparmor=unconfined"],
          hostCgroupWrite,
          why: [
            `cgroup v2 (allowHostCgroupWrite): a private cgroup namespace for ${who}`,
            "SYS_ADMIN: to remount it read-write (Docker before 28 mounts it read-only)",
            "apparmor=unconfined: Docker's default AppArmor profile forbids that mount (Ubuntu)",
          ],
        };
  const cgroups = (who: string) => (hostCgroupWrite ? hostCgroups(who) : ownSubtree(who));
  let settings: WorkerContainerSettings;
  switch (spec.cgroupMode) {
    case "none":
      // Never privileged, whatever allowPrivileged says: nothing here needs it.
      return { ...base, why: ["none: no cgroup use, so the baseline's capabilities (slurmd's own) are enough"] };
    case "cgroup":
      settings = { ...base, ...cgroups("slurmd") };
      break;
    case "systemd": {
      const own = cgroups("systemd and slurmd");
      settings = {
        ...base,
        image: "slurm-systemd",
        command: ["systemd"],
        stopSignal: "SIGRTMIN+3",
        tmpfs: { "/run": "rw,mode=755", "/run/lock": "rw,mode=755" },
        memoryHeadroomMb: 192,
        healthcheck: ["CMD", "systemctl", "is-active", "--quiet", "slurmd.service"],
        logCommand: ["journalctl", "--no-pager", "-n", "25", "-u", "munge.service", "-u", "slurmd.service"],
        ...own,
        why: ["systemd: tmpfs on /run and /run/lock, and SIGRTMIN+3 to stop it cleanly", ...own.why],
      };
      break;
    }
  }
  if (spec.slurmRelease !== "24.11") {
    // task/affinity: Slurm 26.05's slurmstepd (root) binds each task to its CPUs once the task
    // runs as the job's user, another uid's process; measured here without it: every non-root
    // step failed ("task_g_set_affinity", "Slurmd could not execve job"), root's ran.
    settings = {
      ...settings,
      capabilityAdds: [...settings.capabilityAdds, "SYS_NICE"],
      why: [...settings.why, `SYS_NICE: Slurm ${spec.slurmRelease}'s slurmstepd sets the CPU affinity of a task that already runs as the job's user (real-time scheduling stays refused where the kernel gives containers no real-time CPU time, as on this cgroup v1 host: chrt -f failed)`],
    };
  }
  if (v === 1 && spec.gpus.perWorker > 0 && !settings.capabilityAdds.includes("SYS_ADMIN")) {
    // ConstrainDevices with GPUs: slurmstepd denies each job the GPUs it was not given.
    settings = {
      ...settings,
      capabilityAdds: [...settings.capabilityAdds, "SYS_ADMIN"],
      why: [...settings.why, "GPUs on cgroup v1: SYS_ADMIN, without which the kernel refuses slurmstepd's write to devices.deny (the GPUs a job was not given)"],
    };
  }
  if (spec.allowPrivileged) {
    // The stack asked for it: one broad grant instead of the named ones.
    return { ...settings, privileged: true, capabilityAdds: [], securityOpts: [], why: [...settings.why, "allowPrivileged=true: privileged instead of the grants above"] };
  }
  return settings;
}
