import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import {
  ALERT_RULES_FILE, COMMUNITY_RULES_FILE, SLURMCTLD_RULES_FILE, renderAlertRules, renderCommunityRules, renderPrometheusYml, renderSlurmctldRecordingRules,
} from "../config/render";
import { containerBaseline } from "../config/render/container-baseline";
import { MonitoringDaemonArgs, REPLACE_ON_CHANGES, STOP_GRACE_SECONDS, onNetworks, publishedUrl, tcpReadinessCheck } from "./container-parts";
import { dockerLabels } from "./labels";

/**
 * Prometheus with its scrape config and alert rules, its data on a named volume kept on delete.
 * `opts` names the parent of both. Returns its published URL.
 */
export function prometheus(name: string, args: MonitoringDaemonArgs, opts: pulumi.CustomResourceOptions): string {
  const { spec, monitoring: m } = args;
  const data = new docker.Volume(
    `${name}-data`,
    { name: m.prometheusVolume, labels: dockerLabels(spec, "prometheus") },
    { ...opts, retainOnDelete: true },
  );
  new docker.Container(
    name,
    {
      name: m.containers.prometheus,
      hostname: m.hosts.prometheus,
      image: args.image,
      ...containerBaseline(spec, "prometheus"),
      command: [
        "/usr/bin/prometheus",
        "--config.file=/etc/prometheus/slurm-cluster.yml",
        "--storage.tsdb.path=/prometheus",
        `--web.listen-address=:${m.internalPorts.prometheus}`,
      ],
      labels: dockerLabels(spec, "prometheus"),
      networksAdvanced: onNetworks([args.network], m.hosts.prometheus),
      ports: [{ internal: m.internalPorts.prometheus, external: m.prometheusPort, ip: m.bindAddress }],
      mounts: [{ type: "volume", source: data.name, target: "/prometheus" }],
      uploads: [
        { file: "/etc/prometheus/slurm-cluster.yml", content: renderPrometheusYml(spec, m) },
        { file: ALERT_RULES_FILE, content: renderAlertRules(spec) },
        { file: COMMUNITY_RULES_FILE, content: renderCommunityRules(spec) },
        ...(spec.slurmRelease === "26.05" ? [{ file: SLURMCTLD_RULES_FILE, content: renderSlurmctldRecordingRules(spec) }] : []),
      ],
      healthcheck: tcpReadinessCheck(m.internalPorts.prometheus),
      wait: true,
      waitTimeout: 120,
      restart: "unless-stopped",
      // Prometheus closes its write-ahead log on SIGTERM instead of replaying it at the next start.
      destroyGraceSeconds: STOP_GRACE_SECONDS,
    },
    { ...opts, replaceOnChanges: REPLACE_ON_CHANGES },
  );
  return publishedUrl(m.bindAddress, m.prometheusPort);
}
