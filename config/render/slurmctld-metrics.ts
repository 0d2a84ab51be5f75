import { createHmac } from "crypto";
import { ClusterSpec } from "../spec";
import { FROM_SLURMCTLD, SLURMCTLD_METRIC_ENDPOINTS, SLURMCTLD_PREFIX } from "../../shared/slurm-exporter/slurmctld-metrics";
import { StackNames, renderHeader } from "./header";

export { FROM_SLURMCTLD, SLURMCTLD_METRIC_ENDPOINTS, SLURMCTLD_PREFIX };

/**
 * Whether Prometheus reads slurmctld's own metrics: Slurm 26.05 (24.11 has no metrics plugin)
 * with monitoring on.
 */
export const slurmctldMetricsOn = (spec: Pick<ClusterSpec, "slurmRelease" | "monitoring">): boolean =>
  spec.slurmRelease === "26.05" && spec.monitoring !== undefined;

/** The key slurmctld's HTTP listener checks tokens with; it opens nothing else (controller only). */
export const SLURMCTLD_HTTP_KEY_PATH = "/etc/slurm/slurmctld_http_jwt.key";
/** The one user besides root and SlurmUser that may read slurmctld's metrics: the exporter's own. */
export const METRICS_USER = "slurm-exporter";
/** Where the exporter finds its token for slurmctld's metrics. */
export const SLURMCTLD_TOKEN_PATH = "/etc/slurm-exporter/slurmctld.token";
/** The recording rules that give slurmctld's numbers the exporter's names (Prometheus, 26.05). */
export const SLURMCTLD_RULES_FILE = "/etc/prometheus/slurmctld-metrics.yml";
/**
 * The token's expiry (2100-01-01): it is good only at slurmctld's HTTP listener, for a user that
 * may read metrics there and nothing else; a new key (replace its resource) ends it.
 */
export const SLURMCTLD_TOKEN_EXPIRY = 4102444800;

/**
 * slurm.conf lines for slurmctld's metrics. With PrivateData set, Slurm answers /metrics/* only to
 * an authenticated root, SlurmUser or a MetricsAuthUsers user, and authenticates HTTP requests only
 * when SlurmctldHttpAuthParameters names a JWT key (slurm.conf(5): PrivateData, MetricsAuthUsers,
 * SlurmctldHttpAuthParameters). A key of its own, not the REST API's: a token signed with it
 * opens slurmctld's HTTP listener and nothing else.
 */
export function slurmctldMetricsLines(spec: Pick<ClusterSpec, "slurmRelease" | "monitoring">): string[] {
  if (!slurmctldMetricsOn(spec)) return [];
  return [
    "# slurmctld serves its own metrics (OpenMetrics, /metrics/* on SlurmctldPort); under PrivateData only",
    `# to root, SlurmUser and ${METRICS_USER} (the Slurm exporter, which relays them to Prometheus), with a`,
    "# token checked by a key of its own.",
    "MetricsType=metrics/openmetrics",
    `MetricsAuthUsers=${METRICS_USER}`,
    `SlurmctldHttpAuthParameters=jwt_key=${SLURMCTLD_HTTP_KEY_PATH}`,
  ];
}

const base64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/** An HS256 JSON Web Token for `username` (Slurm's `sun` claim), signed with the key's raw bytes. */
export function mintHs256Token(keyBase64: string, username: string, expiresAt: number): string {
  const unsigned = `${base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${base64url(JSON.stringify({ sun: username, exp: expiresAt }))}`;
  const signature = createHmac("sha256", Buffer.from(keyBase64, "base64")).update(unsigned).digest("base64url");
  return `${unsigned}.${signature}`;
}

/**
 * Recording rules giving slurmctld's numbers the exporter's names (FROM_SLURMCTLD), so the alert
 * rules and dashboards read the same names on both releases. `without (endpoint)` drops the scrape
 * label that tells slurmctld's endpoints apart.
 */
export function renderSlurmctldRecordingRules(spec: StackNames): string {
  return [
    renderHeader("slurmctld-metrics.yml", spec),
    "# Slurm 26.05: the Slurm exporter's names, recorded from slurmctld's own metrics (README: Monitoring).",
    "groups:",
    "  - name: slurmctld-metrics",
    "    rules:",
    ...Object.entries(FROM_SLURMCTLD).flatMap(([name, from]) => [`      - record: ${name}`, `        expr: max without (endpoint) (${from})`]),
    "",
  ].join("\n");
}

/**
 * The scrape job for slurmctld's endpoints, through the exporter's relay: one target per endpoint
 * (an `endpoint` label keeps their `up` series apart), slurmctld's names given SLURMCTLD_PREFIX.
 */
export function slurmctldScrapeJob(spec: StackNames, exporter: string): string[] {
  return [
    "  # Slurm 26.05: slurmctld's own metrics, relayed by the Slurm exporter (the one monitoring container on",
    "  # the cluster network, holding the token slurmctld asks for); names prefixed slurmctld_.",
    "  - job_name: slurmctld",
    "    static_configs:",
    ...SLURMCTLD_METRIC_ENDPOINTS.map(
      (e) => `      - { targets: ["${exporter}"], labels: { cluster: "${spec.clusterName}", endpoint: "${e}", __metrics_path__: "/slurmctld/metrics/${e}" } }`,
    ),
    "    metric_relabel_configs:",
    "      - source_labels: [__name__]",
    '        regex: "slurm_(.+)"',
    `        replacement: "${SLURMCTLD_PREFIX}$1"`,
    "        target_label: __name__",
  ];
}
