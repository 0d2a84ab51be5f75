// slurm-cluster: the operator's command line (npx slurm-cluster <command>; README "Operating the
// cluster"). Arguments are parsed by commander; every read command has --json with the shapes
// documented in the README. Exit codes: 0 done, 1 failed (a check, a job, a missing stack), 2 the
// command line is wrong; `submit --wait` ends with the job's own exit code.
//
// Each command loads what it uses when it runs (`await import`): dockerode, the Pulumi SDK and the
// local runner are not loaded for `templates` or `--help`, nor the Pulumi SDK to read a cluster.
import { Command, CommanderError, Option } from "commander";
import type { Cluster } from "./cluster";
import { CliError } from "./errors";
import { printJson, table, withProgress } from "./output";
import type { JobRecord } from "./slurm-text";
import { listTemplates, resolveTemplate, templateSummary } from "./templates";

const DEFAULT_STACK = process.env.SLURM_CLUSTER_STACK || "ubuntu";

/** The exit code the command asks for (set by commands that end with a verdict). */
let exitCode = 0;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function stackOption(): Option {
  return new Option("-s, --stack <stack>", "the stack whose cluster to use").default(DEFAULT_STACK).env("SLURM_CLUSTER_STACK");
}

function userOption(what: string): Option {
  return new Option("-u, --user <name>", `${what}; one of the stack's users (slurm-cluster:users), checked before anything runs`);
}

/** The stack's cluster, as `user` when given: a name that is not one of its users is refused here. */
async function cluster(stack: string, user?: string): Promise<Cluster> {
  const { asClusterUser, openCluster } = await import("./cluster");
  return asClusterUser(await openCluster(stack, (line) => process.stderr.write(`${line}\n`)), user);
}

function jobRows(jobs: JobRecord[]): string {
  return table(
    ["JOB", "NAME", "USER", "STATE", "EXIT", "ELAPSED", "NODES / REASON"],
    jobs.map((j) => [j.id, j.name, j.user, j.state, j.exitCode, j.elapsed, j.nodes]),
  );
}

