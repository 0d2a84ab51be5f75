// Upgrading Slurm in place, as a user does it: the default stack on 24.11 with a workers stack
// (macos, on a second Docker host that scripts/second-host.sh starts: another machine on a link
// of its own) and jobs in accounting, a job running and one pending; then `up` with slurmRelease=26.05. The upgrade backs up first,
// replaces slurmdbd, slurmctld and the workers a batch at a time, never a worker under its running
// job; every job completes, accounting keeps every record, the job ids go on, health passes. The
// workers stack runs jobs on 24.11 under the 26.05 controller until its own `up` upgrades it. A
// downgrade is refused with nothing changed, and the backup goes back into a fresh 24.11 stack.
// One cluster serves every test, in order.
import { execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { NO_GRAFANA, PROJECT_ROOT, containerIds, dockerExec, eventually, heldJob, keepingStackFiles, npmRun, npmRunFull, sacctState, waitForJobEnd } from "./helpers";

jest.setTimeout(20 * 60 * 1000);

const CTL = "slurm-ubuntu-controller";
const FORKY = "debian:forky-slim";

/** Runs a project script; returns what it printed on stdout (its log goes to stderr). */
function script(args: string[], env: Record<string, string> = {}): string {
  return execFileSync("bash", args, { cwd: PROJECT_ROOT, encoding: "utf8", env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] }).trim();
}

// The second host "mac" (the several-machines suite's, reached here through its socket): its
// engine, its own address and this machine's on their link.
const MAC_SOCKET = script(["scripts/second-host.sh", "up", "mac"]);
const [MAC_ADDRESS, THIS_MACHINE] = script(["scripts/second-host.sh", "address", "mac"]).split(" ");
const UBUNTU = ["-c", `advertiseAddress=${THIS_MACHINE}`, ...NO_GRAFANA, "-c", "jobRuntimes=false"];
const MACOS = ["-c", `docker:host=${MAC_SOCKET}`, "-c", `advertiseAddress=${MAC_ADDRESS}`, "-c", "jobRuntimes=false"];

/** `up` running in the background (the test acts while it waits), with the stack files kept as they were. */
function upInBackground(stack: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const files = fs.readdirSync(PROJECT_ROOT).filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f));
  const saved = new Map(files.map((f) => [f, fs.readFileSync(path.join(PROJECT_ROOT, f), "utf8")]));
  const child = spawn("npm", ["run", "-s", "local:up", "--", stack, ...args], { cwd: PROJECT_ROOT });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr.on("data", (b: Buffer) => {
    stderr += b.toString();
    process.stderr.write(b);
  });
  return new Promise((resolve) =>
    child.on("close", (code) => {
      for (const [f, text] of saved) fs.writeFileSync(path.join(PROJECT_ROOT, f), text);
      resolve({ code: code ?? -1, stdout, stderr });
    }),
  );
}

const version = (container: string, daemon: string) => dockerExec(container, [daemon, "-V"]).trim().replace(/^slurm(-wlm)? /, "");
const nodeField = (node: string, field: string) => new RegExp(`\\b${field}=(\\S*)`).exec(dockerExec(CTL, ["scontrol", "show", "node", node]))?.[1] ?? "";
const submit = (args: string[]) => dockerExec(CTL, ["sbatch", "--parsable", "-o", "/dev/null", ...args]).trim();

let earlier: string[] = [];
let held: { id: string; release(): void };
let pending: string;
let upgrade: { code: number; stdout: string; stderr: string };
let drainedWhileRunning: { worker2Id: string; job: string; worker1Version: string; controllerVersion: string };
let before: Record<string, string>;
let backup: string;

