import { z } from "zod";
import { ACCOUNTS_SCHEMA, QOS_SCHEMA, USERS_SCHEMA } from "./accounting";

/** The project's config namespace: keys are written `slurm-cluster:<key>` in stack files. */
export const CONFIG_NAMESPACE = "slurm-cluster";

/** Worker containment modes: no cgroups, Slurm's cgroup plugins, or systemd as PID 1. */
export const CGROUP_MODES = ["none", "cgroup", "systemd"] as const;
export type CgroupMode = (typeof CGROUP_MODES)[number];

/** A stack either runs a whole cluster, or only workers that join another stack's controller. */
export const ROLES = ["cluster", "workers"] as const;
export type Role = (typeof ROLES)[number];

/** The CPU architectures images are built for (Docker platform names). */
export const PLATFORMS = ["auto", "linux/amd64", "linux/arm64"] as const;
export type Platform = Exclude<(typeof PLATFORMS)[number], "auto">;

/**
 * The Slurm releases the images can be built with: each from the Debian suite that packages it,
 * for both architectures (checked in the suites' Packages indexes: slurmctld, slurmd, slurmdbd,
 * slurmrestd, slurm-wlm-jwt-plugin). 24.11: Debian 13 (stable); 26.05: Debian testing (forky).
 */
export const SLURM_RELEASES = {
  "24.11": { suite: "trixie", baseImage: "debian:trixie-slim", platforms: ["linux/amd64", "linux/arm64"] },
  "26.05": { suite: "forky", baseImage: "debian:forky-slim", platforms: ["linux/amd64", "linux/arm64"] },
} as const satisfies Record<string, { suite: string; baseImage: string; platforms: readonly Platform[] }>;
export type SlurmRelease = keyof typeof SLURM_RELEASES;
const SLURM_RELEASE_NAMES = Object.keys(SLURM_RELEASES) as [SlurmRelease, ...SlurmRelease[]];

/** The Debian image a stack's images are built FROM: baseImage when set, else its release's suite. */
export function baseImageOf(settings: { baseImage: string; slurmRelease: SlurmRelease }): string {
  return settings.baseImage || SLURM_RELEASES[settings.slurmRelease].baseImage;
}

const IPV4 = /^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)$/;

/** The host's cgroup version: asked of the Docker engine (auto) or given. */
export const HOST_CGROUP_VERSIONS = ["auto", "1", "2"] as const;
export type HostCgroupVersion = 1 | 2;

/**
 * What a Docker engine offers for giving a container its own cgroup subtree: its cgroup driver
 * (a v1 worker's per-container parent cgroup is a path with cgroupfs), and whether it knows
 * `--security-opt writable-cgroups=true` (Docker Engine 28 and later).
 */
export interface EngineCgroupSupport {
  driver: "cgroupfs" | "systemd";
  writableCgroups: boolean;
}

const wholeNumber = (min: number, max: number) =>
  z.coerce.number().int().min(min).max(max);

/** `auto`, or a whole number of at most `digits` digits from min to max. */
const autoOrWholeNumber = (min: number, max: number, digits: number) =>
  z
    .string()
    .regex(new RegExp(`^(auto|\\d{1,${digits}})$`))
    .transform((v) => (v === "auto" ? ("auto" as const) : Number(v)))
    .refine((v) => v === "auto" || (v >= min && v <= max));

/**
 * Every config key the program reads: its schema, its default and what is allowed, in words.
 * Pulumi.yaml declares the same keys and defaults for the Pulumi CLI; a unit test keeps them equal.
 */
