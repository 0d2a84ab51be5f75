// The other Slurm release, 26.05 from Debian testing (forky), on the default stack in cgroupMode=cgroup
// (the upgrade suite runs 26.05 in none mode) with what users touch first: every node registers on 26.05 daemons, a user logs in over SSH and runs a job that
// accounting records under her name, the REST API (its 26.05 version) answers her own token,
// health passes and the Slurm exporter names her jobs; Prometheus reads slurmctld's own metrics and
// the controller and workers are healthy by their daemons' /readyz. The whole suite runs on the default
// release (24.11); this is the documented subset for 26.05 (README, Slurm releases). No job
// runtimes (Python, MPI) here: the 26.05 workers' image with them is built only by a user who
// asks for it, which keeps this suite to the Slurm image's build.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT_ROOT, docker, dockerExec, eventually, keepingStackFiles, npmRun, npmRunFull, waitForJobEnd } from "./helpers";

const STACK = "ubuntu";
const RELEASE = "26.05";
const BASE = "debian:forky-slim";
jest.setTimeout(20 * 60 * 1000);

const KEYS = fs.mkdtempSync(path.join(os.tmpdir(), "slurm-cluster-26.05-"));
spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "alice@test", "-f", path.join(KEYS, "alice")], { stdio: "inherit" });

interface Outputs {
  controller: { containerName: string };
  nodes: { name: string; state: string }[];
  rest: { url: string; openapiVersion: string; tokenCommand: string };
  login: { host: string; port: number; hostKey: string };
  monitoring: { slurmExporterUrl: string; prometheusUrl: string };
}
let outputs: Outputs;
let ctl: string;

function sshAlice(command: string): string {
  const res = spawnSync(
    "ssh",
    [
      "-i", path.join(KEYS, "alice"),
      "-p", String(outputs.login.port),
      "-o", "BatchMode=yes",
      "-o", "IdentitiesOnly=yes",
      "-o", "StrictHostKeyChecking=yes",
      "-o", `UserKnownHostsFile=${path.join(KEYS, "known_hosts")}`,
      `alice@${outputs.login.host}`,
      command,
    ],
    { encoding: "utf8", timeout: 120_000 },
  );
  if (res.status !== 0) throw new Error(`ssh alice@login ${command}: exit ${res.status}: ${res.stderr}`);
  return res.stdout;
}

beforeAll(() => {
  // What the README's test command does not make: the base image of the release's suite.
  const made = spawnSync("bash", [path.join(PROJECT_ROOT, "scripts", "base-image.sh"), BASE, "forky"], { cwd: PROJECT_ROOT, encoding: "utf8" });
  if (made.status !== 0) throw new Error(`scripts/base-image.sh ${BASE} forky failed:\n${made.stderr}`);
  npmRun("local:down", [STACK, "--volumes"]);
  const users = `alice uid=1001 account=research sshKey=${KEYS}/alice.pub`;
  outputs = JSON.parse(
    keepingStackFiles(() => npmRunFull("local:up", [STACK, "-c", "grafana=false", "-c", `slurmRelease=${RELEASE}`, "-c", "jobRuntimes=false", "-c", "cgroupMode=cgroup", "-c", `users=${users}`]).stdout),
  );
  ctl = outputs.controller.containerName;
  fs.writeFileSync(path.join(KEYS, "known_hosts"), `[${outputs.login.host}]:${outputs.login.port} ${outputs.login.hostKey}\n`);
});

afterAll(() => {
  npmRun("local:down", [STACK, "--volumes"]);
  fs.rmSync(KEYS, { recursive: true, force: true });
});

test("every daemon is Slurm 26.05 and every node registered", () => {
  for (const [container, command] of [
    [ctl, "slurmctld"],
    ["slurm-ubuntu-slurmdbd", "slurmdbd"],
    ["slurm-ubuntu-worker1", "slurmd"],
  ]) {
    expect(dockerExec(container, [command, "-V"]).trim()).toMatch(/^slurm(-wlm)? 26\.05\.\d+$/);
  }
  expect(outputs.nodes.map((n) => n.state)).toEqual(["IDLE", "IDLE"]);
  // One line a node and partition: a node is in the cluster's partition and its own.
  expect([...new Set(dockerExec(ctl, ["sinfo", "-h", "-N", "-o", "%N %t"]).trim().split("\n"))].sort()).toEqual(["worker1 idle", "worker2 idle"]);
});

