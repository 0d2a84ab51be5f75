// Slurm 26.05's own metrics and health endpoints: slurmctld serves OpenMetrics under PrivateData to
// the exporter's user with a token checked by a key of its own; the exporter relays them to
// Prometheus and leaves out what Prometheus records from them; /readyz is the controller's
// healthcheck. 24.11 stays as it was.
import { createHmac } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { testSpec } from "./spec";
import {
  ALERT_RULES, FROM_SLURMCTLD, METRICS_USER, SLURMCTLD_HTTP_KEY_PATH, SLURMCTLD_RULES_FILE, SLURMCTLD_TOKEN_PATH,
  mintHs256Token, renderPrometheusYml, renderSlurmConf, renderSlurmctldRecordingRules,
} from "../../config/render";
import { FAMILIES } from "../../shared/slurm-exporter/metrics";
import { EXPORTER_OWN_FAMILIES, createExporterRegistry } from "../../shared/slurm-exporter/registry";
import { PROJECT_ROOT } from "../../local-runner/program";
import { CONTAINER, isWireSecret, ofType, runWithMocks } from "./harness";

const FIXTURES = path.join(PROJECT_ROOT, "tests", "fixtures");
/** Every metric name slurmctld 26.05.5 served on /metrics/{jobs,nodes,partitions,scheduler,jobs-users-accts} on this project's cluster, prefixed as Prometheus stores them. */
const SLURMCTLD_NAMES = new Set(
  fs.readFileSync(path.join(FIXTURES, "slurmctld-26.05-metric-names.txt"), "utf8").split("\n").filter((l) => l && !l.startsWith("#")),
);
const NODE_EXPORTER_NAMES = new Set(
  fs.readFileSync(path.join(FIXTURES, "node-exporter-1.9.0-metric-names.txt"), "utf8").split("\n").filter((l) => l && !l.startsWith("#")),
);
const namesIn = (expr: string) => (expr.match(/\b[a-z_][a-z0-9_]*\b/g) ?? []).filter((w) => /^(slurm|node)_/.test(w) || w === "up");
const decode = (part: string) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));

describe("slurm.conf", () => {
  it("on 26.05 with monitoring: slurmctld serves OpenMetrics to the exporter's user, tokens checked with their own key", async () => {
    const conf = renderSlurmConf(await testSpec({ "slurm-cluster:slurmRelease": "26.05" }, "ubuntu"));
    expect(conf).toContain("\nMetricsType=metrics/openmetrics\n");
    expect(conf).toContain("\nMetricsAuthUsers=slurm-exporter\n");
    expect(conf).toContain(`\nSlurmctldHttpAuthParameters=jwt_key=${SLURMCTLD_HTTP_KEY_PATH}\n`);
    // Not the REST API's key: a metrics token opens nothing else.
    expect(SLURMCTLD_HTTP_KEY_PATH).not.toBe("/etc/slurm/jwt_hs256.key");
    // Users keep their privacy: PrivateData stays, and metrics are not opened to everyone.
    expect(conf).toContain("\nPrivateData=accounts,jobs,reservations,usage,users\n");
    expect(conf).not.toMatch(/ignore_private_data/);
  });

  it("on 24.11, or with monitoring off, no metrics lines (24.11 has no metrics plugin)", async () => {
    for (const config of [{}, { "slurm-cluster:slurmRelease": "26.05", "slurm-cluster:monitoring": "false" }] as Record<string, string>[]) {
      const conf = renderSlurmConf(await testSpec(config, "ubuntu"));
      expect(conf).not.toMatch(/Metrics|SlurmctldHttpAuthParameters/);
      expect(conf).not.toMatch(/\n\n\n/);
    }
  });
});

