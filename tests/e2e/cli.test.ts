// End to end through the operator CLI, as a user runs it (`npx slurm-cluster ...` from the
// checkout): up, health on a healthy cluster, the three job templates submitted with --wait and
// verified by their own checks, jobs/logs/nodes/drain/resume/cancel, the refusals, a failing job's
// exit code, and health after a worker stops. One cluster serves every test, in order.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { packArchive, readArchive } from "../../cli/backup";
import { backupKey } from "../../cli/backup-key";
import { NO_GRAFANA, PROJECT_ROOT, docker, dockerExec, eventually, keepingStackFiles } from "./helpers";

const STACK = "ubuntu";
jest.setTimeout(10 * 60 * 1000);

/** `npx slurm-cluster <args>` from the checkout; stderr is not a terminal, so no progress is drawn. */
function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const res = keepingStackFiles(() => spawnSync("npx", ["slurm-cluster", ...args], { cwd: PROJECT_ROOT, encoding: "utf8", maxBuffer: 64 << 20 }));
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

function cliOk(args: string[]): string {
  const res = cli(args);
  if (res.code !== 0) throw new Error(`slurm-cluster ${args.join(" ")} exited ${res.code}:\n${res.stderr}\n${res.stdout}`);
  return res.stdout;
}

interface HealthReport {
  healthy: boolean;
  checks: { check: string; status: string; detail: string; fix?: string }[];
}

let controller: string;
const submitted: Record<string, string[]> = {};

/** Accounting's job count, to show that a refused submission queued nothing. */
function jobCount(): number {
  return dockerExec(controller, ["sacct", "-X", "-a", "-n", "-P", "-S", "1970-01-01", "-o", "JobID"]).split("\n").filter(Boolean).length;
}

beforeAll(() => {
  cliOk(["down", STACK, "--volumes"]); // leftovers of an earlier run, if any
  const outputs = JSON.parse(cliOk(["up", STACK, ...NO_GRAFANA]));
  controller = outputs.controller.containerName;
  expect(outputs.database.password).toBe("[secret]"); // up prints secrets masked
});

afterAll(() => {
  cli(["down", STACK, "--volumes"]);
});

test("health passes every check on a fresh cluster and exits 0", async () => {
  // Prometheus scrapes every few seconds: right after up a target may not have been scraped yet
  // (health waits for that first scrape, bounded, then calls it pending: exit 0, not yet "ok").
  const report = await eventually("health exit 0, nothing pending", 90, () => {
    const res = cli(["health", STACK, "--json"]);
    const parsed = res.code === 0 ? (JSON.parse(res.stdout) as HealthReport) : undefined;
    return parsed && parsed.checks.every((c) => c.status !== "pending") ? parsed : undefined;
  });
  expect(report.healthy).toBe(true);
  expect(report.checks.map((c) => [c.check, c.status])).toEqual([
    ["containers", "ok"],
    ["munge", "ok"],
    ["slurmctld", "ok"],
    ["slurmdbd", "ok"],
    ["runaway jobs", "ok"],
    ["accounting database", "ok"],
    ["nodes", "ok"],
    ["prometheus targets", "ok"],
  ]);
  expect(report.checks.find((c) => c.check === "nodes")?.detail).toBe("worker1 idle, worker2 idle");
  const table = cliOk(["health", STACK]);
  expect(table).toMatch(/cluster ubuntu is healthy/);
});