let jobId: string;
test("alice logs in over SSH, runs a job on both workers, and accounting records it under her name", async () => {
  expect(sshAlice("id -un").trim()).toBe("alice");
  jobId = sshAlice("sbatch --parsable -N2 -o hello-%j.out --wrap 'srun hostname'").trim();
  expect(await waitForJobEnd(ctl, jobId, 180)).toBe("COMPLETED");
  expect(sshAlice(`cat hello-${jobId}.out`).trim().split("\n").sort()).toEqual(["worker1", "worker2"]);
  expect(dockerExec(ctl, ["sacct", "-X", "-n", "-P", "-j", jobId, "-o", "User,Account,State"]).trim()).toBe("alice|research|COMPLETED");
});

test("alice's steps run in their own cgroups (cgroupMode=cgroup), and her job over --mem is stopped by the limit", async () => {
  const cgroups = sshAlice("srun -w worker1 --mem=64M cat /proc/self/cgroup");
  expect(cgroups).toMatch(/^\d+:memory:.*\/uid_1001\/job_\d+\/step_0\/task_0$/m);
  expect(cgroups).toMatch(/^\d+:cpuset:.*\/uid_1001\/job_\d+\/step_0\/task_0$/m);
  // Two tasks, each bound to its own CPU by task/affinity (slurmstepd needs SYS_NICE for that on 26.05).
  expect(sshAlice("srun -w worker2 -n2 --cpu-bind=verbose,cores true 2>&1").split("\n").filter((l) => / set$/.test(l))).toHaveLength(2);
  const hog = sshAlice("sbatch --parsable -w worker2 --mem=64M -o /dev/null --wrap 'timeout 60 tail /dev/zero'").trim();
  expect(await waitForJobEnd(ctl, hog, 120)).toBe("OUT_OF_MEMORY");
});

test("the REST API answers alice's own token at 26.05's version", async () => {
  expect(outputs.rest.openapiVersion).toBe("v0.0.45");
  const [cmd, ...args] = outputs.rest.tokenCommand.replace("<user>", "alice").split(" ");
  const made = spawnSync(cmd, args, { cwd: PROJECT_ROOT, encoding: "utf8" });
  expect(made.status).toBe(0);
  const token = made.stdout.trim();
  const headers = { "X-SLURM-USER-NAME": "alice", "X-SLURM-USER-TOKEN": token };
  expect((await fetch(`${outputs.rest.url}/slurm/v0.0.45/nodes`)).status).toBe(401);
  const nodes = (await (await fetch(`${outputs.rest.url}/slurm/v0.0.45/nodes`, { headers })).json()) as { nodes: { name: string }[] };
  expect(nodes.nodes.map((n) => n.name).sort()).toEqual(["worker1", "worker2"]);
  const jobs = (await (await fetch(`${outputs.rest.url}/slurmdb/v0.0.45/job/${jobId}`, { headers })).json()) as { jobs: { user: string; state: { current: string[] } }[] };
  expect(jobs.jobs[0]).toMatchObject({ user: "alice", state: { current: ["COMPLETED"] } });
});

test("health passes every check", () => {
  const res = spawnSync(process.execPath, [path.join(PROJECT_ROOT, "cli", "slurm-cluster.js"), "health", STACK], { cwd: PROJECT_ROOT, encoding: "utf8" });
  expect(res.stdout).toContain(`cluster ${STACK} is healthy`);
  expect(res.status).toBe(0);
});

test("the Slurm exporter names alice's running job by her user name (26.05's squeue gives it only uids here)", async () => {
  const id = sshAlice("sbatch --parsable -o /dev/null --wrap 'sleep 300'").trim();
  try {
    const metrics = await eventually("the exporter counts alice's running job", 90, async () => {
      const text = await (await fetch(outputs.monitoring.slurmExporterUrl)).text();
      return /^slurm_user_jobs_running\{user="alice"\} 1$/m.test(text) ? text : undefined;
    });
    expect(metrics).not.toMatch(/user="1001"/);
  } finally {
    sshAlice(`scancel ${id}`);
  }
});

