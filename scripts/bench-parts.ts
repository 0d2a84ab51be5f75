// What scripts/bench.ts and scripts/bench-settings.ts share: docker exec helpers, the plain Slurm
// cluster of the comparison (the project's images started with plain `docker run`), and the two
// short-job measures (drain rate, slot use).
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../config/project";
import { loadClusterSpec } from "../config";
import { ACCOUNTING_CLIENT_CONF, renderAccountingClientConf, renderCgroupConf, renderSlurmConf, renderSlurmdbdConf } from "../config/render";
import { imageName } from "../components/image";
import { releaseBuildArgs } from "../components/images";
import { poll } from "../cli/poll";

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: "utf8", input, maxBuffer: 64 << 20 }).trim();
}
export const dockerExec = (container: string, cmd: string[], input?: string) => sh("docker", ["exec", ...(input ? ["-i"] : []), container, ...cmd], input);
export const seconds = (from: number) => (Date.now() - from) / 1000;

/** Waits for an event, asking every 200 ms (the shared poller of the CLI and the tests). */
export const until = <T>(what: string, limitSeconds: number, check: () => T | undefined): Promise<T> => poll(what, limitSeconds, check, { intervalMs: 200 });

export function sacctState(controller: string, jobId: string): string | undefined {
  const s = dockerExec(controller, ["sacct", "-X", "-n", "-P", "-j", jobId, "-o", "State"]).split("\n")[0];
  return s && !["PENDING", "RUNNING", "COMPLETING", ""].includes(s) ? s : undefined;
}

/** The plain Slurm clusters of the comparison: the project's images and files, started with plain `docker run`. */
export interface PlainCluster {
  controller: string;
  clean(): void;
}

/** Settings of plain Slurm: stock (Slurm's defaults) or the best this project found for short jobs. */
export function plainSlurmConf(best: boolean): string {
  return [
    "ClusterName=floor", "SlurmctldHost=controller", "SlurmUser=slurm", "AuthType=auth/munge", "CredType=cred/munge",
    "StateSaveLocation=/var/lib/slurm/slurmctld", "SlurmdSpoolDir=/var/lib/slurm/slurmd",
    "SlurmctldPidFile=/run/slurmctld.pid", "SlurmdPidFile=/run/slurmd.pid",
    "ProctrackType=proctrack/linuxproc", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory",
    "AccountingStorageType=accounting_storage/slurmdbd", "AccountingStorageHost=slurmdbd", "MailProg=/bin/true", "ReturnToService=2",
    "MaxNodeCount=256", "SlurmdParameters=config_overrides", "PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    ...(best
      ? ["SchedulerParameters=sched_min_interval=0,batch_sched_delay=0,sched_interval=1,bf_interval=30,default_queue_depth=1000", "Epilog=/bin/true", "MinJobAge=2", "DefMemPerCPU=512"]
      : []),
  ].join("\n") + "\n";
}

/**
 * A cluster of the same images and files with plain `docker run` and no waiting on healthchecks:
 * database, slurmdbd, controller and 2 workers of 2 CPUs and 1 GiB; `slurmConf` replaces the
 * project's rendered slurm.conf. Returns once both nodes are idle.
 */
