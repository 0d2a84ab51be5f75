import { MonitoringSpec } from "../spec";
import { StackNames, renderHeader } from "./header";

/** The uid every provisioned dashboard uses to find its data source. */
export const PROMETHEUS_DATASOURCE_UID = "slurm-prometheus";
/** Where provisioned dashboards are read from inside the Grafana container. */
export const DASHBOARDS_DIR = "/var/lib/grafana/dashboards/slurm-cluster";

/** Grafana data source provisioning: the cluster's Prometheus, as the default. */
export function renderGrafanaDatasource(spec: StackNames, monitoring: MonitoringSpec): string {
  return [
    renderHeader("grafana datasources/slurm.yaml", spec),
    "apiVersion: 1",
    "datasources:",
    "  - name: Prometheus",
    "    type: prometheus",
    `    uid: ${PROMETHEUS_DATASOURCE_UID}`,
    "    access: proxy",
    `    url: http://${monitoring.hosts.prometheus}:${monitoring.internalPorts.prometheus}`,
    "    isDefault: true",
    "    editable: false",
    "",
  ].join("\n");
}

/** Grafana dashboard provisioning: load the project's dashboards from DASHBOARDS_DIR. */
export function renderGrafanaDashboardProvider(spec: StackNames): string {
  return [
    renderHeader("grafana dashboards/slurm.yaml", spec),
    "apiVersion: 1",
    "providers:",
    "  - name: slurm-cluster",
    "    folder: Slurm",
    "    type: file",
    "    disableDeletion: true",
    "    options:",
    `      path: ${DASHBOARDS_DIR}`,
    "",
  ].join("\n");
}
