import { ClusterSpec, MonitoringSpec } from "../spec";
import { ALERT_RULES_FILE } from "./alert-rules";
import { COMMUNITY_RULES_FILE } from "./community-rules";
import { StackNames, renderHeader } from "./header";
import { SLURMCTLD_RULES_FILE, slurmctldScrapeJob } from "./slurmctld-metrics";

/**
 * prometheus.yml: Prometheus scrapes itself, the node exporter and the Slurm exporter on the
 * monitoring network. Each Slurm exporter scrape runs sinfo/squeue/sdiag once, so its interval is
 * the cost to slurmctld; the timeout stays below the interval as Prometheus requires. On Slurm
 * 26.05 it also scrapes slurmctld's own metrics (through the exporter) and records the exporter's
 * names from them.
 */
export function renderPrometheusYml(spec: StackNames & Pick<ClusterSpec, "slurmRelease">, monitoring: MonitoringSpec): string {
  const fromSlurmctld = spec.slurmRelease === "26.05";
  const exporter = `${monitoring.hosts.slurmExporter}:${monitoring.internalPorts.slurmExporter}`;
  const interval = monitoring.scrapeIntervalSeconds;
  const timeout = Math.max(1, Math.min(10, interval - 1));
  const job = (name: string, host: string, port: number) => [
    `  - job_name: ${name}`,
    `    static_configs:`,
    `      - targets: ["${host}:${port}"]`,
    `        labels: { cluster: "${spec.clusterName}" }`,
  ];
  return [
    renderHeader("prometheus.yml", spec),
    "global:",
    `  scrape_interval: ${interval}s`,
    `  scrape_timeout: ${timeout}s`,
    `  evaluation_interval: ${interval}s`,
    "# Alerting rules that ship with the stack (README: Recovery); firing alerts show in Prometheus.",
    "# Then recording rules giving other Slurm exporters' metric names, for their dashboards (README: Monitoring).",
    "rule_files:",
    `  - ${ALERT_RULES_FILE}`,
    `  - ${COMMUNITY_RULES_FILE}`,
    ...(fromSlurmctld ? [`  - ${SLURMCTLD_RULES_FILE}`] : []),
    "alerting:",
    "  alertmanagers:",
    `    - static_configs: [{ targets: ["${monitoring.hosts.alertmanager}:${monitoring.internalPorts.alertmanager}"] }]`,
    "scrape_configs:",
    ...job("prometheus", "localhost", monitoring.internalPorts.prometheus),
    ...job("node", monitoring.hosts.nodeExporter, monitoring.internalPorts.nodeExporter),
    ...job("slurm", monitoring.hosts.slurmExporter, monitoring.internalPorts.slurmExporter),
    "  # The node exporters of the other machines (workers stacks), found from Slurm's node addresses.",
    "  - job_name: machines",
    "    http_sd_configs:",
    `      - url: http://${monitoring.hosts.slurmExporter}:${monitoring.internalPorts.slurmExporter}/sd/node-exporters`,
    `        refresh_interval: ${interval}s`,
    ...(fromSlurmctld ? slurmctldScrapeJob(spec, exporter) : []),
    "",
  ].join("\n");
}