export async function plainCluster(slurmConf?: string, options: { healthchecks?: boolean } = {}): Promise<PlainCluster> {
  const spec = await loadClusterSpec({ "slurm-cluster:clusterName": "floor" }, { project: "slurm-cluster", stack: "floor" });
  const slurm = imageName("slurm", releaseBuildArgs(spec), spec.platform);
  const mariadb = imageName("mariadb", releaseBuildArgs(spec), spec.platform);
  const dir = fs.mkdtempSync(path.join(PROJECT_ROOT, ".local-state", "floor-"));
  const file = (name: string, content: string | Buffer, mode = 0o644) => {
    fs.writeFileSync(path.join(dir, name), content, { mode });
    return path.join(dir, name);
  };
  const password = "FloorPassword123";
  file("munge.key", Buffer.from(Array.from({ length: 128 }, (_, i) => (i * 37) & 255)), 0o400);
  file("jwt.key", Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 53) & 255)), 0o600);
  file("slurm.conf", slurmConf ?? renderSlurmConf(spec));
  file("cgroup.conf", renderCgroupConf(spec));
  file("slurmdbd.conf", renderSlurmdbdConf(spec, password), 0o600);
  file("dynamic-node.conf", "CPUs=2 RealMemory=1024");
  file("accounting-client.conf", renderAccountingClientConf(spec));
  file("database-name", spec.database.name);
  file("database-user", spec.database.user);
  file("database-password", password, 0o600);
  const net = "slurm-floor-net";
  // With healthchecks: the stack's checks at its intervals, and six idle containers standing for
  // its other services (monitoring, REST, login), each checked every 2 s as the stack checks them.
  const idle = options.healthchecks ? ["idle1", "idle2", "idle3", "idle4", "idle5", "idle6"] : [];
  const names = ["database", "slurmdbd", "controller", "worker1", "worker2", ...idle].map((n) => `slurm-floor-${n}`);
  const health = (cmd: string, interval: string) => (options.healthchecks ? ["--health-cmd", cmd, "--health-interval", interval] : []);
  const checks: Record<string, string[]> = {
    database: health("mariadb-admin ping --silent", "2s"),
    slurmdbd: health(`SLURM_CONF=${ACCOUNTING_CLIENT_CONF} sacctmgr -n list cluster format=cluster >/dev/null`, "5s"),
    controller: health("scontrol ping", "2s"),
    worker1: health("pgrep -x slurmd", "30s"),
    worker2: health("pgrep -x slurmd", "30s"),
    ...Object.fromEntries(idle.map((n) => [n, health("timeout 2 bash -c '</dev/tcp/127.0.0.1/9' || true", "2s")])),
  };
  const clean = () => {
    spawnSync("docker", ["rm", "-f", ...names]);
    spawnSync("docker", ["network", "rm", net]);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  spawnSync("docker", ["rm", "-f", ...names]);
  spawnSync("docker", ["network", "rm", net]);
  sh("docker", ["network", "create", net]);
  const create = (name: string, host: string, image: string, cmd: string[], copies: [string, string][]) => {
    sh("docker", ["create", "--name", `slurm-floor-${name}`, "--hostname", host, "--network", net, "--network-alias", host, ...(checks[name] ?? []), image, ...cmd]);
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
  const jwtKey: [string, string] = ["jwt.key", "/etc/slurm/jwt_hs256.key"];
  create("database", "database", mariadb, [], ["database-name", "database-user", "database-password"].map((f) => [f, `/etc/slurm-cluster/${f}`]));
  create("slurmdbd", "slurmdbd", slurm, ["slurmdbd"], [["munge.key", "/etc/munge/munge.key"], ["slurmdbd.conf", "/etc/slurm/slurmdbd.conf"], ["accounting-client.conf", ACCOUNTING_CLIENT_CONF], jwtKey]);
  create("controller", "controller", slurm, ["controller"], [...slurmFiles, jwtKey]);
  for (const w of ["worker1", "worker2"]) create(w, w, slurm, ["worker"], [...slurmFiles, ["dynamic-node.conf", "/etc/slurm/dynamic-node.conf"]]);
  for (const n of idle) {
    sh("docker", ["run", "-d", "--name", `slurm-floor-${n}`, "--network", net, ...checks[n], "--entrypoint", "sleep", slurm, "infinity"]);
  }
  const controller = "slurm-floor-controller";
  await until("plain cluster: 2 idle nodes", 180, () => (dockerExec(controller, ["sinfo", "-h", "-t", "idle", "-o", "%D"]) === "2" ? true : undefined));
  return { controller, clean };
}

/** sbatch as root, or as a cluster user (who submits from /tmp, a folder every node has). */
const sbatchAs = (user?: string) => (user ? `runuser -u ${user} -- sbatch -D /tmp` : "sbatch");

/**
 * `count` trivial jobs from `submitters` parallel sbatch loops (as users submit); seconds until the
 * queue is empty and the last job is in sacct. Reports the submit rate beside the drain rate.
 */
export async function drain(ctl: string, count: number, submitters = 4, user?: string): Promise<{ jobsPerSecond: number; submitsPerSecond: number }> {
  const each = Math.ceil(count / submitters);
  const t = Date.now();
  const loop = `for i in $(seq ${each}); do ${sbatchAs(user)} --parsable -o /dev/null --wrap true; done | tail -1`;
  const script = `for k in $(seq ${submitters}); do (${loop}) & done; wait`;
  const last = dockerExec(ctl, ["bash", "-c", script]).split("\n").map(Number).sort((a, b) => a - b).pop()!;
  const submitSeconds = seconds(t);
  await until("queue drained", 600, () => (dockerExec(ctl, ["squeue", "-h", "-o", "%i"]) === "" ? true : undefined));
  await until("last job in sacct", 120, () => sacctState(ctl, String(last)));
  return { jobsPerSecond: (each * submitters) / seconds(t), submitsPerSecond: (each * submitters) / submitSeconds };
}

/** Share of slot time used: `count` jobs of `sleep 1` on `slots` slots, from the first submission to an empty queue. */
export async function slotUse(ctl: string, count: number, slots: number, user?: string): Promise<{ seconds: number; use: number }> {
  const t = Date.now();
  dockerExec(ctl, ["bash", "-c", `for i in $(seq ${count}); do ${sbatchAs(user)} -o /dev/null --wrap 'sleep 1' >/dev/null; done`]);
  await until("sleep jobs done", 300, () => (dockerExec(ctl, ["squeue", "-h", "-o", "%i"]) === "" ? true : undefined));
  const elapsed = seconds(t);
  return { seconds: elapsed, use: count / (slots * elapsed) };
}

