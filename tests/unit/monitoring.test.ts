import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { testSpec } from "./spec";
import {
  ALERT_RULES, ALERT_RULES_FILE, COMMUNITY_RULES, COMMUNITY_RULES_FILE, PROMETHEUS_DATASOURCE_UID, STATE_VOLUME_MOUNT,
  renderAlertRules, renderAlertmanagerYml, renderCommunityRules, renderGrafanaDatasource, renderPrometheusYml,
} from "../../config/render";
import { FAMILIES, SlurmJson, collectSamples, jobStateLabel, jobsLackUserNames, nodeCategory, parseAssocUserNames } from "../../shared/slurm-exporter/metrics";
import { EXPORTER_OWN_FAMILIES, createExporterRegistry } from "../../shared/slurm-exporter/registry";
import { PROJECT_ROOT } from "../../local-runner/program";
import { CONTAINER, IMAGE, VOLUME, isWireSecret, ofType, runWithMocks } from "./harness";
import { COMMUNITY_NAMES, CommunityName, NOT_PROVIDED } from "../community-metric-names";

const FIXTURES = path.join(PROJECT_ROOT, "tests", "fixtures");
const fixture = (name: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, "slurm-24.11", `${name}.json`), "utf8"));
/** Recorded from Slurm 24.11.5 on this project's cluster: idle; busy (running, pending, dependency, failed, a draining node); a node down. */
const scenario = (name: "idle" | "busy" | "down"): SlurmJson => ({
  nodes: fixture(`nodes-${name}`),
  squeue: fixture(`squeue-${name}`),
  sdiag: fixture(`sdiag-${name}`),
});
const values = (data: SlurmJson, userNames?: Record<number, string>) =>
  Object.fromEntries(collectSamples(data, userNames).map((s) => [`${s.name}${Object.keys(s.labels).length ? JSON.stringify(s.labels) : ""}`, s.value]));

const MONITORING = ["slurm-ubuntu-prometheus", "slurm-ubuntu-node-exporter", "slurm-ubuntu-slurm-exporter", "slurm-ubuntu-grafana"];

