// npm run bench [-- --out bench/results.json]
// Measures the cluster on this machine through the same runner a user runs. It uses the ubuntu
// stack and removes it (volumes too) when done, so do not run it beside the e2e suite. Prints one table on stdout,
// writes the same figures as JSON, and a progress line per phase on stderr. Not part of npm test.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { down, up } from "../local-runner/engine";
import { PROJECT_ROOT } from "../config/project";
import { loadClusterSpec } from "../config";
import { renderCgroupConf, renderSlurmConf, renderSlurmdbdConf, renderWorkerNodeConf } from "../config/render";
import { imageName } from "../components/image";

const STACK = "ubuntu";
const QUIET = ["grafana=false", "monitoring=false"];
const started = Date.now();
const progress = (line: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);
const quiet = () => undefined;

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: "utf8", input, maxBuffer: 64 << 20 }).trim();
}
const dockerExec = (container: string, cmd: string[], input?: string) => sh("docker", ["exec", ...(input ? ["-i"] : []), container, ...cmd], input);
const seconds = (from: number) => (Date.now() - from) / 1000;

async function until<T>(what: string, limitSeconds: number, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + limitSeconds * 1000;
  for (;;) {
    try {
      const v = check();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${limitSeconds}s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function sacctState(controller: string, jobId: string): string | undefined {
  const s = dockerExec(controller, ["sacct", "-X", "-n", "-P", "-j", jobId, "-o", "State"]).split("\n")[0];
  return s && !["PENDING", "RUNNING", "COMPLETING", ""].includes(s) ? s : undefined;
}

async function runUp(overrides: string[]) {
  const t = Date.now();
  const result = await up(STACK, { overrides, progress: quiet });
  return { seconds: seconds(t), outputs: result.outputs as unknown as { controller: { containerName: string }; nodes: { state: string }[] } };
}

/** Warm up → all nodes IDLE → first job COMPLETED in sacct, through the runner. */
async function firstJob(overrides: string[]): Promise<{ up: number; total: number }> {
  await down(STACK, { volumes: true, progress: quiet });
  const t = Date.now();
  const { seconds: upSeconds, outputs } = await runUp(overrides);
  const ctl = outputs.controller.containerName;
  const job = dockerExec(ctl, ["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true"]);
  await until("first job in sacct", 120, () => sacctState(ctl, job));
  return { up: upSeconds, total: seconds(t) };
}

/** The floor: the same images and files, started with plain `docker run` and no waiting on healthchecks. */
async function plainDockerFirstJob(): Promise<number> {
  const spec = await loadClusterSpec({ "slurm-cluster:clusterName": "floor" }, { project: "slurm-cluster", stack: "floor" });
  const slurm = imageName("slurm", { BASE_IMAGE: spec.baseImage }, spec.platform);
  const mariadb = imageName("mariadb", { BASE_IMAGE: spec.baseImage }, spec.platform);
  const dir = fs.mkdtempSync(path.join(PROJECT_ROOT, ".local-state", "floor-"));
  const file = (name: string, content: string | Buffer, mode = 0o644) => {
    fs.writeFileSync(path.join(dir, name), content, { mode });
    return path.join(dir, name);
  };
  const password = "FloorPassword123";
  file("munge.key", Buffer.from(Array.from({ length: 128 }, (_, i) => (i * 37) & 255)), 0o400);
  file("slurm.conf", renderSlurmConf(spec));
  file("cgroup.conf", renderCgroupConf(spec));
  file("slurmdbd.conf", renderSlurmdbdConf(spec, password), 0o600);
  file("dynamic-node.conf", renderWorkerNodeConf(spec, spec.workers[0]));
  file("database-name", spec.database.name);
  file("database-user", spec.database.user);
  file("database-password", password, 0o600);
  const net = "slurm-floor-net";
  const names = ["database", "slurmdbd", "controller", "worker1", "worker2"].map((n) => `slurm-floor-${n}`);
  const clean = () => {
    spawnSync("docker", ["rm", "-f", ...names]);
    spawnSync("docker", ["network", "rm", net]);
  };
  clean();
  const t = Date.now();
  sh("docker", ["network", "create", net]);
  const create = (name: string, host: string, image: string, cmd: string[], copies: [string, string][]) => {
    sh("docker", ["create", "--name", `slurm-floor-${name}`, "--hostname", host, "--network", net, "--network-alias", host, image, ...cmd]);
    // The files at their absolute paths in one tree, copied in one go (docker cp makes the folders).
    const tree = path.join(dir, `tree-${name}`);
    for (const [src, dest] of copies) {
      fs.mkdirSync(path.join(tree, path.dirname(dest)), { recursive: true });
      fs.copyFileSync(path.join(dir, src), path.join(tree, dest));
      fs.chmodSync(path.join(tree, dest), fs.statSync(path.join(dir, src)).mode);
    }
    sh("docker", ["cp", `${tree}/.`, `slurm-floor-${name}:/`]);
    sh("docker", ["start", `slurm-floor-${name}`]);
  };
  const slurmFiles: [string, string][] = [["munge.key", "/etc/munge/munge.key"], ["slurm.conf", "/etc/slurm/slurm.conf"], ["cgroup.conf", "/etc/slurm/cgroup.conf"]];
  create("database", "database", mariadb, [], ["database-name", "database-user", "database-password"].map((f) => [f, `/etc/slurm-cluster/${f}`]));
  create("slurmdbd", "slurmdbd", slurm, ["slurmdbd"], [["munge.key", "/etc/munge/munge.key"], ["slurmdbd.conf", "/etc/slurm/slurmdbd.conf"]]);
  create("controller", "controller", slurm, ["controller"], slurmFiles);
  for (const w of ["worker1", "worker2"]) create(w, w, slurm, ["worker"], [...slurmFiles, ["dynamic-node.conf", "/etc/slurm/dynamic-node.conf"]]);
  const ctl = "slurm-floor-controller";
  await until("floor: 2 idle nodes", 180, () => (dockerExec(ctl, ["sinfo", "-h", "-t", "idle", "-o", "%D"]) === "2" ? true : undefined));
  const job = dockerExec(ctl, ["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true"]);
  await until("floor: first job in sacct", 120, () => sacctState(ctl, job));
  const total = seconds(t);
  clean();
  fs.rmSync(dir, { recursive: true, force: true });
  return total;
}

/** Submits `count` trivial jobs as fast as sbatch takes them; seconds until the last is in sacct. */
async function drain(ctl: string, count: number): Promise<{ jobsPerSecond: number; submitSeconds: number }> {
  const t = Date.now();
  const script = `for i in $(seq ${count}); do sbatch --parsable -o /dev/null --wrap true; done | tail -1`;
  const last = dockerExec(ctl, ["bash", "-c", script]);
  const submitSeconds = seconds(t);
  await until("queue drained", 600, () => (dockerExec(ctl, ["squeue", "-h", "-o", "%i"]) === "" ? true : undefined));
  const drained = seconds(t);
  await until("last job in sacct", 120, () => sacctState(ctl, last));
  return { jobsPerSecond: count / drained, submitSeconds };
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

  progress("building images (not measured)");
  await up(STACK, { overrides: QUIET, progress: quiet });

  progress("warm up -> 2 nodes IDLE -> first job COMPLETED in sacct (runner)");
  const warm = await firstJob(QUIET);
  progress("the same with plain docker run (floor)");
  const floor = await plainDockerFirstJob();
  results.firstJob = { runnerUpSeconds: warm.up, runnerSeconds: warm.total, plainDockerSeconds: floor, ratio: warm.total / floor };
  rows.push(["warm up to first job in sacct (2 workers)", `${warm.total.toFixed(1)} s (up ${warm.up.toFixed(1)} s)`, `plain docker ${floor.toFixed(1)} s, ratio ${(warm.total / floor).toFixed(2)}`]);

  const upTimes: Record<number, number> = {};
  for (const n of [2, 16, 64]) {
    progress(`up from no containers with ${n} workers (1 CPU, 256 MiB, headroom 64 MiB)`);
    await down(STACK, { volumes: true, progress: quiet });
    const r = await runUp([...QUIET, `workerCount=${n}`, "workerCpus=1", "workerMemoryMb=256", "workerMemoryHeadroomMb=64"]);
    const idle = r.outputs.nodes.filter((x) => x.state === "IDLE").length;
    if (idle !== n) throw new Error(`${n} workers: only ${idle} IDLE`);
    upTimes[n] = r.seconds;
  }
  const slope = (upTimes[64] - upTimes[2]) / 62;
  results.upSeconds = { ...upTimes, secondsPerWorker: slope };
  rows.push(["up, 2 / 16 / 64 workers", `${upTimes[2].toFixed(1)} / ${upTimes[16].toFixed(1)} / ${upTimes[64].toFixed(1)} s`, `slope ${slope.toFixed(2)} s/worker (target <= 1)`]);

  progress("idle worker memory");
  const w = "slurm-ubuntu-worker1";
  const cgroupBytes = Number(dockerExec(w, ["bash", "-c", "cat /sys/fs/cgroup/memory.current 2>/dev/null || cat /sys/fs/cgroup/memory/memory.usage_in_bytes"]));
  const rssKb = dockerExec(w, ["ps", "-e", "-o", "rss="]).split("\n").reduce((a, l) => a + Number(l.trim() || 0), 0);
  results.idleWorker = { rssMiB: rssKb / 1024, cgroupMiB: cgroupBytes / 2 ** 20 };
  rows.push(["idle none-mode worker memory", `RSS ${(rssKb / 1024).toFixed(1)} MiB`, `cgroup ${(cgroupBytes / 2 ** 20).toFixed(1)} MiB (target <= 25 MB)`]);

  progress("no-change re-up (64 workers)");
  const before = containerIds();
  const again = await runUp([...QUIET, "workerCount=64", "workerCpus=1", "workerMemoryMb=256", "workerMemoryHeadroomMb=64"]);
  const after = containerIds();
  const recreated = Object.keys(before).filter((k) => after[k] !== before[k]).length;
  results.noChangeUp = { seconds: again.seconds, containersRecreated: recreated };
  rows.push(["no-change re-up (64 workers)", `${again.seconds.toFixed(1)} s`, `${recreated} containers recreated (target 0)`]);

  const drains: Record<string, number> = {};
  for (const profile of ["throughput", "stock"]) {
    progress(`200 trivial jobs, schedulerProfile=${profile}, 2 workers x 2 CPUs`);
    await down(STACK, { volumes: true, progress: quiet });
    const r = await runUp([...QUIET, `schedulerProfile=${profile}`]);
    const d = await drain(r.outputs.controller.containerName, 200);
    drains[profile] = d.jobsPerSecond;
    progress(`  ${d.jobsPerSecond.toFixed(2)} jobs/s (submitting took ${d.submitSeconds.toFixed(1)} s)`);
  }
  results.drainJobsPerSecond = { ...drains, ratio: drains.throughput / drains.stock };
  rows.push(["200 trivial jobs drained", `${drains.throughput.toFixed(1)} jobs/s tuned, ${drains.stock.toFixed(2)} stock`, `ratio ${(drains.throughput / drains.stock).toFixed(1)} (targets >= 50 jobs/s, >= 30x)`]);

  progress("scale 2 -> 4 -> 2 with a job running on worker1");
  await down(STACK, { volumes: true, progress: quiet });
  const base = await runUp(QUIET);
  const ctl = base.outputs.controller.containerName;
  const job = dockerExec(ctl, ["sbatch", "--parsable", "-w", "worker1", "-o", "/dev/null", "--wrap", "sleep 60"]);
  await until("job running", 30, () => (dockerExec(ctl, ["squeue", "-h", "-j", job, "-o", "%T"]) === "RUNNING" ? true : undefined));
  const grow = await runUp([...QUIET, "workerCount=4"]);
  const shrink = await runUp(QUIET);
  const finalState = await until("job end", 120, () => sacctState(ctl, job));
  results.scale = { growSeconds: grow.seconds, shrinkSeconds: shrink.seconds, jobState: finalState };
  rows.push(["scale 2 -> 4 -> 2, job on worker1", `${grow.seconds.toFixed(1)} s, ${shrink.seconds.toFixed(1)} s`, `job ${finalState}`]);

  progress("operator CLI: templates, nodes, health (default stack with monitoring, no Grafana), median of 5");
  sh("npm", ["run", "-s", "build:cli"]); // what npm ci's prepare builds: time the build, not the ts-node fallback
  await runUp(["grafana=false"]);
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

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : err}\n`);
  process.exit(1);
});
