import { ClusterSpec } from "../spec";

/** A mount in the docker provider's shape. */
export interface MountSetting {
  type: "bind" | "volume";
  source: string;
  target: string;
  readOnly?: boolean;
}

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
}

const HOST_CGROUPFS_RW: MountSetting = { type: "bind", source: "/sys/fs/cgroup", target: "/sys/fs/cgroup", readOnly: false };

export function workerContainerSettings(spec: ClusterSpec): WorkerContainerSettings {
  const settings = modeSettings(spec);
  return spec.workerMemoryHeadroomMb === "auto" ? settings : { ...settings, memoryHeadroomMb: spec.workerMemoryHeadroomMb };
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
  };
  const v = spec.hostCgroupVersion;
  let settings: WorkerContainerSettings;
  switch (spec.cgroupMode) {
    case "none":
      // Never privileged, whatever allowPrivileged says: nothing here needs it.
      return { ...base, why: ["none: no cgroup use, so the baseline's capabilities (slurmd's own) are enough"] };
    case "cgroup":
      settings =
        v === 1
          ? {
              ...base,
              cgroupnsMode: "host",
              mounts: [HOST_CGROUPFS_RW],
              why: [
                "cgroup v1: the host's /sys/fs/cgroup read-write and the host cgroup namespace, so slurmd can create job cgroups (no capability is needed to write cgroupfs as root)",
              ],
            }
          : {
              ...base,
              cgroupnsMode: "private",
              capabilityAdds: ["SYS_ADMIN"],
              securityOpts: ["apparmor=unconfined"],
              why: [
                "cgroup v2: a private cgroup namespace, so the worker's own subtree is its root",
                "SYS_ADMIN: to remount that subtree read-write (Docker mounts it read-only)",
                "apparmor=unconfined: Docker's default AppArmor profile forbids that mount (Ubuntu)",
              ],
            };
      break;
    case "systemd":
      settings = {
        ...base,
        image: "slurm-systemd",
        command: ["systemd"],
        stopSignal: "SIGRTMIN+3",
        tmpfs: { "/run": "rw,mode=755", "/run/lock": "rw,mode=755" },
        memoryHeadroomMb: 192,
        healthcheck: ["CMD", "systemctl", "is-active", "--quiet", "slurmd.service"],
        logCommand: ["journalctl", "--no-pager", "-n", "25", "-u", "munge.service", "-u", "slurmd.service"],
        ...(v === 1
          ? {
              cgroupnsMode: "host" as const,
              mounts: [HOST_CGROUPFS_RW],
              why: [
                "systemd: tmpfs on /run and /run/lock, and SIGRTMIN+3 to stop it cleanly",
                "cgroup v1: the host's /sys/fs/cgroup read-write and the host cgroup namespace for systemd and slurmd",
              ],
            }
          : {
              cgroupnsMode: "private" as const,
              capabilityAdds: ["SYS_ADMIN"],
              securityOpts: ["apparmor=unconfined"],
              why: [
                "systemd: tmpfs on /run and /run/lock, and SIGRTMIN+3 to stop it cleanly",
                "cgroup v2: a private cgroup namespace delegated whole to systemd",
                "SYS_ADMIN and apparmor=unconfined: to remount it read-write and for systemd's own mounts",
              ],
            }),
      };
      break;
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
