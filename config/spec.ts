import { SlurmAccountSpec, SlurmQosSpec, SlurmUserSpec } from "./accounting";
import { ControllerJoin } from "./controller-stack";
import { CgroupMode, baseImageOf, ClusterSettings, EngineCgroupSupport, HostCgroupVersion, Platform, Role, SlurmRelease } from "./keys";
import { ReleaseUpgrade } from "./upgrade";

/** One Slurm worker: its Slurm node name (also its hostname) and its container name. */
export interface WorkerSpec {
  nodeName: string;
  containerName: string;
  /** The port its slurmd listens on (published on advertiseAddress in a workers stack). */
  slurmdPort: number;
  /** Host device files of the GPUs it gets (empty without GPUs); inside at /dev/<file name>. */
  gpuDevices: string[];
}

/** The first port of the range srun listens on (SrunPortRange), published with slurmctld for other machines. */
export const SRUN_PORTS = { first: 60001, last: 60032 } as const;

/** Everything the program builds, decided once from stack config. Components only read it. */
export interface ClusterSpec {
  project: string;
  stack: string;
  /** cluster: the whole cluster; workers: only workers, joining `controller`'s cluster. */
  role: Role;
  /** Workers stacks: the cluster they join, as its stack published it (munge key left out). */
  controller?: Omit<ControllerJoin, "mungeKeyBase64"> & { stack: string };
  /** This host's partition (also a node feature): its machine's name, e.g. ubuntu, macos, qnap. */
  partition: string;
  /** Cluster stacks: the platform partitions slurm.conf declares (a node set by feature each). */
  partitions: string[];
  /** The images' CPU architecture (resolved from auto before this point). */
  platform: Platform;
  /** Whether the containers run under emulation: platform is not the engine's own (binfmt_misc, qemu-user). */
  emulated: boolean;
  /** Slurm features every worker of this stack announces: partition, architecture, gpu. */
  nodeFeatures: string[];
  /** Where other machines reach this host; empty for one machine (nothing published for them). */
  advertiseAddress: string;
  /** GPUs per worker, as Slurm generic resources (GRES). perWorker 0: none. */
  gpus: { perWorker: number; type: string; nvidiaRuntime: boolean };
  /** An NFS export (server:/path) mounted as the shared volume, or empty for a local volume. */
  sharedNfs: string;
  /** Slurm accounts, users and QOS (kept in slurmdbd by the cluster stack); users also exist on every node. */
  accounting: { accounts: SlurmAccountSpec[]; users: SlurmUserSpec[]; qos: SlurmQosSpec[] };
  /** The Docker engine everything is deployed to (the docker provider's host). */
  dockerHost: string;
  clusterName: string;
  cgroupMode: CgroupMode;
  /** RLIMIT_NPROC for users' processes on workers and the login node. */
  userProcessLimit: number;
  /** Memory limit of every non-worker container, or auto (each its own). */
  serviceMemoryMb: number | "auto";
  /** Scheduling settings: tuned for short jobs, or Slurm's defaults. */
  schedulerProfile: "throughput" | "stock";
  /** The cgroup version of the host the workers run on (resolved from auto before this point). */
  hostCgroupVersion: HostCgroupVersion;
  /** Whether cgroup and systemd workers may run privileged instead of with named grants. */
  allowPrivileged: boolean;
  /** Whether cgroup and systemd workers may write the host's cgroups where their own subtree cannot be delegated. */
  allowHostCgroupWrite: boolean;
  /** What the engine offers for delegating a worker its own cgroup subtree (asked only for cgroup and systemd modes). */
  engineCgroup: EngineCgroupSupport;
  /** The Slurm release the images carry (slurmRelease). */
  slurmRelease: SlurmRelease;
  /** The Debian image the images are built FROM: baseImage, else the release's suite. */
  baseImage: string;
  /** Whether the workers' image carries the job runtimes (Python, scikit-learn, Open MPI). */
  jobRuntimes: boolean;
  workerCpus: number;
  workerMemoryMb: number;
  /** Memory a worker container gets above workerMemoryMb (auto: the mode's default). */
  workerMemoryHeadroomMb: number | "auto";
  registrationTimeoutSeconds: number;
  /** Removing a worker: how long to wait for its jobs, and whether to cancel those that outlast it. */
  shrinkDrainSeconds: number;
  shrinkKillsJobs: boolean;
  /** Workers an upgrade of slurmRelease drains and replaces at once (resolved from 0: a quarter, at least one). */
  upgradeBatchSize: number;
  /**
   * Set when this `up` changes the release the stack's Slurm containers run (config/upgrade.ts):
   * the backup is made first and the daemons are replaced in SchedMD's order.
   */
  upgrade?: ReleaseUpgrade;
  /** Prefix of every Docker object of this stack: `slurm-<stack>`. */
  prefix: string;
  /** Labels put on every container, network and volume so tear-down finds all of them. */
  labels: Record<string, string>;
  /**
   * The private networks' names, before the hash of their settings that components/network.ts
   * appends. A cluster stack has all three; a workers stack only `cluster` (its workers and node
   * exporter). README "Networks": who is on which, and why.
   */
  networks: NetworkNames;
  /** The cluster network's IPv4 range (CIDR), or empty for Docker's choice; the other two are always Docker's choice. */
  networkSubnet: string;
  /** Host names on the private networks (also Slurm's SlurmctldHost, AccountingStorageHost, StorageHost). */
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
  /** The login node (cluster stacks): users' only way in, by SSH. Undefined on a workers stack. */
  login?: LoginSpec;
}