/** One PromQL query against the stack's Prometheus: its result vector. */
async function promQuery(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const body = (await (await fetch(`${outputs.monitoring.prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  return body.data.result;
}

/** An HTTP GET to slurmctld's port from the exporter's container (the cluster network): the status line. */
function slurmctldGet(urlPath: string, token?: string): string {
  const auth = token ? `Authorization: Bearer ${token}\\r\\n` : "";
  const script = `exec 3<>/dev/tcp/controller/6817; printf "GET ${urlPath} HTTP/1.1\\r\\nHost: controller\\r\\n${auth}Connection: close\\r\\n\\r\\n" >&3; head -n1 <&3`;
  return dockerExec("slurm-ubuntu-slurm-exporter", ["bash", "-c", script]).trim();
}

test("the controller and workers are healthy by slurmctld's and slurmd's own /readyz", async () => {
  for (const container of [ctl, "slurm-ubuntu-worker1", "slurm-ubuntu-worker2"]) {
    const check = JSON.parse(docker(["inspect", "--format", "{{json .Config.Healthcheck.Test}}", container])) as string[];
    expect(check[0]).toBe("CMD-SHELL");
    expect(check[1]).toMatch(/GET \/readyz HTTP\/1\.1/);
    await eventually(`${container} healthy`, 90, () => docker(["inspect", "--format", "{{.State.Health.Status}}", container]).trim() === "healthy" || undefined);
  }
  // What the check asks: 204 from slurmctld, without any credential.
  expect(slurmctldGet("/readyz")).toMatch(/^HTTP\/1\.1 204/);
});

test("Prometheus reads slurmctld's own metrics with the exporter's token; PrivateData still closes them to anyone else", async () => {
  // Without a token, and with a token from the REST API's key (even for the exporter's user), slurmctld refuses.
  expect(slurmctldGet("/metrics/jobs")).toMatch(/^HTTP\/1\.1 401/);
  const restToken = dockerExec(ctl, ["scontrol", "token", "username=slurm-exporter", "lifespan=300"]).trim().replace(/^SLURM_JWT=/, "");
  expect(slurmctldGet("/metrics/jobs", restToken)).toMatch(/^HTTP\/1\.1 401/);
  // Every endpoint is scraped, through the exporter's relay.
  const up = await eventually("five slurmctld targets up", 60, async () => {
    const r = await promQuery('up{job="slurmctld"}');
    return r.length === 5 && r.every((s) => s.value[1] === "1") ? r : undefined;
  });
  expect(up.map((s) => s.metric.endpoint).sort()).toEqual(["jobs", "jobs-users-accts", "nodes", "partitions", "scheduler"]);
  const id = sshAlice("sbatch --parsable -o /dev/null --wrap 'sleep 300'").trim();
  try {
    // slurmctld's count, under its own name and recorded under the exporter's, which the exporter no longer serves.
    await eventually("slurmctld counts alice's running job", 90, async () => {
      const own = await promQuery('slurmctld_user_jobs_running{username="alice"}');
      const recorded = await promQuery("slurm_queue_running");
      return own[0]?.value[1] === "1" && recorded.length === 1 && recorded[0].metric.job === "slurmctld" && Number(recorded[0].value[1]) >= 1 ? true : undefined;
    });
  } finally {
    sshAlice(`scancel ${id}`);
  }
  const exporterText = await (await fetch(outputs.monitoring.slurmExporterUrl)).text();
  expect(exporterText).not.toMatch(/^slurm_queue_running /m);
  expect(exporterText).not.toMatch(/^slurm_scheduler_dbd_queue_size /m);
  expect(exporterText).toMatch(/^slurm_queue_pending_dependency /m);
  expect(exporterText).toMatch(/^slurm_nodes_idle /m);
  // The alert rules read the recorded names: the slurmdbd queue rule's metric is there, from slurmctld.
  expect((await promQuery("slurm_scheduler_dbd_queue_size")).map((s) => s.metric.job)).toEqual(["slurmctld"]);
});
