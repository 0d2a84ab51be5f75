import { ClusterSpec } from "../spec";

/** Docker settings a worker container needs for its cgroupMode: the least that works. */
export interface WorkerContainerSettings {
  capabilityAdds: string[];
  securityOpts: string[];
  privileged: boolean;
  /** Extra memory for slurmd and munged above what Slurm may give to jobs. */
  memoryHeadroomMb: number;
}

export function workerContainerSettings(spec: ClusterSpec): WorkerContainerSettings {
  switch (spec.cgroupMode) {
    case "none":
      // No cgroup use: Docker's default capability set is enough for slurmd to fork, setuid
      // to the job's user and signal its processes.
      return { capabilityAdds: [], securityOpts: [], privileged: false, memoryHeadroomMb: 128 };
    default:
      throw new Error(`no container settings for cgroupMode ${spec.cgroupMode}`);
  }
}