/**
 * The networks by role. cluster: the Slurm daemons, workers, login, REST and the Slurm exporter;
 * accounting: the database and slurmdbd only; monitoring: Prometheus, Alertmanager, the node
 * exporter, Grafana and the Slurm exporter. slurmdbd and the Slurm exporter are on two each.
 */
export interface NetworkNames {
  cluster: string;
  accounting: string;
  monitoring: string;
}

/** The network roles, as each network's role label (components/labels.ts) and the policy pack read them. */
export const NETWORK_ROLES = { cluster: "network", accounting: "accounting-network", monitoring: "monitoring-network" } as const;

/** The login node: its container, where its sshd is published, and the users' public keys. */
export interface LoginSpec {
  container: string;
  host: string;
  /** The host address sshd's port is published on: advertiseAddress, else 127.0.0.1. */
  bindAddress: string;
  port: number;
  /** Each user's public keys (authorized_keys lines); a user with none cannot log in. */
  authorizedKeys: Record<string, string[]>;
}

/** slurmctld's port (slurm.conf SlurmctldPort), published on advertiseAddress for other machines. */
export const SLURMCTLD_PORT = 6817;

/** slurmd's port inside the cluster network (slurm.conf SlurmdPort). */
export const SLURMD_PORT = 6818;

export const PROJECT_LABEL = "com.slurm-cluster.project";
export const STACK_LABEL = "com.slurm-cluster.stack";
export const ROLE_LABEL = "com.slurm-cluster.role";

/** The monitoring services and where they are published on the host. */
export interface MonitoringSpec {
  grafana: boolean;
  bindAddress: string;
  prometheusPort: number;
  grafanaPort: number;
  alertmanagerPort: number;
  /** Alertmanager's webhook receiver; empty: alerts stay in Alertmanager. */
  alertWebhookUrl: string;
  slurmExporterPort: number;
  /** Where a workers stack publishes its node exporter (on advertiseAddress); the cluster's Prometheus scrapes it there. */
  nodeExporterPort: number;
  scrapeIntervalSeconds: number;
  containers: { prometheus: string; nodeExporter: string; slurmExporter: string; grafana: string; alertmanager: string };
  hosts: { prometheus: string; nodeExporter: string; slurmExporter: string; grafana: string; alertmanager: string };
  /** Ports the services listen on inside the cluster network. */
  internalPorts: { prometheus: number; nodeExporter: number; slurmExporter: number; grafana: number; alertmanager: number };
  prometheusVolume: string;
}

export interface SpecInput extends Omit<ClusterSettings, "hostCgroupVersion" | "platform"> {
  project: string;
  stack: string;
  hostCgroupVersion: HostCgroupVersion;
  platform: Platform;
  /** The engine's own CPU architecture. */
  enginePlatform: Platform;
  dockerHost: string;
  engineCgroup: EngineCgroupSupport;
  /** Workers stacks: the controller stack's join output (checked). */
  controller?: ControllerJoin & { stack: string };
  /** Cluster stacks: the users' public keys, read from their sshKey files. */
  authorizedKeys?: Record<string, string[]>;
}

/** The partition of a stack: as configured, else the stack's own name. */
export function partitionOf(v: { partition: string; stack: string }): string {
  return v.partition || v.stack;
}

/** Node names are <prefix><n>: as configured, else worker (cluster) or the partition (workers). */
export function nodeNamesOf(v: { nodePrefix: string; role: Role; partition: string; stack: string; workerCount: number }): string[] {
  const prefix = v.nodePrefix || (v.role === "cluster" ? "worker" : partitionOf(v));
  return Array.from({ length: v.workerCount }, (_, i) => `${prefix}${i + 1}`);
}

/** The GPU device files worker i gets: its share of gpuDevices, or /dev/nvidia<k> numbered across the host. */
export function gpuDevicesOf(v: { gpusPerWorker: number; gpuDevices: string }, worker: number): string[] {
  const all = v.gpuDevices ? v.gpuDevices.split(",") : [];
  return Array.from({ length: v.gpusPerWorker }, (_, k) => all[worker * v.gpusPerWorker + k] ?? `/dev/nvidia${worker * v.gpusPerWorker + k}`);
}

