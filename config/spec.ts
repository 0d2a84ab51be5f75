import { CgroupMode, ClusterSettings, HostCgroupVersion } from "./keys";

/** One Slurm worker: its Slurm node name (also its hostname) and its container name. */
export interface WorkerSpec {
  nodeName: string;
  containerName: string;
}

/** Everything the program builds, decided once from stack config. Components only read it. */
export interface ClusterSpec {
  project: string;
  stack: string;
  /** The Docker engine everything is deployed to (the docker provider's host). */
  dockerHost: string;
  clusterName: string;
  cgroupMode: CgroupMode;
  /** Scheduling settings: tuned for short jobs, or Slurm's defaults. */
  schedulerProfile: "throughput" | "stock";
  /** The cgroup version of the host the workers run on (resolved from auto before this point). */
  hostCgroupVersion: HostCgroupVersion;
  /** Whether cgroup and systemd workers may run privileged instead of with named grants. */
  allowPrivileged: boolean;
  baseImage: string;
  workerCpus: number;
  workerMemoryMb: number;
  /** Memory a worker container gets above workerMemoryMb (auto: the mode's default). */
  workerMemoryHeadroomMb: number | "auto";
  registrationTimeoutSeconds: number;
  /** Removing a worker: how long to wait for its jobs, and whether to cancel those that outlast it. */
  shrinkDrainSeconds: number;
  shrinkKillsJobs: boolean;
  /** Prefix of every Docker object of this stack: `slurm-<stack>`. */
  prefix: string;
  /** Labels put on every container, network and volume so tear-down finds all of them. */
  labels: Record<string, string>;
  /** The private network's name, before the hash of its settings that components/network.ts appends. */
  network: string;
  /** Host names on the private network (also Slurm's SlurmctldHost, AccountingStorageHost, StorageHost). */
  hosts: { controller: string; slurmdbd: string; database: string };
  containers: { controller: string; slurmdbd: string; database: string };
  volumes: { stateSave: string; database: string; shared: string };
  sharedMountPath: string;
  database: { name: string; user: string; port: number };
  workers: WorkerSpec[];
  /** Slurm's REST API (slurmrestd): its container and where it is published on the host. */
  rest: { container: string; host: string; bindAddress: string; port: number };
  /** Undefined when the stack turns monitoring off. */
  monitoring?: MonitoringSpec;
}

export const PROJECT_LABEL = "com.slurm-cluster.project";
export const STACK_LABEL = "com.slurm-cluster.stack";
export const ROLE_LABEL = "com.slurm-cluster.role";

/** The monitoring services and where they are published on the host. */
export interface MonitoringSpec {
  grafana: boolean;
  bindAddress: string;
  prometheusPort: number;
  grafanaPort: number;
  slurmExporterPort: number;
  scrapeIntervalSeconds: number;
  containers: { prometheus: string; nodeExporter: string; slurmExporter: string; grafana: string };
  hosts: { prometheus: string; nodeExporter: string; slurmExporter: string; grafana: string };
  /** Ports the services listen on inside the cluster network. */
  internalPorts: { prometheus: number; nodeExporter: number; slurmExporter: number; grafana: number };
  prometheusVolume: string;
}

export interface SpecInput extends Omit<ClusterSettings, "hostCgroupVersion"> {
  project: string;
  stack: string;
  hostCgroupVersion: HostCgroupVersion;
  dockerHost: string;
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
    dockerHost: v.dockerHost,
    clusterName: v.clusterName,
    cgroupMode: v.cgroupMode,
    schedulerProfile: v.schedulerProfile,
    hostCgroupVersion: v.hostCgroupVersion,
    allowPrivileged: v.allowPrivileged,
    baseImage: v.baseImage,
    workerCpus: v.workerCpus,
    workerMemoryMb: v.workerMemoryMb,
    workerMemoryHeadroomMb: v.workerMemoryHeadroomMb,
    registrationTimeoutSeconds: v.registrationTimeoutSeconds,
    shrinkDrainSeconds: v.shrinkDrainSeconds,
    shrinkKillsJobs: v.shrinkKillsJobs,
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
    rest: { container: `${prefix}-rest`, host: "rest", bindAddress: v.restBindAddress, port: v.restPort },
    database: { name: "slurm_acct_db", user: "slurm", port: 3306 },
    workers,
    monitoring: v.monitoring
      ? {
          grafana: v.grafana,
          bindAddress: v.monitoringBindAddress,
          prometheusPort: v.prometheusPort,
          grafanaPort: v.grafanaPort,
          slurmExporterPort: v.slurmExporterPort,
          scrapeIntervalSeconds: v.scrapeIntervalSeconds,
          containers: {
            prometheus: `${prefix}-prometheus`,
            nodeExporter: `${prefix}-node-exporter`,
            slurmExporter: `${prefix}-slurm-exporter`,
            grafana: `${prefix}-grafana`,
          },
          hosts: { prometheus: "prometheus", nodeExporter: "node-exporter", slurmExporter: "slurm-exporter", grafana: "grafana" },
          internalPorts: { prometheus: 9090, nodeExporter: 9100, slurmExporter: 8080, grafana: 3000 },
          prometheusVolume: `${prefix}-prometheus`,
        }
      : undefined,
  };
}
