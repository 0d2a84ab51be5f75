// The operator CLI without a cluster: command-line parsing and its refusals, the health verdicts
// and Slurm output parsing on output recorded from a real cluster (tests/fixtures/cli), the
// job templates' headers, and the sbatch options a submission would use.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CliError } from "../../cli/errors";
import {
  durationMs, firstScrapeWaitMs, judgeAccounting, judgeContainers, judgeController, judgeDatabase, judgeMunge, judgeNodes, mungeSample, judgePrometheus, judgeRunawayJobs,
} from "../../cli/health";
import { outputFiles, readFrom, readJobOutput, runDirName, sbatchOverrides, submissionExitCode, waitForJobs } from "../../cli/jobs";
import { Cluster } from "../../cli/cluster";
import { main } from "../../cli/main";
import { expandOutputPattern, jobExitCode, mergeJobs, parseSacct, parseSinfoNodes, parseSqueue, validArraySpec, validTimeLimit } from "../../cli/slurm-text";
import { chooseRunner } from "../../cli/stacks";
import { listTemplates, loadTemplate, resolveTemplate, sbatchOptions, templateSummary } from "../../cli/templates";

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, "..", "fixtures", "cli", name), "utf8");
const ran = (out: string, code = 0, err = "") => ({ code, out, err });

/** Runs the CLI in-process; returns its exit code and what it wrote to stderr. */
async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = "";
  const write = jest.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true));
  const out = jest.spyOn(process.stdout, "write").mockImplementation(() => true);
  try {
    return { code: await main(args), stderr };
  } finally {
    write.mockRestore();
    out.mockRestore();
  }
}

describe("command line", () => {
  it.each([
    [["frob"], /unknown command 'frob'/],
    [["submit", "no-such-template"], /unknown template no-such-template: the templates are data-pipeline, hello-nodes, hpc-simulation, ml-training/],
    [["submit", "/nonexistent/job.sbatch"], /no such batch script: \/nonexistent\/job.sbatch/],
    [["health", "no-such-stack"], /no stack "no-such-stack"/],
    [["drain", "worker1"], /required option '--reason <text>'/],
    [["logs"], /missing required argument 'job'/],
  ])("%j is refused with one line and exit 2, before any cluster is asked", async (args, message) => {
    const { code, stderr } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split("\n")).toHaveLength(1);
  });

  it("deploys through Pulumi when its CLI is installed, else through the local runner; the environment can choose", () => {
    expect(chooseRunner({}, () => "/usr/bin/pulumi")).toBe("pulumi");
    expect(chooseRunner({}, () => undefined)).toBe("local");
    expect(chooseRunner({ SLURM_CLUSTER_RUNNER: "local" }, () => "/usr/bin/pulumi")).toBe("local");
    expect(() => chooseRunner({ SLURM_CLUSTER_RUNNER: "docker" }, () => undefined)).toThrow(/use local or pulumi/);
  });
});