describe("the exporter's token for slurmctld's metrics", () => {
  it("is an HS256 JSON Web Token for the user, signed with the key's raw bytes, with an expiry", () => {
    const key = Buffer.from("0123456789abcdef0123456789abcdef").toString("base64");
    const token = mintHs256Token(key, "slurm-exporter", 4102444800);
    const [header, claims, signature] = token.split(".");
    expect(decode(header)).toEqual({ alg: "HS256", typ: "JWT" });
    expect(decode(claims)).toEqual({ sun: "slurm-exporter", exp: 4102444800 });
    expect(signature).toBe(createHmac("sha256", Buffer.from(key, "base64")).update(`${header}.${claims}`).digest("base64url"));
    expect(mintHs256Token(Buffer.from("another key of 32 bytes........!").toString("base64"), "slurm-exporter", 4102444800)).not.toBe(token);
  });

  it("on 26.05: the key goes to the controller alone, the token to the exporter alone, both secret, and they match", async () => {
    const run = await runWithMocks("ubuntu", ["slurmRelease=26.05", "grafana=false"]);
    expect(run.error).toBeUndefined();
    const containers = ofType(run, CONTAINER);
    const uploadsOf = (c: (typeof containers)[number]) =>
      ((isWireSecret(c.inputs.uploads) ? c.inputs.uploads.value : c.inputs.uploads) ?? []) as { file: string; content?: string; contentBase64?: string; permissions?: string }[];
    const ctl = containers.find((c) => c.inputs.name === "slurm-ubuntu-controller")!;
    const exporter = containers.find((c) => c.inputs.name === "slurm-ubuntu-slurm-exporter")!;
    expect(isWireSecret(ctl.inputs.uploads)).toBe(true);
    expect(isWireSecret(exporter.inputs.uploads)).toBe(true);
    const key = uploadsOf(ctl).find((u) => u.file === SLURMCTLD_HTTP_KEY_PATH)!;
    const token = uploadsOf(exporter).find((u) => u.file === SLURMCTLD_TOKEN_PATH)!;
    expect(key.permissions).toBe("0600");
    expect(token.permissions).toBe("0400");
    const [header, claims, signature] = token.content!.split(".");
    expect(decode(claims).sun).toBe(METRICS_USER);
    expect(signature).toBe(createHmac("sha256", Buffer.from(key.contentBase64!, "base64")).update(`${header}.${claims}`).digest("base64url"));
    // Nobody else holds either.
    for (const c of containers.filter((c) => c !== ctl && c !== exporter)) {
      expect(uploadsOf(c).map((u) => u.file)).not.toContain(SLURMCTLD_HTTP_KEY_PATH);
      expect(uploadsOf(c).map((u) => u.file)).not.toContain(SLURMCTLD_TOKEN_PATH);
    }
    expect(exporter.inputs.envs).toEqual(expect.arrayContaining(["SLURMCTLD_URL=http://controller:6817", `SLURMCTLD_TOKEN_FILE=${SLURMCTLD_TOKEN_PATH}`]));
    expect(ctl.inputs.envs ?? []).not.toEqual(expect.arrayContaining([expect.stringContaining("SLURMCTLD_TOKEN")]));
  });

  it("on 24.11: no key, no token, no relay", async () => {
    const run = await runWithMocks("ubuntu", ["grafana=false"]);
    expect(run.registrations.filter((r) => r.type.endsWith("SlurmctldMetricsAccess"))).toEqual([]);
    const exporter = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-slurm-exporter")!;
    expect(exporter.inputs.envs.join(" ")).not.toContain("SLURMCTLD_");
    const ctl = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-controller")!;
    const files = (isWireSecret(ctl.inputs.uploads) ? ctl.inputs.uploads.value : ctl.inputs.uploads).map((u: { file: string }) => u.file);
    expect(files).not.toContain(SLURMCTLD_HTTP_KEY_PATH);
  });
});

describe("Prometheus on 26.05", () => {
  it("scrapes each of slurmctld's endpoints through the exporter's relay, names prefixed slurmctld_, and loads the recording rules", async () => {
    const spec = await testSpec({ "slurm-cluster:slurmRelease": "26.05", "slurm-cluster:clusterName": "lab" }, "ubuntu");
    const yml = renderPrometheusYml(spec, spec.monitoring!);
    const parsed = yaml.load(yml) as { rule_files: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[]; labels: Record<string, string> }[]; metric_relabel_configs?: unknown[] }[] };
    expect(parsed.rule_files).toContain(SLURMCTLD_RULES_FILE);
    const job = parsed.scrape_configs.find((j) => j.job_name === "slurmctld")!;
    expect(job.static_configs.map((s) => [s.targets, s.labels.__metrics_path__, s.labels.endpoint, s.labels.cluster])).toEqual(
      ["jobs", "nodes", "partitions", "scheduler", "jobs-users-accts"].map((e) => [["slurm-exporter:8080"], `/slurmctld/metrics/${e}`, e, "lab"]),
    );
    expect(job.metric_relabel_configs).toEqual([{ source_labels: ["__name__"], regex: "slurm_(.+)", replacement: "slurmctld_$1", target_label: "__name__" }]);
  });

  it("on 24.11: no slurmctld job and no slurmctld rule file", async () => {
    const spec = await testSpec({}, "ubuntu");
    const yml = renderPrometheusYml(spec, spec.monitoring!);
    expect(yml).not.toContain("slurmctld");
    const run = await runWithMocks("ubuntu", ["grafana=false"]);
    const prometheus = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-prometheus")!;
    expect(prometheus.inputs.uploads.map((u: { file: string }) => u.file)).not.toContain(SLURMCTLD_RULES_FILE);
  });

  it("gets the recording rules file in its container on 26.05", async () => {
    const run = await runWithMocks("ubuntu", ["slurmRelease=26.05", "grafana=false"]);
    const prometheus = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-prometheus")!;
    const rules = prometheus.inputs.uploads.find((u: { file: string }) => u.file === SLURMCTLD_RULES_FILE);
    expect(rules?.content).toContain("record: slurm_queue_failed");
  });
});