beforeAll(async () => {
  // Each release's base on each engine (on the second host, copied from this machine's).
  for (const env of [{}, { DOCKER_HOST: MAC_SOCKET }] as Record<string, string>[]) {
    script(["scripts/base-image.sh"], env);
    script(["scripts/base-image.sh", FORKY, "forky"], env);
  }
  npmRun("local:down", ["macos", "--volumes", "-c", `docker:host=${MAC_SOCKET}`]);
  npmRun("local:down", ["ubuntu", "--volumes"]);
  npmRun("local:up", ["ubuntu", ...UBUNTU]);
  npmRun("local:up", ["macos", ...MACOS]);
  // History before the upgrade: two jobs done, one on the workers stack.
  earlier = [submit(["-p", "ubuntu", "--wrap", "true"]), submit(["-p", "ubuntu", "--wrap", "true"]), submit(["-p", "macos", "--wrap", "true"])];
  for (const id of earlier) expect(await waitForJobEnd(CTL, id, 120)).toBe("COMPLETED");
  // One job running on worker2 through the upgrade, and one waiting for it.
  held = heldJob(CTL, ["-p", "ubuntu", "-w", "worker2"]);
  await eventually(`job ${held.id} running`, 60, () => (sacctState(CTL, held.id) === "RUNNING" ? true : undefined));
  pending = submit(["-p", "ubuntu", `--dependency=afterok:${held.id}`, "--wrap", "true"]);
  before = containerIds("ubuntu");

  const running = upInBackground("ubuntu", [...UBUNTU, "-c", "slurmRelease=26.05"]);
  // worker1 goes first (batches of one); worker2 is drained and waits for its job.
  drainedWhileRunning = await eventually("worker2 drained for the upgrade while its job runs", 900, () => {
    const reason = nodeField("worker2", "Reason");
    if (!/^upgrading/.test(reason) || !/DRAIN/.test(nodeField("worker2", "State"))) return undefined;
    return {
      worker2Id: containerIds("ubuntu")["slurm-ubuntu-worker2"],
      job: sacctState(CTL, held.id) ?? "",
      worker1Version: nodeField("worker1", "Version"),
      controllerVersion: version(CTL, "slurmctld"),
    };
  });
  held.release();
  upgrade = await running;
  backup = /\[upgrade\] backup of Slurm \S+ written to (\S+);/.exec(upgrade.stderr)?.[1] ?? "";
});

afterAll(() => {
  npmRun("local:down", ["macos", "--volumes", "-c", `docker:host=${MAC_SOCKET}`]);
  npmRun("local:down", ["ubuntu", "--volumes"]);
  script(["scripts/second-host.sh", "down", "mac"]);
  if (backup) fs.rmSync(backup, { force: true });
  fs.rmSync(path.join(PROJECT_ROOT, "backups", "upgrade-ubuntu-24.11-to-26.05.json"), { force: true });
});

test("up backs up first, keeps the archive and prints its path", () => {
  expect(upgrade.code).toBe(0);
  expect(upgrade.stderr).toMatch(/\[upgrade\] upgrading Slurm 24\.11 to 26\.05: backing up first/);
  expect(backup).toMatch(/backups\/slurm-cluster-ubuntu-\d{8}T\d{6}Z\.tar\.gz$/);
  expect(fs.statSync(backup).size).toBeGreaterThan(0);
  // The backup comes before any resource step.
  expect(upgrade.stderr.indexOf("written to")).toBeLessThan(upgrade.stderr.search(/\+-replace|~ update/));
});

test("slurmctld is upgraded before the workers, and a worker is replaced only once its running job ended", () => {
  expect(drainedWhileRunning).toMatchObject({ worker2Id: before["slurm-ubuntu-worker2"], job: "RUNNING" });
  expect(drainedWhileRunning.controllerVersion).toMatch(/^26\.05\.\d+$/);
  expect(drainedWhileRunning.worker1Version).toMatch(/^26\.05\.\d+$/);
  expect(containerIds("ubuntu")["slurm-ubuntu-worker2"]).not.toBe(before["slurm-ubuntu-worker2"]);
});

test("every daemon of the stack runs 26.05 and every node is back in service", () => {
  for (const [container, daemon] of [[CTL, "slurmctld"], ["slurm-ubuntu-slurmdbd", "slurmdbd"], ["slurm-ubuntu-worker1", "slurmd"], ["slurm-ubuntu-worker2", "slurmd"], ["slurm-ubuntu-rest", "slurmrestd"]]) {
    expect({ container, version: version(container, daemon) }).toEqual({ container, version: expect.stringMatching(/^26\.05\.\d+$/) });
  }
  const states = dockerExec(CTL, ["sinfo", "-h", "-N", "-p", "ubuntu", "-o", "%N %t"]).trim().split("\n").sort();
  expect(states).toEqual(["worker1 idle", "worker2 idle"]);
});

