import { StackNames, renderHeader } from "./header";

/** Where Prometheus reads the rules in its container (prometheus.yml names it under rule_files). */
export const ALERT_RULES_FILE = "/etc/prometheus/slurm-cluster-rules.yml";

/**
 * Where the node exporter sees slurmctld's state volume (mounted read-only): its filesystem
 * collector reports the volume's free space, which the host's root filesystem alone would not
 * name (a Docker host may keep its volumes on another disk).
 */
export const STATE_VOLUME_MOUNT = "/volumes/statesave";

/** One alerting rule: what it watches, how long it must hold, and what to do about it. */
interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  severity: "critical" | "warning";
  summary: string;
  /** What to try first (README: Recovery). */
  action: string;
}

/** The alerts that ship with the monitoring stack (every metric is one the exporters expose; a unit test checks). */
export const ALERT_RULES: AlertRule[] = [
  {
    alert: "SlurmNodeDown",
    expr: "slurm_nodes_down + slurm_nodes_fail > 0",
    for: "30s",
    severity: "critical",
    summary: "{{ $value }} Slurm node(s) down or not responding",
    action: "sinfo -R names them; run up --refresh to recreate a missing worker container",
  },
  {
    alert: "SlurmNodeDrained",
    expr: "slurm_nodes_drain > 0",
    for: "10m",
    severity: "warning",
    summary: "{{ $value }} Slurm node(s) drained for 10 minutes",
    action: "sinfo -R gives the reason; scontrol update nodename=<node> state=resume once fixed",
  },
  {
    alert: "SlurmControllerUnreachable",
    expr: 'slurm_exporter_command_success{command="nodes"} == 0',
    for: "1m",
    severity: "critical",
    summary: "slurmctld does not answer the Slurm exporter",
    action: "docker logs slurm-<stack>-controller; up --refresh starts a stopped or missing controller",
  },
  {
    alert: "SlurmExporterDown",
    expr: 'up{job="slurm"} == 0',
    for: "1m",
    severity: "critical",
    summary: "Prometheus cannot scrape the Slurm exporter",
    action: "docker logs slurm-<stack>-slurm-exporter; up --refresh",
  },
  {
    alert: "SlurmdbdQueueGrowing",
    expr: "slurm_scheduler_dbd_queue_size > 10 and deriv(slurm_scheduler_dbd_queue_size[5m]) > 0",
    for: "2m",
    severity: "warning",
    summary: "accounting records are piling up in slurmctld ({{ $value }} queued): slurmdbd or its database is unreachable",
    action: "docker ps shows whether slurmdbd is unhealthy; start the database container; records are sent once it is back",
  },
  {
    alert: "SlurmJobsFailing",
    expr: "slurm_queue_failed + slurm_queue_node_fail + slurm_queue_out_of_memory > 5",
    for: "5m",
    severity: "warning",
    summary: "{{ $value }} recently ended jobs failed (FAILED, NODE_FAIL or OUT_OF_MEMORY)",
    action: "sacct -S now-1hour --state=F,NF,OOM; check the jobs' output and the nodes they ran on",
  },
  {
    alert: "SlurmStateVolumeNearlyFull",
    expr: `node_filesystem_avail_bytes{mountpoint="${STATE_VOLUME_MOUNT}"} / node_filesystem_size_bytes{mountpoint="${STATE_VOLUME_MOUNT}"} < 0.1`,
    for: "5m",
    severity: "critical",
    summary: "less than 10% of the disk holding slurmctld's state volume is free",
    action: "free space on the Docker host's disk (docker system df; docker image prune); a full disk stops slurmctld saving its queue and job ids",
  },
];

/** The rules as a Prometheus rule file. */
export function renderAlertRules(spec: StackNames): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    renderHeader("slurm-cluster-rules.yml", spec),
    "groups:",
    "  - name: slurm-cluster",
    "    rules:",
    ...ALERT_RULES.flatMap((r) => [
      `      - alert: ${r.alert}`,
      `        expr: ${q(r.expr)}`,
      `        for: ${r.for}`,
      `        labels: { severity: ${r.severity}, cluster: ${q(spec.clusterName)} }`,
      `        annotations: { summary: ${q(r.summary)}, action: ${q(r.action)} }`,
    ]),
    "",
  ].join("\n");
}

/** Where Alertmanager reads its config in its container. */
export const ALERTMANAGER_CONFIG_FILE = "/etc/prometheus/alertmanager.yml";

/**
 * alertmanager.yml: every alert to one receiver, grouped per alert name and cluster. With
 * alertWebhookUrl it posts them there (Alertmanager's webhook format); without, the receiver is
 * empty and alerts are seen in Alertmanager's UI and API only.
 */
export function renderAlertmanagerYml(spec: StackNames, webhookUrl: string): string {
  return [
    renderHeader("alertmanager.yml", spec),
    "route:",
    "  receiver: default",
    "  group_by: [alertname, cluster]",
    "  group_wait: 10s",
    "  group_interval: 1m",
    "  repeat_interval: 4h",
    "receivers:",
    "  - name: default",
    ...(webhookUrl ? ["    webhook_configs:", `      - url: ${JSON.stringify(webhookUrl)}`, "        send_resolved: true"] : []),
    "",
  ].join("\n");
}