test.each([
  ["ml-training", /RESULT ml-training: OK best of 4 settings: .* accuracy=0\.9\d+ \(threshold 0\.9\)/],
  ["data-pipeline", /RESULT data-pipeline: OK 200000 numbers from 4 parts .* matches the input/],
  ["hpc-simulation", /RESULT hpc-simulation: OK 2 ranks on worker1, worker2, .* max \|parallel - serial\| = 0/],
])("submit %s --wait runs it to COMPLETED, exit 0, with its verified result", (template, result) => {
  const res = cli(["submit", template, "--wait"]);
  expect(res.stderr).toBe(""); // not a terminal: no progress drawn
  expect(res.stdout).toMatch(result);
  expect(res.code).toBe(0);
  submitted[template] = [...res.stdout.matchAll(/job (\d+) \(/g)].map((m) => m[1]);
  expect(submitted[template].length).toBe(template === "hpc-simulation" ? 1 : template === "ml-training" ? 2 : 3);
});

test("jobs --json lists every job and array task of the three templates as COMPLETED", () => {
  const { jobs } = JSON.parse(cliOk(["jobs", "--json"])) as { jobs: { id: string; state: string; user: string }[] };
  for (const [template, ids] of Object.entries(submitted)) {
    for (const id of ids) {
      const records = jobs.filter((j) => j.id === id || j.id.startsWith(`${id}_`));
      expect([template, id, records.length > 0]).toEqual([template, id, true]);
      expect(records.map((r) => [r.state, r.user])).toEqual(records.map(() => ["COMPLETED", "alice"]));
    }
  }
  expect(jobs.filter((j) => j.id.startsWith(`${submitted["ml-training"][0]}_`))).toHaveLength(4); // the sweep's 4 tasks
});

test("logs prints a job's output from the shared volume; an array shows every task's", () => {
  const [train, select] = submitted["ml-training"];
  expect(cliOk(["logs", select])).toMatch(/^RESULT ml-training: OK/m);
  const tasks = cliOk(["logs", train]);
  expect([...tasks.matchAll(/^==> .*ml-train-\d+_(\d)\.out <==$/gm)].map((m) => m[1])).toEqual(["0", "1", "2", "3"]);
  expect([...tasks.matchAll(/"accuracy": (0\.\d+)/g)]).toHaveLength(4);
});

test("logs --follow prints a running job's output as it grows and returns once the job has ended", () => {
  const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sc-job-")), "ticks.sbatch");
  fs.writeFileSync(script, "#!/bin/bash\n#SBATCH --job-name=ticks\n#SBATCH --time=2\n#SBATCH --output=%x-%j.out\nfor i in 1 2 3 4 5; do echo tick $i; sleep 1; done\n");
  const { jobs } = JSON.parse(cliOk(["submit", script, "--json"])) as { jobs: { jobId: string }[] };
  const started = Date.now();
  const followed = cliOk(["logs", jobs[0].jobId, "--follow"]);
  expect(followed).toBe("tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");
  expect(Date.now() - started).toBeGreaterThan(3000); // it waited for the job, not only read what was there
  expect(dockerExec(controller, ["sacct", "-X", "-n", "-P", "-j", jobs[0].jobId, "-o", "State"]).trim()).toBe("COMPLETED");
});

test("logs refuses a job's output that its user replaced with a symlink to the munge key, and prints none of the key", () => {
  const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sc-job-")), "probe.sbatch");
  fs.writeFileSync(script, "#!/bin/bash\n#SBATCH --job-name=probe\n#SBATCH --time=1\n#SBATCH --output=%x-%j.out\necho probe\n");
  const submission = JSON.parse(cliOk(["submit", script, "--wait", "--json"])) as { runDir: string; jobs: { jobId: string }[] };
  const id = submission.jobs[0].jobId;
  expect(cliOk(["logs", id])).toBe("probe\n");
  // alice, whose job it is, swaps her output file for a symlink to the controller's munge key.
  docker(["exec", "-u", "alice", controller, "ln", "-sfn", "/etc/munge/munge.key", `${submission.runDir}/probe-${id}.out`]);
  const key = spawnSync("docker", ["exec", controller, "cat", "/etc/munge/munge.key"]).stdout as Buffer;
  expect(key.length).toBeGreaterThanOrEqual(32);
  const res = spawnSync("npx", ["slurm-cluster", "logs", id], { cwd: PROJECT_ROOT }); // raw bytes: the key is binary
  const printed = Buffer.concat([res.stdout, res.stderr]);
  expect(res.status).toBe(1);
  expect(res.stderr.toString()).toMatch(new RegExp(`^error: job ${id}'s output: refused to read /\\S*/probe-${id}\\.out is a symbolic link\n$`));
  expect(printed.includes(key.subarray(0, 16))).toBe(false);
  expect(printed.includes(Buffer.from(key.toString("base64").slice(0, 16)))).toBe(false);
});

test("submit exits with a failing job's own exit code and shows its output", () => {
  const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sc-job-")), "fails.sbatch");
  fs.writeFileSync(script, "#!/bin/bash\n#SBATCH --job-name=fails\n#SBATCH --time=1\n#SBATCH --output=%x-%j.out\necho about to fail\nexit 3\n");
  const res = cli(["submit", script, "--wait"]);
  expect(res.code).toBe(3);
  expect(res.stdout).toMatch(/about to fail/);
  expect(res.stdout).toMatch(/│ fails +│ alice +│ FAILED +│ 3:0/);
});

test("a template whose check fails ends non-zero, and the stages after it are cancelled, not left pending", () => {
  // The grid has settings 0-7: tasks 8 and 9 fail, so the select stage can never run.
  const res = cli(["submit", "ml-training", "--array", "8-9", "--wait"]);
  expect(res.code).toBe(1);
  expect(res.stdout).toMatch(/task 8: the grid has settings 0-7/);
  expect(res.stdout).toMatch(/│ ml-select +│ alice +│ CANCELLED/);
  expect(res.stdout).toMatch(/│ ml-train +│ alice +│ FAILED +│ 1:0/);
});

test("bad input is one clear line, a non-zero exit, and nothing submitted", () => {
  const before = jobCount();
  for (const [args, code, message] of [
    [["submit", "hpc-simulation", "--nodes", "3", "--wait"], 2, /^error: --nodes 3: the cluster has 2 node\(s\); nothing submitted\n$/],
    [["submit", "no-such-template"], 2, /^error: unknown template no-such-template: the templates are /],
    [["submit", "hello-nodes", "--time", "soon"], 2, /^error: --time soon: /],
    [["logs", "99999"], 1, /^error: no job 99999 in the queue or in accounting\n$/],
    [["cancel", "99999"], 1, /^error: no job 99999 in the queue or in accounting\n$/],
    [["health", "qnap"], 1, /^error: stack qnap has no cluster: bring it up first \(slurm-cluster up qnap\)\n$/],
    [["drain", "worker9", "--reason", "x"], 1, /^error: no node worker9 in the cluster \(nodes: worker1, worker2\)\n$/],
    [["submit", "hello-nodes", "--user", "nobody"], 2, /^error: no user nobody in stack ubuntu's users \(alice\)[^\n]*\n$/],
    [["token", "--user", "nobody"], 2, /^error: no user nobody in stack ubuntu's users \(alice\)[^\n]*\n$/],
  ] as [string[], number, RegExp][]) {
    const res = cli(args);
    expect([args, res.code, res.stderr]).toEqual([args, code, expect.stringMatching(message)]);
  }
  expect(jobCount()).toBe(before);
});

test("drain and resume change the node's state in Slurm; nodes shows it", async () => {
  cliOk(["drain", "worker1", "--reason", "disk check"]);
  const drained = JSON.parse(cliOk(["nodes", "--json"])).nodes.find((n: { name: string }) => n.name === "worker1");
  expect(drained).toMatchObject({ state: "drain", reason: "disk check", cpus: 2, memoryMb: 1024, features: ["ubuntu", "amd64"] });
  expect(dockerExec(controller, ["sinfo", "-h", "-n", "worker1", "-p", "main", "-o", "%t|%E"]).trim()).toBe("drain|disk check");
  cliOk(["resume", "worker1"]);
  // slurmctld pings a resumed node before trusting it (idle* meanwhile).
  const started = Date.now();
  await eventually("worker1 idle", 60, () => (dockerExec(controller, ["sinfo", "-h", "-n", "worker1", "-p", "main", "-o", "%t"]).trim() === "idle" ? true : undefined));
  process.stderr.write(`[cli e2e] worker1 idle ${((Date.now() - started) / 1000).toFixed(1)} s after resume\n`);
});

test("cancel stops a running job; cancelling it again says it has ended", async () => {
  const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sc-job-")), "sleeps.sbatch");
  fs.writeFileSync(script, "#!/bin/bash\n#SBATCH --job-name=sleeps\n#SBATCH --time=5\nsleep 300\n");
  const { jobs } = JSON.parse(cliOk(["submit", script, "--json"])) as { jobs: { jobId: string }[] };
  const id = jobs[0].jobId;
  await eventually(`job ${id} running`, 30, () => (dockerExec(controller, ["squeue", "-h", "-j", id, "-o", "%T"]).trim() === "RUNNING" ? true : undefined));
  expect(cliOk(["cancel", id])).toBe(`cancelled ${id} (RUNNING)\n`);
  const state = await eventually(`job ${id} cancelled in accounting`, 30, () => {
    const s = dockerExec(controller, ["sacct", "-X", "-n", "-P", "-j", id, "-o", "State"]).trim();
    return s.startsWith("CANCELLED") ? s : undefined;
  });
  expect(state).toMatch(/^CANCELLED/);
  const again = cli(["cancel", id]);
  expect([again.code, again.stderr]).toEqual([1, `error: job ${id} has already ended (${id} CANCELLED)\n`]);
});

test("backup, destroy with volumes, up, restore: the same jobs in sacct and job ids continue", async () => {
  const sacct = () => dockerExec(controller, ["sacct", "-X", "-a", "-n", "-P", "-S", "1970-01-01", "-o", "JobID,JobName,User,State,ExitCode"]).trim();
  // A job slurmctld still holds when the state is copied (ended less than MinJobAge ago included)
  // is ended again after the restore, and its record rewritten (a cancelled job's exit code then
  // reads 0:15): README, Backup and restore. Back up a quiet cluster here: no job in slurmctld.
  await eventually("no job in slurmctld", 60, () => (/No jobs in the system/.test(dockerExec(controller, ["scontrol", "show", "jobs"])) ? true : undefined));
  const before = sacct();
  const lastId = Math.max(...before.split("\n").map((l) => parseInt(l)));
  const backupDir = fs.mkdtempSync(path.join(os.tmpdir(), "sc-backups-"));
  const res = spawnSync("npm", ["run", "-s", "backup", "--", STACK, "--to", backupDir], { cwd: PROJECT_ROOT, encoding: "utf8" });
  expect(res.status).toBe(0);
  const archive = res.stdout.trim().split("\n").pop()!; // the last line is the archive's path
  expect(path.dirname(archive)).toBe(backupDir);
  expect(fs.statSync(archive).mode & 0o777).toBe(0o600);
  // No secret of the stack is in the archive.
  const secrets = JSON.parse(cliOk(["outputs", STACK, "--show-secrets"]));
  const unpacked = spawnSync("sh", ["-c", `tar xzf '${archive}' -O`], { encoding: "latin1", maxBuffer: 256 << 20 }).stdout;
  expect(unpacked).not.toContain(secrets.database.password);
  expect(unpacked).not.toContain(secrets.join.mungeKeyBase64);

  cliOk(["down", STACK, "--volumes"]);
  cliOk(["up", STACK, ...NO_GRAFANA]);
  expect(sacct()).toBe("");
  const restored = spawnSync("npm", ["run", "-s", "restore", "--", STACK, archive], { cwd: PROJECT_ROOT, encoding: "utf8" });
  expect([restored.status, restored.stderr]).toEqual([0, ""]);
  expect(restored.stdout).toMatch(new RegExp(`job ids continue after ${lastId}`));
  expect(sacct()).toBe(before);
  const next = cliOk(["submit", "hello-nodes", "--wait", "--json"]);
  expect(Number(JSON.parse(next).jobs[0].jobId)).toBe(lastId + 1);

  // A cluster with jobs is not restored over without --force; a truncated archive is refused. Nothing changes.
  const again = spawnSync("npm", ["run", "-s", "restore", "--", STACK, archive], { cwd: PROJECT_ROOT, encoding: "utf8" });
  expect([again.status, again.stderr]).toEqual([1, expect.stringMatching(/^error: the stack's cluster already has \d+ job\(s\) in accounting, which a restore replaces: .* or pass --force; nothing changed\n$/)]);
  const truncated = path.join(backupDir, "truncated.tar.gz");
  fs.writeFileSync(truncated, fs.readFileSync(archive).subarray(0, 2000));
  const bad = spawnSync("npm", ["run", "-s", "restore", "--", STACK, truncated, "--force"], { cwd: PROJECT_ROOT, encoding: "utf8" });
  expect([bad.status, bad.stderr]).toEqual([1, expect.stringMatching(/is truncated or not a slurm-cluster backup \(unexpected end of file\); nothing changed\n$/)]);
  // An archive of another cluster (its manifest and checksums intact, signed with the stack's key) is refused too.
  const key = backupKey(STACK, false);
  const { manifest, files } = await readArchive(archive, () => key);
  const other = path.join(backupDir, "other-cluster.tar.gz");
  fs.writeFileSync(other, await packArchive({ ...manifest, clusterName: "lab" }, files, key));
  // Signed with any other key, it is refused before anything else is looked at.
  const forged = path.join(backupDir, "forged.tar.gz");
  fs.writeFileSync(forged, await packArchive(manifest, files, Buffer.alloc(32, 1)));
  const forgedRun = spawnSync("npm", ["run", "-s", "restore", "--", STACK, forged, "--force"], { cwd: PROJECT_ROOT, encoding: "utf8" });
  expect([forgedRun.status, forgedRun.stderr]).toEqual([1, expect.stringMatching(/forged.tar.gz was altered or signed with another key: .*; nothing changed\n$/)]);
  const wrong = spawnSync("npm", ["run", "-s", "restore", "--", STACK, other, "--force"], { cwd: PROJECT_ROOT, encoding: "utf8" });
  expect([wrong.status, wrong.stderr]).toEqual([1, "error: the archive is of cluster lab, this stack's cluster is ubuntu: accounting keys everything by cluster name; nothing changed\n"]);
  expect(sacct().split("\n")).toHaveLength(before.split("\n").length + 1);
});

test("health fails, naming the worker, after one worker stops", async () => {
  docker(["stop", "slurm-ubuntu-worker2"]);
  const first = cli(["health", STACK]);
  expect(first.code).toBe(1);
  expect(first.stdout).toMatch(/containers +│ FAIL +│ slurm-ubuntu-worker2 is exited/);
  expect(first.stdout).toMatch(/cluster ubuntu is NOT healthy: containers, munge/);
  // Slurm marks it not responding (idle*) at its next ping, DOWN after SlurmdTimeout (20 s):
  // the nodes check names it from the first of these.
  const report = await eventually("worker2 down in health", 90, () => {
    const res = cli(["health", STACK, "--json"]);
    const r = JSON.parse(res.stdout) as HealthReport;
    return /down\*/.test(r.checks.find((c) => c.check === "nodes")?.detail ?? "") ? { r, code: res.code } : undefined;
  });
  expect(report.code).toBe(1);
  expect(report.r.healthy).toBe(false);
  expect(report.r.checks.find((c) => c.check === "nodes")).toMatchObject({ detail: "worker2 is down* (Not responding)", fix: expect.stringMatching(/slurm-cluster up ubuntu --refresh/) });
  expect(report.r.checks.find((c) => c.check === "munge")?.detail).toMatch(/controller -> worker2: container slurm-ubuntu-worker2 is not running/);
});
