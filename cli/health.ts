// `slurm-cluster health`: each layer of the cluster checked as a user depends on it, bottom up:
// containers, munge, slurmctld, slurmdbd and the accounting database, the nodes, monitoring.
// Gathering (talking to Docker, Slurm, MariaDB, Prometheus) is kept apart from judging: each
// judge is a pure function of what was seen, so the verdicts are unit-tested on recorded output.
// The checks are independent of each other, so they are gathered at once.
import { accountingSummary } from "./accounting-db";
import { Cluster, onController } from "./cluster";
import { ContainerStatus, ExecResult } from "../docker/container-exec";
import { SINFO_NODE_FORMAT, nodeUsable, parseSinfoNodes } from "./slurm-text";
import { ROLE_LABEL } from "../config/spec";

/** pending: not known yet and not a failure (a Prometheus target not scraped yet). */
type CheckStatus = "ok" | "fail" | "skip" | "pending";

interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
  /** What to try, when the check failed. */
  fix?: string;
}

const ok = (check: string, detail: string): CheckResult => ({ check, status: "ok", detail });
const fail = (check: string, detail: string, fix: string): CheckResult => ({ check, status: "fail", detail, fix });

/** Every container of the stack exists, runs, and (where it has a healthcheck) is healthy. */
export function judgeContainers(stack: string, expected: string[], seen: ContainerStatus[]): CheckResult {
  const byName = new Map(seen.map((c) => [c.name, c]));
  const missing = expected.filter((n) => !byName.has(n));
  const stopped = seen.filter((c) => c.state !== "running");
  // A worker "starting": no probe has run yet (workers probe every 30 s): not known, not failed; the
  // nodes check asks slurmctld about the same workers. Other containers were waited for healthy by
  // up, so "starting" there means a restart.
  const starting = seen.filter((c) => c.state === "running" && c.health === "starting" && c.role === "worker");
  const unhealthy = seen.filter((c) => c.state === "running" && c.health !== null && c.health !== "healthy" && !starting.includes(c));
  if (missing.length + stopped.length + unhealthy.length === 0) {
    const checked = seen.filter((c) => c.health !== null).length - starting.length;
    const detail = `${seen.length} running, ${checked} with healthchecks all healthy`;
    return starting.length === 0 ? ok("containers", detail) : ok("containers", `${detail}; ${starting.map((c) => c.name).join(", ")} not probed yet`);
  }
  const problems = [
    ...missing.map((n) => `${n} is gone`),
    ...stopped.map((c) => `${c.name} is ${c.state}${c.state === "exited" ? ` (${c.exitCode})` : ""}`),
    ...unhealthy.map((c) => `${c.name} is ${c.health}`),
  ];
  const first = stopped[0]?.name ?? missing[0] ?? unhealthy[0].name;
  const fix =
    missing.length + stopped.length > 0
      ? `slurm-cluster up ${stack} --refresh recreates what is gone or stopped; docker logs ${first} says why it stopped`
      : `docker inspect --format '{{json .State.Health}}' ${first} shows the failing healthcheck`;
  return fail("containers", problems.join("; "), fix);
}

interface MungeTrial {
  from: string;
  to: string;
  result: ExecResult;
}

/**
 * A credential made on the controller decodes on each worker tried, and one made on each of them on
 * the controller. `answering`: workers not tried because they answer slurmctld, whose messages to
 * and from slurmd carry munge credentials (proof enough; trying all 64 of a big stack took 13 s).
 */
export function judgeMunge(stack: string, trials: MungeTrial[], answering: string[] = []): CheckResult {
  const failed = trials.filter((t) => t.result.code !== 0);
  if (trials.length === 0 && answering.length === 0) return { check: "munge", status: "skip", detail: "no workers in this stack" };
  const others = answering.length > 0 ? `; the other ${answering.length} answer slurmctld, whose messages carry munge credentials` : "";
  if (failed.length === 0) return ok("munge", `credentials decode both ways between the controller and ${trials.length / 2} worker(s)${others}`);
  const why = (t: MungeTrial) => `${t.from} -> ${t.to}: ${(t.result.err || t.result.out).trim().split("\n").pop() || `exit ${t.result.code}`}`;
  return fail(
    "munge",
    failed.map(why).join("; "),
    `the containers' munge keys differ or munged is not running: slurm-cluster up ${stack} --refresh (one key, from the stack, goes to every container)`,
  );
}