test("the running and the pending job complete; accounting keeps every earlier job; the job ids go on", async () => {
  expect(await waitForJobEnd(CTL, held.id, 120)).toBe("COMPLETED");
  expect(await waitForJobEnd(CTL, pending, 120)).toBe("COMPLETED");
  for (const id of earlier) expect({ id, state: sacctState(CTL, id) }).toEqual({ id, state: "COMPLETED" });
  const next = submit(["-p", "ubuntu", "--wrap", "true"]);
  expect(Number(next)).toBeGreaterThan(Number(pending));
  expect(await waitForJobEnd(CTL, next, 120)).toBe("COMPLETED");
});

test("health passes after the upgrade", () => {
  const res = keepingStackFiles(() => spawnSync("npx", ["slurm-cluster", "health", "ubuntu"], { cwd: PROJECT_ROOT, encoding: "utf8" }));
  expect({ code: res.status, out: res.stdout.split("\n").filter((l) => /FAIL/.test(l)) }).toEqual({ code: 0, out: [] });
});

test("the workers stack still on 24.11 runs jobs under the 26.05 controller, and takes its new slurm.conf", async () => {
  expect(nodeField("mac1", "Version")).toMatch(/^24\.11\.\d+$/);
  const job = submit(["-p", "macos", "--wrap", "true"]);
  expect(await waitForJobEnd(CTL, job, 120)).toBe("COMPLETED");
  // An up of the workers stack, still 24.11: the cluster's slurm.conf now has 26.05's keys, which
  // its slurmd would refuse; the workers get it without them and register.
  npmRun("local:up", ["macos", ...MACOS]);
  expect(nodeField("mac1", "Version")).toMatch(/^24\.11\.\d+$/);
  const after = submit(["-p", "macos", "--wrap", "true"]);
  expect(await waitForJobEnd(CTL, after, 120)).toBe("COMPLETED");
});

test("up of the workers stack with slurmRelease=26.05 upgrades its workers", async () => {
  const out = npmRunFull("local:up", ["macos", ...MACOS, "-c", "slurmRelease=26.05"]);
  expect(out.stderr).toMatch(/UpgradeDrain mac1-upgrade-drain/);
  for (const node of ["mac1", "mac2"]) expect({ node, version: nodeField(node, "Version") }).toEqual({ node, version: expect.stringMatching(/^26\.05\.\d+$/) });
  const job = submit(["-p", "macos", "--wrap", "true"]);
  expect(await waitForJobEnd(CTL, job, 120)).toBe("COMPLETED");
});

test("a downgrade is refused in one line before anything changes", () => {
  const now = containerIds("ubuntu");
  const res = keepingStackFiles(() =>
    spawnSync("npm", ["run", "-s", "local:up", "--", "ubuntu", ...UBUNTU, "-c", "slurmRelease=24.11"], { cwd: PROJECT_ROOT, encoding: "utf8" }),
  );
  expect(res.status).not.toBe(0);
  expect(res.stderr).toMatch(/slurmRelease = "24\.11": the stack's controller \(slurm-ubuntu-controller\) runs Slurm 26\.05, .* a downgrade is refused; nothing was changed/);
  expect(containerIds("ubuntu")).toEqual(now);
});

test("the way back: the backup made before the upgrade restores into a fresh 24.11 stack", async () => {
  npmRun("local:down", ["ubuntu", "--volumes"]);
  npmRun("local:up", ["ubuntu", ...UBUNTU, "-c", "slurmRelease=24.11"]);
  expect(version(CTL, "slurmctld")).toMatch(/^24\.11\.\d+$/);
  const restored = keepingStackFiles(() => spawnSync("npm", ["run", "-s", "restore", "--", "ubuntu", backup], { cwd: PROJECT_ROOT, encoding: "utf8" }));
  expect([restored.status, restored.stderr]).toEqual([0, ""]);
  // The history up to the backup: the jobs that had ended, and the id sequence after the held job.
  for (const id of earlier) expect({ id, state: sacctState(CTL, id) }).toEqual({ id, state: "COMPLETED" });
  const next = submit(["-p", "ubuntu", "--wrap", "true"]);
  expect(Number(next)).toBeGreaterThan(Number(held.id));
  expect(await waitForJobEnd(CTL, next, 120)).toBe("COMPLETED");
});