describe("MonitoringStack in the ubuntu stack", () => {
  it("with monitoring and Grafana on: Prometheus, node exporter, Slurm exporter and Grafana, ports on 127.0.0.1", async () => {
    const run = await runWithMocks("ubuntu");
    expect(run.error).toBeUndefined();
    const byName = Object.fromEntries(ofType(run, CONTAINER).map((c) => [c.inputs.name, c]));
    for (const name of MONITORING) expect(byName[name]).toBeDefined();
    expect(byName["slurm-ubuntu-prometheus"].inputs.ports).toEqual([{ internal: 9090, external: 9090, ip: "127.0.0.1" }]);
    expect(byName["slurm-ubuntu-slurm-exporter"].inputs.ports).toEqual([{ internal: 8080, external: 9341, ip: "127.0.0.1" }]);
    expect(byName["slurm-ubuntu-grafana"].inputs.ports).toEqual([{ internal: 3000, external: 3000, ip: "127.0.0.1" }]);
    expect(byName["slurm-ubuntu-node-exporter"].inputs.ports).toBeUndefined();
    expect(ofType(run, IMAGE).map((i) => i.inputs.imageName.split(":")[0])).toEqual(
      expect.arrayContaining(["slurm-cluster/monitoring", "slurm-cluster/slurm-exporter"]),
    );
    const exporterImage = ofType(run, IMAGE).find((i) => i.inputs.imageName.startsWith("slurm-cluster/slurm-exporter"))!;
    expect(exporterImage.inputs.build).toMatchObject({ context: ".", dockerfile: "./shared/images/slurm-exporter/Dockerfile" });
    expect(ofType(run, "docker:index/remoteImage:RemoteImage").map((r) => r.inputs.name)).toEqual(["grafana/grafana:11.6.0"]);
    expect(ofType(run, VOLUME).map((v) => v.inputs.name)).toContain("slurm-ubuntu-prometheus");
    // The exporter's entrypoint waits for slurmctld itself, so it starts beside the controller.
    expect(byName["slurm-ubuntu-slurm-exporter"].started).toBeLessThan(byName["slurm-ubuntu-controller"].finished);
    // Grafana's admin password is generated, secret, and read from a file rather than the environment.
    const grafana = byName["slurm-ubuntu-grafana"].inputs;
    expect(grafana.envs).toContain("GF_SECURITY_ADMIN_PASSWORD__FILE=/etc/grafana/admin-password");
    expect(grafana.envs.join(" ")).not.toContain("MockPassword123");
    expect(isWireSecret(grafana.uploads)).toBe(true);
    const files = grafana.uploads.value.map((u: { file: string }) => u.file);
    expect(files).toEqual(expect.arrayContaining([
      "/etc/grafana/admin-password",
      "/etc/grafana/provisioning/datasources/slurm.yaml",
      "/etc/grafana/provisioning/dashboards/slurm.yaml",
      "/var/lib/grafana/dashboards/slurm-cluster/slurm-overview.json",
    ]));
  });

  it("with Grafana off: no Grafana container, image or password, and a null Grafana URL", async () => {
    const run = await runWithMocks("ubuntu", ["grafana=false"]);
    expect(ofType(run, CONTAINER).map((c) => c.inputs.name)).not.toContain("slurm-ubuntu-grafana");
    expect(ofType(run, "docker:index/remoteImage:RemoteImage")).toEqual([]);
    expect(run.registrations.filter((r) => r.name.includes("grafana"))).toEqual([]);
    expect(run.outputs.monitoring).toEqual({
      prometheusUrl: "http://127.0.0.1:9090",
      alertmanagerUrl: "http://127.0.0.1:9093",
      slurmExporterUrl: "http://127.0.0.1:9341/metrics",
      grafanaUrl: null,
      grafanaAdminUser: null,
      grafanaAdminPassword: null,
    });
  });

  it("with monitoring off: none of it, and a null monitoring output", async () => {
    const run = await runWithMocks("ubuntu", ["monitoring=false"]);
    const names = ofType(run, CONTAINER).map((c) => c.inputs.name);
    for (const name of MONITORING) expect(names).not.toContain(name);
    expect(run.registrations.filter((r) => r.type === "slurm:index:MonitoringStack")).toEqual([]);
    expect(run.outputs.monitoring).toBeNull();
  });

  it("publishes on the configured address and ports", async () => {
    const run = await runWithMocks("ubuntu", ["monitoringBindAddress=0.0.0.0", "prometheusPort=19090", "slurmExporterPort=19341", "grafanaPort=13000"]);
    expect(run.outputs.monitoring).toMatchObject({
      prometheusUrl: "http://localhost:19090",
      slurmExporterUrl: "http://localhost:19341/metrics",
      grafanaUrl: "http://localhost:13000",
    });
    const prometheus = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-prometheus")!;
    expect(prometheus.inputs.ports).toEqual([{ internal: 9090, external: 19090, ip: "0.0.0.0" }]);
  });

  it.each([
    ["prometheusPort=3000", /slurm-cluster:prometheusPort = "3000": expected a port no other service of the stack publishes \(in use by slurm-cluster:grafanaPort\)/],
    ["monitoringBindAddress=localhost", /slurm-cluster:monitoringBindAddress = "localhost": expected an IPv4 address/],
    ["scrapeIntervalSeconds=1", /slurm-cluster:scrapeIntervalSeconds = "1": expected a whole number of seconds from 5 to 300/],
    ["grafana=maybe", /slurm-cluster:grafana = "maybe": expected true or false/],
  ])("rejects %s before declaring anything", async (override, message) => {
    const run = await runWithMocks("ubuntu", [override]);
    expect(run.error?.message).toMatch(message);
    expect(run.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });
});

describe("prometheus.yml", () => {
  let yml: string;
  beforeAll(async () => {
    const spec = await testSpec({ "slurm-cluster:clusterName": "lab", "slurm-cluster:scrapeIntervalSeconds": "5" }, "ubuntu");
    yml = renderPrometheusYml(spec, spec.monitoring!);
  });

  it("scrapes Prometheus, the node exporter and the Slurm exporter on the monitoring network", async () => {
    expect(yml).toContain('      - targets: ["localhost:9090"]');
    expect(yml).toContain('      - targets: ["node-exporter:9100"]');
    expect(yml).toContain('      - targets: ["slurm-exporter:8080"]');
    expect(yml.match(/job_name: (\w+)/g)).toEqual(["job_name: prometheus", "job_name: node", "job_name: slurm", "job_name: machines"]);
    expect(yml).toContain('labels: { cluster: "lab" }');
  });

  it("keeps the scrape timeout below the interval", async () => {
    expect(yml).toContain("  scrape_interval: 5s");
    expect(yml).toContain("  scrape_timeout: 4s");
  });
});

describe("Slurm exporter metrics from recorded Slurm 24.11 JSON", () => {
  it("an idle cluster: every node idle, every CPU idle, empty queue", async () => {
    expect(values(scenario("idle"))).toMatchObject({
      slurm_nodes_idle: 2, slurm_nodes_alloc: 0, slurm_nodes_mix: 0, slurm_nodes_down: 0, slurm_nodes_drain: 0, slurm_nodes_total: 2,
      slurm_cpus_alloc: 0, slurm_cpus_idle: 4, slurm_cpus_other: 0, slurm_cpus_total: 4,
      slurm_queue_pending: 0, slurm_queue_running: 0,
      'slurm_partition_cpus_total{"partition":"main"}': 4,
      'slurm_node_cpu_idle{"node":"worker1","status":"idle"}': 2,
      'slurm_node_mem_total{"node":"worker2","status":"idle"}': 1024,
      slurm_scheduler_threads: 1,
    });
  });

  it("a busy cluster: running, pending, dependency and failed jobs, one node draining", async () => {
    expect(values(scenario("busy"))).toMatchObject({
      slurm_nodes_alloc: 1, slurm_nodes_drain: 1, slurm_nodes_idle: 0,
      slurm_cpus_alloc: 3, slurm_cpus_idle: 0, slurm_cpus_other: 1, slurm_cpus_total: 4,
      slurm_queue_running: 2, slurm_queue_pending: 1, slurm_queue_pending_dependency: 1, slurm_queue_failed: 1, slurm_queue_completed: 0,
      'slurm_partition_jobs_pending{"partition":"main"}': 2,
      'slurm_partition_cpus_allocated{"partition":"main"}': 3,
      'slurm_node_cpu_alloc{"node":"worker2","status":"draining"}': 1,
      'slurm_node_cpu_other{"node":"worker2","status":"draining"}': 1,
      'slurm_user_jobs_running{"user":"root"}': 2,
      'slurm_account_cpus_running{"account":"root"}': 3,
      slurm_scheduler_backfilled_jobs_since_start_total: 2,
      slurm_scheduler_last_cycle: 79,
    });
  });

  it("a node down: counted down, its CPUs as other", async () => {
    expect(values(scenario("down"))).toMatchObject({
      slurm_nodes_down: 1, slurm_nodes_drain: 0, slurm_nodes_alloc: 1,
      slurm_cpus_other: 2, slurm_cpus_idle: 0,
      'slurm_node_cpu_other{"node":"worker2","status":"down"}': 2,
      slurm_queue_pending: 2, slurm_queue_running: 1,
    });
  });

  it("an empty answer (a command failed) still yields every unlabelled family, at 0", async () => {
    const samples = collectSamples({ nodes: {}, squeue: {}, sdiag: {} });
    const unlabelled = FAMILIES.filter((f) => f.labels.length === 0).map((f) => f.name).sort();
    expect(samples.map((s) => s.name).sort()).toEqual(unlabelled);
    expect(samples.every((s) => s.value === 0)).toBe(true);
  });

  it.each([
    [["IDLE"], "idle"], [["MIXED"], "mix"], [["ALLOCATED"], "alloc"], [["DOWN", "DRAIN"], "down"], [["IDLE", "DRAIN"], "drain"],
    [["MIXED", "DRAIN"], "drain"], [["IDLE", "MAINTENANCE"], "maint"], [["IDLE", "RESERVED"], "resv"], [["ALLOCATED", "COMPLETING"], "comp"],
    [["IDLE", "FAIL"], "fail"], [["ERROR"], "err"], [["FUTURE"], "other"],
  ])("node state %j counts as %s", (state, category) => {
    expect(nodeCategory(state as string[])).toBe(category);
  });

  it("serves every family in Prometheus text format with the names dashboard 4323 expects", async () => {
    const exporter = createExporterRegistry({ processMetrics: false });
    exporter.update(collectSamples(scenario("busy")));
    exporter.command("sdiag", true, 0.01);
    const text = await exporter.registry.metrics();
    for (const f of FAMILIES.filter((f) => f.labels.length === 0)) expect(text).toMatch(new RegExp(`^# TYPE ${f.name} gauge$`, "m"));
    for (const name of ["slurm_nodes_idle", "slurm_nodes_alloc", "slurm_nodes_mix", "slurm_nodes_down", "slurm_nodes_drain", "slurm_cpus_alloc", "slurm_cpus_idle", "slurm_cpus_other", "slurm_cpus_total", "slurm_queue_pending", "slurm_queue_running", "slurm_queue_completed", "slurm_queue_failed", "slurm_scheduler_threads", "slurm_scheduler_queue_size", "slurm_scheduler_last_cycle", "slurm_scheduler_backfill_depth_mean"]) {
      expect(FAMILIES.map((f) => f.name)).toContain(name);
    }
    expect(text).toMatch(/^slurm_queue_running 2$/m);
    expect(text).toMatch(/^slurm_node_cpu_alloc\{node="worker1",status="allocated"\} 2$/m);
    expect(text).toMatch(/^slurm_exporter_command_success\{command="sdiag"\} 1$/m);
  });

  it("drops label sets a node no longer has when it changes status", async () => {
    const exporter = createExporterRegistry({ processMetrics: false });
    exporter.update(collectSamples(scenario("busy")));
    exporter.update(collectSamples(scenario("idle")));
    const text = await exporter.registry.metrics();
    expect(text).not.toContain('status="allocated"');
    expect(text).toMatch(/^slurm_nodes_idle 2$/m);
  });

  it("counts jobs and their allocated CPUs per state, partition, account and user (what dashboard 19835's job names are recorded from)", () => {
    const busy = values(scenario("busy"));
    const key = (state: string) => JSON.stringify({ state, partition: "main", account: "root", user: "root" });
    expect(busy[`slurm_jobs_per_state${key("RUNNING")}`]).toBe(2);
    expect(busy[`slurm_jobs_per_state${key("PENDING")}`]).toBe(2); // the dependency one is PENDING too, as squeue shows it
    expect(busy[`slurm_jobs_per_state${key("FAILED")}`]).toBe(1);
    expect(busy[`slurm_jobs_alloc_cpus_per_state${key("RUNNING")}`]).toBe(3);
    expect(busy[`slurm_jobs_alloc_cpus_per_state${key("PENDING")}`]).toBe(0); // no CPUs allocated until it runs
    expect(busy[`slurm_jobs_alloc_cpus_per_state${key("FAILED")}`]).toBe(1);
    // Every job counts exactly once.
    const jobs = collectSamples(scenario("busy")).filter((s) => s.name === "slurm_jobs_per_state").reduce((n, s) => n + s.value, 0);
    expect(jobs).toBe(scenario("busy").squeue.jobs!.length);
    expect(collectSamples(scenario("idle")).filter((s) => s.name.endsWith("_per_state"))).toEqual([]);
  });

  it.each([
    [["RUNNING"], "RUNNING"], [["PENDING"], "PENDING"], [["RUNNING", "COMPLETING"], "COMPLETING"], [["COMPLETED", "COMPLETING"], "COMPLETING"],
    [["PENDING", "CONFIGURING"], "CONFIGURING"], [["SUSPENDED"], "SUSPENDED"], [[], "UNKNOWN"],
  ])("job state %j is labelled %s", (state, label) => {
    expect(jobStateLabel({ job_state: state as string[] })).toBe(label);
  });

  it("counts suspended jobs per account and user (slurm_account_jobs_suspended, slurm_user_jobs_suspended)", () => {
    const data: SlurmJson = {
      nodes: {},
      squeue: { jobs: [
        { job_state: ["SUSPENDED"], account: "physics", user_name: "alice", partition: "main", job_resources: { cpus: 2 } },
        { job_state: ["RUNNING"], account: "physics", user_name: "bob", partition: "main", cpus: { number: 1 }, job_resources: { cpus: 1 } },
      ] },
      sdiag: {},
    };
    const v = values(data);
    expect(v['slurm_account_jobs_suspended{"account":"physics"}']).toBe(1);
    expect(v['slurm_user_jobs_suspended{"user":"alice"}']).toBe(1);
    expect(v['slurm_user_jobs_suspended{"user":"bob"}']).toBe(0);
    expect(v['slurm_user_jobs_running{"user":"alice"}']).toBe(0); // a user with only a suspended job still has the family
    expect(v['slurm_queue_suspended']).toBe(1);
    expect(v['slurm_jobs_alloc_cpus_per_state{"state":"SUSPENDED","partition":"main","account":"physics","user":"alice"}']).toBe(2);
  });
});

describe("job users on Slurm 26.05 (squeue names no user it cannot resolve locally)", () => {
  const data: SlurmJson = {
    nodes: {},
    squeue: { jobs: [
      { job_state: ["RUNNING"], account: "research", user_name: "", user_id: 1001, partition: "main", job_resources: { cpus: 1 } },
      { job_state: ["PENDING"], account: "research", user_name: "", user_id: 1002, partition: "main" },
    ] },
    sdiag: {},
  };
  // As scontrol show assoc_mgr flags=users printed it on Slurm 26.05.5 here.
  const assocUsers = [
    "Current Association Manager state", "", "User Records", "",
    "UserName=root(0) DefAccount=root DefWckey= AdminLevel=Administrator",
    "UserName=slurm-exporter(61000) DefAccount=root DefWckey=(null) AdminLevel=Operator",
    "UserName=alice(1001) DefAccount=research DefWckey=(null) AdminLevel=None",
  ].join("\n");

  it("reads slurmctld's uid -> name map", () => {
    expect(parseAssocUserNames(assocUsers)).toEqual({ 0: "root", 61000: "slurm-exporter", 1001: "alice" });
  });

  it("names a job's user from that map, else by uid, never with an empty label", () => {
    expect(jobsLackUserNames(data)).toBe(true);
    const v = values(data, parseAssocUserNames(assocUsers));
    expect(v['slurm_user_jobs_running{"user":"alice"}']).toBe(1);
    expect(v['slurm_user_jobs_pending{"user":"1002"}']).toBe(1);
    expect(Object.keys(v).filter((k) => k.includes('"user":""'))).toEqual([]);
  });

  it("asks for nothing when squeue named every user (Slurm 24.11)", () => {
    expect(jobsLackUserNames({ squeue: { jobs: [{ user_name: "alice", user_id: 1001 }] } })).toBe(false);
  });
});

describe("the provisioned Grafana dashboard", () => {
  const dashboard = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "shared", "grafana", "slurm-overview.json"), "utf8"));
  const exprs: string[] = dashboard.panels.flatMap((p: { targets?: { expr: string }[] }) => (p.targets ?? []).map((t) => t.expr));
  const nodeExporterNames = new Set(
    fs.readFileSync(path.join(FIXTURES, "node-exporter-1.9.0-metric-names.txt"), "utf8").split("\n").filter((l) => l && !l.startsWith("#")),
  );
  const exporterNames = new Set([...FAMILIES.map((f) => f.name), ...EXPORTER_OWN_FAMILIES]);

  it("uses only metrics that the Slurm exporter, the node exporter or Prometheus expose", async () => {
    expect(exprs.length).toBeGreaterThan(10);
    const used = new Set(exprs.flatMap((e) => e.match(/\b[a-z_][a-z0-9_]*\b/g) ?? []).filter((w) => /^(slurm|node)_/.test(w) || w === "up"));
    const unknown = [...used].filter((name) => !(exporterNames.has(name) || nodeExporterNames.has(name) || name === "up"));
    expect(unknown).toEqual([]);
    // It shows the cluster at a glance: nodes, CPUs, queue and scheduler are all on it.
    for (const name of ["slurm_nodes_idle", "slurm_cpus_alloc", "slurm_queue_pending", "slurm_scheduler_last_cycle", "node_load1"]) {
      expect(used).toContain(name);
    }
  });

  it("reads from the provisioned Prometheus data source", async () => {
    const spec = await testSpec({}, "ubuntu");
    expect(renderGrafanaDatasource(spec, spec.monitoring!)).toContain(`uid: ${PROMETHEUS_DATASOURCE_UID}`);
    for (const panel of dashboard.panels) expect(panel.datasource).toEqual({ type: "prometheus", uid: PROMETHEUS_DATASOURCE_UID });
  });
});