export function judgeController(controller: string, ping: ExecResult): CheckResult {
  if (ping.code === 0 && /is UP/.test(ping.out)) return ok("slurmctld", ping.out.trim());
  return fail("slurmctld", (ping.out + ping.err).trim() || `scontrol ping exit ${ping.code}`, `slurmctld does not answer: docker logs ${controller}`);
}

/** slurmdbd answers sacctmgr and knows the cluster. */
export function judgeAccounting(clusterName: string, sacctmgr: ExecResult, slurmdbdContainer: string): CheckResult {
  if (sacctmgr.code !== 0) {
    return fail("slurmdbd", (sacctmgr.err || sacctmgr.out).trim() || `sacctmgr exit ${sacctmgr.code}`, `slurmdbd does not answer: docker logs ${slurmdbdContainer}`);
  }
  const clusters = sacctmgr.out.split("\n").map((l) => l.trim()).filter(Boolean);
  if (!clusters.includes(clusterName)) {
    return fail("slurmdbd", `cluster ${clusterName} is not registered (clusters: ${clusters.join(", ") || "none"})`, `slurmctld registers it at start: docker restart ${slurmdbdContainer}, then the controller`);
  }
  return ok("slurmdbd", `reachable; cluster ${clusterName} registered`);
}

/**
 * Jobs accounting holds as pending or running that slurmctld does not know (Slurm's "runaway
 * jobs"): what a slurmctld killed before it saved its state leaves behind. Read from
 * `sacctmgr -P show runawayjobs`, answering its fix prompt with "n".
 */
export function judgeRunawayJobs(controller: string, sacctmgr: ExecResult): CheckResult {
  if (/No runaway jobs found/.test(sacctmgr.out)) return ok("runaway jobs", "none: accounting and slurmctld agree on every live job");
  const rows = sacctmgr.out.split("\n").filter((l) => /^\d+(_\d+)?\|/.test(l)).map((l) => l.split("|"));
  if (rows.length === 0) return fail("runaway jobs", (sacctmgr.err || sacctmgr.out).trim() || `sacctmgr exit ${sacctmgr.code}`, "sacctmgr needs slurmdbd: see the slurmdbd row");
  return fail(
    "runaway jobs",
    `${rows.map(([id, name, , , state, submitted]) => `${id} ${name} (${state} since ${submitted})`).join("; ")}: in accounting, unknown to slurmctld (lost when it stopped without saving its state)`,
    `docker exec ${controller} sacctmgr -i show runawayjobs (ends them in accounting, as COMPLETED at their last known time)`,
  );
}

interface DatabaseView {
  clusters?: string[];
  jobs?: number;
  error?: string;
}

export function judgeDatabase(clusterName: string, view: DatabaseView, databaseContainer: string): CheckResult {
  if (view.error !== undefined) return fail("accounting database", view.error, `docker logs ${databaseContainer}; slurmdbd keeps jobs in its queue until it is back`);
  if (!view.clusters?.includes(clusterName)) {
    return fail("accounting database", `no row for cluster ${clusterName} in cluster_table`, "slurmdbd has not registered the cluster: check the slurmdbd row");
  }
  return ok("accounting database", `${view.jobs} job(s) recorded for ${clusterName} (mysql2 through a pipe in the database container; the database is on the internal accounting network only)`);
}

/** Every node slurmctld knows, and every node the stack declares, takes jobs. */
export function judgeNodes(stack: string, expected: string[], sinfo: ExecResult): CheckResult {
  if (sinfo.code !== 0) return fail("nodes", (sinfo.err || sinfo.out).trim(), "sinfo needs slurmctld: see the slurmctld row");
  const nodes = parseSinfoNodes(sinfo.out);
  const known = new Set(nodes.map((n) => n.name));
  const missing = expected.filter((n) => !known.has(n));
  const bad = nodes.filter((n) => !nodeUsable(n.state));
  if (missing.length + bad.length === 0) return ok("nodes", nodes.map((n) => `${n.name} ${n.state}`).join(", "));
  const problems = [...missing.map((n) => `${n} is not registered`), ...bad.map((n) => `${n.name} is ${n.state}${n.reason ? ` (${n.reason})` : ""}`)];
  const drained = bad.find((n) => /drain/.test(n.state));
  const fix = drained && bad.length === 1 && missing.length === 0
    ? `slurm-cluster resume ${drained.name} once the reason is dealt with`
    : `check the worker's container (the containers row; docker logs), slurm-cluster up ${stack} --refresh; a node that stays down after that: slurm-cluster resume <node>`;
  return fail("nodes", problems.join("; "), fix);
}

