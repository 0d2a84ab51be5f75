import { ClusterSpec, SLURMCTLD_PORT, SLURMD_PORT, SRUN_PORTS, WorkerSpec } from "../spec";
import { StackNames, joinSections, renderHeader } from "./header";
import { SlurmRelease } from "../keys";
import { slurmctldMetricsLines } from "./slurmctld-metrics";

export { SLURMCTLD_PORT, SLURMD_PORT };
export const SLURMDBD_PORT = 6819;
export const STATE_SAVE_LOCATION = "/var/lib/slurm/slurmctld";
export const SLURMRESTD_PORT = 6820;
/** The HS256 key slurmctld and slurmdbd check REST tokens with (uploaded to those two only). */
const JWT_KEY_PATH = "/etc/slurm/jwt_hs256.key";
/**
 * The REST API's version per Slurm release, its paths /slurm/<version>/...: the newest each
 * release serves. 26.05 still serves v0.0.42 but deprecates it (gone in 26.11), so it gets v0.0.45.
 */
export const REST_OPENAPI_VERSIONS: Record<SlurmRelease, string> = { "24.11": "v0.0.42", "26.05": "v0.0.45" };
export const restOpenapiVersion = (spec: Pick<ClusterSpec, "slurmRelease">): string => REST_OPENAPI_VERSIONS[spec.slurmRelease];

/** Lines that let slurmctld and slurmdbd accept JSON Web Tokens besides munge (slurmrestd sends them). */
export function jwtAuthLines(): string[] {
  return [
    "# Tokens for the REST API (slurmrestd): HS256 JSON Web Tokens checked with this key, besides munge.",
    "AuthAltTypes=auth/jwt",
    `AuthAltParameters=jwt_key=${JWT_KEY_PATH}`,
  ];
}

/** Plugins that decide how a worker tracks and contains job processes, per cgroupMode. */
function containmentLines(spec: ClusterSpec): string[] {
  switch (spec.cgroupMode) {
    case "none":
      return [
        "# cgroupMode=none: no cgroup use at all. Processes are tracked through /proc",
        "# (proctrack/linuxproc) and no task plugin is loaded; cgroup.conf disables the cgroup plugin.",
        "ProctrackType=proctrack/linuxproc",
        "JobAcctGatherType=jobacct_gather/linux",
        "JobAcctGatherFrequency=30",
      ];
    case "cgroup":
    case "systemd":
      return [
        `# cgroupMode=${spec.cgroupMode}: every job step runs in its own cgroup (proctrack/cgroup), is held to`,
        "# its allocated CPUs and memory (task/cgroup; task/affinity binds tasks to CPUs), and its usage",
        "# is read from the cgroup (jobacct_gather/cgroup). cgroup.conf picks the cgroup version.",
        "ProctrackType=proctrack/cgroup",
        "TaskPlugin=task/cgroup,task/affinity",
        "JobAcctGatherType=jobacct_gather/cgroup",
        "JobAcctGatherFrequency=30",
      ];
  }
}

/**
 * The most nodes the controller accepts. Workers are dynamic nodes, so slurm.conf names none and
 * stays the same whatever workerCount is; this bounds them (workerCount is at most 64).
 */
const MAX_NODE_COUNT = 256;

/**
 * What a worker's slurmd announces when it registers as a dynamic node (`slurmd -Z --conf`):
 * the configured size, not the host's, which a container would otherwise report.
 */
export function renderWorkerNodeConf(spec: Pick<ClusterSpec, "gpus" | "workerCpus" | "workerMemoryMb" | "nodeFeatures">, worker: WorkerSpec): string {
  const gpus = spec.gpus.perWorker > 0 ? [`Gres=gpu:${spec.gpus.type ? `${spec.gpus.type}:` : ""}${spec.gpus.perWorker}`] : [];
  // A published slurmd listens on its own port (several workers share the host's address).
  const port = worker.slurmdPort !== SLURMD_PORT ? [`Port=${worker.slurmdPort}`] : [];
  return [`CPUs=${spec.workerCpus}`, `RealMemory=${spec.workerMemoryMb}`, `Feature=${spec.nodeFeatures.join(",")}`, ...gpus, ...port].join(" ");
}

/**
 * gres.conf of a worker with GPUs: one line per device file (AutoDetect off: there is no NVML in
 * the image, and the files are the ones the stack hands the container). Without GPUs: empty on
 * 24.11; on 26.05, whose slurmd probes every GPU library when gres.conf is missing and logs
 * "error: System GPU detection failed" twice at each start, only AutoDetect=off.
 */
