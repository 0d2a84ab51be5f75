import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ClusterSpec } from "../config";
import { MonitoringSpec } from "../config/spec";
import { containerBaseline } from "../config/render/container-baseline";
import { SLURMCTLD_PORT, SLURMCTLD_TOKEN_PATH } from "../config/render";
import { ClusterNetworks, REPLACE_ON_CHANGES, SlurmNodeFiles, onNetworks, publishedUrl, slurmUploads, tcpReadinessCheck } from "./container-parts";
import { dockerLabels } from "./labels";

export interface SlurmExporterArgs {
  /** The part of the validated spec it reads. */
  readonly spec: Pick<ClusterSpec, "clusterName" | "partition" | "labels" | "serviceMemoryMb" | "userProcessLimit">;
  /** The spec's monitoring part. */
  readonly monitoring: MonitoringSpec;
  /** The Slurm exporter image (built FROM the Slurm image). */
  readonly image: pulumi.Input<string>;
  /** Munge key and Slurm config: the exporter's Slurm commands authenticate with munge. */
  readonly files: SlurmNodeFiles;
  /** The cluster network (its sinfo, squeue and sdiag ask slurmctld) and the monitoring network. */
  readonly networks: Required<Pick<ClusterNetworks, "cluster" | "monitoring">>;
  /**
   * Slurm 26.05: where slurmctld serves its metrics (its host name) and the exporter's token for
   * them, secret; the exporter relays them to Prometheus and leaves out what Prometheus records from them.
   */
  readonly slurmctldMetrics?: { readonly host: string; readonly token: pulumi.Input<string> };
}

/**
 * The project's Slurm exporter, the one monitoring container on the cluster network. `opts` names
 * its parent and what it starts after. Returns its published metrics URL.
 */
export function slurmExporter(name: string, args: SlurmExporterArgs, opts: pulumi.CustomResourceOptions): string {
  const { spec, monitoring: m } = args;
  new docker.Container(
    name,
    {
      name: m.containers.slurmExporter,
      hostname: m.hosts.slurmExporter,
      image: args.image,
      ...containerBaseline(spec, "slurm-exporter"),
      command: ["exporter"],
      envs: [
        `SLURM_EXPORTER_PORT=${m.internalPorts.slurmExporter}`,
        // For /sd/node-exporters: which nodes are this machine's, and where other machines publish theirs.
        `CLUSTER_NAME=${spec.clusterName}`,
        `CLUSTER_PARTITION=${spec.partition}`,
        `NODE_EXPORTER_PORT=${m.nodeExporterPort}`,
        ...(args.slurmctldMetrics
          ? [`SLURMCTLD_URL=http://${args.slurmctldMetrics.host}:${SLURMCTLD_PORT}`, `SLURMCTLD_TOKEN_FILE=${SLURMCTLD_TOKEN_PATH}`]
          : []),
      ],
      labels: dockerLabels(spec, "slurm-exporter"),
      networksAdvanced: onNetworks([args.networks.cluster, args.networks.monitoring], m.hosts.slurmExporter),
      ports: [{ internal: m.internalPorts.slurmExporter, external: m.slurmExporterPort, ip: m.bindAddress }],
      uploads: [
        ...slurmUploads(args.files),
        ...(args.slurmctldMetrics ? [{ file: SLURMCTLD_TOKEN_PATH, content: args.slurmctldMetrics.token, permissions: "0400" }] : []),
      ],
      healthcheck: tcpReadinessCheck(m.internalPorts.slurmExporter),
      wait: true,
      waitTimeout: 180,
      restart: "unless-stopped",
    },
    { ...opts, replaceOnChanges: REPLACE_ON_CHANGES },
  );
  return `${publishedUrl(m.bindAddress, m.slurmExporterPort)}/metrics`;
}
