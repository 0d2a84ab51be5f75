import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ClusterSpec } from "../config";
import { MonitoringSpec } from "../config/spec";
import { containerBaseline } from "../config/render/container-baseline";
import { REPLACE_ON_CHANGES, tcpReadinessCheck } from "./container-parts";
import { dockerLabels } from "./labels";

export interface NodeExporterArgs {
  /** The part of the validated spec it reads. */
  readonly spec: Pick<ClusterSpec, "role" | "advertiseAddress" | "labels" | "serviceMemoryMb" | "userProcessLimit">;
  /** The spec's monitoring part. */
  readonly monitoring: MonitoringSpec;
  /** The monitoring image (Debian's prometheus-node-exporter). */
  readonly image: pulumi.Input<string>;
  /**
   * The monitoring network in a cluster stack (Prometheus scrapes it there), the stack's one
   * network in a workers stack (nothing scrapes it there: it is published).
   */
  readonly network: pulumi.Input<string>;
  /** Volumes mounted read-only so their free space is reported. */
  readonly watchedVolumes?: docker.types.input.ContainerMount[];
}

/**
 * The host's node exporter. In a workers stack it is published on advertiseAddress (only there)
 * at nodeExporterPort, where the cluster's Prometheus finds it (/sd/node-exporters).
 */
export function nodeExporter(name: string, args: NodeExporterArgs, opts: pulumi.CustomResourceOptions): docker.Container {
  const { spec, monitoring: m } = args;
  const watchedVolumes = args.watchedVolumes ?? [];
  const published = spec.role === "workers" && spec.advertiseAddress;
  return new docker.Container(
    name,
    {
      name: m.containers.nodeExporter,
      hostname: m.hosts.nodeExporter,
      image: args.image,
      ...containerBaseline(spec, "node-exporter"),
      // Nothing is uploaded into it, so its root filesystem can be read-only (Docker refuses
      // uploads into a read-only root filesystem, so the containers that get files cannot be).
      readOnly: true,
      // /proc's CPU, memory and load figures are the host's even inside a container, so the
      // exporter needs no host mounts or extra privileges for them.
      command: ["/usr/bin/prometheus-node-exporter", `--web.listen-address=:${m.internalPorts.nodeExporter}`],
      labels: dockerLabels(spec, "node-exporter"),
      mounts: watchedVolumes.length > 0 ? watchedVolumes : undefined,
      networksAdvanced: [{ name: args.network, aliases: [m.hosts.nodeExporter] }],
      ports: published ? [{ internal: m.internalPorts.nodeExporter, external: m.nodeExporterPort, ip: spec.advertiseAddress, protocol: "tcp" }] : undefined,
      healthcheck: tcpReadinessCheck(m.internalPorts.nodeExporter),
      restart: "unless-stopped",
    },
    { ...opts, replaceOnChanges: REPLACE_ON_CHANGES },
  );
}
