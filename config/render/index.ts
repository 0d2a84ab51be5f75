export { renderSlurmConf, epilogLines, slurmConfForWorkers, renderWorkerNodeConf, renderGresConf, gpuPathInContainer, SLURMRESTD_PORT, REST_OPENAPI_VERSIONS, restOpenapiVersion, SLURMCTLD_PORT, SLURMD_PORT, STATE_SAVE_LOCATION } from "./slurm-conf";
export { renderCgroupConf } from "./cgroup-conf";
export { renderSlurmdbdConf, renderAccountingClientConf, ACCOUNTING_CLIENT_CONF } from "./slurmdbd-conf";
export { workerCgroupSubtree, workerContainerSettings } from "./container-settings";
export type { WorkerContainerSettings } from "./container-settings";
export { renderPrometheusYml } from "./prometheus-yml";
export { renderGrafanaDatasource, renderGrafanaDashboardProvider, PROMETHEUS_DATASOURCE_UID, DASHBOARDS_DIR } from "./grafana";
export { renderAlertRules, renderAlertmanagerYml, ALERT_RULES, ALERT_RULES_FILE, ALERTMANAGER_CONFIG_FILE, STATE_VOLUME_MOUNT } from "./alert-rules";
export { renderCommunityRules, COMMUNITY_RULES, COMMUNITY_RULES_FILE } from "./community-rules";
export {
  slurmctldMetricsOn, slurmctldMetricsLines, renderSlurmctldRecordingRules, mintHs256Token, FROM_SLURMCTLD, SLURMCTLD_RULES_FILE,
  SLURMCTLD_TOKEN_PATH, SLURMCTLD_HTTP_KEY_PATH, SLURMCTLD_TOKEN_EXPIRY, METRICS_USER,
} from "./slurmctld-metrics";