describe("health verdicts on recorded output", () => {
  it("passes a cluster whose containers run healthy, and names what is stopped, gone or unhealthy with a fix", () => {
    const running = [
      { name: "slurm-ubuntu-controller", role: "controller", state: "running", exitCode: 0, health: "healthy" },
      { name: "slurm-ubuntu-worker1", role: "worker", state: "running", exitCode: 0, health: "healthy" },
      { name: "slurm-ubuntu-node-exporter", role: "node-exporter", state: "running", exitCode: 0, health: null },
    ];
    expect(judgeContainers("ubuntu", ["slurm-ubuntu-controller", "slurm-ubuntu-worker1"], running).status).toBe("ok");
    const stopped = judgeContainers("ubuntu", ["slurm-ubuntu-controller", "slurm-ubuntu-worker1", "slurm-ubuntu-worker2"], [
      running[0],
      { ...running[1], state: "exited", exitCode: 137 },
      { name: "slurm-ubuntu-slurmdbd", role: "slurmdbd", state: "running", exitCode: 0, health: "unhealthy" },
    ]);
    expect(stopped.status).toBe("fail");
    expect(stopped.detail).toBe("slurm-ubuntu-worker2 is gone; slurm-ubuntu-worker1 is exited (137); slurm-ubuntu-slurmdbd is unhealthy");
    expect(stopped.fix).toMatch(/slurm-cluster up ubuntu --refresh/);
  });

  it("does not fail a worker whose healthcheck has not run yet (every 30 s), and names it", () => {
    const seen = [
      { name: "slurm-ubuntu-controller", role: "controller", state: "running", exitCode: 0, health: "healthy" },
      { name: "slurm-ubuntu-worker1", role: "worker", state: "running", exitCode: 0, health: "starting" },
    ];
    const result = judgeContainers("ubuntu", ["slurm-ubuntu-controller", "slurm-ubuntu-worker1"], seen);
    expect(result).toEqual({ check: "containers", status: "ok", detail: "2 running, 1 with healthchecks all healthy; slurm-ubuntu-worker1 not probed yet" });
    // A daemon up waited for healthy that shows "starting" again has restarted.
    const restarted = judgeContainers("ubuntu", ["slurm-ubuntu-controller"], [{ ...seen[0], health: "starting" }]);
    expect(restarted.status).toBe("fail");
  });

  it("fails munge when a credential does not decode, naming the direction and unmunge's error", () => {
    const badCredential = fixture("unmunge-bad-credential.txt").split("\n")[0];
    const good = ran("STATUS: Success (0)\n");
    expect(judgeMunge("ubuntu", [{ from: "controller", to: "worker1", result: good }, { from: "worker1", to: "controller", result: good }]).status).toBe("ok");
    const result = judgeMunge("ubuntu", [
      { from: "controller", to: "worker1", result: good },
      { from: "worker1", to: "controller", result: ran("", 9, badCredential) },
    ]);
    expect(result.status).toBe("fail");
    expect(result.detail).toBe("worker1 -> controller: unmunge: Error: Invalid credential version 0");
  });

  it("tries munge directly with every worker slurmctld does not see answering and the first 4 that do, on a big stack", () => {
    const nodes = Array.from({ length: 64 }, (_, i) => `worker${i + 1}`);
    const answering = new Set(nodes.filter((n) => n !== "worker7" && n !== "worker60"));
    const sample = mungeSample(nodes, answering);
    expect(sample.tried).toEqual(["worker1", "worker2", "worker3", "worker4", "worker7", "worker60"]);
    expect(sample.answering).toHaveLength(58);
    expect(mungeSample(["worker1", "worker2"], new Set(["worker1", "worker2"]))).toEqual({ tried: ["worker1", "worker2"], answering: [] });
    // slurmctld cannot answer: every worker is tried.
    expect(mungeSample(nodes, new Set()).tried).toEqual(nodes);
    const good = ran("STATUS: Success (0)\n");
    const trials = sample.tried.flatMap((n) => [{ from: "controller", to: n, result: good }, { from: n, to: "controller", result: good }]);
    expect(judgeMunge("ubuntu", trials, sample.answering).detail).toBe(
      "credentials decode both ways between the controller and 6 worker(s); the other 58 answer slurmctld, whose messages carry munge credentials",
    );
  });

  it("reads slurmctld's and slurmdbd's answers", () => {
    expect(judgeController("c", ran(fixture("scontrol-ping-up.txt"))).status).toBe("ok");
    expect(judgeController("slurm-ubuntu-controller", ran("", 1, "slurm_load_ctl_conf error")).fix).toBe("slurmctld does not answer: docker logs slurm-ubuntu-controller");
    expect(judgeAccounting("ubuntu", ran(fixture("sacctmgr-clusters.txt")), "d").status).toBe("ok");
    const other = judgeAccounting("qnap", ran(fixture("sacctmgr-clusters.txt")), "d");
    expect(other).toMatchObject({ status: "fail", detail: "cluster qnap is not registered (clusters: ubuntu)" });
    expect(judgeAccounting("ubuntu", ran("", 1, "sacctmgr: error: Problem talking to the database: Connection refused"), "slurm-ubuntu-slurmdbd")).toMatchObject({
      status: "fail",
      fix: "slurmdbd does not answer: docker logs slurm-ubuntu-slurmdbd",
    });
  });

  it("names the jobs accounting holds as live that slurmctld lost (runaway jobs), with Slurm's fix", () => {
    expect(judgeRunawayJobs("c", ran("Runaway Jobs: No runaway jobs found on cluster ubuntu\n")).status).toBe("ok");
    const lost = judgeRunawayJobs("slurm-ubuntu-controller", ran(fixture("sacctmgr-runawayjobs.txt")));
    expect(lost).toMatchObject({
      status: "fail",
      detail: "5 wrap (PENDING since 2026-11-30T04:14:18): in accounting, unknown to slurmctld (lost when it stopped without saving its state)",
      fix: "docker exec slurm-ubuntu-controller sacctmgr -i show runawayjobs (ends them in accounting, as COMPLETED at their last known time)",
    });
    expect(judgeRunawayJobs("c", ran("", 1, "sacctmgr: error: Problem talking to the database")).detail).toMatch(/Problem talking to the database/);
  });

  it("reads the accounting database's answer", () => {
    expect(judgeDatabase("ubuntu", { clusters: ["ubuntu"], jobs: 18 }, "db").detail).toMatch(/^18 job\(s\) recorded for ubuntu/);
    expect(judgeDatabase("ubuntu", { clusters: [], jobs: 0 }, "db").status).toBe("fail");
    expect(judgeDatabase("ubuntu", { error: "connect ECONNREFUSED" }, "slurm-ubuntu-database")).toMatchObject({ status: "fail", detail: "connect ECONNREFUSED" });
  });

  it("passes idle nodes and fails a node that stopped responding, by name, with its reason", () => {
    expect(judgeNodes("ubuntu", ["worker1", "worker2"], ran(fixture("sinfo-healthy.txt")))).toMatchObject({ status: "ok", detail: "worker1 idle, worker2 idle" });
    const down = judgeNodes("ubuntu", ["worker1", "worker2"], ran(fixture("sinfo-worker2-down.txt")));
    expect(down).toMatchObject({ status: "fail", detail: "worker2 is down* (Not responding)" });
    expect(judgeNodes("ubuntu", ["worker1", "worker2", "worker3"], ran(fixture("sinfo-healthy.txt"))).detail).toBe("worker3 is not registered");
    const drained = judgeNodes("ubuntu", ["worker1"], ran("worker1|drain|2|1024|ubuntu|main*|disk check\n"));
    expect(drained.fix).toBe("slurm-cluster resume worker1 once the reason is dealt with");
  });

  it("passes Prometheus when every target is up and names the one that is down", () => {
    const up = JSON.parse(fixture("prometheus-targets-up.json"));
    expect(judgePrometheus("http://127.0.0.1:9090", up)).toMatchObject({ status: "ok", detail: "3 up (node, prometheus, slurm)" });
    const down = judgePrometheus("http://127.0.0.1:9090", JSON.parse(fixture("prometheus-targets-node-down.json")));
    expect(down.status).toBe("fail");
    expect(down.detail).toMatch(/^node node-exporter:9100 down: Get "http:\/\/node-exporter:9100\/metrics"/);
    expect(judgePrometheus(null, []).status).toBe("skip");
    expect(judgePrometheus("http://127.0.0.1:9090", { error: "fetch failed" }).status).toBe("fail");
  });

  it("counts a target Prometheus has not scraped yet as pending, not failed, after waiting up to its scrape interval", () => {
    const target = (job: string, health: string) => ({ labels: { job, instance: `${job}:9100` }, health, lastError: "", scrapeInterval: "15s" });
    const fresh = [target("node", "up"), target("slurm", "unknown")];
    expect(judgePrometheus("http://127.0.0.1:9090", fresh)).toEqual({
      check: "prometheus targets",
      status: "pending",
      detail: "1 up (node); 1 not scraped yet (slurm slurm:9100; Prometheus scrapes every 15s)",
    });
    expect(judgePrometheus("http://127.0.0.1:9090", [...fresh, target("prometheus", "down")]).status).toBe("fail");
    expect(firstScrapeWaitMs(fresh)).toBe(20000);
    expect(firstScrapeWaitMs([target("node", "up"), { ...target("slurm", "unknown"), scrapeInterval: "1m" }])).toBe(65000);
    expect(firstScrapeWaitMs([target("node", "up"), target("slurm", "down")])).toBe(0);
    expect([durationMs("15s"), durationMs("500ms"), durationMs("2m"), durationMs("soon")]).toEqual([15000, 500, 120000, undefined]);
  });

  it("the recorded `health --json` of a cluster with a stopped worker names it in every layer it breaks", () => {
    const report = JSON.parse(fixture("health-worker2-stopped.json"));
    expect(report.healthy).toBe(false);
    const failed = Object.fromEntries(report.checks.filter((c: { status: string }) => c.status === "fail").map((c: { check: string; detail: string }) => [c.check, c.detail]));
    expect(Object.keys(failed).sort()).toEqual(["containers", "munge", "nodes", "prometheus targets"]);
    expect(failed.nodes).toBe("worker2 is down* (Not responding)");
    expect(failed.containers).toMatch(/slurm-ubuntu-worker2 is exited/);
  });
});

