import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ALERTMANAGER_CONFIG_FILE, renderAlertmanagerYml } from "../config/render";
import { containerBaseline } from "../config/render/container-baseline";
import { MonitoringDaemonArgs, REPLACE_ON_CHANGES, onNetworks, publishedUrl, tcpReadinessCheck } from "./container-parts";
import { dockerLabels } from "./labels";

/** Alertmanager, which Prometheus sends its alerts to. `opts` names its parent. Returns its published URL. */
export function alertmanager(name: string, args: MonitoringDaemonArgs, opts: pulumi.CustomResourceOptions): string {
  const { spec, monitoring: m } = args;
  new docker.Container(
    name,
    {
      name: m.containers.alertmanager,
      hostname: m.hosts.alertmanager,
      image: args.image,
      ...containerBaseline(spec, "alertmanager"),
      command: [
        "/usr/bin/prometheus-alertmanager",
        `--config.file=${ALERTMANAGER_CONFIG_FILE}`,
        "--storage.path=/tmp/alertmanager",
        `--web.listen-address=:${m.internalPorts.alertmanager}`,
        // One Alertmanager: no gossip with peers.
        "--cluster.listen-address=",
      ],
      labels: dockerLabels(spec, "alertmanager"),
      networksAdvanced: onNetworks([args.network], m.hosts.alertmanager),
      ports: [{ internal: m.internalPorts.alertmanager, external: m.alertmanagerPort, ip: m.bindAddress }],
      // The webhook URL may carry a token (the key can be set with --secret): with one, the
      // rendered file is a secret in state and in the provider's inputs.
      uploads: [{ file: ALERTMANAGER_CONFIG_FILE, content: alertmanagerConfig(spec, m.alertWebhookUrl) }],
      healthcheck: tcpReadinessCheck(m.internalPorts.alertmanager),
      wait: true,
      waitTimeout: 120,
      restart: "unless-stopped",
    },
    { ...opts, replaceOnChanges: REPLACE_ON_CHANGES },
  );
  return publishedUrl(m.bindAddress, m.alertmanagerPort);
}

/** alertmanager.yml as an upload's content: a secret whenever it names a webhook. */
function alertmanagerConfig(spec: MonitoringDaemonArgs["spec"], webhookUrl: string): pulumi.Input<string> {
  const text = renderAlertmanagerYml(spec, webhookUrl);
  return webhookUrl ? pulumi.secret(text) : text;
}
