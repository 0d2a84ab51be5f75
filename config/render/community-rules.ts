import { StackNames, renderHeader } from "./header";

/**
 * Where Prometheus reads the recording rules in its container (prometheus.yml names it under
 * rule_files, after the alert rules). A file of its own: these rules only rename and sum the Slurm
 * exporter's series, nothing alerts on them, and the alert rules' promtool test loads the alert
 * file alone.
 */
export const COMMUNITY_RULES_FILE = "/etc/prometheus/slurm-community-names.yml";

/**
 * One recording rule: a metric name of another Slurm exporter, computed from ours. Aggregations
 * use `without`, so the scrape's own labels (cluster, job, instance) stay on the result.
 */
interface RecordingRule {
  record: string;
  expr: string;
  /** What it comes from, in words (README: Monitoring). */
  from: string;
}

/** Our per-node series, with the node's sinfo-style status (idle, mixed, allocated, drained, ...) copied into `state`. */
const NODES_BY_STATE = 'label_replace(slurm_node_cpu_total, "state", "$1", "status", "(.*)")';
/** Slurm's MiB (real_memory, alloc_memory) as bytes. */
const MIB = 1024 * 1024;

/**
 * The names of rivosinc/prometheus-slurm-exporter (Grafana dashboard 19835) that our exporter's
 * series give. The names of vpenso/prometheus-slurm-exporter (dashboard 4323) need no rule: the
 * exporter serves them under their own names (shared/slurm-exporter/metrics.ts).
 */
export const COMMUNITY_RULES: RecordingRule[] = [
  {
    record: "slurm_node_count_per_state",
    expr: `count without (node, status) (${NODES_BY_STATE})`,
    from: "slurm_node_cpu_total, nodes counted per status label (as state)",
  },
  {
    record: "slurm_cpus_per_state",
    expr: `sum without (node, status) (${NODES_BY_STATE})`,
    from: "slurm_node_cpu_total, the nodes' CPUs summed per status label (as state)",
  },
  {
    record: "slurm_partition_total_cpus",
    expr: "slurm_partition_cpus_total",
    from: "slurm_partition_cpus_total",
  },
  {
    record: "slurm_partition_idle_cpus",
    expr: "slurm_partition_cpus_idle",
    from: "slurm_partition_cpus_idle",
  },
  {
    record: "slurm_mem_real",
    expr: `sum without (node, status) (slurm_node_mem_total) * ${MIB}`,
    from: "sum of slurm_node_mem_total (Slurm's RealMemory), in bytes",
  },
  {
    record: "slurm_mem_alloc",
    expr: `sum without (node, status) (slurm_node_mem_alloc) * ${MIB}`,
    from: "sum of slurm_node_mem_alloc (memory Slurm allocated to jobs), in bytes",
  },
  {
    record: "slurm_mem_free",
    expr: `(sum without (node, status) (slurm_node_mem_total) - sum without (node, status) (slurm_node_mem_alloc)) * ${MIB}`,
    from: "slurm_node_mem_total - slurm_node_mem_alloc summed (memory not allocated by Slurm), in bytes",
  },
  {
    record: "slurm_daemon_thread_count",
    expr: "slurm_scheduler_threads",
    from: "slurm_scheduler_threads (sdiag server_thread_count)",
  },
  {
    record: "slurm_dbd_agent_queue_size",
    expr: "slurm_scheduler_dbd_queue_size",
    from: "slurm_scheduler_dbd_queue_size (sdiag dbd_agent_queue_size)",
  },
  {
    record: "slurm_backfill_job_count",
    expr: "slurm_scheduler_backfilled_jobs_since_start_total",
    from: "slurm_scheduler_backfilled_jobs_since_start_total (sdiag bf_backfilled_jobs)",
  },
  {
    record: "slurm_user_state_total",
    expr: 'sum without (partition, account, user) (label_replace(slurm_jobs_per_state, "username", "$1", "user", "(.*)"))',
    from: "slurm_jobs_per_state summed per user (as username) and state",
  },
  {
    record: "slurm_user_cpu_alloc",
    expr: 'sum without (partition, account, user) (label_replace(slurm_jobs_alloc_cpus_per_state, "username", "$1", "user", "(.*)"))',
    from: "slurm_jobs_alloc_cpus_per_state summed per user (as username) and state",
  },
  {
    record: "slurm_account_job_state_total",
    expr: "sum without (partition, user) (slurm_jobs_per_state)",
    from: "slurm_jobs_per_state summed per account and state",
  },
  {
    record: "slurm_account_job_state_cpu_alloc",
    expr: "sum without (partition, user) (slurm_jobs_alloc_cpus_per_state)",
    from: "slurm_jobs_alloc_cpus_per_state summed per account and state",
  },
  {
    record: "slurm_partition_job_state_total",
    expr: "sum without (account, user) (slurm_jobs_per_state)",
    from: "slurm_jobs_per_state summed per partition and state",
  },
];

/** The recording rules as a Prometheus rule file. */
export function renderCommunityRules(spec: StackNames): string {
  return [
    renderHeader("slurm-community-names.yml", spec),
    "# The metric names of other Slurm exporters (dashboard 19835), recorded from this cluster's Slurm exporter.",
    "groups:",
    "  - name: slurm-community-names",
    "    rules:",
    ...COMMUNITY_RULES.flatMap((r) => [`      - record: ${r.record}`, `        expr: ${JSON.stringify(r.expr)}`]),
    "",
  ].join("\n");
}