describe("the alerting rules", () => {
  const exporterNames = new Set([...FAMILIES.map((f) => f.name), ...EXPORTER_OWN_FAMILIES]);

  it("watch only metrics the Slurm exporter, the node exporter (or Prometheus itself) exposes", () => {
    const nodeNames = new Set(fs.readFileSync(path.join(__dirname, "..", "fixtures", "node-exporter-1.9.0-metric-names.txt"), "utf8").split("\n").filter((l) => l && !l.startsWith("#")));
    const used = new Set(ALERT_RULES.flatMap((r) => r.expr.match(/\b[a-z_][a-z0-9_]*\b/g) ?? []).filter((w) => /^(slurm|node)_/.test(w) || w === "up"));
    expect([...used].filter((name) => !(exporterNames.has(name) || nodeNames.has(name) || name === "up"))).toEqual([]);
    expect(ALERT_RULES.map((r) => r.alert)).toEqual([
      "SlurmNodeDown", "SlurmNodeDrained", "SlurmControllerUnreachable", "SlurmExporterDown", "SlurmdbdQueueGrowing", "SlurmJobsFailing", "SlurmStateVolumeNearlyFull",
    ]);
  });

  it("have the node exporter watch the state volume, mounted read-only where the rule looks", async () => {
    const run = await runWithMocks("ubuntu", ["grafana=false"]);
    const nodeExporter = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-node-exporter");
    expect(nodeExporter?.inputs.mounts).toEqual([{ type: "volume", source: "slurm-ubuntu-statesave", target: STATE_VOLUME_MOUNT, readOnly: true }]);
    expect(ALERT_RULES.find((r) => r.alert === "SlurmStateVolumeNearlyFull")?.expr).toContain(`mountpoint="${STATE_VOLUME_MOUNT}"`);
  });

  it("are loaded by Prometheus from the file the container gets", async () => {
    const spec = await testSpec({}, "ubuntu");
    expect(renderPrometheusYml(spec, spec.monitoring!)).toContain(`rule_files:\n  - ${ALERT_RULES_FILE}\n`);
    const rules = renderAlertRules(spec);
    for (const r of ALERT_RULES) expect(rules).toContain(`      - alert: ${r.alert}\n        expr: ${JSON.stringify(r.expr)}\n        for: ${r.for}\n`);
  });
});