describe("following jobs (submit --wait)", () => {
  /** A cluster whose controller answers squeue and sacct from the given scripts, one answer per poll. */
  function scripted(answers: { squeue: [number, string]; sacct: [number, string] }[]): Cluster {
    let poll = 0;
    const run = async (_c: string, cmd: string[]) => {
      const a = answers[Math.min(poll, answers.length - 1)];
      const [code, out] = cmd[0] === "squeue" ? a.squeue : a.sacct;
      if (cmd[0] === "sacct") poll++;
      return { code, out: code === 0 ? out : "", err: code === 0 ? "" : out };
    };
    return { outputs: { controller: { containerName: "c" } }, engine: { run } } as unknown as Cluster;
  }
  const running = "21|t|alice|RUNNING|0:0|00:00:01|worker1|x\n";

  it("ends with the records once accounting says how every job ended, telling each state change once", async () => {
    const lines: string[] = [];
    const records = await waitForJobs(
      scripted([
        { squeue: [0, "21|t|alice|RUNNING|0:01|worker1|x\n"], sacct: [0, running] },
        { squeue: [0, "21|t|alice|RUNNING|0:03|worker1|x\n"], sacct: [0, running] },
        { squeue: [1, "slurm_load_jobs error: Invalid job id specified"], sacct: [0, "21|t|alice|COMPLETED|0:0|00:00:04|worker1|x\n"] },
      ]),
      ["21"], (l) => lines.push(l), 1,
    );
    expect(records.map((r) => r.state)).toEqual(["COMPLETED"]);
    expect(lines).toEqual(["job 21 t: RUNNING on worker1", "job 21 t: COMPLETED on worker1"]);
  });

  it("gives up with one line when the jobs left the queue but accounting never says how they ended", async () => {
    const cluster = scripted([{ squeue: [1, "slurm_load_jobs error: Invalid job id specified"], sacct: [0, running] }]);
    await expect(waitForJobs(cluster, ["21"], () => undefined, 1, 20)).rejects.toThrow(
      "jobs 21 have left the queue but accounting has not recorded how they ended: see slurm-cluster health (slurmdbd); slurm-cluster jobs shows them once it has",
    );
  });
});