export function renderGresConf(spec: StackNames & Pick<ClusterSpec, "gpus" | "slurmRelease">, worker: WorkerSpec): string {
  if (worker.gpuDevices.length === 0) {
    if (spec.slurmRelease === "24.11") return "";
    return joinSections([
      [renderHeader("gres.conf", spec)],
      ["# No GPUs on this worker: slurmd looks for none (no NVML, ROCm SMI or oneAPI in the image).", "AutoDetect=off"],
    ]);
  }
  const type = spec.gpus.type ? ` Type=${spec.gpus.type}` : "";
  return joinSections([
    [renderHeader("gres.conf", spec)],
    [
      `# ${worker.nodeName}: ${worker.gpuDevices.length} GPU(s). Slurm gives a job only the devices it asked for`,
      "# (CUDA_VISIBLE_DEVICES, and the devices cgroup when cgroupMode contains jobs).",
      "AutoDetect=off",
      ...worker.gpuDevices.map((d) => `Name=gpu${type} File=${gpuPathInContainer(d)}`),
    ],
  ]);
}

/** A GPU device file inside the worker: /dev/<its file name> (the NVIDIA runtime keeps host names). */
export function gpuPathInContainer(hostPath: string): string {
  return `/dev/${hostPath.split("/").pop()}`;
}

/**
 * Partitions: the default one with every node, and one per platform (machine), each a node set of
 * the nodes announcing that platform's feature, so a dynamic node joins its partition by itself.
 */
function partitionLines(spec: ClusterSpec): string[] {
  return [
    "PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    `# One partition per machine: sbatch -p ${spec.partitions[0]} runs there; a node joins by its Feature=.`,
    ...spec.partitions.flatMap((p) => [`NodeSet=${p}_nodes Feature=${p}`, `PartitionName=${p} Nodes=${p}_nodes MaxTime=INFINITE State=UP`]),
  ];
}

/**
 * How jobs are scheduled. `throughput` (the default) tunes Slurm for many short jobs after SchedMD's
 * high-throughput guide, each setting with its reason; `stock` keeps Slurm's defaults (for
 * comparison: `npm run bench` measures both).
 */
function schedulingLines(spec: ClusterSpec): string[] {
  const common = [
    "SchedulerType=sched/backfill",
    "# Priority from several factors; fair share dominates: an account that used less than its",
    "# share (fairshare= in the config) runs first. Usage counts half after a week.",
    "PriorityType=priority/multifactor",
    "PriorityWeightFairshare=10000",
    "PriorityWeightQOS=1000",
    "PriorityWeightAge=1000",
    "PriorityDecayHalfLife=7-0",
    "SelectType=select/cons_tres",
    "SelectTypeParameters=CR_Core_Memory",
    "# Memory is a scheduled resource: a job that does not ask gets a per-CPU share of its",
    "# node instead of the whole node, so small jobs can share a worker.",
    `DefMemPerCPU=${Math.floor(spec.workerMemoryMb / spec.workerCpus)}`,
    "# A job waiting on another that failed (--dependency=afterok) is cancelled, not left pending",
    "# for ever: a pipeline whose stage failed ends (the job templates chain their stages so).",
    "DependencyParameters=kill_invalid_depend",
  ];
  if (spec.schedulerProfile === "stock") {
    return ["# Scheduling: schedulerProfile=stock, Slurm's own defaults (a pass every 60 s, batch_sched_delay 3 s, MinJobAge 300).", ...common];
  }
  return [
    "# Scheduling: schedulerProfile=throughput, tuned for many short jobs (SchedMD's high-throughput guide).",
    ...common,
    "# Jobs start on events, not on a timer: a submitted job and a freed slot each trigger a pass.",
    "# sched_min_interval=0: no minimum gap between event passes (microseconds; default 2 s).",
    "# batch_sched_delay=0: start batch jobs at once instead of batching them for up to 3 s.",
    "# sched_interval=1: the periodic full pass every second (default 60 s), for what events miss.",
    "# bf_interval=30 (the default): backfill is for big jobs waiting behind others, and a pass every",
    "# second took slot time from short jobs (8.4 vs 7.2 jobs/s measured on plain Slurm here).",
    "# default_queue_depth=1000: consider the whole queue on each event pass, not 100 jobs.",
    "SchedulerParameters=sched_min_interval=0,batch_sched_delay=0,sched_interval=1,bf_interval=30,default_queue_depth=1000",
    ...epilogLines(spec.emulated),
    "MinJobAge=2",
  ];
}

/**
 * The throughput profile's epilog, or why there is none. slurmd runs an epilog through its own
 * binary opened by file descriptor (fexecve), which fails for a binary of another architecture:
 * qemu-user 7.2 does not implement execveat (ENOSYS) and the kernel's binfmt_misc refuses it
 * (ENOENT; both checked here). On emulated workers every job would fail its epilog and drain the node.
 */
export function epilogLines(emulated: boolean): string[] {
  if (emulated) {
    return [
      "# No Epilog: these workers run under emulation (another architecture than the engine's), where",
      "# slurmd cannot start one (it execs scripts through its own binary by file descriptor, which",
      "# emulation cannot run) and would drain the node. A finished job's slot then waits for",
      "# slurmctld's next one-second tick (about 4 jobs/s on 4 slots instead of 13 to 22).",
    ];
  }
  return [
    "# Epilog=/bin/true: with an epilog, slurmd reports each job's end as epilog-complete, which",
    "# slurmctld schedules on at once; without one its reply only queues a pass for slurmctld's next",
    "# one-second tick (measured here: 13 to 22 against 4 jobs/s, 80 against 50 % of slot time",
    "# for 1-s jobs, on 4 slots).",
    "# Cost: one fork and exec of slurmd, then /bin/true, per job on the worker.",
    "Epilog=/bin/true",
  ];
}

