// Slurm 26.05's slurmctld serves OpenMetrics itself (MetricsType=metrics/openmetrics) on its own
// port, under /metrics/<endpoint>. Where one of its numbers means what one of this exporter's
// metrics means, Prometheus records the exporter's name from slurmctld's and the exporter leaves
// that metric out; everything else (node categories, per-node and per-user labels, pending on a
// dependency, cycles per minute, ...) still comes from the exporter.

/** slurmctld's metric endpoints, each scraped through the exporter's relay (/slurmctld/metrics/<endpoint>). */
export const SLURMCTLD_METRIC_ENDPOINTS = ["jobs", "nodes", "partitions", "scheduler", "jobs-users-accts"] as const;
export type SlurmctldMetricEndpoint = (typeof SLURMCTLD_METRIC_ENDPOINTS)[number];

/** Prefix Prometheus gives slurmctld's own names (slurm_jobs_pending -> slurmctld_jobs_pending), so they never meet the exporter's. */
export const SLURMCTLD_PREFIX = "slurmctld_";

/**
 * The exporter's metric -> slurmctld's (after the prefix), for the numbers both count the same
 * way: jobs per state as slurmctld holds them (what `squeue --states=all` lists; slurmctld also
 * counts a job under its end state while it is completing, the exporter under completing only)
 * and sdiag's scheduler statistics. Not here: pending (slurmctld's includes jobs waiting on a
 * dependency, which the exporter counts apart, and every pending array task), and node counts
 * (slurmctld counts a node under its base state and again under each flag, so a drained idle node
 * is idle and drain; the exporter once, by category, as dashboard 4323 expects).
 */
export const FROM_SLURMCTLD: Record<string, string> = {
  slurm_queue_running: "slurmctld_jobs_running",
  slurm_queue_suspended: "slurmctld_jobs_suspended",
  slurm_queue_cancelled: "slurmctld_jobs_cancelled",
  slurm_queue_completing: "slurmctld_jobs_completing",
  slurm_queue_completed: "slurmctld_jobs_completed",
  slurm_queue_configuring: "slurmctld_jobs_configuring",
  slurm_queue_failed: "slurmctld_jobs_failed",
  slurm_queue_timeout: "slurmctld_jobs_timeout",
  slurm_queue_preempted: "slurmctld_jobs_preempted",
  slurm_queue_node_fail: "slurmctld_jobs_node_failed",
  slurm_queue_out_of_memory: "slurmctld_jobs_outofmemory",
  slurm_scheduler_threads: "slurmctld_server_thread_cnt",
  slurm_scheduler_queue_size: "slurmctld_agent_queue_size",
  slurm_scheduler_dbd_queue_size: "slurmctld_slurmdbd_queue_size",
  slurm_scheduler_last_cycle: "slurmctld_schedule_cycle_last",
  slurm_scheduler_mean_cycle: "slurmctld_sched_mean_cycle",
  slurm_scheduler_backfill_last_cycle: "slurmctld_bf_cycle_last",
  slurm_scheduler_backfill_mean_cycle: "slurmctld_bf_mean_cycle",
  slurm_scheduler_backfill_depth_mean: "slurmctld_bf_depth_mean",
  slurm_scheduler_backfilled_jobs_since_start_total: "slurmctld_backfilled_jobs",
  slurm_scheduler_backfilled_jobs_since_cycle_total: "slurmctld_last_backfilled_jobs",
  slurm_scheduler_backfilled_heterogeneous_total: "slurmctld_backfilled_het_jobs",
};
