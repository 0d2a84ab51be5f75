import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import { ClusterSpec } from "../config";
import { MonitoringSpec } from "../config/spec";
import { DASHBOARDS_DIR, renderGrafanaDashboardProvider, renderGrafanaDatasource } from "../config/render";
import { containerBaseline } from "../config/render/container-baseline";
import { REPLACE_ON_CHANGES, onNetworks, publishedUrl } from "./container-parts";
import { dockerLabels } from "./labels";
import { PROJECT_ROOT } from "../config/project";

/** Grafana comes from its official image (users pull it); pinned so dashboards keep working. */
const GRAFANA_IMAGE = "grafana/grafana:11.6.0";
/** Dashboards kept in the project as JSON, provisioned into Grafana. */
const DASHBOARDS_SOURCE = path.join(PROJECT_ROOT, "shared", "grafana");
const ADMIN_USER = "admin";

export interface GrafanaArgs {
  /** The part of the validated spec it reads. */
  readonly spec: Pick<ClusterSpec, "clusterName" | "project" | "stack" | "labels" | "serviceMemoryMb" | "userProcessLimit">;
  /** The spec's monitoring part. */
  readonly monitoring: MonitoringSpec;
  /** The monitoring network, its only one. */
  readonly network: pulumi.Input<string>;
}

/** Where Grafana is published and how its administrator signs in. */
interface GrafanaAccess {
  readonly url: string;
  readonly adminUser: string;
  /** Generated, secret. */
  readonly adminPassword: pulumi.Output<string>;
}

/**
 * Grafana with Prometheus as its datasource and the project's dashboards provisioned, its admin
 * password generated. `opts` names the parent of its resources.
 */
export function grafana(name: string, args: GrafanaArgs, opts: pulumi.CustomResourceOptions): GrafanaAccess {
  const { spec, monitoring: m } = args;
  const password = new random.RandomPassword(
    `${name}-admin-password`,
    { length: 24, special: false },
    { ...opts, additionalSecretOutputs: ["result", "bcryptHash"] },
  );
  const adminPassword = pulumi.secret(password.result);
  const image = new docker.RemoteImage(`${name}-image`, { name: GRAFANA_IMAGE, keepLocally: true }, opts);
  const dashboards = fs
    .readdirSync(DASHBOARDS_SOURCE)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => ({ file: `${DASHBOARDS_DIR}/${f}`, content: fs.readFileSync(path.join(DASHBOARDS_SOURCE, f), "utf8") }));
  new docker.Container(
    name,
    {
      name: m.containers.grafana,
      hostname: m.hosts.grafana,
      image: image.imageId,
      ...containerBaseline(spec, "grafana"),
      envs: [
        `GF_SECURITY_ADMIN_USER=${ADMIN_USER}`,
        // Read from a file, so the password is not in the container's environment.
        "GF_SECURITY_ADMIN_PASSWORD__FILE=/etc/grafana/admin-password",
        "GF_ANALYTICS_REPORTING_ENABLED=false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES=false",
        `GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH=${DASHBOARDS_DIR}/slurm-overview.json`,
      ],
      labels: dockerLabels(spec, "grafana"),
      networksAdvanced: onNetworks([args.network], m.hosts.grafana),
      ports: [{ internal: m.internalPorts.grafana, external: m.grafanaPort, ip: m.bindAddress }],
      uploads: [
        // Uploads land owned by root:root (the provider has no owner field). The image runs
        // Grafana as uid 472 with primary group root (GF_GID=0): 0440 lets it read, no one else.
        { file: "/etc/grafana/admin-password", content: adminPassword, permissions: "0440" },
        { file: "/etc/grafana/provisioning/datasources/slurm.yaml", content: renderGrafanaDatasource(spec, m) },
        { file: "/etc/grafana/provisioning/dashboards/slurm.yaml", content: renderGrafanaDashboardProvider(spec) },
        ...dashboards,
      ],
      restart: "unless-stopped",
    },
    { ...opts, replaceOnChanges: REPLACE_ON_CHANGES },
  );
  return { url: publishedUrl(m.bindAddress, m.grafanaPort), adminUser: ADMIN_USER, adminPassword };
}