/**
 * The cluster's slurm.conf as a workers stack's slurmd runs it: with no epilog where that stack's
 * workers are emulated (epilogLines). slurmctld then logs that the node's slurm.conf differs from
 * its own; nothing else changes.
 */
export function slurmConfForWorkers(slurmConf: string, emulated: boolean): string {
  const native = epilogLines(false).join("\n");
  return emulated ? slurmConf.replace(native, epilogLines(true).join("\n")) : slurmConf;
}

/** slurm.conf, identical on the controller and every worker, and the same for any workerCount. */
export function renderSlurmConf(spec: ClusterSpec): string {
  return joinSections([
    [renderHeader("slurm.conf", spec)],
    [
      "# Cluster and control",
      `ClusterName=${spec.clusterName}`,
      `SlurmctldHost=${spec.hosts.controller}`,
      "SlurmUser=slurm",
      "AuthType=auth/munge",
      "CredType=cred/munge",
      ...jwtAuthLines(),
      `SlurmctldPort=${SLURMCTLD_PORT}`,
      `SlurmdPort=${SLURMD_PORT}`,
      "# Each user sees only their own jobs, accounting records, usage and associations (squeue, sacct,",
      "# sshare, sacctmgr); root, SlurmUser and Slurm operators and administrators see all. Nodes and",
      "# partitions stay visible: users need sinfo to choose where to run.",
      "PrivateData=accounts,jobs,reservations,usage,users",
      "MpiDefault=none",
      "ReturnToService=2",
      "# No mailer in the containers: job mail (sbatch --mail-type) is a no-op instead of an error at every start.",
      "MailProg=/bin/true",
      "# srun listens on these ports (published with slurmctld when other machines join, so their",
      "# slurmd can answer an srun run on the controller).",
      `SrunPortRange=${SRUN_PORTS.first}-${SRUN_PORTS.last}`,
      "# Messages go straight to every node instead of through other slurmd (a tree of 16 by",
      "# default): nodes behind another machine's NAT reach the sender, not each other.",
      `TreeWidth=${MAX_NODE_COUNT}`,
      "# GPUs are generic resources; a node announces its own (Gres= on slurmd -Z --conf, gres.conf).",
      "GresTypes=gpu",
    ],
    slurmctldMetricsLines(spec),
    [
      "# State and spool. StateSaveLocation is a named volume: queue and job ids survive a new controller container.",
      `StateSaveLocation=${STATE_SAVE_LOCATION}`,
      "SlurmdSpoolDir=/var/lib/slurm/slurmd",
      "SlurmctldPidFile=/run/slurmctld.pid",
      "SlurmdPidFile=/run/slurmd.pid",
      "# No log files: daemons run in the foreground and log to stderr, so `docker logs` shows them.",
      "SlurmctldDebug=info",
      "SlurmdDebug=info",
    ],
    ["# Process tracking and containment", ...containmentLines(spec)],
    schedulingLines(spec),
    [
      "# Accounting through slurmdbd",
      "AccountingStorageType=accounting_storage/slurmdbd",
      "# Enforced at submit: a job needs an association (user and account) in slurmdbd (associations),",
      "# is held to its association's and QOS's limits, e.g. MaxJobs (limits), and may use only the QOS",
      "# its association allows (qos). Accounts and users come from the stack config (README).",
      "AccountingStorageEnforce=associations,limits,qos",
      `AccountingStorageHost=${spec.hosts.slurmdbd}`,
      `AccountingStoragePort=${SLURMDBD_PORT}`,
      "JobCompType=jobcomp/none",
    ],
    [
      "# Timers",
      "SlurmctldTimeout=30",
      "# A worker that stops answering is marked DOWN (its jobs requeued) after 20 s without a reply",
      "# (Slurm pings every SlurmdTimeout/3), not 60: a dead container is noticed in ~20-30 s. The cost:",
      "# a slurmd too busy to answer for 20 s (a swapping host) is taken for dead and its jobs requeued.",
      "SlurmdTimeout=20",
      "InactiveLimit=0",
      "KillWait=10",
      "Waittime=0",
    ],
    [
      "# Nodes. Workers are dynamic nodes: each slurmd registers itself (slurmd -Z) with the size it is",
      "# given and the address it registers from. No node is named here, so slurmctld resolves no worker",
      "# names at start, adding or removing a worker changes nothing in this file, and a replaced",
      "# worker container is known by its new address at once. Node state is kept in StateSaveLocation.",
      `MaxNodeCount=${MAX_NODE_COUNT}`,
      "# A container sees the host's CPUs and memory: slurmd trusts the announced size instead.",
      "SlurmdParameters=config_overrides",
      ...partitionLines(spec),
    ],
  ]);
}