describe("the recording rules from slurmctld's metrics", () => {
  it("record each name from a metric slurmctld 26.05 really serves, one rule per name, with no endpoint label", async () => {
    const spec = await testSpec({ "slurm-cluster:slurmRelease": "26.05" }, "ubuntu");
    const doc = yaml.load(renderSlurmctldRecordingRules(spec)) as { groups: { rules: { record: string; expr: string }[] }[] };
    const rules = doc.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.record).sort()).toEqual(Object.keys(FROM_SLURMCTLD).sort());
    for (const r of rules) {
      expect(r.expr).toBe(`max without (endpoint) (${FROM_SLURMCTLD[r.record]})`);
      expect(SLURMCTLD_NAMES).toContain(FROM_SLURMCTLD[r.record]);
      expect(FAMILIES.map((f) => f.name)).toContain(r.record);
    }
  });

  it("give the alert rules and the dashboard every name they read on both releases", () => {
    const dashboard = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "shared", "grafana", "slurm-overview.json"), "utf8"));
    const exprs: string[] = [
      ...ALERT_RULES.map((r) => r.expr),
      ...dashboard.panels.flatMap((p: { targets?: { expr: string }[] }) => (p.targets ?? []).map((t) => t.expr)),
    ];
    const exporter2411 = new Set([...FAMILIES.map((f) => f.name), ...EXPORTER_OWN_FAMILIES]);
    const exporter2605 = new Set([...exporter2411].filter((n) => !(n in FROM_SLURMCTLD)));
    const provided = (names: Set<string>, recorded: string[]) => (n: string) => names.has(n) || recorded.includes(n) || NODE_EXPORTER_NAMES.has(n) || n === "up";
    const used = new Set(exprs.flatMap(namesIn));
    expect([...used].filter((n) => !provided(exporter2411, [])(n))).toEqual([]);
    expect([...used].filter((n) => !provided(exporter2605, Object.keys(FROM_SLURMCTLD))(n))).toEqual([]);
    // The alert on failing jobs reads only names slurmctld provides on 26.05.
    expect(namesIn(ALERT_RULES.find((r) => r.alert === "SlurmJobsFailing")!.expr).every((n) => n in FROM_SLURMCTLD)).toBe(true);
  });
});

describe("the Slurm exporter on 26.05", () => {
  it("serves neither the families Prometheus records from slurmctld nor their samples, and still the rest", async () => {
    const omit = new Set(Object.keys(FROM_SLURMCTLD));
    const exporter = createExporterRegistry({ processMetrics: false, omit });
    exporter.update([
      { name: "slurm_queue_failed", labels: {}, value: 3 },
      { name: "slurm_queue_pending", labels: {}, value: 2 },
      { name: "slurm_nodes_idle", labels: {}, value: 1 },
    ]);
    const text = await exporter.registry.metrics();
    for (const name of omit) expect(text).not.toMatch(new RegExp(`^${name}\\b`, "m"));
    expect(text).toMatch(/^slurm_queue_pending 2$/m);
    expect(text).toMatch(/^slurm_nodes_idle 1$/m);
    expect(text).toMatch(/^slurm_queue_pending_dependency 0$/m);
  });
});

describe("healthchecks", () => {
  it("the controller on 26.05 is ready when slurmctld's /readyz answers 2xx; on 24.11 when scontrol ping answers", async () => {
    for (const [release, expected] of [
      ["26.05", ["CMD-SHELL", expect.stringMatching(/\/dev\/tcp\/127\.0\.0\.1\/6817; printf "GET \/readyz HTTP\/1\.1\\r\\n.*grep -q "\^HTTP\/1\\\.\[01\] 2"'$/)]],
      ["24.11", ["CMD", "scontrol", "ping"]],
    ] as const) {
      const run = await runWithMocks("ubuntu", [`slurmRelease=${release}`, "grafana=false"]);
      const ctl = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-controller")!;
      expect(ctl.inputs.healthcheck.tests).toEqual(expected);
    }
  });
});

describe("worker healthchecks", () => {
  it("on 26.05 a worker is healthy when its slurmd's /readyz answers 2xx on its own port; on 24.11 the mode's check", async () => {
    const run2605 = await runWithMocks("ubuntu", ["slurmRelease=26.05", "grafana=false"]);
    const w2605 = ofType(run2605, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-worker1")!;
    expect(w2605.inputs.healthcheck.tests).toEqual(["CMD-SHELL", expect.stringContaining('/dev/tcp/127.0.0.1/6818; printf "GET /readyz HTTP/1.1')]);
    const run2411 = await runWithMocks("ubuntu", ["grafana=false"]);
    const w2411 = ofType(run2411, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-worker1")!;
    expect(w2411.inputs.healthcheck.tests).toEqual(["CMD", "pgrep", "-x", "slurmd"]);
  });
});