describe("reading a job's output (logs, submit --wait) as the job's user", () => {
  // The controller is faked: sacct answers from a table, and every other command runs here with
  // sh, in a folder standing in for the user's run directory, so the read's refusals are real.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sc-logs-"));
  const KEY = "MUNGE-KEY-BYTES-0123456789";
  fs.writeFileSync(path.join(dir, "munge.key"), KEY);
  fs.writeFileSync(path.join(dir, "slurm-21.out"), "hello from 21\n");
  fs.symlinkSync(path.join(dir, "munge.key"), path.join(dir, "slurm-22.out"));
  spawnSync("mkfifo", [path.join(dir, "slurm-23.out")]);
  fs.mkdirSync(path.join(dir, "slurm-25.out"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const accounting: Record<string, string> = {
    "21": `21|21|hello|alice|worker1|${dir}/slurm-%j.out|${dir}\n`,
    "22": `22|22|hello|alice|worker1|${dir}/slurm-%j.out|${dir}\n`,
    "23": `23|23|hello|alice|worker1|${dir}/slurm-%j.out|${dir}\n`,
    "24": `24|24|hello|alice|worker1|${dir}/slurm-%j.out|${dir}\n`,
    "25": `25|25|hello|alice|worker1|${dir}/slurm-%j.out|${dir}\n`,
    "26": `26|26|hello||worker1|${dir}/slurm-21.out|${dir}\n`,
  };
  function controller() {
    const calls: { cmd: string[]; user?: string }[] = [];
    const run = async (_c: string, cmd: string[], opts: { user?: string } = {}) => {
      calls.push({ cmd, user: opts.user });
      if (cmd[0] === "sacct") return ran(accounting[cmd[cmd.indexOf("-j") + 1]] ?? "");
      const res = spawnSync(cmd[0], cmd.slice(1), { encoding: "utf8", timeout: 5000 });
      return { code: res.status ?? -1, out: res.stdout, err: res.stderr };
    };
    const cluster = { outputs: { controller: { containerName: "c" } }, engine: { run } } as unknown as Cluster;
    return { cluster, calls, reads: () => calls.filter((c) => c.cmd[0] !== "sacct") };
  }

  it("reads a regular file as the user accounting names, never as root", async () => {
    const { cluster, reads } = controller();
    expect(await readJobOutput(cluster, "21")).toEqual([{ path: `${dir}/slurm-21.out`, text: "hello from 21\n" }]);
    expect(reads().map((c) => c.user)).toEqual(["alice"]);
  });

  it("reads from a byte offset (logs --follow)", async () => {
    const { cluster } = controller();
    const [file] = await outputFiles(cluster, "21");
    expect(file.user).toBe("alice");
    expect(await readFrom(cluster, file, 6)).toBe("from 21\n");
  });

  it("refuses an output file replaced by a symlink to the munge key, without printing the key", async () => {
    const { cluster } = controller();
    const read = readJobOutput(cluster, "22");
    await expect(read).rejects.toThrow(CliError);
    await expect(read).rejects.toThrow(`job 22's output: refused to read ${dir}/slurm-22.out is a symbolic link`);
    await expect(read).rejects.not.toThrow(KEY);
  });

  it("refuses a FIFO or a directory in place of the output file, without hanging", async () => {
    const { cluster } = controller();
    await expect(readJobOutput(cluster, "23")).rejects.toThrow(`refused to read ${dir}/slurm-23.out is not a regular file`);
    await expect(readJobOutput(cluster, "25")).rejects.toThrow(`refused to read ${dir}/slurm-25.out is not a regular file`);
  });

  it("says there is no output file yet when there is none", async () => {
    const { cluster } = controller();
    expect(await readJobOutput(cluster, "24")).toEqual([{ path: `${dir}/slurm-24.out`, text: "(no output file)\n" }]);
  });

  it("reads nothing when accounting names no user, rather than read as root", async () => {
    const { cluster, reads } = controller();
    await expect(readJobOutput(cluster, "26")).rejects.toThrow("accounting names no user for job 26: its output is not read as root");
    expect(reads()).toEqual([]);
  });
});

describe("Slurm output", () => {
  it("reads sinfo's one line per node and partition as one node with its partitions", () => {
    expect(parseSinfoNodes(fixture("sinfo-healthy.txt"))).toEqual([
      { name: "worker1", state: "idle", cpus: 2, memoryMb: 1024, features: ["ubuntu", "amd64"], partitions: ["main", "ubuntu"], reason: "" },
      { name: "worker2", state: "idle", cpus: 2, memoryMb: 1024, features: ["ubuntu", "amd64"], partitions: ["main", "ubuntu"], reason: "" },
    ]);
  });

  it("reads a finished template's accounting and gives the exit code a shell would", () => {
    const records = parseSacct(fixture("sacct-ml-training.txt"));
    expect(records.map((r) => [r.id, r.name, r.state])).toEqual([
      ["13_0", "ml-train", "COMPLETED"], ["13_1", "ml-train", "COMPLETED"], ["13_2", "ml-train", "COMPLETED"], ["13_3", "ml-train", "COMPLETED"], ["14", "ml-select", "COMPLETED"],
    ].sort((a, b) => records.findIndex((r) => r.id === a[0]) - records.findIndex((r) => r.id === b[0])));
    expect(submissionExitCode(records)).toBe(0);
    expect(submissionExitCode([...records, { ...records[0], id: "15", state: "FAILED", exitCode: "3:0" }])).toBe(3);
    expect(jobExitCode({ state: "CANCELLED", exitCode: "0:15" })).toBe(143);
    expect(jobExitCode({ state: "NODE_FAIL", exitCode: "0:0" })).toBe(1);
    expect(parseSacct("20|x|alice|CANCELLED by 1001|0:0|00:00:01|worker1|2026-11-30T03:00:00\n")[0].state).toBe("CANCELLED");
  });

  it("merges the queue over accounting, array tasks in order", () => {
    const queue = parseSqueue("21_1|map|alice|RUNNING|0:03|worker2|2026-11-30T03:00:00\n22|reduce|alice|PENDING|0:00|(Dependency)|2026-11-30T03:00:00\n");
    const acct = parseSacct("21_0|map|alice|COMPLETED|0:0|00:00:01|worker1|x\n21_1|map|alice|PENDING|0:0|00:00:00|None assigned|x\n");
    expect(mergeJobs(queue, acct).map((j) => `${j.id} ${j.state} ${j.nodes}`)).toEqual(["21_0 COMPLETED worker1", "21_1 RUNNING worker2", "22 PENDING (Dependency)"]);
  });

  it("expands the output file patterns sacct reports", () => {
    const job = { id: "13_2", rawId: "16", name: "ml-train", user: "alice", firstNode: "worker2" };
    expect(expandOutputPattern("/shared/home/alice/runs/x/%x-%A_%a.out", job)).toBe("/shared/home/alice/runs/x/ml-train-13_2.out");
    expect(expandOutputPattern("%x-%j.out", { ...job, id: "14", rawId: "14" })).toBe("ml-train-14.out");
    expect(expandOutputPattern("slurm-%5j-%u-%N-%%.out", { ...job, id: "14", rawId: "14" })).toBe("slurm-00014-alice-worker2-%.out");
  });

  it("knows Slurm's time and array formats", () => {
    for (const t of ["10", "10:00", "01:00:00", "1-0", "1-00:30", "1-00:30:00", "UNLIMITED"]) expect(validTimeLimit(t)).toBe(true);
    for (const t of ["ten", "1h", "-5", "1:2:3:4"]) expect(validTimeLimit(t)).toBe(false);
    for (const a of ["0-3", "1,3,5", "0-15:4", "0-15%4", "2"]) expect(validArraySpec(a)).toBe(true);
    for (const a of ["a-b", "0-", "1,,2", "%4"]) expect(validArraySpec(a)).toBe(false);
  });
});

describe("job templates", () => {
  const templates = listTemplates();

  it("are the four the README documents, each with a description", () => {
    expect(templates.map((t) => t.name)).toEqual(["data-pipeline", "hello-nodes", "hpc-simulation", "ml-training"]);
    for (const t of templates) expect(t.description.length).toBeGreaterThan(30);
    const readme = fs.readFileSync(path.join(__dirname, "..", "..", "job-templates", "README.md"), "utf8");
    for (const t of templates) expect(readme).toContain(`\`${t.name}\``);
  });

  it("declare in their #SBATCH header the resources and limits each stage needs", () => {
    for (const t of templates) {
      for (const s of t.stages) {
        expect([t.name, s.name, Object.keys(s.options)]).toEqual([t.name, s.name, expect.arrayContaining(["job-name", "time", "output"])]);
      }
    }
    expect(templateSummary(loadTemplate("hpc-simulation")).stages[0]).toMatchObject({ nodes: "2", ntasks: "1/node", time: "00:10:00" });
    expect(loadTemplate("ml-training").stages.map((s) => [s.name, s.options.array])).toEqual([["1-train", "0-3"], ["2-select", undefined]]);
    expect(loadTemplate("data-pipeline").stages.map((s) => s.name)).toEqual(["1-split", "2-map", "3-reduce"]);
  });

  it("reads #SBATCH options, long and short, up to the first command", () => {
    expect(sbatchOptions("#!/bin/bash\n#SBATCH --nodes=2\n#SBATCH -t 5\n#SBATCH --array 0-3\necho hi\n#SBATCH --mem=1G\n")).toEqual({ nodes: "2", time: "5", array: "0-3" });
  });

  it("turns the command line into sbatch options per stage, refusing what cannot run before anything is submitted", () => {
    const ml = loadTemplate("ml-training");
    const opts = sbatchOverrides(ml, { array: "0-7", mem: "500M", time: "00:20:00" }, 2);
    expect(opts.get("1-train")).toEqual(["--mem=500M", "--time=00:20:00", "--array=0-7"]);
    expect(opts.get("2-select")).toEqual(["--mem=500M", "--time=00:20:00"]);
    const refuse = (o: object, t = ml) => {
      try {
        sbatchOverrides(t, o, 2);
      } catch (err) {
        expect(err).toBeInstanceOf(CliError);
        expect((err as CliError).exitCode).toBe(2);
        return (err as Error).message;
      }
      throw new Error("not refused");
    };
    expect(refuse({ nodes: "3" })).toBe("--nodes 3: the cluster has 2 node(s); nothing submitted");
    expect(refuse({ nodes: "0" })).toMatch(/whole number above 0/);
    expect(refuse({ mem: "lots" })).toMatch(/--mem lots/);
    expect(refuse({ time: "1h" })).toMatch(/--time 1h/);
    expect(refuse({ array: "0-3" }, loadTemplate("hpc-simulation"))).toBe("--array: template hpc-simulation has no job array to resize");
  });

  it("takes a path to the user's own script as a one-stage template", () => {
    const file = path.join(__dirname, "..", "..", "job-templates", "hello-nodes.sbatch");
    expect(resolveTemplate(file).stages).toHaveLength(1);
    expect(runDirName("ml-training", new Date("2026-11-30T03:40:40.123Z"))).toBe("ml-training-20261130-034040");
  });
});
