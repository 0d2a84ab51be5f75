import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import { ClusterSpec } from "../config";
import { MonitoringSpec } from "../config/spec";
import {
  DASHBOARDS_DIR,
  renderGrafanaDashboardProvider,
  renderGrafanaDatasource,
  renderPrometheusYml,
  renderAlertRules,
  renderAlertmanagerYml,
  renderCommunityRules,
  ALERT_RULES_FILE,
  COMMUNITY_RULES_FILE,
  ALERTMANAGER_CONFIG_FILE,
  STATE_VOLUME_MOUNT,
} from "../config/render";
import {
  ClusterNetworks, REPLACE_ON_CHANGES, STOP_GRACE_SECONDS, SlurmNodeFiles, TYPE_PREFIX, onNetworks, publishedUrl, slurmUploads, tcpReadinessCheck,
} from "./container-parts";
import { dockerLabels } from "./labels";
import { containerBaseline } from "../config/render/container-baseline";

/** Grafana comes from its official image (users pull it); pinned so dashboards keep working. */
export const GRAFANA_IMAGE = "grafana/grafana:11.6.0";
/** Dashboards kept in the project as JSON, provisioned into Grafana. */
export const DASHBOARDS_SOURCE = path.join(__dirname, "..", "shared", "grafana");

export interface MonitoringStackArgs {
  /** The validated cluster spec. */
  spec: ClusterSpec;
  /** The spec's monitoring part (present when monitoring is on). */
  monitoring: MonitoringSpec;
  /** Prometheus and node exporter image (Debian packages). */
  monitoringImage: pulumi.Input<string>;
  /** The Slurm exporter image (built FROM the Slurm image). */
  slurmExporterImage: pulumi.Input<string>;
  /** Munge key and Slurm config: the exporter's Slurm commands authenticate with munge. */
  files: SlurmNodeFiles;
  /**
   * Everything here is on the monitoring network; the Slurm exporter also on the cluster network
   * (its sinfo, squeue and sdiag ask slurmctld), and nothing else of monitoring is.
   */
  networks: Required<Pick<ClusterNetworks, "cluster" | "monitoring">>;
  /** slurmctld's state volume, whose free space the node exporter reports (SlurmStateVolumeNearlyFull). */
  stateSaveVolume: pulumi.Input<string>;
}

/** Prometheus, node exporter, the project's Slurm exporter and (optionally) Grafana. */
export class MonitoringStack extends pulumi.ComponentResource {
  public readonly prometheusUrl: pulumi.Output<string>;
  public readonly alertmanagerUrl: pulumi.Output<string>;
  public readonly slurmExporterUrl: pulumi.Output<string>;
  /** Undefined when Grafana is off. */
  public readonly grafanaUrl?: pulumi.Output<string>;
  public readonly grafanaAdminUser?: pulumi.Output<string>;
  public readonly grafanaAdminPassword?: pulumi.Output<string>;

