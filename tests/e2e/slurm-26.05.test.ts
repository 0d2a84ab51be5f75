// The other Slurm release, 26.05 from Debian testing (forky), on the default stack with what users
// touch first: every node registers on 26.05 daemons, a user logs in over SSH and runs a job that
// accounting records under her name, the REST API (its 26.05 version) answers her own token,
// health passes and the Slurm exporter names her jobs. The whole suite runs on the default
// release (24.11); this is the documented subset for 26.05 (README, Slurm releases). No job
// runtimes (Python, MPI) here: the 26.05 workers' image with them is built only by a user who
// asks for it, which keeps this suite to the Slurm image's build.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT_ROOT, dockerExec, eventually, keepingStackFiles, npmRun, npmRunFull, waitForJobEnd } from "./helpers";

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
  monitoring: { slurmExporterUrl: string };
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
    keepingStackFiles(() => npmRunFull("local:up", [STACK, "-c", "grafana=false", "-c", `slurmRelease=${RELEASE}`, "-c", "jobRuntimes=false", "-c", `users=${users}`]).stdout),
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