interface PrometheusTarget {
  labels: { job: string; instance: string };
  /** up, down, or unknown until Prometheus has scraped the target once. */
  health: string;
  lastError: string;
  /** How often Prometheus scrapes it, e.g. "15s". */
  scrapeInterval?: string;
}

export function judgePrometheus(url: string | null, targets: PrometheusTarget[] | { error: string }): CheckResult {
  if (url === null) return { check: "prometheus targets", status: "skip", detail: "monitoring is off in this stack" };
  if ("error" in targets) return fail("prometheus targets", `${url}: ${targets.error}`, "docker logs of the stack's prometheus container");
  if (targets.length === 0) return fail("prometheus targets", "no targets", "prometheus.yml lists none: the monitoring stack did not render its scrape config");
  const jobs = (ts: PrometheusTarget[]) => [...new Set(ts.map((t) => t.labels.job))].join(", ");
  const up = targets.filter((t) => t.health === "up");
  const unscraped = targets.filter((t) => t.health === "unknown");
  const down = targets.filter((t) => t.health !== "up" && t.health !== "unknown");
  const pendingNote = unscraped.length
    ? `${unscraped.length} not scraped yet (${unscraped.map((t) => `${t.labels.job} ${t.labels.instance}`).join(", ")}; Prometheus scrapes every ${unscraped[0].scrapeInterval ?? "scrape interval"})`
    : "";
  if (down.length === 0 && unscraped.length === 0) return ok("prometheus targets", `${up.length} up (${jobs(up)})`);
  if (down.length === 0) return { check: "prometheus targets", status: "pending", detail: `${up.length} up${up.length ? ` (${jobs(up)})` : ""}; ${pendingNote}` };
  return fail(
    "prometheus targets",
    [...down.map((t) => `${t.labels.job} ${t.labels.instance} ${t.health}${t.lastError ? `: ${t.lastError}` : ""}`), ...(pendingNote ? [pendingNote] : [])].join("; "),
    `the exporter named is not answering: see its container (the containers row); targets at ${url}/targets`,
  );
}

/** A Prometheus duration such as "15s", "1m" or "500ms" in milliseconds (undefined when unreadable). */
export function durationMs(text: string | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text ?? "");
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2] as "ms" | "s" | "m" | "h"];
}

/**
 * How long to wait for targets Prometheus has not scraped yet (health "unknown", as right after
 * `up`): until the longest of their scrape intervals has passed, plus a few seconds for the
 * scrape itself. Zero when every target has been scraped.
 */
export function firstScrapeWaitMs(targets: PrometheusTarget[], slackMs = 5000): number {
  const unscraped = targets.filter((t) => t.health === "unknown");
  if (unscraped.length === 0) return 0;
  return Math.max(...unscraped.map((t) => durationMs(t.scrapeInterval) ?? 15000)) + slackMs;
}

// ---- gathering ------------------------------------------------------------------------------

/** A command's result, or Docker's refusal to run it (a stopped container) as a failed result. */
async function attempt(container: string, run: () => Promise<ExecResult>): Promise<ExecResult> {
  try {
    return await run();
  } catch (err) {
    const message = (err as Error).message;
    return { code: -1, out: "", err: /is not running/.test(message) ? `container ${container} is not running` : message };
  }
}

/** `work` over `items`, at most `limit` at a time, results in the items' order. */
async function inParallel<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Execs at once on the engine while checking munge (a 64-worker stack would otherwise start 128). */
const MUNGE_PARALLEL = 8;
/** Workers that answer slurmctld and are tried directly all the same (the first ones). */
const MUNGE_TRIED_ANSWERING = 4;

/**
 * Which workers to try munge with: every one slurmctld does not see answering (where a broken key
 * shows), and the first few that answer; the rest answer slurmctld, which proves their key.
 */
export function mungeSample(nodes: string[], answering: Set<string>): { tried: string[]; answering: string[] } {
  const tried: string[] = [];
  const proven: string[] = [];
  let triedAnswering = 0;
  for (const node of nodes) {
    if (!answering.has(node)) tried.push(node);
    else if (triedAnswering < MUNGE_TRIED_ANSWERING) {
      triedAnswering++;
      tried.push(node);
    } else proven.push(node);
  }
  return { tried, answering: proven };
}