export function buildProgram(): Command {
  const program = new Command("slurm-cluster")
    .description("Operate the Slurm cluster a slurm-cluster stack runs: deploy, check, submit and follow jobs.")
    .exitOverride();

  program
    .command("up")
    .description("deploy the stack (pulumi up through the Automation API when the pulumi CLI is installed, else the local runner)")
    .argument("[stack]", "stack name", DEFAULT_STACK)
    .option("-c, --config <key=value>", "config override, repeatable", collect, [])
    .option("--refresh", "read the engine's real state first (repairs what was removed or stopped)", false)
    .option("--show-secrets", "print secret outputs in plain text", false)
    .action(async (stack: string, o: { config: string[]; refresh: boolean; showSecrets: boolean }) => {
      const { stackUp } = await import("./stacks");
      const outputs = await withProgress(`deploying ${stack}`, (p) => stackUp(stack, { overrides: o.config, refresh: o.refresh, progress: p.update }, o.showSecrets));
      printJson(outputs);
    });

  program
    .command("down")
    .description("destroy the stack's resources (retained volumes kept unless --volumes)")
    .argument("[stack]", "stack name", DEFAULT_STACK)
    .option("--volumes", "also remove the volumes: job history, queue state and home directories are lost", false)
    .action(async (stack: string, o: { volumes: boolean }) => {
      const { stackDown } = await import("./stacks");
      await withProgress(`destroying ${stack}`, (p) => stackDown(stack, o.volumes, p.update));
    });

  program
    .command("outputs")
    .description("the stack's outputs as JSON (pulumi stack output --json)")
    .argument("[stack]", "stack name", DEFAULT_STACK)
    .option("--show-secrets", "print secret outputs in plain text", false)
    .action(async (stack: string, o: { showSecrets: boolean }) => {
      const { stackOutputs } = await import("./stacks");
      printJson(await stackOutputs(stack, o.showSecrets));
    });

  program
    .command("health")
    .description("check every layer (containers, munge, slurmctld, slurmdbd, database, nodes, Prometheus); exit 0 only if all pass")
    .argument("[stack]", "stack name", DEFAULT_STACK)
    .option("--json", "print the checks as JSON", false)
    .action(async (stack: string, o: { json: boolean }) => {
      const { runHealth } = await import("./health");
      const c = await cluster(stack);
      const results = await withProgress("checking", (p) => runHealth(c, (check) => p.update(`checking ${check}`)));
      const healthy = results.every((r) => r.status !== "fail");
      if (o.json) printJson({ stack: c.stack, healthy, checks: results });
      else {
        process.stdout.write(table(["CHECK", "STATUS", "DETAIL"], results.map((r) => [r.check, r.status.toUpperCase(), r.fix ? `${r.detail}\nfix: ${r.fix}` : r.detail]), [21, 8, 90]) + "\n");
        const named = (status: string) => results.filter((r) => r.status === status).map((r) => r.check).join(", ");
        const pending = named("pending") ? ` (not known yet, not failed: ${named("pending")})` : "";
        process.stdout.write(healthy ? `cluster ${c.outputs.clusterName} is healthy${pending}\n` : `cluster ${c.outputs.clusterName} is NOT healthy: ${named("fail")}\n`);
      }
      exitCode = healthy ? 0 : 1;
    });

  program
    .command("submit")
    .description("submit a template (see `templates`) or a batch script, as the stack's first user (or --user), from a new run directory in their home")
    .argument("<template>", "template name, or path to an .sbatch file")
    .addOption(stackOption())
    .addOption(userOption("submit as this user (default: the stack's first user)"))
    .option("--nodes <n>", "nodes per job (sbatch --nodes)")
    .option("--cpus <n>", "CPUs per task (sbatch --cpus-per-task)")
    .option("--mem <size>", "memory per node, e.g. 500M (sbatch --mem)")
    .option("--time <limit>", "time limit, e.g. 00:10:00 (sbatch --time)")
    .option("--array <spec>", "job array indexes for the template's array stage, e.g. 0-7")
    .option("--wait", "follow the jobs until they end; exit with the job's exit code", false)
    .option("--json", "print the submission (and with --wait the jobs' records) as JSON", false)
    .action(async (name: string, o: { stack: string; user?: string; nodes?: string; cpus?: string; mem?: string; time?: string; array?: string; wait: boolean; json: boolean }) => {
      const template = resolveTemplate(name);
      const { readJobOutput, submissionExitCode, submit, waitForJobs } = await import("./jobs");
      const c = await cluster(o.stack, o.user);
      const submission = await submit(c, template, o);
      const ids = submission.jobs.map((j) => j.jobId);
      if (!o.json) {
        process.stdout.write(`submitted ${template.name} as ${c.user ?? "root"}: ${submission.jobs.map((j) => `job ${j.jobId} (${j.stage})`).join(", ")}\nrun directory: ${submission.runDir}\n`);
      }
      if (!o.wait) {
        if (o.json) printJson(submission);
        return;
      }
      const records = await withProgress(`waiting for ${ids.join(", ")}`, (p) => waitForJobs(c, ids, p.note));
      exitCode = submissionExitCode(records);
      const lastJob = submission.jobs[submission.jobs.length - 1].jobId;
      const output = await readJobOutput(c, exitCode === 0 ? lastJob : failedJobId(records) ?? lastJob);
      if (o.json) printJson({ ...submission, exitCode, records, output });
      else {
        process.stdout.write(output.map((f) => `==> ${f.path} <==\n${f.text}`).join("\n"));
        process.stdout.write(jobRows(records) + "\n");
      }
    });

  program
    .command("jobs")
    .description("the queue and the jobs accounting recorded in the last day: every user's (the operator's view, as root), or with --user what that user sees")
    .addOption(stackOption())
    .addOption(userOption("run squeue and sacct as this user, so Slurm's PrivateData decides what is shown (default: root, every user's jobs)"))
    .option("--all", "every job in accounting, not only the last day's", false)
    .option("--json", "print the jobs as JSON", false)
    .action(async (o: { stack: string; user?: string; all: boolean; json: boolean }) => {
      const { listJobs } = await import("./jobs");
      const jobs = await listJobs(await cluster(o.stack, o.user), o.all, o.user);
      if (o.json) printJson({ jobs });
      else process.stdout.write(jobs.length ? jobRows(jobs) + "\n" : "no jobs\n");
    });

  program
    .command("cancel")
    .description("cancel a job (or a whole array, or one task: 42_3), as root (any job) or with --user as that user (Slurm refuses another user's job)")
    .argument("<job>", "job id")
    .addOption(stackOption())
    .addOption(userOption("run scancel as this user (default: root, which may cancel any job)"))
    .action(async (id: string, o: { stack: string; user?: string }) => {
      const { cancelJob } = await import("./jobs");
      const live = await cancelJob(await cluster(o.stack, o.user), id, o.user);
      process.stdout.write(`cancelled ${live.length ? live.map((j) => `${j.id} (${j.state})`).join(", ") : id}${o.user ? ` as ${o.user}` : ""}\n`);
    });

  program
    .command("logs")
    .description("a job's output, read from the shared volume as the job's user")
    .argument("<job>", "job id (an array shows every task's output)")
    .addOption(stackOption())
    .addOption(userOption("only this user's job: accounting is asked as them, and another user's job is refused (default: any job, read as its own user)"))
    .option("-f, --follow", "keep printing new output until the job ends", false)
    .action(async (id: string, o: { stack: string; user?: string; follow: boolean }) => {
      const { followJobOutput, readJobOutput } = await import("./jobs");
      const c = await cluster(o.stack, o.user);
      if (o.follow) await followJobOutput(c, id, (text) => process.stdout.write(text), o.user);
      else {
        const files = await readJobOutput(c, id, o.user);
        if (files.length === 1) process.stdout.write(files[0].text);
        else process.stdout.write(files.map((f) => `==> ${f.path} <==\n${f.text}`).join("\n"));
      }
    });

  program
    .command("token")
    .description("print a JSON Web Token for the REST API (slurmrestd) naming a cluster user, minted by slurmctld")
    .addOption(stackOption())
    .addOption(userOption("whom the token names (default: the stack's first user)"))
    .option("--lifespan <seconds>", "how long the token is valid, in whole seconds from 60 to 31536000", "3600")
    .addHelpText(
      "after",
      "\nRuns `scontrol token username=<user> lifespan=<seconds>` on the controller as root (only root or\n" +
        "SlurmUser may ask for another user's token) and prints the token alone on stdout:\n\n" +
        "  export SLURM_JWT=$(slurm-cluster token --user alice)\n\n" +
        "then send it as X-SLURM-USER-TOKEN with X-SLURM-USER-NAME: alice to the stack's rest.url (README, REST API).\n",
    )
    .action(async (o: { stack: string; user?: string; lifespan: string }) => {
      const { restToken, tokenLifespan } = await import("./token");
      const lifespan = tokenLifespan(o.lifespan);
      const c = await cluster(o.stack, o.user);
      if (!c.user) throw new CliError(`stack ${c.stack} has no users: a token names one (slurm-cluster:users)`, 1);
      process.stdout.write(`${await restToken(c, c.user, lifespan)}\n`);
    });

  program
    .command("nodes")
    .description("the nodes: state, CPUs, memory, features, partitions")
    .addOption(stackOption())
    .option("--json", "print the nodes as JSON", false)
    .action(async (o: { stack: string; json: boolean }) => {
      const { clusterNodes } = await import("./jobs");
      const nodes = await clusterNodes(await cluster(o.stack));
      if (o.json) printJson({ nodes });
      else {
        process.stdout.write(
          table(["NODE", "STATE", "CPUS", "MEMORY MB", "FEATURES", "PARTITIONS", "REASON"], nodes.map((n) => [n.name, n.state, n.cpus, n.memoryMb, n.features.join(","), n.partitions.join(","), n.reason])) + "\n",
        );
      }
    });

  program
    .command("drain")
    .description("stop scheduling on a node; running jobs finish")
    .argument("<node>", "node name")
    .requiredOption("--reason <text>", "why (Slurm records it)")
    .addOption(stackOption())
    .action(async (node: string, o: { stack: string; reason: string }) => {
      const { drainNode } = await import("./jobs");
      await drainNode(await cluster(o.stack), node, o.reason);
      process.stdout.write(`${node} draining: ${o.reason}\n`);
    });

  program
    .command("resume")
    .description("return a drained or down node to service")
    .argument("<node>", "node name")
    .addOption(stackOption())
    .action(async (node: string, o: { stack: string }) => {
      const { resumeNode } = await import("./jobs");
      await resumeNode(await cluster(o.stack), node);
      process.stdout.write(`${node} resumed\n`);
    });

  program
    .command("backup")
    .description("write the cluster's job history, queue state and config to one archive (slurmctld pauses for the copy)")
    .argument("[stack]", "stack name", DEFAULT_STACK)
    .option("--to <dir>", "where to write the archive", "backups")
    .action(async (stack: string, o: { to: string }) => {
      const { backup } = await import("./backup");
      const c = await cluster(stack);
      const file = await withProgress("backing up", (p) => backup(c, o.to, p.update));
      process.stdout.write(`${file}\n`); // the last line is the archive's path
    });

  program
    .command("restore")
    .description("put an archive's job history and queue state into the stack's cluster (a fresh one, unless --force)")
    .argument("<stack>", "stack name")
    .argument("<archive>", "a backup's .tar.gz")
    .option("--force", "replace the cluster's existing job history", false)
    .action(async (stack: string, archive: string, o: { force: boolean }) => {
      const { restore } = await import("./backup");
      const c = await cluster(stack);
      const result = await withProgress("restoring", (p) => restore(c, archive, o.force, p.update));
      process.stdout.write(`restored ${result.jobs} job(s) into cluster ${c.outputs.clusterName}; job ids continue after ${result.lastJobId}\n`);
    });

  program
    .command("templates")
    .description("the job templates: name, description, resources")
    .option("--json", "print the templates as JSON", false)
    .action((o: { json: boolean }) => {
      const templates = listTemplates().map(templateSummary);
      if (o.json) printJson({ templates });
      else {
        process.stdout.write(
          table(
            ["TEMPLATE", "STAGE", "NODES", "TASKS", "CPUS/TASK", "MEM", "TIME", "ARRAY", "DESCRIPTION"],
            templates.flatMap((t) => t.stages.map((s, i) => [i === 0 ? t.name : "", s.name, s.nodes, s.ntasks, s.cpusPerTask, s.mem, s.time, s.array, i === 0 ? wrap(t.description, 60) : ""])),
          ) + "\n",
        );
      }
    });

  return program;
}

function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join("\n");
}

function failedJobId(records: JobRecord[]): string | undefined {
  return records.find((r) => r.state !== "COMPLETED" && r.state !== "CANCELLED")?.id;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // commander printed the message
    if (err instanceof CliError) {
      process.stderr.write(`error: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