/** Derives names and wiring from validated values: pure, so tests and the engine agree on names. */
export function buildSpec(v: SpecInput): ClusterSpec {
  const prefix = `slurm-${v.stack}`;
  const publish = v.role === "workers";
  const workers = nodeNamesOf(v).map((nodeName, i) => ({
    nodeName,
    containerName: `${prefix}-${nodeName}`,
    slurmdPort: publish ? v.slurmdPort + i : SLURMD_PORT,
    gpuDevices: gpuDevicesOf(v, i),
  }));
  const partition = partitionOf(v);
  const joined = v.controller;
  const { mungeKeyBase64: _secret, ...controller } = joined ?? { mungeKeyBase64: "" };
  return {
    project: v.project,
    stack: v.stack,
    role: v.role,
    controller: joined ? (controller as ClusterSpec["controller"]) : undefined,
    partition,
    partitions: [...new Set([...v.platformPartitions.split(","), partition])],
    platform: v.platform,
    emulated: v.platform !== v.enginePlatform,
    nodeFeatures: [partition, v.platform.split("/")[1], ...(v.gpusPerWorker > 0 ? ["gpu"] : [])],
    advertiseAddress: v.advertiseAddress,
    gpus: { perWorker: v.gpusPerWorker, type: v.gpuType, nvidiaRuntime: v.nvidiaRuntime },
    sharedNfs: v.sharedNfs,
    accounting: { accounts: v.accounts, users: v.users, qos: v.qos },
    dockerHost: v.dockerHost,
    // A workers stack is part of its controller's cluster: its name and containment are the cluster's.
    clusterName: joined ? joined.clusterName : v.clusterName,
    cgroupMode: joined ? joined.cgroupMode : v.cgroupMode,
    schedulerProfile: v.schedulerProfile,
    userProcessLimit: v.userProcessLimit,
    serviceMemoryMb: v.serviceMemoryMb,
    hostCgroupVersion: v.hostCgroupVersion,
    allowPrivileged: v.allowPrivileged,
    allowHostCgroupWrite: v.allowHostCgroupWrite,
    engineCgroup: v.engineCgroup,
    slurmRelease: v.slurmRelease,
    baseImage: baseImageOf(v),
    jobRuntimes: v.jobRuntimes,
    workerCpus: v.workerCpus,
    workerMemoryMb: v.workerMemoryMb,
    workerMemoryHeadroomMb: v.workerMemoryHeadroomMb,
    registrationTimeoutSeconds: v.registrationTimeoutSeconds,
    shrinkDrainSeconds: v.shrinkDrainSeconds,
    shrinkKillsJobs: v.shrinkKillsJobs,
    upgradeBatchSize: v.upgradeBatchSize > 0 ? v.upgradeBatchSize : Math.max(1, Math.floor(workers.length / 4)),
    prefix,
    labels: { [PROJECT_LABEL]: v.project, [STACK_LABEL]: v.stack },
    networks: { cluster: `${prefix}-net`, accounting: `${prefix}-accounting-net`, monitoring: `${prefix}-monitoring-net` },
    networkSubnet: v.networkSubnet,
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
    login:
      v.role === "cluster"
        ? {
            container: `${prefix}-login`,
            host: "login",
            bindAddress: v.advertiseAddress || "127.0.0.1",
            port: v.loginPort,
            authorizedKeys: v.authorizedKeys ?? Object.fromEntries(v.users.map((u) => [u.name, []])),
          }
        : undefined,
    monitoring: v.monitoring
      ? {
          grafana: v.grafana,
          bindAddress: v.monitoringBindAddress,
          prometheusPort: v.prometheusPort,
          grafanaPort: v.grafanaPort,
          alertmanagerPort: v.alertmanagerPort,
          alertWebhookUrl: v.alertWebhookUrl,
          slurmExporterPort: v.slurmExporterPort,
          nodeExporterPort: v.nodeExporterPort,
          scrapeIntervalSeconds: v.scrapeIntervalSeconds,
          containers: {
            prometheus: `${prefix}-prometheus`,
            nodeExporter: `${prefix}-node-exporter`,
            slurmExporter: `${prefix}-slurm-exporter`,
            grafana: `${prefix}-grafana`,
            alertmanager: `${prefix}-alertmanager`,
          },
          hosts: { prometheus: "prometheus", nodeExporter: "node-exporter", slurmExporter: "slurm-exporter", grafana: "grafana", alertmanager: "alertmanager" },
          internalPorts: { prometheus: 9090, nodeExporter: 9100, slurmExporter: 8080, grafana: 3000, alertmanager: 9093 },
          prometheusVolume: `${prefix}-prometheus`,
        }
      : undefined,
  };
}
