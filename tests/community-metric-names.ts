// Test data shared by the unit tests (each name has a rule or is an exporter metric, with the
// dashboards' labels) and the monitoring e2e (each name answers a live Prometheus query).

/** Which community dashboard a name is for, and where its exporter declares it. */
export interface CommunityName {
  name: string;
  /** The labels the name carries in its own exporter (the dashboards filter and group on them). */
  labels: string[];
  dashboard: "4323" | "19835";
  source: string;
}

/**
 * The metric names of the two most-used community Slurm exporters, as their Go source declares
 * them (prometheus.NewDesc), with the labels their dashboards filter on:
 * vpenso/prometheus-slurm-exporter, the exporter of Grafana dashboard 4323, and
 * rivosinc/prometheus-slurm-exporter, the exporter of dashboard 19835.
 */
export const COMMUNITY_NAMES: CommunityName[] = [
  ...["alloc", "comp", "down", "drain", "err", "fail", "idle", "maint", "mix", "resv"].map((s) => ({ name: `slurm_nodes_${s}`, labels: [], dashboard: "4323" as const, source: "vpenso nodes.go" })),
  ...["alloc", "idle", "other", "total"].map((s) => ({ name: `slurm_cpus_${s}`, labels: [], dashboard: "4323" as const, source: "vpenso cpus.go" })),
  ...[
    "pending", "pending_dependency", "running", "suspended", "cancelled", "completing", "completed", "configuring", "failed", "timeout", "preempted", "node_fail",
  ].map((s) => ({ name: `slurm_queue_${s}`, labels: [], dashboard: "4323" as const, source: "vpenso queue.go" })),
  ...[
    "threads", "queue_size", "dbd_queue_size", "last_cycle", "mean_cycle", "cycle_per_minute", "backfill_last_cycle", "backfill_mean_cycle", "backfill_depth_mean",
    "backfilled_jobs_since_start_total", "backfilled_jobs_since_cycle_total", "backfilled_heterogeneous_total",
  ].map((s) => ({ name: `slurm_scheduler_${s}`, labels: [], dashboard: "4323" as const, source: "vpenso scheduler.go" })),
  ...["cpu_alloc", "cpu_idle", "cpu_other", "cpu_total", "mem_alloc", "mem_total"].map((s) => ({ name: `slurm_node_${s}`, labels: ["node", "status"], dashboard: "4323" as const, source: "vpenso node.go" })),
  ...["cpus_allocated", "cpus_idle", "cpus_other", "cpus_total", "jobs_pending"].map((s) => ({ name: `slurm_partition_${s}`, labels: ["partition"], dashboard: "4323" as const, source: "vpenso partitions.go" })),
  ...["jobs_pending", "jobs_running", "cpus_running", "jobs_suspended"].map((s) => ({ name: `slurm_account_${s}`, labels: ["account"], dashboard: "4323" as const, source: "vpenso accounts.go" })),
  ...["jobs_pending", "jobs_running", "cpus_running", "jobs_suspended"].map((s) => ({ name: `slurm_user_${s}`, labels: ["user"], dashboard: "4323" as const, source: "vpenso users.go" })),
  { name: "slurm_node_count_per_state", labels: ["state"], dashboard: "19835", source: "rivosinc exporter/nodes.go" },
  { name: "slurm_cpus_per_state", labels: ["state"], dashboard: "19835", source: "rivosinc exporter/nodes.go" },
  { name: "slurm_cpus_total", labels: [], dashboard: "19835", source: "rivosinc exporter/nodes.go" },
  { name: "slurm_cpus_idle", labels: [], dashboard: "19835", source: "rivosinc exporter/nodes.go" },
  { name: "slurm_partition_total_cpus", labels: ["partition"], dashboard: "19835", source: "rivosinc exporter/nodes.go" },
  { name: "slurm_partition_idle_cpus", labels: ["partition"], dashboard: "19835", source: "rivosinc exporter/nodes.go" },
  { name: "slurm_mem_real", labels: [], dashboard: "19835", source: "rivosinc exporter/nodes.go" },
  { name: "slurm_mem_alloc", labels: [], dashboard: "19835", source: "rivosinc exporter/nodes.go" },
  { name: "slurm_mem_free", labels: [], dashboard: "19835", source: "rivosinc exporter/nodes.go" },
  { name: "slurm_daemon_thread_count", labels: [], dashboard: "19835", source: "rivosinc exporter/diags.go" },
  { name: "slurm_dbd_agent_queue_size", labels: [], dashboard: "19835", source: "rivosinc exporter/diags.go" },
  { name: "slurm_backfill_job_count", labels: [], dashboard: "19835", source: "rivosinc exporter/diags.go" },
  { name: "slurm_user_state_total", labels: ["username", "state"], dashboard: "19835", source: "rivosinc exporter/jobs.go" },
  { name: "slurm_user_cpu_alloc", labels: ["username", "state"], dashboard: "19835", source: "rivosinc exporter/jobs.go" },
  { name: "slurm_account_job_state_total", labels: ["account", "state"], dashboard: "19835", source: "rivosinc exporter/jobs.go" },
  { name: "slurm_account_job_state_cpu_alloc", labels: ["account", "state"], dashboard: "19835", source: "rivosinc exporter/jobs.go" },
  { name: "slurm_partition_job_state_total", labels: ["partition", "state"], dashboard: "19835", source: "rivosinc exporter/jobs.go" },
];

/** Community names deliberately not provided (README: Monitoring), so that providing one later is a decision the list records. */
export const NOT_PROVIDED = [
  "slurm_gpus_alloc", "slurm_gpus_idle", "slurm_gpus_total", "slurm_gpus_utilization", "slurm_account_fairshare", // vpenso gpus.go, sshare.go
  "slurm_cpu_load", "slurm_partition_alloc_cpus", "slurm_partition_node_count", "slurm_pending_reason_total", "slurm_job_alloc_cpus", // rivosinc
];
