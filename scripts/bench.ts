// npm run bench [-- --out bench/results.json]
// Measures the cluster on this machine through the same runner a user runs. It uses the ubuntu
// stack and removes it (volumes too) when done, so do not run it beside the e2e suite. Prints one table on stdout,
// writes the same figures as JSON, and a progress line per phase on stderr. Not part of npm test.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { down, up } from "../local-runner/engine";
import { PROJECT_ROOT } from "../config/project";
import { dockerExec, drain, plainCluster, plainSlurmConf, sacctState, seconds, sh, slotUse, until } from "./bench-parts";

const STACK = "ubuntu";
const started = Date.now();
const progress = (line: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);
const quiet = () => undefined;

async function runUp(overrides: string[]) {
  const t = Date.now();
  const result = await up(STACK, { overrides, progress: quiet });
  return { seconds: seconds(t), outputs: result.outputs as unknown as { controller: { containerName: string }; nodes: { state: string }[] } };
}

/** The floor: the project's files on plain `docker run`, from nothing to the first job in sacct. */
async function plainDockerFirstJob(): Promise<number> {
  const t = Date.now();
  const cluster = await plainCluster();
  const job = dockerExec(cluster.controller, ["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true"]);
  await until("floor: first job in sacct", 120, () => sacctState(cluster.controller, job));
  const total = seconds(t);
  cluster.clean();
  return total;
}