  constructor(name: string, args: MonitoringStackArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}:index:MonitoringStack`, name, {}, opts);
    const { spec, monitoring: m } = args;
    const bind = m.bindAddress;
    const labels = (role: string) => dockerLabels(spec, role);
    const network = (alias: string) => onNetworks([args.networks.monitoring], alias);

    new docker.Container(
      `${name}-slurm-exporter`,
      {
        name: m.containers.slurmExporter,
        hostname: m.hosts.slurmExporter,
        image: args.slurmExporterImage,
        ...containerBaseline(spec, "slurm-exporter"),
        command: ["exporter"],
        envs: [
          `SLURM_EXPORTER_PORT=${m.internalPorts.slurmExporter}`,
          // For /sd/node-exporters: which nodes are this machine's, and where other machines publish theirs.
          `CLUSTER_NAME=${spec.clusterName}`,
          `CLUSTER_PARTITION=${spec.partition}`,
          `NODE_EXPORTER_PORT=${m.nodeExporterPort}`,
        ],
        labels: labels("slurm-exporter"),
        networksAdvanced: onNetworks([args.networks.cluster, args.networks.monitoring], m.hosts.slurmExporter),
        ports: [{ internal: m.internalPorts.slurmExporter, external: m.slurmExporterPort, ip: bind }],
        uploads: slurmUploads(args.files),
        healthcheck: tcpReadinessCheck(m.internalPorts.slurmExporter),
        wait: true,
        waitTimeout: 180,
        restart: "unless-stopped",
      },
      // It asks slurmctld on every scrape: start it once the controller is up.
      { parent: this, dependsOn: opts?.dependsOn, replaceOnChanges: REPLACE_ON_CHANGES },
    );

    nodeExporter(`${name}-node-exporter`, spec, m, args.monitoringImage, args.networks.monitoring, { parent: this }, [
      { type: "volume", source: args.stateSaveVolume, target: STATE_VOLUME_MOUNT, readOnly: true },
    ]);

    const data = new docker.Volume(
      `${name}-prometheus-data`,
      { name: m.prometheusVolume, labels: labels("prometheus") },
      { parent: this, retainOnDelete: true },
    );
    new docker.Container(
      `${name}-prometheus`,
      {
        name: m.containers.prometheus,
        hostname: m.hosts.prometheus,
        image: args.monitoringImage,
        ...containerBaseline(spec, "prometheus"),
        command: [
          "/usr/bin/prometheus",
          "--config.file=/etc/prometheus/slurm-cluster.yml",
          "--storage.tsdb.path=/prometheus",
          `--web.listen-address=:${m.internalPorts.prometheus}`,
        ],
        labels: labels("prometheus"),
        networksAdvanced: network(m.hosts.prometheus),
        ports: [{ internal: m.internalPorts.prometheus, external: m.prometheusPort, ip: bind }],
        mounts: [{ type: "volume", source: data.name, target: "/prometheus" }],
        uploads: [
          { file: "/etc/prometheus/slurm-cluster.yml", content: renderPrometheusYml(spec, m) },
          { file: ALERT_RULES_FILE, content: renderAlertRules(spec) },
          { file: COMMUNITY_RULES_FILE, content: renderCommunityRules(spec) },
        ],
        healthcheck: tcpReadinessCheck(m.internalPorts.prometheus),
        wait: true,
        waitTimeout: 120,
        restart: "unless-stopped",
        // Prometheus closes its write-ahead log on SIGTERM instead of replaying it at the next start.
        destroyGraceSeconds: STOP_GRACE_SECONDS,
      },
      { parent: this, replaceOnChanges: REPLACE_ON_CHANGES },
    );

    new docker.Container(
      `${name}-alertmanager`,
      {
        name: m.containers.alertmanager,
        hostname: m.hosts.alertmanager,
        image: args.monitoringImage,
        ...containerBaseline(spec, "alertmanager"),
        command: [
          "/usr/bin/prometheus-alertmanager",
          `--config.file=${ALERTMANAGER_CONFIG_FILE}`,
          "--storage.path=/tmp/alertmanager",
          `--web.listen-address=:${m.internalPorts.alertmanager}`,
          // One Alertmanager: no gossip with peers.
          "--cluster.listen-address=",
        ],
        labels: labels("alertmanager"),
        networksAdvanced: network(m.hosts.alertmanager),
        ports: [{ internal: m.internalPorts.alertmanager, external: m.alertmanagerPort, ip: bind }],
        // The webhook URL may carry a token (the key can be set with --secret): with one, the
        // rendered file is a secret in state and in the provider's inputs.
        uploads: [{ file: ALERTMANAGER_CONFIG_FILE, content: alertmanagerConfig(spec, m.alertWebhookUrl) }],
        healthcheck: tcpReadinessCheck(m.internalPorts.alertmanager),
        wait: true,
        waitTimeout: 120,
        restart: "unless-stopped",
      },
      { parent: this, replaceOnChanges: REPLACE_ON_CHANGES },
    );

    this.prometheusUrl = pulumi.output(publishedUrl(bind, m.prometheusPort));
    this.alertmanagerUrl = pulumi.output(publishedUrl(bind, m.alertmanagerPort));
    this.slurmExporterUrl = pulumi.output(`${publishedUrl(bind, m.slurmExporterPort)}/metrics`);

    if (m.grafana) {
      const adminPassword = new random.RandomPassword(
        `${name}-grafana-admin-password`,
        { length: 24, special: false },
        { parent: this, additionalSecretOutputs: ["result", "bcryptHash"] },
      );
      this.grafanaAdminPassword = pulumi.secret(adminPassword.result);
      this.grafanaAdminUser = pulumi.output("admin");
      const grafanaImage = new docker.RemoteImage(`${name}-grafana-image`, { name: GRAFANA_IMAGE, keepLocally: true }, { parent: this });
      const dashboards = fs
        .readdirSync(DASHBOARDS_SOURCE)
        .filter((f) => f.endsWith(".json"))
        .sort()
        .map((f) => ({ file: `${DASHBOARDS_DIR}/${f}`, content: fs.readFileSync(path.join(DASHBOARDS_SOURCE, f), "utf8") }));
      new docker.Container(
        `${name}-grafana`,
        {
          name: m.containers.grafana,
          hostname: m.hosts.grafana,
          image: grafanaImage.imageId,
          ...containerBaseline(spec, "grafana"),
          envs: [
            "GF_SECURITY_ADMIN_USER=admin",
            // Read from a file, so the password is not in the container's environment.
            "GF_SECURITY_ADMIN_PASSWORD__FILE=/etc/grafana/admin-password",
            "GF_ANALYTICS_REPORTING_ENABLED=false",
            "GF_ANALYTICS_CHECK_FOR_UPDATES=false",
            `GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH=${DASHBOARDS_DIR}/slurm-overview.json`,
          ],
          labels: labels("grafana"),
          networksAdvanced: network(m.hosts.grafana),
          ports: [{ internal: m.internalPorts.grafana, external: m.grafanaPort, ip: bind }],
          uploads: [
            // Uploads land owned by root:root (the provider has no owner field). The image runs
            // Grafana as uid 472 with primary group root (GF_GID=0): 0440 lets it read, no one else.
            { file: "/etc/grafana/admin-password", content: this.grafanaAdminPassword, permissions: "0440" },
            { file: "/etc/grafana/provisioning/datasources/slurm.yaml", content: renderGrafanaDatasource(spec, m) },
            { file: "/etc/grafana/provisioning/dashboards/slurm.yaml", content: renderGrafanaDashboardProvider(spec) },
            ...dashboards,
          ],
          restart: "unless-stopped",
        },
        { parent: this, replaceOnChanges: REPLACE_ON_CHANGES },
      );
      this.grafanaUrl = pulumi.output(publishedUrl(bind, m.grafanaPort));
    }

    this.registerOutputs({
      prometheusUrl: this.prometheusUrl,
      alertmanagerUrl: this.alertmanagerUrl,
      slurmExporterUrl: this.slurmExporterUrl,
      grafanaUrl: this.grafanaUrl,
    });
  }
}

/**
 * The host's node exporter. In a workers stack it is published on advertiseAddress (only there)
 * at nodeExporterPort, where the cluster's Prometheus finds it (/sd/node-exporters). `network`:
 * the monitoring network in a cluster stack (Prometheus scrapes it there), the stack's one
 * network in a workers stack (nothing scrapes it there: it is published).
 */
export function nodeExporter(
  name: string,
  spec: ClusterSpec,
  m: MonitoringSpec,
  image: pulumi.Input<string>,
  network: pulumi.Input<string>,
  opts: pulumi.CustomResourceOptions,
  /** Volumes mounted read-only so their free space is reported. */
  watchedVolumes: docker.types.input.ContainerMount[] = [],
): docker.Container {
  const published = spec.role === "workers" && spec.advertiseAddress;
  return new docker.Container(
    name,
    {
      name: m.containers.nodeExporter,
      hostname: m.hosts.nodeExporter,
      image,
      ...containerBaseline(spec, "node-exporter"),
      // Nothing is uploaded into it, so its root filesystem can be read-only (Docker refuses
      // uploads into a read-only root filesystem, so the containers that get files cannot be).
      readOnly: true,
      // /proc's CPU, memory and load figures are the host's even inside a container, so the
      // exporter needs no host mounts or extra privileges for them.
      command: ["/usr/bin/prometheus-node-exporter", `--web.listen-address=:${m.internalPorts.nodeExporter}`],
      labels: dockerLabels(spec, "node-exporter"),
      mounts: watchedVolumes.length > 0 ? watchedVolumes : undefined,
      networksAdvanced: [{ name: network, aliases: [m.hosts.nodeExporter] }],
      ports: published ? [{ internal: m.internalPorts.nodeExporter, external: m.nodeExporterPort, ip: spec.advertiseAddress, protocol: "tcp" }] : undefined,
      healthcheck: tcpReadinessCheck(m.internalPorts.nodeExporter),
      restart: "unless-stopped",
    },
    { ...opts, replaceOnChanges: REPLACE_ON_CHANGES },
  );
}

/** alertmanager.yml as an upload's content: a secret whenever it names a webhook. */
function alertmanagerConfig(spec: ClusterSpec, webhookUrl: string): pulumi.Input<string> {
  const text = renderAlertmanagerYml(spec, webhookUrl);
  return webhookUrl ? pulumi.secret(text) : text;
}
