export { renderSlurmConf, renderWorkerNodeConf, renderGresConf, gpuPathInContainer, MAX_NODE_COUNT, SLURMRESTD_PORT, JWT_KEY_PATH, REST_OPENAPI_VERSION, SLURMCTLD_PORT, SLURMD_PORT, SLURMDBD_PORT, STATE_SAVE_LOCATION } from "./slurm-conf";
export { renderCgroupConf } from "./cgroup-conf";
export { renderSlurmdbdConf, renderAccountingClientConf, ACCOUNTING_CLIENT_CONF } from "./slurmdbd-conf";
export { workerContainerSettings } from "./container-settings";
export type { WorkerContainerSettings } from "./container-settings";
export { renderPrometheusYml } from "./prometheus-yml";
export { renderGrafanaDatasource, renderGrafanaDashboardProvider, PROMETHEUS_DATASOURCE_UID, DASHBOARDS_DIR } from "./grafana";
export { renderAlertRules, renderAlertmanagerYml, ALERT_RULES, ALERT_RULES_FILE, ALERTMANAGER_CONFIG_FILE, STATE_VOLUME_MOUNT } from "./alert-rules";