export const CONFIG_KEYS = {
  role: {
    schema: z.enum(ROLES),
    default: "cluster" as Role,
    allowed: "cluster (controller, accounting, monitoring and workers) or workers (only workers, joining controllerStack's cluster)",
  },
  controllerStack: {
    // A stack name as `pulumi.StackReference` takes it: stack, or org/project/stack.
    schema: z.string().regex(/^([A-Za-z0-9_.-]+\/){0,2}[A-Za-z0-9_.-]*$/),
    default: "",
    allowed: "the stack that runs the controller (e.g. ubuntu, or org/slurm-cluster/ubuntu); required when role is workers",
  },
  advertiseAddress: {
    // Where other machines reach this host. A cluster publishes slurmctld (and srun's ports) here;
    // a workers stack publishes each slurmd here. Empty: nothing is published for other machines.
    schema: z.string().regex(new RegExp(`(${IPV4.source})|^$`)),
    default: "",
    allowed: "an IPv4 address of this host that the other machines reach (never 0.0.0.0 implicitly), or empty for one machine",
  },
  partition: {
    schema: z.string().regex(/^([a-z][a-z0-9_]{0,15})?$/),
    default: "",
    allowed: "a lower case name (letters, digits, _; at most 16): this host's Slurm partition and node feature; empty for the stack name",
  },
  platformPartitions: {
    schema: z.string().regex(/^[a-z][a-z0-9_]{0,15}(,[a-z][a-z0-9_]{0,15})*$/),
    default: "ubuntu,macos,qnap",
    allowed: "comma-separated partition names, one per machine that may join (role cluster)",
  },
  nodePrefix: {
    schema: z.string().regex(/^([a-z][a-z0-9]{0,15})?$/),
    default: "",
    allowed: "a lower case name for this stack's nodes (<prefix>1, <prefix>2, ...; unique cluster-wide); empty: worker (cluster) or the partition (workers)",
  },
  slurmdPort: {
    schema: wholeNumber(1024, 65000),
    default: 6818,
    allowed: "a TCP port from 1024 to 65000: a workers stack publishes worker N's slurmd on this port + N - 1",
  },
  platform: {
    schema: z.enum(PLATFORMS),
    default: "auto",
    allowed: "auto (the Docker engine's own), linux/amd64 or linux/arm64",
  },
  gpusPerWorker: {
    schema: wholeNumber(0, 16),
    default: 0,
    allowed: "a whole number from 0 to 16",
  },
  gpuType: {
    schema: z.string().regex(/^([a-z0-9][a-z0-9_]{0,31})?$/),
    default: "",
    allowed: "a GPU type name for Slurm (e.g. a100; lower case letters, digits, _), or empty for none",
  },
  gpuDevices: {
    schema: z.string().regex(/^(\/[A-Za-z0-9_.\/-]+(,\/[A-Za-z0-9_.\/-]+)*)?$/),
    default: "",
    allowed: "comma-separated device files of this host, gpusPerWorker per worker in order (empty: /dev/nvidia0, /dev/nvidia1, ...)",
  },
  nvidiaRuntime: {
    schema: z.enum(["true", "false"]).transform((v) => v === "true"),
    default: false,
    allowed: "true (ask Docker for the NVIDIA runtime's GPUs, which also brings the driver's files) or false",
  },
  sharedNfs: {
    // server:/export. Every stack that names the same export sees the same /shared.
    schema: z.string().regex(/^([A-Za-z0-9.-]+:\/[A-Za-z0-9_.\/-]*)?$/),
    default: "",
    allowed: "an NFS export as server:/path (e.g. the QNAP's), or empty for a local Docker volume",
  },
  clusterName: {
    // slurmdbd builds MySQL table names from the cluster name, and Slurm lower-cases it
    // silently (slurm.conf ClusterName), so only accept what survives both unchanged.
    schema: z.string().regex(/^[a-z][a-z0-9_]{0,39}$/),
    default: "hpc",
    allowed: "a lower case letter, then lower case letters, digits or _ (at most 40 characters)",
  },
  workerCount: {
    schema: wholeNumber(1, 64),
    default: 2,
    allowed: "a whole number from 1 to 64",
  },
  workerCpus: {
    schema: wholeNumber(1, 256),
    default: 2,
    allowed: "a whole number from 1 to 256",
  },
  workerMemoryMb: {
    // Below ~256 MiB slurmd, munged and a job step do not fit in the container together.
    schema: wholeNumber(256, 1048576),
    default: 1024,
    allowed: "a whole number of MiB from 256 (what slurmd, munged and a job step need) to 1048576",
  },
  workerMemoryHeadroomMb: {
    // The container's memory limit is workerMemoryMb plus this room for slurmd and munged (and
    // systemd), which Slurm does not give to jobs. The docker provider changes it in place.
    schema: autoOrWholeNumber(64, 65536, 6),
    default: "auto",
    allowed: "auto (128 MiB, 192 MiB with systemd) or a whole number of MiB from 64 to 65536",
  },
  userProcessLimit: {
    // RLIMIT_NPROC on workers and the login node: processes one user may have at once on this
    // machine (all their jobs and sessions together). Root's daemons are not counted.
    schema: wholeNumber(64, 1048576),
    default: 4096,
    allowed: "a whole number from 64 to 1048576",
  },
  serviceMemoryMb: {
    // The memory limit of every container but the workers: auto gives each its own (README).
    schema: autoOrWholeNumber(64, 1048576, 7),
    default: "auto",
    allowed: "auto (each service's own limit, 128 to 1024 MiB) or a whole number of MiB from 64 to 1048576 for every service container",
  },
  schedulerProfile: {
    schema: z.enum(["throughput", "stock"]),
    default: "throughput" as "throughput" | "stock",
    allowed: "throughput (tuned for many short jobs) or stock (Slurm's defaults)",
  },
  cgroupMode: {
    schema: z.enum(CGROUP_MODES),
    default: "none" as CgroupMode,
    allowed: `one of ${CGROUP_MODES.join(", ")}`,
  },
  hostCgroupVersion: {
    schema: z.enum(HOST_CGROUP_VERSIONS).transform((v) => (v === "auto" ? "auto" : (Number(v) as HostCgroupVersion))),
    default: "auto",
    allowed: "auto (ask the Docker engine), 1 or 2",
  },
  allowPrivileged: {
    schema: z.enum(["true", "false"]).transform((v) => v === "true"),
    default: false,
    allowed: "true or false",
  },
  allowHostCgroupWrite: {
    // Where the host cannot give a worker only its own cgroup subtree (cgroup v1 with systemd in
    // the worker, GPUs on v1, the systemd cgroup driver on v1, a v2 engine before Docker 28), the
    // mode needs the host's cgroups (or CAP_SYS_ADMIN); refused unless this is set.
    schema: z.enum(["true", "false"]).transform((v) => v === "true"),
    default: false,
    allowed: "true (let cgroup/systemd workers write the host's cgroups where their own subtree cannot be delegated) or false",
  },
  allowInsecureDockerHost: {
    // A tcp:// or http:// docker:host without TLS is the Docker API, root on that machine, open
    // to anyone on the network; refused unless this is set (ssh:// and TLS need no such consent).
    schema: z.enum(["true", "false"]).transform((v) => v === "true"),
    default: false,
    allowed: "true (accept a plain tcp:// or http:// docker:host: unencrypted, unauthenticated, root on that machine) or false",
  },
  slurmRelease: {
    // Which Slurm the images carry: the Debian suite that packages it is the images' base.
    schema: z.enum(SLURM_RELEASE_NAMES),
    default: "24.11" as SlurmRelease,
    allowed: `one of ${SLURM_RELEASE_NAMES.map((r) => `${r} (Debian ${SLURM_RELEASES[r].suite})`).join(", ")}`,
  },
  baseImage: {
    // A Docker image reference: [registry/]name[:tag][@digest], lower case name; empty: the release's.
    schema: z.string().regex(/^([a-z0-9]+([._\/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?)?$/),
    default: "",
    allowed: "a Docker image reference such as debian:trixie-slim, or empty for slurmRelease's (debian:trixie-slim for 24.11, debian:forky-slim for 26.05)",
  },
  jobRuntimes: {
    // Python with NumPy/scikit-learn and Open MPI with mpi4py in the workers' image (the job
    // templates need them); false keeps workers on the daemons' image (about 410 MB less per
    // machine, and much faster to build for another architecture under emulation).
    schema: z.enum(["true", "false"]).transform((v) => v === "true"),
    default: true,
    allowed: "true or false",
  },
  networkSubnet: {
    // The cluster network's IPv4 range; empty lets Docker choose (it may pick a range your LAN uses).
    schema: z.string().regex(/^(((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)\/(1[6-9]|2[0-8]))?$/),
    default: "",
    allowed: "an IPv4 range in CIDR form from /16 to /28 (e.g. 172.31.250.0/24), or empty for Docker's choice",
  },
  sharedVolume: {
    schema: z.string().regex(/^([a-zA-Z0-9][a-zA-Z0-9_.-]{0,127})?$/),
    default: "",
    allowed: "a Docker volume name (letters, digits, _ . -; starting with a letter or digit), or empty for slurm-<stack>-shared",
  },
  monitoring: {
    schema: z.enum(["true", "false"]).transform((v) => v === "true"),
    default: true,
    allowed: "true or false",
  },
  grafana: {
    schema: z.enum(["true", "false"]).transform((v) => v === "true"),
    default: true,
    allowed: "true or false",
  },
  monitoringBindAddress: {
    // Published monitoring ports listen here; 127.0.0.1 keeps them off the network.
    schema: z.string().regex(IPV4),
    default: "127.0.0.1",
    allowed: "an IPv4 address of this host to publish monitoring ports on (127.0.0.1 keeps them local)",
  },
  restBindAddress: {
    // slurmrestd's published port listens here; 127.0.0.1 keeps the REST API off the network.
    schema: z.string().regex(IPV4),
    default: "127.0.0.1",
    allowed: "an IPv4 address of this host to publish the REST API on (127.0.0.1 keeps it local)",
  },
  restPort: {
    schema: wholeNumber(1, 65535),
    default: 6820,
    allowed: "a TCP port from 1 to 65535",
  },
  loginPort: {
    // The login node's sshd, published on advertiseAddress (or 127.0.0.1 for one machine).
    schema: wholeNumber(1, 65535),
    default: 2222,
    allowed: "a TCP port from 1 to 65535 that no other service of the stack publishes",
  },
  prometheusPort: {
    schema: wholeNumber(1, 65535),
    default: 9090,
    allowed: "a TCP port from 1 to 65535",
  },
  grafanaPort: {
    schema: wholeNumber(1, 65535),
    default: 3000,
    allowed: "a TCP port from 1 to 65535",
  },
  alertmanagerPort: {
    schema: wholeNumber(1, 65535),
    default: 9093,
    allowed: "a TCP port from 1 to 65535",
  },
  alertWebhookUrl: {
    // Where Alertmanager sends alerts (its webhook receiver); empty: they stay in Alertmanager.
    // May be set with --secret (see SECRET_CONFIG_KEYS).
    schema: z.string().regex(/^(https?:\/\/[^\s]+)?$/),
    default: "",
    allowed: "an http(s) URL Alertmanager posts alerts to (a webhook receiver), or empty to keep them in Alertmanager only",
  },
  slurmExporterPort: {
    schema: wholeNumber(1, 65535),
    default: 9341,
    allowed: "a TCP port from 1 to 65535",
  },
  nodeExporterPort: {
    // Keep it the same on every stack: the cluster's Prometheus scrapes each other machine there.
    schema: wholeNumber(1, 65535),
    default: 9100,
    allowed: "a TCP port from 1 to 65535 (the same on every stack of the cluster)",
  },
  scrapeIntervalSeconds: {
    schema: wholeNumber(5, 300),
    default: 15,
    allowed: "a whole number of seconds from 5 to 300",
  },
  shrinkDrainSeconds: {
    // How long removing a worker (lowering workerCount), or replacing it in an upgrade of
    // slurmRelease, waits for the jobs on its drained node.
    schema: wholeNumber(0, 86400),
    default: 600,
    allowed: "a whole number of seconds from 0 to 86400",
  },
  shrinkKillsJobs: {
    schema: z.enum(["true", "false"]).transform((v) => v === "true"),
    default: false,
    allowed: "true or false",
  },
  upgradeBatchSize: {
    // How many workers an upgrade of slurmRelease drains and replaces at once (the rest keep
    // running jobs); 0: a quarter of the stack's workers, at least one.
    schema: wholeNumber(0, 1024),
    default: 0,
    allowed: "a whole number from 0 (a quarter of the workers, at least one) to 1024",
  },
  accounts: {
    schema: ACCOUNTS_SCHEMA,
    default: "research fairshare=1",
    allowed: "Slurm accounts, one per line: name [parent=<account>] [fairshare=N] [maxjobs=N] [grptres=cpu=8,...] [qos=a,b]",
  },
  users: {
    schema: USERS_SCHEMA,
    default: "alice uid=1001 account=research",
    allowed: "cluster users, one per line: name uid=<1000..60000> account=<account> [gid=N] [admin=none|operator|administrator] [sshKey=<public key file>]",
  },
  qos: {
    schema: QOS_SCHEMA,
    default: "",
    allowed: "Slurm QOS, one per line: name [priority=N] [maxwall=[days-]hh:mm:ss]",
  },
  registrationTimeoutSeconds: {
    schema: wholeNumber(10, 3600),
    default: 180,
    allowed: "a whole number of seconds from 10 to 3600",
  },
} as const;

export type ConfigKey = keyof typeof CONFIG_KEYS;
export const CONFIG_KEY_NAMES = Object.keys(CONFIG_KEYS) as ConfigKey[];
/**
 * Keys whose value may be a secret (`pulumi config set --secret`): a webhook URL usually carries
 * its token. The program keeps what it renders from them secret, and errors do not quote them.
 */
export const SECRET_CONFIG_KEYS: ReadonlySet<ConfigKey> = new Set<ConfigKey>(["alertWebhookUrl"]);

/** Validated stack settings, one field per config key: the type is the schemas' output. */
export type ClusterSettings = { -readonly [K in ConfigKey]: z.output<(typeof CONFIG_KEYS)[K]["schema"]> };