async function mungeTrials(cluster: Cluster, sinfo: Promise<ExecResult>): Promise<{ trials: MungeTrial[]; answering: string[] }> {
  const controller = cluster.outputs.controller.containerName;
  const seen = await sinfo;
  const up = new Set(seen.code === 0 ? parseSinfoNodes(seen.out).filter((n) => nodeUsable(n.state)).map((n) => n.name) : []);
  const sample = mungeSample(cluster.outputs.nodes.map((n) => n.name), up);
  const nodes = cluster.outputs.nodes.filter((n) => sample.tried.includes(n.name));
  const encode = (c: string) => attempt(c, () => cluster.engine.run(c, ["munge", "-n"]));
  const decode = (c: string, cred: ExecResult) =>
    cred.code === 0 ? attempt(c, () => cluster.engine.run(c, ["unmunge"], { input: cred.out })) : Promise.resolve(cred);
  const fromController = await encode(controller);
  const pairs = await inParallel(nodes, MUNGE_PARALLEL, async (node): Promise<MungeTrial[]> => [
    { from: "controller", to: node.name, result: await decode(node.containerName, fromController) },
    { from: node.name, to: "controller", result: await decode(controller, await encode(node.containerName)) },
  ]);
  return { trials: pairs.flat(), answering: sample.answering };
}

async function databaseView(cluster: Cluster): Promise<DatabaseView> {
  try {
    const summary = await accountingSummary(cluster);
    return { clusters: summary.clusters, jobs: summary.jobs };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

async function prometheusTargetsOnce(url: string): Promise<PrometheusTarget[] | { error: string }> {
  try {
    const res = await fetch(`${url}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { data: { activeTargets: PrometheusTarget[] } };
    return body.data.activeTargets;
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** Prometheus's targets, asked again each second while some await their first scrape (bounded: firstScrapeWaitMs). */
async function prometheusTargets(url: string): Promise<PrometheusTarget[] | { error: string }> {
  const started = Date.now();
  for (;;) {
    const targets = await prometheusTargetsOnce(url);
    if ("error" in targets || Date.now() - started >= firstScrapeWaitMs(targets)) return targets;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * Runs every check against the cluster at once; `progress` hears which checks are still running
 * each time one ends. The results come in the same order every time, bottom layer first.
 */
export async function runHealth(cluster: Cluster, progress: (running: string) => void = () => undefined): Promise<CheckResult[]> {
  const o = cluster.outputs;
  const stack = cluster.stack;
  const controller = o.controller.containerName;
  const onCtl = (cmd: string[], input?: string) => attempt(controller, () => onController(cluster, cmd, input === undefined ? {} : { input }));
  const containers = cluster.engine.containers(cluster.labels, ROLE_LABEL);
  const byRole = async (role: string) => (await containers).find((c) => c.role === role)?.name ?? `the ${role} container`;
  const url = o.monitoring?.prometheusUrl ?? null;
  // The nodes as slurmctld sees them: the nodes row, and which workers munge need not try.
  const sinfo = onCtl(["sinfo", "-N", "-h", "-o", SINFO_NODE_FORMAT]);
  const checks: [string, () => Promise<CheckResult>][] = [
    ["containers", async () => judgeContainers(stack, [controller, ...o.nodes.map((n) => n.containerName)], await containers)],
    ["munge", async () => {
      const { trials, answering } = await mungeTrials(cluster, sinfo);
      return judgeMunge(stack, trials, answering);
    }],
    ["slurmctld", async () => judgeController(controller, await onCtl(["scontrol", "ping"]))],
    ["slurmdbd", async () => judgeAccounting(o.clusterName, await onCtl(["sacctmgr", "-n", "-P", "show", "cluster", "format=cluster"]), await byRole("slurmdbd"))],
    ["runaway jobs", async () => judgeRunawayJobs(controller, await onCtl(["sacctmgr", "-P", "show", "runawayjobs"], "n\n"))],
    ["accounting database", async () => judgeDatabase(o.clusterName, await databaseView(cluster), await byRole("database"))],
    ["nodes", async () => judgeNodes(stack, o.nodes.map((n) => n.name), await sinfo)],
    ["prometheus targets", async () => judgePrometheus(url, url ? await prometheusTargets(url) : [])],
  ];
  const running = new Set(checks.map(([name]) => name));
  progress([...running].join(", "));
  return Promise.all(
    checks.map(async ([name, check]) => {
      try {
        return await check();
      } finally {
        running.delete(name);
        if (running.size > 0) progress([...running].join(", "));
      }
    }),
  );
}