/** The labels a recording rule's result carries besides the scrape's own: its series' labels, plus label_replace targets, less `without` lists. */
function ruleLabels(expr: string, familyLabels: Map<string, string[]>): { labels: string[]; families: string[] } {
  const families = [...new Set((expr.match(/\bslurm_[a-z0-9_]+\b/g) ?? []))];
  const labels = new Set(families.flatMap((f) => familyLabels.get(f) ?? []));
  for (const [, dst] of expr.matchAll(/label_replace\([a-z0-9_]+, "([a-z_]+)"/g)) labels.add(dst);
  for (const [, list] of expr.matchAll(/without \(([^)]*)\)/g)) for (const l of list.split(",")) labels.delete(l.trim());
  return { labels: [...labels].sort(), families };
}

describe("the community metric names (dashboards 4323 and 19835)", () => {
  const familyLabels = new Map(FAMILIES.map((f) => [f.name, f.labels]));
  const records = COMMUNITY_RULES.map((r) => r.record);

  it.each(COMMUNITY_NAMES.map((c) => [c.name, c.dashboard, c.source, c]))("%s (dashboard %s, %s) is an exporter metric or exactly one recording rule, with the dashboards' labels", (name, _d, _s, c) => {
    const { labels } = c as CommunityName;
    const asMetric = familyLabels.has(name as string);
    const rules = COMMUNITY_RULES.filter((r) => r.record === name);
    expect(Number(asMetric) + rules.length).toBe(1);
    const got = asMetric ? [...familyLabels.get(name as string)!].sort() : ruleLabels(rules[0].expr, familyLabels).labels;
    expect(got).toEqual([...labels].sort());
  });

  it("records nothing the list does not name, from exporter series only, and leaves the names it does not provide alone", () => {
    const listed = new Set(COMMUNITY_NAMES.map((c) => c.name));
    expect(records.filter((r) => !listed.has(r))).toEqual([]);
    expect(new Set(records).size).toBe(records.length);
    for (const r of COMMUNITY_RULES) {
      const { families } = ruleLabels(r.expr, familyLabels);
      expect({ record: r.record, unknown: families.filter((f) => !familyLabels.has(f)) }).toEqual({ record: r.record, unknown: [] });
      expect(families.length).toBeGreaterThan(0);
    }
    for (const name of NOT_PROVIDED) {
      expect(familyLabels.has(name) || records.includes(name) || listed.has(name)).toBe(false);
    }
  });

  it("render as a Prometheus rule file: one group of record/expr rules, valid names, balanced expressions", async () => {
    const spec = await testSpec({}, "ubuntu");
    const text = renderCommunityRules(spec);
    expect(text.startsWith("# slurm-community-names.yml for Slurm cluster")).toBe(true);
    const doc = yaml.load(text) as { groups: { name: string; rules: Record<string, unknown>[] }[] };
    expect(Object.keys(doc)).toEqual(["groups"]);
    expect(doc.groups.map((g) => g.name)).toEqual(["slurm-community-names"]);
    const rules = doc.groups[0].rules;
    expect(rules.map((r) => r.record)).toEqual(records);
    for (const [i, r] of rules.entries()) {
      expect(Object.keys(r).sort()).toEqual(["expr", "record"]);
      expect(r.record).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
      expect(r.expr).toBe(COMMUNITY_RULES[i].expr);
      const expr = r.expr as string;
      let depth = 0;
      for (const ch of expr) {
        depth += ch === "(" ? 1 : ch === ")" ? -1 : 0;
        expect(depth).toBeGreaterThanOrEqual(0);
      }
      expect(depth).toBe(0);
      expect((expr.match(/"/g) ?? []).length % 2).toBe(0);
    }
    // The alert rules file parses the same way (both are loaded by one Prometheus).
    expect((yaml.load(renderAlertRules(spec)) as { groups: unknown[] }).groups).toHaveLength(1);
  });

  it("are loaded by Prometheus, after the alert rules, from the file the container gets", async () => {
    const spec = await testSpec({}, "ubuntu");
    expect(renderPrometheusYml(spec, spec.monitoring!)).toContain(`rule_files:\n  - ${ALERT_RULES_FILE}\n  - ${COMMUNITY_RULES_FILE}\n`);
    const run = await runWithMocks("ubuntu", ["grafana=false"]);
    const prometheus = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-prometheus")!;
    const uploads: { file: string; content: string }[] = prometheus.inputs.uploads.value ?? prometheus.inputs.uploads;
    const uploaded = uploads.find((u) => u.file === COMMUNITY_RULES_FILE)?.content ?? "";
    expect(uploaded).toContain('# slurm-community-names.yml for Slurm cluster "ubuntu"');
    // The same rules as rendered for any cluster: only the header names the cluster.
    const body = (text: string) => text.slice(text.indexOf("groups:"));
    expect(body(uploaded)).toBe(body(renderCommunityRules(spec)));
  });
});

describe("Alertmanager", () => {
  it("gets Prometheus' alerts and posts them to the webhook the stack names, or keeps them", async () => {
    const spec = await testSpec({}, "ubuntu");
    expect(renderPrometheusYml(spec, spec.monitoring!)).toContain('alerting:\n  alertmanagers:\n    - static_configs: [{ targets: ["alertmanager:9093"] }]\n');
    expect(renderAlertmanagerYml(spec, "")).toMatch(/receivers:\n  - name: default\n$/);
    expect(renderAlertmanagerYml(spec, "http://chat.example/hook")).toContain('    webhook_configs:\n      - url: "http://chat.example/hook"\n        send_resolved: true\n');
    const run = await runWithMocks("ubuntu", ["alertWebhookUrl=http://chat.example/hook"]);
    const am = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-alertmanager")!;
    expect(am.inputs.ports).toEqual([{ internal: 9093, external: 9093, ip: "127.0.0.1" }]);
    expect(am.inputs.uploads.value[0].content).toContain("http://chat.example/hook");
  });
});
