import { CgroupMode, HostCgroupVersion } from "./keys";

/** One Slurm worker: its Slurm node name (also its hostname) and its container name. */
export interface WorkerSpec {
  nodeName: string;
  containerName: string;
}

/** Everything the program builds, decided once from stack config. Components only read it. */
export interface ClusterSpec {
  project: string;
  stack: string;
  clusterName: string;
  cgroupMode: CgroupMode;
  /** The cgroup version of the host the workers run on (resolved from auto before this point). */
  hostCgroupVersion: HostCgroupVersion;
  /** Whether cgroup and systemd workers may run privileged instead of with named grants. */
  allowPrivileged: boolean;
  baseImage: string;
  workerCpus: number;
  workerMemoryMb: number;
  registrationTimeoutSeconds: number;
  /** Prefix of every Docker object of this stack: `slurm-<stack>`. */
  prefix: string;
  /** Labels put on every container, network and volume so tear-down finds all of them. */
  labels: Record<string, string>;
  network: string;
  /** Host names on the private network (also Slurm's SlurmctldHost, AccountingStorageHost, StorageHost). */
  hosts: { controller: string; slurmdbd: string; database: string };
  containers: { controller: string; slurmdbd: string; database: string };
  volumes: { stateSave: string; database: string; shared: string };
  sharedMountPath: string;
  database: { name: string; user: string; port: number };
  workers: WorkerSpec[];
}

export const PROJECT_LABEL = "com.slurm-cluster.project";
export const STACK_LABEL = "com.slurm-cluster.stack";
export const ROLE_LABEL = "com.slurm-cluster.role";

/** Validated stack settings, one field per config key. */
export interface ClusterSettings {
  clusterName: string;
  workerCount: number;
  workerCpus: number;
  workerMemoryMb: number;
  cgroupMode: CgroupMode;
  hostCgroupVersion: HostCgroupVersion | "auto";
  allowPrivileged: boolean;
  baseImage: string;
  sharedVolume: string;
  registrationTimeoutSeconds: number;
}

export interface SpecInput extends Omit<ClusterSettings, "hostCgroupVersion"> {
  project: string;
  stack: string;
  hostCgroupVersion: HostCgroupVersion;
}

/** Derives names and wiring from validated values: pure, so tests and the engine agree on names. */
export function buildSpec(v: SpecInput): ClusterSpec {
  const prefix = `slurm-${v.stack}`;
  const workers = Array.from({ length: v.workerCount }, (_, i) => ({
    nodeName: `worker${i + 1}`,
    containerName: `${prefix}-worker${i + 1}`,
  }));
  return {
    project: v.project,
    stack: v.stack,
    clusterName: v.clusterName,
    cgroupMode: v.cgroupMode,
    hostCgroupVersion: v.hostCgroupVersion,
    allowPrivileged: v.allowPrivileged,
    baseImage: v.baseImage,
    workerCpus: v.workerCpus,
    workerMemoryMb: v.workerMemoryMb,
    registrationTimeoutSeconds: v.registrationTimeoutSeconds,
    prefix,
    labels: { [PROJECT_LABEL]: v.project, [STACK_LABEL]: v.stack },
    network: `${prefix}-net`,
    hosts: { controller: "controller", slurmdbd: "slurmdbd", database: "database" },
    containers: {
      controller: `${prefix}-controller`,
      slurmdbd: `${prefix}-slurmdbd`,
      database: `${prefix}-database`,
    },
    volumes: {
      stateSave: `${prefix}-statesave`,
      database: `${prefix}-database`,
      shared: v.sharedVolume || `${prefix}-shared`,
    },
    sharedMountPath: "/shared",
    database: { name: "slurm_acct_db", user: "slurm", port: 3306 },
    workers,
  };
}
