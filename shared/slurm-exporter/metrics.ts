// Slurm metrics from Slurm's own JSON output (scontrol --json show nodes, squeue --json,
// sdiag --json), under the metric names of the widely used prometheus-slurm-exporter, so
// existing dashboards (grafana.com 4323) work; plus per-state job counts, from which Prometheus
// records the job names of dashboard 19835 (config/render/community-rules.ts). Pure: JSON in,
// samples out.

/** One metric family: its name, help text and label names. */
export interface Family {
  name: string;
  help: string;
  labels: string[];
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The JSON documents one scrape reads, each from one command run. */
export interface SlurmJson {
  nodes: { nodes?: SlurmNode[] };
  squeue: { jobs?: SlurmJob[] };
  sdiag: { statistics?: Record<string, unknown> };
}

interface SlurmNode {
  name: string;
  state?: string[];
  cpus?: number;
  alloc_cpus?: number;
  real_memory?: number;
  alloc_memory?: number;
  partitions?: string[];
}

interface SlurmJob {
  job_state?: string[];
  job_resources?: { cpus?: number };
  state_reason?: string;
  partition?: string;
  user_name?: string;
  user_id?: number;
  account?: string;
  cpus?: { number?: number } | number;
}

/** Node categories, as prometheus-slurm-exporter counts them (slurm_nodes_<category>). */
export const NODE_CATEGORIES = ["alloc", "comp", "down", "drain", "err", "fail", "idle", "maint", "mix", "resv", "other"] as const;
type NodeCategory = (typeof NODE_CATEGORIES)[number];

/** Job states counted in slurm_queue_<state>. */
export const QUEUE_STATES = [
  "pending", "pending_dependency", "running", "suspended", "cancelled", "completing", "completed",
  "configuring", "failed", "timeout", "preempted", "node_fail", "out_of_memory",
] as const;
type QueueState = (typeof QUEUE_STATES)[number];

/** sdiag statistics -> slurm_scheduler_* (names as prometheus-slurm-exporter has them). */
const SCHEDULER: [string, string, string][] = [
  ["slurm_scheduler_threads", "server_thread_count", "Number of slurmctld server threads"],
  ["slurm_scheduler_queue_size", "agent_queue_size", "Length of the agent (RPC) queue"],
  ["slurm_scheduler_dbd_queue_size", "dbd_agent_queue_size", "Length of the queue of messages for slurmdbd; growth means accounting is behind"],
  ["slurm_scheduler_last_cycle", "schedule_cycle_last", "Last scheduling cycle time (microseconds)"],
  ["slurm_scheduler_mean_cycle", "schedule_cycle_mean", "Mean scheduling cycle time (microseconds)"],
  ["slurm_scheduler_cycle_per_minute", "schedule_cycle_per_minute", "Scheduling cycles per minute"],
  ["slurm_scheduler_backfill_last_cycle", "bf_cycle_last", "Last backfill cycle time (microseconds)"],
  ["slurm_scheduler_backfill_mean_cycle", "bf_cycle_mean", "Mean backfill cycle time (microseconds)"],
  ["slurm_scheduler_backfill_depth_mean", "bf_depth_mean", "Mean number of jobs looked at per backfill cycle"],
  ["slurm_scheduler_backfilled_jobs_since_start_total", "bf_backfilled_jobs", "Jobs started by backfill since slurmctld started"],
  ["slurm_scheduler_backfilled_jobs_since_cycle_total", "bf_last_backfilled_jobs", "Jobs started by backfill since the statistics were last reset"],
  ["slurm_scheduler_backfilled_heterogeneous_total", "bf_backfilled_het_jobs", "Heterogeneous job components started by backfill since slurmctld started"],
];

const NODE_LABELS = ["node", "status"];
/** Labels of the per-state job families: each job counts once, under its state, partition, account and user. */
const JOB_STATE_LABELS = ["state", "partition", "account", "user"];

/** Every family this exporter exposes (besides its own slurm_exporter_* and process metrics). */
export const FAMILIES: Family[] = [
  ...NODE_CATEGORIES.map((c) => ({ name: `slurm_nodes_${c}`, help: `Nodes in state ${c}`, labels: [] })),
  { name: "slurm_nodes_total", help: "Nodes known to slurmctld", labels: [] },
  { name: "slurm_cpus_alloc", help: "CPUs allocated to jobs", labels: [] },
  { name: "slurm_cpus_idle", help: "CPUs free for jobs", labels: [] },
  { name: "slurm_cpus_other", help: "CPUs on nodes that cannot take jobs (down, drained, failed)", labels: [] },
  { name: "slurm_cpus_total", help: "All CPUs", labels: [] },
  ...QUEUE_STATES.map((s) => ({ name: `slurm_queue_${s}`, help: `Jobs in state ${s}`, labels: [] })),
  { name: "slurm_partition_cpus_allocated", help: "CPUs allocated per partition", labels: ["partition"] },
  { name: "slurm_partition_cpus_idle", help: "Idle CPUs per partition", labels: ["partition"] },
  { name: "slurm_partition_cpus_other", help: "CPUs unavailable per partition", labels: ["partition"] },
  { name: "slurm_partition_cpus_total", help: "CPUs per partition", labels: ["partition"] },
  { name: "slurm_partition_jobs_pending", help: "Pending jobs per partition", labels: ["partition"] },
  { name: "slurm_node_cpu_alloc", help: "Allocated CPUs per node", labels: NODE_LABELS },
  { name: "slurm_node_cpu_idle", help: "Idle CPUs per node", labels: NODE_LABELS },
  { name: "slurm_node_cpu_other", help: "Unavailable CPUs per node", labels: NODE_LABELS },
  { name: "slurm_node_cpu_total", help: "CPUs per node", labels: NODE_LABELS },
  { name: "slurm_node_mem_alloc", help: "Allocated memory per node (MiB)", labels: NODE_LABELS },
  { name: "slurm_node_mem_total", help: "Memory per node (MiB)", labels: NODE_LABELS },
  { name: "slurm_account_jobs_pending", help: "Pending jobs per account", labels: ["account"] },
  { name: "slurm_account_jobs_running", help: "Running jobs per account", labels: ["account"] },
  { name: "slurm_account_cpus_running", help: "CPUs of running jobs per account", labels: ["account"] },
  { name: "slurm_account_jobs_suspended", help: "Suspended jobs per account", labels: ["account"] },
  { name: "slurm_user_jobs_pending", help: "Pending jobs per user", labels: ["user"] },
  { name: "slurm_user_jobs_running", help: "Running jobs per user", labels: ["user"] },
  { name: "slurm_user_cpus_running", help: "CPUs of running jobs per user", labels: ["user"] },
  { name: "slurm_user_jobs_suspended", help: "Suspended jobs per user", labels: ["user"] },
  {
    name: "slurm_jobs_per_state",
    help: "Jobs per Slurm job state (RUNNING, PENDING, COMPLETING, ...), partition, account and user",
    labels: JOB_STATE_LABELS,
  },
  {
    name: "slurm_jobs_alloc_cpus_per_state",
    help: "CPUs allocated to jobs (0 for jobs not given any yet) per Slurm job state, partition, account and user",
    labels: JOB_STATE_LABELS,
  },
  ...SCHEDULER.map(([name, , help]) => ({ name, help, labels: [] })),
];

/**
 * A node's category from its state (base state plus flags). A node counts once, by the first
 * that applies: down, fail, drain, maint, resv, err, comp, then the base state.
 */
export function nodeCategory(state: string[]): NodeCategory {
  const flags = new Set(state);
  const base = state[0] ?? "";
  if (base === "DOWN") return "down";
  if (base === "FUTURE" || (base === "UNKNOWN" && flags.has("NOT_RESPONDING"))) return "other";
  if (flags.has("FAIL") || flags.has("FAILING")) return "fail";
  if (flags.has("DRAIN")) return "drain";
  if (flags.has("MAINTENANCE")) return "maint";
  if (flags.has("RESERVED")) return "resv";
  if (base === "ERROR") return "err";
  if (flags.has("COMPLETING")) return "comp";
  const byBase: Record<string, NodeCategory> = { IDLE: "idle", MIXED: "mix", ALLOCATED: "alloc" };
  return byBase[base] ?? "other";
}

/** The node's status label: sinfo's long state name (idle, mixed, drained, draining, down, ...). */
export function nodeStatus(state: string[]): string {
  const base = (state[0] ?? "unknown").toLowerCase();
  if (base === "down") return "down";
  if (state.includes("DRAIN")) return base === "idle" ? "drained" : "draining";
  return base;
}

/** Whether a node's free CPUs can take jobs (sinfo counts the others as "other"). */
function canRun(category: NodeCategory): boolean {
  return ["idle", "mix", "alloc", "comp", "resv", "maint"].includes(category);
}

export function queueState(job: SlurmJob): QueueState | undefined {
  const state = job.job_state ?? [];
  if (state.includes("COMPLETING")) return "completing";
  if (state.includes("CONFIGURING")) return "configuring";
  const base = (state[0] ?? "").toLowerCase();
  if (base === "pending") return job.state_reason === "Dependency" ? "pending_dependency" : "pending";
  return (QUEUE_STATES as readonly string[]).includes(base) ? (base as QueueState) : undefined;
}

/**
 * A job's state as squeue's %T prints it (RUNNING, PENDING, COMPLETING, CONFIGURING, ...): the
 * label of slurm_jobs_per_state. The COMPLETING and CONFIGURING flags win over the base state.
 */
export function jobStateLabel(job: SlurmJob): string {
  const state = job.job_state ?? [];
  for (const flag of ["COMPLETING", "CONFIGURING"]) if (state.includes(flag)) return flag;
  return state[0] ?? "UNKNOWN";
}

function jobCpus(job: SlurmJob): number {
  return typeof job.cpus === "number" ? job.cpus : (job.cpus?.number ?? 0);
}

function counter<K extends string>(): Map<K, number> & { add(key: K, n: number): void } {
  const m = new Map<K, number>() as Map<K, number> & { add(key: K, n: number): void };
  m.add = (key, n) => m.set(key, (m.get(key) ?? 0) + n);
  return m;
}

/** All samples for one scrape. Families with no label always get a sample (0 when nothing counts). */
/**
 * Slurm users' names by uid, from `scontrol show assoc_mgr flags=users` (lines
 * `UserName=alice(1001) DefAccount=...`): slurmctld's own map of the users it has associations for.
 */
export function parseAssocUserNames(text: string): Record<number, string> {
  const names: Record<number, string> = {};
  for (const m of text.matchAll(/^UserName=([^(\s]+)\((\d+)\)/gm)) names[Number(m[2])] = m[1];
  return names;
}

/**
 * Whether some job arrived without its user's name: Slurm 26.05's squeue names a job's user only
 * when the uid resolves where squeue runs, and the exporter's container has no cluster users
 * (24.11's slurmctld sent the name).
 */
export const jobsLackUserNames = (data: Pick<SlurmJson, "squeue">): boolean => (data.squeue.jobs ?? []).some((j) => !j.user_name);

/**
 * The samples of one scrape. userNames (uid -> name, parseAssocUserNames) names the users of jobs
 * squeue gave only a uid; a uid named nowhere is its number.
 */
export function collectSamples(data: SlurmJson, userNames: Record<number, string> = {}): Sample[] {
  const samples: Sample[] = [];
  const put = (name: string, value: number, labels: Record<string, string> = {}) => samples.push({ name, labels, value });

  const nodes = data.nodes.nodes ?? [];
  const categories = counter<NodeCategory>();
  const cpus = { alloc: 0, idle: 0, other: 0, total: 0 };
  const partitions = new Map<string, { alloc: number; idle: number; other: number; total: number; pending: number }>();
  const partition = (name: string) => {
    if (!partitions.has(name)) partitions.set(name, { alloc: 0, idle: 0, other: 0, total: 0, pending: 0 });
    return partitions.get(name)!;
  };
  for (const node of nodes) {
    const state = node.state ?? [];
    const category = nodeCategory(state);
    categories.add(category, 1);
    const total = node.cpus ?? 0;
    const alloc = node.alloc_cpus ?? 0;
    const idle = canRun(category) ? total - alloc : 0;
    const other = total - alloc - idle;
    cpus.alloc += alloc;
    cpus.idle += idle;
    cpus.other += other;
    cpus.total += total;
    for (const p of node.partitions ?? []) {
      const part = partition(p);
      part.alloc += alloc;
      part.idle += idle;
      part.other += other;
      part.total += total;
    }
    const labels = { node: node.name, status: nodeStatus(state) };
    put("slurm_node_cpu_alloc", alloc, labels);
    put("slurm_node_cpu_idle", idle, labels);
    put("slurm_node_cpu_other", other, labels);
    put("slurm_node_cpu_total", total, labels);
    put("slurm_node_mem_alloc", node.alloc_memory ?? 0, labels);
    put("slurm_node_mem_total", node.real_memory ?? 0, labels);
  }
  for (const c of NODE_CATEGORIES) put(`slurm_nodes_${c}`, categories.get(c) ?? 0);
  put("slurm_nodes_total", nodes.length);
  put("slurm_cpus_alloc", cpus.alloc);
  put("slurm_cpus_idle", cpus.idle);
  put("slurm_cpus_other", cpus.other);
  put("slurm_cpus_total", cpus.total);

  const queue = counter<QueueState>();
  const perKeyCounters = () => ({ pending: counter<string>(), running: counter<string>(), suspended: counter<string>(), cpus: counter<string>() });
  const accounts = perKeyCounters();
  const users = perKeyCounters();
  const perState = new Map<string, { labels: Record<string, string>; jobs: number; cpus: number }>();
  for (const job of data.squeue.jobs ?? []) {
    const state = queueState(job);
    if (state) queue.add(state, 1);
    const account = job.account ?? "";
    const user = job.user_name || (job.user_id === undefined ? "" : (userNames[job.user_id] ?? String(job.user_id)));
    const labels = { state: jobStateLabel(job), partition: job.partition ?? "", account, user };
    const key = JSON.stringify(labels);
    const entry = perState.get(key) ?? { labels, jobs: 0, cpus: 0 };
    entry.jobs += 1;
    entry.cpus += job.job_resources?.cpus ?? 0;
    perState.set(key, entry);
    if (state === "suspended") {
      accounts.suspended.add(account, 1);
      users.suspended.add(user, 1);
    }
    if (state === "pending" || state === "pending_dependency") {
      accounts.pending.add(account, 1);
      users.pending.add(user, 1);
      for (const p of (job.partition ?? "").split(",").filter(Boolean)) partition(p).pending += 1;
    }
    if (state === "running") {
      accounts.running.add(account, 1);
      accounts.cpus.add(account, jobCpus(job));
      users.running.add(user, 1);
      users.cpus.add(user, jobCpus(job));
    }
  }
  for (const s of QUEUE_STATES) put(`slurm_queue_${s}`, queue.get(s) ?? 0);
  for (const [name, p] of partitions) {
    put("slurm_partition_cpus_allocated", p.alloc, { partition: name });
    put("slurm_partition_cpus_idle", p.idle, { partition: name });
    put("slurm_partition_cpus_other", p.other, { partition: name });
    put("slurm_partition_cpus_total", p.total, { partition: name });
    put("slurm_partition_jobs_pending", p.pending, { partition: name });
  }
  const perKey = (prefix: string, label: string, c: typeof accounts) => {
    const keys = new Set([...c.pending.keys(), ...c.running.keys(), ...c.suspended.keys()]);
    for (const key of keys) {
      put(`${prefix}_jobs_pending`, c.pending.get(key) ?? 0, { [label]: key });
      put(`${prefix}_jobs_running`, c.running.get(key) ?? 0, { [label]: key });
      put(`${prefix}_cpus_running`, c.cpus.get(key) ?? 0, { [label]: key });
      put(`${prefix}_jobs_suspended`, c.suspended.get(key) ?? 0, { [label]: key });
    }
  };
  perKey("slurm_account", "account", accounts);
  perKey("slurm_user", "user", users);
  for (const { labels, jobs, cpus: allocCpus } of perState.values()) {
    put("slurm_jobs_per_state", jobs, labels);
    put("slurm_jobs_alloc_cpus_per_state", allocCpus, labels);
  }

  const stats = data.sdiag.statistics ?? {};
  for (const [name, field] of SCHEDULER) {
    const v = stats[field];
    put(name, typeof v === "number" ? v : 0);
  }
  return samples;
}
