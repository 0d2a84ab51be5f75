import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec } from "../config";
import { MonitoringSpec } from "../config/spec";
import { STATE_VOLUME_MOUNT } from "../config/render";
import { ClusterNetworks, SlurmNodeFiles, TYPE_PREFIX } from "./container-parts";
import { alertmanager } from "./alertmanager";
import { grafana } from "./grafana";
import { nodeExporter } from "./node-exporter";
import { prometheus } from "./prometheus";
import { slurmExporter } from "./slurm-exporter";

export interface MonitoringStackArgs {
  /** The part of the validated spec its daemons read. */
  readonly spec: Pick<ClusterSpec, "clusterName" | "project" | "stack" | "partition" | "role" | "advertiseAddress" | "labels" | "serviceMemoryMb" | "userProcessLimit" | "slurmRelease" | "hosts">;
  /** The spec's monitoring part (present when monitoring is on). */
  readonly monitoring: MonitoringSpec;
  /** Prometheus, Alertmanager and node exporter image (Debian packages). */
  readonly monitoringImage: pulumi.Input<string>;
  /** The Slurm exporter image (built FROM the Slurm image). */
  readonly slurmExporterImage: pulumi.Input<string>;
  /** Munge key and Slurm config: the exporter's Slurm commands authenticate with munge. */
  readonly files: SlurmNodeFiles;
  /**
   * Everything here is on the monitoring network; the Slurm exporter also on the cluster network
   * (its sinfo, squeue and sdiag ask slurmctld), and nothing else of monitoring is.
   */
  readonly networks: Required<Pick<ClusterNetworks, "cluster" | "monitoring">>;
  /** slurmctld's state volume, whose free space the node exporter reports (SlurmStateVolumeNearlyFull). */
  readonly stateSaveVolume: pulumi.Input<string>;
  /** Slurm 26.05: the Slurm exporter's token for slurmctld's own metrics, secret. */
  readonly slurmctldMetricsToken?: pulumi.Input<string>;
}

/**
 * Prometheus, Alertmanager, node exporter, the project's Slurm exporter and (optionally) Grafana,
 * each declared by its own file's function with this component as the parent of its resources.
 */
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
    const { spec, monitoring } = args;
    const children = { parent: this };
    const network = args.networks.monitoring;

    const exporterUrl = slurmExporter(
      `${name}-slurm-exporter`,
      {
        spec,
        monitoring,
        image: args.slurmExporterImage,
        files: args.files,
        networks: args.networks,
        slurmctldMetrics: args.slurmctldMetricsToken ? { host: spec.hosts.controller, token: args.slurmctldMetricsToken } : undefined,
      },
      // It asks slurmctld on every scrape: start it once the controller is up.
      { ...children, dependsOn: opts?.dependsOn },
    );
    nodeExporter(
      `${name}-node-exporter`,
      {
        spec,
        monitoring,
        image: args.monitoringImage,
        network,
        watchedVolumes: [{ type: "volume", source: args.stateSaveVolume, target: STATE_VOLUME_MOUNT, readOnly: true }],
      },
      children,
    );
    const prometheusUrl = prometheus(`${name}-prometheus`, { spec, monitoring, image: args.monitoringImage, network }, children);
    const alertmanagerUrl = alertmanager(`${name}-alertmanager`, { spec, monitoring, image: args.monitoringImage, network }, children);

    this.prometheusUrl = pulumi.output(prometheusUrl);
    this.alertmanagerUrl = pulumi.output(alertmanagerUrl);
    this.slurmExporterUrl = pulumi.output(exporterUrl);

    if (monitoring.grafana) {
      const access = grafana(`${name}-grafana`, { spec, monitoring, network }, children);
      this.grafanaAdminPassword = access.adminPassword;
      this.grafanaAdminUser = pulumi.output(access.adminUser);
      this.grafanaUrl = pulumi.output(access.url);
    }

    this.registerOutputs({
      prometheusUrl: this.prometheusUrl,
      alertmanagerUrl: this.alertmanagerUrl,
      slurmExporterUrl: this.slurmExporterUrl,
      grafanaUrl: this.grafanaUrl,
    });
  }
}
