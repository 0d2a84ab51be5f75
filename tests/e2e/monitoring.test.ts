// The monitoring stack end to end (Grafana off: its image cannot be pulled here): Prometheus
// scrapes every target, the Slurm exporter reports the live cluster, and a job that holds a
// node shows up in Prometheus within two scrape intervals.
import * as fs from "fs";
import * as path from "path";
import { ALERT_RULES, ALERT_RULES_FILE, COMMUNITY_RULES, COMMUNITY_RULES_FILE } from "../../config/render";
import { COMMUNITY_NAMES } from "../community-metric-names";
import { NO_GRAFANA, PROJECT_ROOT, docker, dockerExec, eventually, heldJob, npmRun } from "./helpers";

const STACK = "ubuntu";
const SCRAPE_SECONDS = 5;
jest.setTimeout(15 * 60 * 1000);

interface Outputs {
  controller: { containerName: string };
  nodes: { name: string }[];
  monitoring: { prometheusUrl: string; slurmExporterUrl: string; grafanaUrl: string | null };
}
let outputs: Outputs;

async function getJson(url: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

/** The value of a PromQL expression now, or undefined while it has no result. */
async function promValue(expr: string): Promise<number | undefined> {
  const body = await getJson(`${outputs.monitoring.prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const result = body.data.result;
  return result.length ? Number(result[0].value[1]) : undefined;
}

beforeAll(() => {
  npmRun("local:down", [STACK, "--volumes"]);
  outputs = JSON.parse(npmRun("local:up", [STACK, ...NO_GRAFANA, "-c", `scrapeIntervalSeconds=${SCRAPE_SECONDS}`]));
});
afterAll(() => npmRun("local:down", [STACK, "--volumes"]));

test("the outputs carry the monitoring URLs, published on 127.0.0.1", () => {
  expect(outputs.monitoring).toEqual({
    prometheusUrl: "http://127.0.0.1:9090",
    alertmanagerUrl: "http://127.0.0.1:9093",
    slurmExporterUrl: "http://127.0.0.1:9341/metrics",
    grafanaUrl: null,
    grafanaAdminUser: null,
    grafanaAdminPassword: null,
  });
});

test("every Prometheus target reports up == 1", async () => {
  const up = await eventually("all three targets up", 60, async () => {
    const body = await getJson(`${outputs.monitoring.prometheusUrl}/api/v1/query?query=up`);
    const byJob = Object.fromEntries(body.data.result.map((r: { metric: { job: string }; value: [number, string] }) => [r.metric.job, Number(r.value[1])]));
    return Object.keys(byJob).length === 3 && Object.values(byJob).every((v) => v === 1) ? byJob : undefined;
  });
  expect(up).toEqual({ prometheus: 1, node: 1, slurm: 1 });
});

test("slurm_nodes_idle equals the worker count, from Prometheus", async () => {
  const idle = await eventually("slurm_nodes_idle scraped", 60, () => promValue("slurm_nodes_idle"));
  expect(idle).toBe(outputs.nodes.length);
  expect(await promValue("slurm_cpus_total")).toBe(4);
});

test("the exporter serves the prometheus-slurm-exporter families, each Slurm command answering", async () => {
  const text = await (await fetch(outputs.monitoring.slurmExporterUrl)).text();
  for (const name of ["slurm_nodes_idle", "slurm_nodes_alloc", "slurm_nodes_mix", "slurm_cpus_alloc", "slurm_cpus_total", "slurm_queue_pending", "slurm_queue_running", "slurm_scheduler_threads", "slurm_partition_cpus_total", "slurm_node_cpu_total"]) {
    expect(text).toMatch(new RegExp(`^${name}(\\{[^}]*\\})? \\d`, "m"));
  }
  for (const command of ["nodes", "squeue", "sdiag"]) expect(text).toContain(`slurm_exporter_command_success{command="${command}"} 1`);
});

test("every node exporter metric on the dashboard is exposed by the live node exporter", async () => {
  const dashboard = fs.readFileSync(path.join(PROJECT_ROOT, "shared", "grafana", "slurm-overview.json"), "utf8");
  const used = [...new Set(dashboard.match(/\bnode_[a-zA-Z0-9_]+/g) ?? [])];
  expect(used.length).toBeGreaterThan(0);
  for (const name of used) expect({ name, value: await promValue(name) }).toEqual({ name, value: expect.any(Number) });
});

test("the state volume's free space reaches Prometheus (what SlurmStateVolumeNearlyFull watches), as df sees it in the controller", async () => {
  const rule = ALERT_RULES.find((r) => r.alert === "SlurmStateVolumeNearlyFull")!;
  const ratioExpr = rule.expr.replace(/ < 0\.1$/, "");
  const ratio = await eventually("state volume free ratio scraped", 60, () => promValue(ratioExpr));
  const [size, avail] = dockerExec(outputs.controller.containerName, ["df", "-B1", "--output=size,avail", "/var/lib/slurm/slurmctld"]).trim().split("\n")[1].trim().split(/\s+/).map(Number);
  process.stderr.write(`[monitoring] state volume: ${(ratio * 100).toFixed(1)}% free in Prometheus, ${((avail / size) * 100).toFixed(1)}% by df\n`);
  expect(Math.abs(ratio - avail / size)).toBeLessThan(0.02);
  expect(await promValue(rule.expr)).toBe(ratio < 0.1 ? ratio : undefined); // fires only when nearly full
});

test("a job holding a node raises slurm_queue_running and busy nodes within two scrape intervals", async () => {
  const ctl = outputs.controller.containerName;
  const jobId = dockerExec(ctl, ["sbatch", "--parsable", "-N1", "--exclusive", "-o", "/dev/null", "--wrap", "sleep 300"]).trim();
  try {
    await eventually(`job ${jobId} running`, 60, () => (dockerExec(ctl, ["squeue", "-h", "-j", jobId, "-o", "%T"]).trim() === "RUNNING" ? true : undefined));
    const running = Date.now();
    const seen = await eventually("Prometheus sees the running job", 2 * SCRAPE_SECONDS, async () => {
      const [queue, busy] = await Promise.all([promValue("slurm_queue_running"), promValue("slurm_nodes_alloc + slurm_nodes_mix")]);
      return queue !== undefined && queue >= 1 && busy !== undefined && busy >= 1 ? { queue, busy } : undefined;
    });
    expect(seen).toEqual({ queue: 1, busy: 1 });
    process.stderr.write(`[monitoring] job visible in Prometheus ${((Date.now() - running) / 1000).toFixed(1)}s after it started running\n`);
  } finally {
    dockerExec(ctl, ["scancel", jobId]);
  }
});

test("promtool accepts the community-name recording rules the Prometheus container got", () => {
  const out = dockerExec("slurm-ubuntu-prometheus", ["promtool", "check", "rules", COMMUNITY_RULES_FILE]);
  expect(out).toContain(`SUCCESS: ${COMMUNITY_RULES.length} rules found`);
});

test("while a job holds a node, every community metric name (dashboards 4323 and 19835) answers a live Prometheus query", async () => {
  const ctl = outputs.controller.containerName;
  const workers = outputs.nodes.length;
  // Two tasks on one node of 2 CPUs: the node is allocated whole, and the job holds 2 CPUs.
  const job = heldJob(ctl, ["-N1", "-n2"]);
  try {
    await eventually(`job ${job.id} running`, 60, () => (dockerExec(ctl, ["squeue", "-h", "-j", job.id, "-o", "%T"]).trim() === "RUNNING" ? true : undefined));
    // The exporter's per-account and per-user families exist only while a job is pending or running,
    // and recording rules follow one evaluation interval after the scrape.
    await eventually("Prometheus records the running job", 6 * SCRAPE_SECONDS, async () => ((await promValue('slurm_user_state_total{state="RUNNING"}')) === 1 ? true : undefined));
    const missing: string[] = [];
    for (const { name } of COMMUNITY_NAMES) {
      if ((await promValue(`count(${name})`)) === undefined) missing.push(name);
    }
    expect(missing).toEqual([]);
    // Sensible values: 2 workers of 2 CPUs, one of them held whole by the job (as root, in account root).
    const expected: Record<string, number> = {
      "slurm_cpus_total": 4,
      "sum(slurm_cpus_per_state)": 4,
      "sum(slurm_node_count_per_state)": workers,
      'slurm_node_count_per_state{state="allocated"}': 1,
      'slurm_node_count_per_state{state="idle"}': workers - 1,
      'slurm_cpus_per_state{state="allocated"}': 2,
      "slurm_nodes_alloc": 1,
      "slurm_cpus_alloc": 2,
      "slurm_queue_running": 1,
      'slurm_user_jobs_running{user="root"}': 1,
      'slurm_user_state_total{username="root",state="RUNNING"}': 1,
      'slurm_user_cpu_alloc{username="root",state="RUNNING"}': 2,
      'slurm_account_job_state_total{account="root",state="RUNNING"}': 1,
      'sum(slurm_partition_job_state_total{state="RUNNING"})': 1,
      // main (the default partition) and ubuntu (this machine's) each have both workers.
      'slurm_partition_total_cpus{partition="main"}': 4,
      "sum(slurm_mem_real) - sum(slurm_node_mem_total) * 1048576": 0,
      "slurm_mem_real - slurm_mem_alloc - slurm_mem_free": 0,
      "slurm_daemon_thread_count - slurm_scheduler_threads": 0,
    };
    // The node the previous test's job ran on may still be completing for a scrape or two.
    let got: Record<string, number | undefined> = {};
    const read = async () => {
      got = {};
      for (const expr of Object.keys(expected)) got[expr] = await promValue(expr);
      return Object.entries(expected).every(([expr, v]) => got[expr] === v) ? true : undefined;
    };
    await eventually("the community names' values settle", 4 * SCRAPE_SECONDS, read).catch(() => undefined);
    expect(got).toEqual(expected);
    // Every recorded series keeps the scrape's labels (a dashboard's cluster or instance variable still works).
    const body = await getJson(`${outputs.monitoring.prometheusUrl}/api/v1/query?query=${encodeURIComponent("slurm_node_count_per_state")}`);
    for (const r of body.data.result) expect(r.metric).toMatchObject({ cluster: "ubuntu", job: "slurm", state: expect.any(String) });
  } finally {
    job.release();
  }
});

/** A promtool unit test of the shipped rules: a series, when it is evaluated, and the alert expected then. */
function promtoolCase(series: Record<string, string>, alert: string, evalTime: string, firing: Record<string, string> | undefined, value = "1"): string {
  const rule = ALERT_RULES.find((r) => r.alert === alert)!;
  const q = JSON.stringify;
  const annotations = `{ summary: ${q(rule.summary.replace("{{ $value }}", value))}, action: ${q(rule.action)} }`;
  return [
    "  - interval: 15s",
    "    input_series:",
    ...Object.entries(series).flatMap(([s, values]) => [`      - series: ${q(s)}`, `        values: ${q(values)}`]),
    "    alert_rule_test:",
    `      - eval_time: ${evalTime}`,
    `        alertname: ${alert}`,
    firing
      ? `        exp_alerts:\n          - exp_labels: ${JSON.stringify({ severity: rule.severity, cluster: "ubuntu", ...firing })}\n            exp_annotations: ${annotations}`
      : "        exp_alerts: []",
  ].join("\n");
}

test("promtool: each shipped alert fires when it should and not before", () => {
  const tests = [
    promtoolCase({ slurm_nodes_down: "0 0 1 1 1 1 1 1", slurm_nodes_fail: "0x8" }, "SlurmNodeDown", "45s", undefined),
    promtoolCase({ slurm_nodes_down: "0 0 1 1 1 1 1 1", slurm_nodes_fail: "0x8" }, "SlurmNodeDown", "90s", {}),
    promtoolCase({ slurm_nodes_drain: "1x60" }, "SlurmNodeDrained", "5m", undefined),
    promtoolCase({ slurm_nodes_drain: "1x60" }, "SlurmNodeDrained", "11m", {}),
    promtoolCase({ 'slurm_exporter_command_success{command="nodes"}': "0x10" }, "SlurmControllerUnreachable", "90s", { command: "nodes" }, "0"),
    promtoolCase({ 'up{job="slurm"}': "0x10" }, "SlurmExporterDown", "90s", { job: "slurm" }, "0"),
    promtoolCase({ slurm_scheduler_dbd_queue_size: "0+2x60" }, "SlurmdbdQueueGrowing", "10m", {}, "80"),
    promtoolCase({ slurm_scheduler_dbd_queue_size: "20x60" }, "SlurmdbdQueueGrowing", "10m", undefined),
    promtoolCase({ slurm_queue_failed: "6x40", slurm_queue_node_fail: "0x40", slurm_queue_out_of_memory: "0x40" }, "SlurmJobsFailing", "6m", {}, "6"),
    promtoolCase({ 'node_filesystem_avail_bytes{mountpoint="/volumes/statesave"}': "5x40", 'node_filesystem_size_bytes{mountpoint="/volumes/statesave"}': "100x40" }, "SlurmStateVolumeNearlyFull", "4m", undefined),
    promtoolCase({ 'node_filesystem_avail_bytes{mountpoint="/volumes/statesave"}': "5x40", 'node_filesystem_size_bytes{mountpoint="/volumes/statesave"}': "100x40" }, "SlurmStateVolumeNearlyFull", "6m", { mountpoint: "/volumes/statesave" }),
    promtoolCase({ 'node_filesystem_avail_bytes{mountpoint="/volumes/statesave"}': "50x40", 'node_filesystem_size_bytes{mountpoint="/volumes/statesave"}': "100x40" }, "SlurmStateVolumeNearlyFull", "10m", undefined),
  ];
  const file = `rule_files:\n  - ${ALERT_RULES_FILE}\nevaluation_interval: 15s\ntests:\n${tests.join("\n")}\n`;
  // promtool comes with Debian's prometheus package, in the Prometheus container next to the rules.
  const out = dockerExec("slurm-ubuntu-prometheus", ["sh", "-c", "cat > /tmp/rules.test.yml && promtool test rules /tmp/rules.test.yml"], file);
  expect(out).toMatch(/SUCCESS/);
});

test("a stopped worker raises SlurmNodeDown in Prometheus within two minutes", async () => {
  const worker = "slurm-ubuntu-worker2";
  const stopped = Date.now();
  docker(["stop", worker]);
  try {
    const alert = await eventually("SlurmNodeDown firing", 120, async () => {
      const body = await getJson(`${outputs.monitoring.prometheusUrl}/api/v1/alerts`);
      return body.data.alerts.find((a: { labels: { alertname: string }; state: string }) => a.labels.alertname === "SlurmNodeDown" && a.state === "firing");
    });
    expect(alert.labels).toMatchObject({ severity: "critical", cluster: "ubuntu" });
    // Prometheus hands it to Alertmanager, which holds it for its receiver.
    const held = await eventually("SlurmNodeDown in Alertmanager", 60, async () => {
      const alerts = (await getJson("http://127.0.0.1:9093/api/v2/alerts")) as { labels: { alertname: string }; status: { state: string } }[];
      return alerts.find((a) => a.labels.alertname === "SlurmNodeDown");
    });
    expect(held.status.state).toBe("active");
    process.stderr.write(`[monitoring] SlurmNodeDown firing ${((Date.now() - stopped) / 1000).toFixed(0)}s after the worker stopped\n`);
  } finally {
    docker(["start", worker]);
  }
});