/** The README's command, as a user types it, timed from the command to the first job COMPLETED in sacct. */
async function readmeUpToFirstJob(): Promise<{ up: number; total: number }> {
  await down(STACK, { volumes: true, progress: quiet });
  const t = Date.now();
  const res = spawnSync("npm", ["run", "-s", "local:up", "--", STACK, "-c", "grafana=false"], { cwd: PROJECT_ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  if (res.status !== 0) throw new Error(`local:up failed: ${res.stderr}`);
  const upSeconds = seconds(t);
  const ctl = JSON.parse(res.stdout).controller.containerName as string;
  const job = dockerExec(ctl, ["runuser", "-u", "alice", "--", "sbatch", "--parsable", "-D", "/shared/home/alice", "-o", "/dev/null", "--wrap", "true"]);
  await until("first job in sacct", 120, () => sacctState(ctl, job));
  return { up: upSeconds, total: seconds(t) };
}

/**
 * The operator CLI as a person waits for it: wall seconds of `npx slurm-cluster <args>` (and of
 * `node cli/slurm-cluster.js <args>`, the same without npm's own start), median of 5 after one
 * warm-up run, with each counted run's exit code.
 */
function cliTimes(args: string[]): { npxSeconds: number; nodeSeconds: number; exitCodes: number[] } {
  const median = (command: string, commandArgs: string[], codes: number[]) => {
    const times: number[] = [];
    for (let run = 0; run < 6; run++) {
      const t = Date.now();
      const res = spawnSync(command, commandArgs, { cwd: PROJECT_ROOT, encoding: "utf8", maxBuffer: 16 << 20 });
      if (run === 0) continue; // warm-up: file cache, and health's wait for a first Prometheus scrape
      times.push(seconds(t));
      codes.push(res.status ?? -1);
    }
    return times.sort((a, b) => a - b)[2];
  };
  const exitCodes: number[] = [];
  const npxSeconds = median("npx", ["slurm-cluster", ...args], exitCodes);
  const nodeSeconds = median(process.execPath, [path.join(PROJECT_ROOT, "cli", "slurm-cluster.js"), ...args], exitCodes);
  return { npxSeconds, nodeSeconds, exitCodes };
}

function containerIds(): Record<string, string> {
  const out = sh("docker", ["ps", "-a", "--no-trunc", "--format", "{{.Names}} {{.ID}}", "--filter", `label=com.slurm-cluster.stack=${STACK}`]);
  return Object.fromEntries(out.split("\n").filter(Boolean).map((l) => l.split(" ")));
}

async function main() {
  const outFile = process.argv.includes("--out") ? process.argv[process.argv.indexOf("--out") + 1] : path.join(PROJECT_ROOT, "bench", "results.json");
  const results: Record<string, unknown> = { machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30) } };
  const rows: [string, string, string][] = [];
  const DEFAULT = ["grafana=false"];

  // What npm ci's prepare builds: `local:up` and the CLI are timed from the build, not the ts-node fallback.
  sh("npm", ["run", "-s", "build:cli"]);
  progress("building images (not measured)");
  await up(STACK, { overrides: DEFAULT, progress: quiet });
  results.imageSizesMB = Object.fromEntries(
    sh("docker", ["images", "--format", "{{.Repository}} {{.Size}}", "--filter", "reference=slurm-cluster/*"]).split("\n").filter(Boolean).map((l) => l.split(" ")),
  );

  progress("README's local:up (default stack) -> first job COMPLETED, wall clock from the command");
  const warm = await readmeUpToFirstJob();
  progress("the same with plain docker run (floor)");
  const floor = await plainDockerFirstJob();
  results.firstJob = { commandToFirstJobSeconds: warm.total, upSeconds: warm.up, plainDockerSeconds: floor, ratio: warm.total / floor };
  rows.push(["README up -> first job COMPLETED (goal <= 10 s)", `${warm.total.toFixed(1)} s (up ${warm.up.toFixed(1)} s)`, `plain docker ${floor.toFixed(1)} s, ratio ${(warm.total / floor).toFixed(2)}`]);

  progress("200 trivial jobs, 4 submitters, default stack (2 workers x 2 CPUs)");
  const tuned = await drain((await runUp(DEFAULT)).outputs.controller.containerName, 200);
  progress("40 jobs of sleep 1 on the 4 slots");
  const slots = await slotUse((await runUp(DEFAULT)).outputs.controller.containerName, 40, 4);
  await down(STACK, { volumes: true, progress: quiet });
  const plain: Record<string, { jobsPerSecond: number; submitsPerSecond: number }> = {};
  for (const variant of ["best", "stock"]) {
    progress(`200 trivial jobs, 4 submitters, plain Slurm (${variant} settings), same slots`);
    const cluster = await plainCluster(plainSlurmConf(variant === "best"));
    plain[variant] = await drain(cluster.controller, 200);
    cluster.clean();
  }
  results.drain = {
    stack: tuned, plainBest: plain.best, plainStock: plain.stock,
    ratioToPlainBest: tuned.jobsPerSecond / plain.best.jobsPerSecond, ratioToStock: tuned.jobsPerSecond / plain.stock.jobsPerSecond,
  };
  rows.push([
    "200 trivial jobs, 4 submitters (goals >= 0.9 x best, >= 5 x stock)",
    `${tuned.jobsPerSecond.toFixed(2)} jobs/s (submitted at ${tuned.submitsPerSecond.toFixed(1)}/s)`,
    `plain best ${plain.best.jobsPerSecond.toFixed(2)} (${(tuned.jobsPerSecond / plain.best.jobsPerSecond).toFixed(2)}x), stock ${plain.stock.jobsPerSecond.toFixed(2)} (${(tuned.jobsPerSecond / plain.stock.jobsPerSecond).toFixed(1)}x)`,
  ]);
  results.sleepSlotUse = slots;
  rows.push(["40 x sleep 1 on 4 slots (goal >= 80 %)", `${slots.seconds.toFixed(1)} s`, `${(slots.use * 100).toFixed(0)} % of slot time (ideal 10 s)`]);

  const big = [...DEFAULT, "workerCount=64", "workerCpus=1", "workerMemoryMb=256", "workerMemoryHeadroomMb=64"];
  progress("up from no containers with 64 workers (1 CPU, 256 MiB), users, accounts and monitoring on");
  await down(STACK, { volumes: true, progress: quiet });
  const r64 = await runUp(big);
  const idle = r64.outputs.nodes.filter((x) => x.state === "IDLE").length;
  if (idle !== 64) throw new Error(`64 workers: only ${idle} IDLE`);
  progress("a change of users on 64 workers");
  const users = await runUp([...big, "users=alice uid=1001 account=research\nbob uid=1002 account=research"]);
  const bobEverywhere = dockerExec("slurm-ubuntu-worker64", ["id", "-u", "bob"]);
  progress("no-change re-up (64 workers)");
  const before = containerIds();
  const again = await runUp([...big, "users=alice uid=1001 account=research\nbob uid=1002 account=research"]);
  const after = containerIds();
  const recreated = Object.keys(before).filter((k) => after[k] !== before[k]).length;
  results.workers64 = { upSeconds: r64.seconds, usersChangeSeconds: users.seconds, bobUidOnWorker64: bobEverywhere, noChangeUpSeconds: again.seconds, containersRecreated: recreated };
  rows.push(["up of 64 workers, users/accounts/monitoring on (goal <= 45 s)", `${r64.seconds.toFixed(1)} s`, `all 64 IDLE`]);
  rows.push(["a change of users on 64 workers (goal <= 10 s)", `${users.seconds.toFixed(1)} s`, `bob is uid ${bobEverywhere} on worker64`]);
  rows.push(["no-change re-up (64 workers)", `${again.seconds.toFixed(1)} s`, `${recreated} containers recreated (target 0)`]);

  progress("idle worker memory");
  const w = "slurm-ubuntu-worker1";
  const cgroupBytes = Number(dockerExec(w, ["bash", "-c", "cat /sys/fs/cgroup/memory.current 2>/dev/null || cat /sys/fs/cgroup/memory/memory.usage_in_bytes"]));
  const rssKb = dockerExec(w, ["ps", "-e", "-o", "rss="]).split("\n").reduce((a, l) => a + Number(l.trim() || 0), 0);
  results.idleWorker = { rssMiB: rssKb / 1024, cgroupMiB: cgroupBytes / 2 ** 20 };
  rows.push(["idle none-mode worker memory", `RSS ${(rssKb / 1024).toFixed(1)} MiB`, `cgroup ${(cgroupBytes / 2 ** 20).toFixed(1)} MiB`]);

  progress("operator CLI: templates, nodes, health (default stack with monitoring, no Grafana), median of 5");
  // Back to the default stack: the 64-worker phase's -c keys (workerCount, users...) were saved in
  // the stack file, as pulumi up -c saves them; without this the CLI was timed on 64 workers.
  fs.writeFileSync(stackFile, stackFileBefore);
  const back = await runUp(DEFAULT);
  if (back.outputs.nodes.length !== 2) throw new Error(`the CLI phase expects the default stack's 2 workers, found ${back.outputs.nodes.length}`);
  const cli = Object.fromEntries(["templates", "nodes", "health"].map((command) => [command, cliTimes([command])]));
  results.cliSeconds = cli;
  rows.push([
    "CLI templates / nodes / health (npx)",
    `${cli.templates.npxSeconds.toFixed(2)} / ${cli.nodes.npxSeconds.toFixed(2)} / ${cli.health.npxSeconds.toFixed(2)} s`,
    `node directly ${cli.templates.nodeSeconds.toFixed(2)} / ${cli.nodes.nodeSeconds.toFixed(2)} / ${cli.health.nodeSeconds.toFixed(2)} s; health exits ${[...new Set(cli.health.exitCodes)].join(",")} (targets <= 0.5 / 1.5 / 3 s)`,
  ]);

  await down(STACK, { volumes: true, progress: quiet });
  results.totalSeconds = seconds(started);
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, JSON.stringify(results, null, 2) + "\n");
  const width = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length), 10));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(width[i])).join(" | ");
  process.stdout.write([line(["measure", "result", "compared with"]), width.map((w) => "-".repeat(w)).join("-|-"), ...rows.map(line)].join("\n") + "\n");
  process.stdout.write(`(${seconds(started).toFixed(0)} s in all; JSON in ${path.relative(PROJECT_ROOT, outFile)})\n`);
}

// Each phase states its whole configuration with -c, which up saves into Pulumi.ubuntu.yaml as
// `pulumi up -c` does: the file is put back as it was when the bench ends.
const stackFile = path.join(PROJECT_ROOT, `Pulumi.${STACK}.yaml`);
const stackFileBefore = fs.readFileSync(stackFile, "utf8");
main()
  .catch((err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.message : err}\n`);
    process.exitCode = 1;
  })
  .finally(() => fs.writeFileSync(stackFile, stackFileBefore));
