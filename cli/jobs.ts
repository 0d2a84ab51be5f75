// The job commands: submit a template (its stages chained with afterok) and follow it, list the
// queue and accounting, cancel, read a job's output from the shared volume, and the node
// commands. Everything goes through Slurm's own tools on the controller.
//
// `as` (the CLI's --user) runs the queue and accounting commands as that cluster user instead of
// root, so Slurm decides what they see and may do (PrivateData, a job's owner); undefined is the
// operator's view: root, which sees and may cancel every job.
import type { ExecResult } from "../docker/container-exec";
import { Cluster, asUser, onController, slurm } from "./cluster";
import { CliError } from "./errors";
import {
  JobRecord, SACCT_FORMAT, SINFO_NODE_FORMAT, SQUEUE_FORMAT, SlurmNode, expandOutputPattern, jobEnded, jobExitCode, mergeJobs, parseSacct, parseSinfoNodes,
  parseSqueue, validArraySpec, validMemory, validTimeLimit,
} from "./slurm-text";
import { Template } from "./templates";

interface SubmitOptions {
  nodes?: string;
  cpus?: string;
  mem?: string;
  time?: string;
  array?: string;
}

interface SubmittedStage {
  stage: string;
  jobId: string;
}

interface Submission {
  template: string;
  /** Where the jobs run and write (their working directory, on the shared volume). */
  runDir: string;
  jobs: SubmittedStage[];
}

/** sbatch options from the command line, checked before anything is submitted. */
export function sbatchOverrides(t: Template, opts: SubmitOptions, clusterNodes: number): Map<string, string[]> {
  const positive = (flag: string, v: string | undefined) => {
    if (v !== undefined && !/^[1-9]\d*$/.test(v)) throw new CliError(`--${flag} ${v}: expected a whole number above 0`, 2);
  };
  positive("nodes", opts.nodes);
  positive("cpus", opts.cpus);
  if (opts.nodes !== undefined && Number(opts.nodes) > clusterNodes) {
    throw new CliError(`--nodes ${opts.nodes}: the cluster has ${clusterNodes} node(s); nothing submitted`, 2);
  }
  if (opts.mem !== undefined && !validMemory(opts.mem)) throw new CliError(`--mem ${opts.mem}: expected a size such as 500M or 2G`, 2);
  if (opts.time !== undefined && !validTimeLimit(opts.time)) throw new CliError(`--time ${opts.time}: expected minutes, HH:MM:SS or D-HH:MM:SS`, 2);
  if (opts.array !== undefined && !validArraySpec(opts.array)) throw new CliError(`--array ${opts.array}: expected indexes such as 0-7, 1,3,5 or 0-15%4`, 2);
  const arrayStages = t.stages.filter((s) => s.options.array !== undefined);
  if (opts.array !== undefined && arrayStages.length !== 1) {
    throw new CliError(`--array: template ${t.name} has ${arrayStages.length === 0 ? "no job array" : "several job arrays"} to resize`, 2);
  }
  const common = [
    ...(opts.nodes ? [`--nodes=${opts.nodes}`] : []),
    ...(opts.cpus ? [`--cpus-per-task=${opts.cpus}`] : []),
    ...(opts.mem ? [`--mem=${opts.mem}`] : []),
    ...(opts.time ? [`--time=${opts.time}`] : []),
  ];
  return new Map(t.stages.map((s) => [s.name, [...common, ...(opts.array && s.options.array !== undefined ? [`--array=${opts.array}`] : [])]]));
}

/** A run directory name that sorts by time: <template>-YYYYMMDD-HHMMSS. */
export function runDirName(template: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${template}-${stamp}`;
}

export async function clusterNodes(cluster: Cluster): Promise<SlurmNode[]> {
  return parseSinfoNodes(await slurm(cluster, ["sinfo", "-N", "-h", "-o", SINFO_NODE_FORMAT]));
}

/**
 * Submits each stage of the template from a new run directory under the user's home, each after
 * the one before succeeded. When a stage is refused, the stages already queued are cancelled:
 * a template runs whole or not at all.
 */
export async function submit(cluster: Cluster, t: Template, opts: SubmitOptions, now = new Date()): Promise<Submission> {
  const overrides = sbatchOverrides(t, opts, (await clusterNodes(cluster)).length);
  const runDir = `${cluster.home}/runs/${runDirName(t.name, now)}`;
  const mk = await asUser(cluster, ["mkdir", "-p", runDir]);
  if (mk.code !== 0) throw new CliError(`cannot create ${runDir}: ${mk.err.trim()}`, 1);
  const jobs: SubmittedStage[] = [];
  for (const stage of t.stages) {
    const previous = jobs[jobs.length - 1];
    const args = ["sbatch", "--parsable", `--chdir=${runDir}`, ...(previous ? [`--dependency=afterok:${previous.jobId}`] : []), ...overrides.get(stage.name)!];
    const res = await asUser(cluster, args, { input: stage.script, workdir: runDir });
    if (res.code !== 0) {
      if (jobs.length > 0) await onController(cluster, ["scancel", ...jobs.map((j) => j.jobId)]);
      const undone = jobs.length > 0 ? ` (cancelled the stages already queued: ${jobs.map((j) => j.jobId).join(", ")})` : "";
      throw new CliError(`${stage.name}: ${res.err.trim().replace(/^sbatch: error: /gm, "") || `sbatch exit ${res.code}`}${undone}`, 1);
    }
    jobs.push({ stage: stage.name, jobId: res.out.trim().split(";")[0] });
  }
  return { template: t.name, runDir, jobs };
}

/** Runs the queue and accounting commands as `as`, or as root when undefined. */
const viewAs = (as: string | undefined) => (as === undefined ? {} : { user: as });

/** Accounting's and the queue's view of the given jobs (array tasks one line each), as root or `as`. */
async function jobRecords(cluster: Cluster, ids: string[], as?: string): Promise<JobRecord[]> {
  return (await jobViews(cluster, ids, as)).merged;
}

async function jobViews(cluster: Cluster, ids: string[], as?: string) {
  const [acct, queue] = await Promise.all([
    onController(cluster, ["sacct", "-X", "-n", "-P", "-j", ids.join(","), "-o", SACCT_FORMAT], viewAs(as)),
    onController(cluster, ["squeue", "-h", "-r", "-j", ids.join(","), "-o", SQUEUE_FORMAT], viewAs(as)),
  ]);
  // squeue exits 1 ("Invalid job id") once none of the jobs is in slurmctld any more.
  const queued = queue.code === 0 ? parseSqueue(queue.out) : [];
  return { merged: mergeJobs(queued, acct.code === 0 ? parseSacct(acct.out) : []), queued, accountingError: acct.code === 0 ? undefined : acct.err.trim() };
}

/**
 * Follows the jobs until every one (and every array task) has ended, telling `progress` each
 * change of state; resolves to their final records.
 */
export async function waitForJobs(cluster: Cluster, ids: string[], progress: (line: string) => void, pollMs = 2000, accountingGraceMs = 60000): Promise<JobRecord[]> {
  const seen = new Map<string, string>();
  let leftQueueAt: number | undefined;
  for (;;) {
    const { merged: records, queued, accountingError } = await jobViews(cluster, ids);
    for (const r of records) {
      const line = `${r.state}${r.state === "PENDING" ? ` (${r.nodes})` : r.nodes && r.nodes !== "None assigned" ? ` on ${r.nodes}` : ""}`;
      if (seen.get(r.id) !== line) {
        seen.set(r.id, line);
        progress(`job ${r.id} ${r.name}: ${line}`);
      }
    }
    // Done when each submitted job has accounting records and none of them is still live.
    const covered = ids.every((id) => records.some((r) => r.id === id || r.id.startsWith(`${id}_`)));
    if (covered && records.every((r) => jobEnded(r.state))) return records;
    // Out of the queue, but accounting does not say how they ended (slurmdbd or its database
    // away): say so rather than wait for ever; slurmctld sends the records once it is back.
    leftQueueAt = queued.length > 0 ? undefined : (leftQueueAt ?? Date.now());
    if (leftQueueAt !== undefined && Date.now() - leftQueueAt > accountingGraceMs) {
      throw new CliError(
        `jobs ${ids.join(", ")} have left the queue but accounting has not recorded how they ended` +
          `${accountingError ? ` (${accountingError})` : ""}: see slurm-cluster health (slurmdbd); slurm-cluster jobs shows them once it has`,
        1,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** The exit code of a finished submission: the first failing job's, 0 when all completed. */
export function submissionExitCode(records: JobRecord[]): number {
  const failed = records.find((r) => r.state !== "COMPLETED");
  return failed ? jobExitCode(failed) : 0;
}

/**
 * The queue plus accounting: jobs ended in the last day, or all of them. As root every user's
 * jobs; as a user (`as`), what Slurm shows them: `sacct -a` lists every user's jobs only where
 * PrivateData does not hide them, and squeue likewise.
 */
export async function listJobs(cluster: Cluster, all: boolean, as?: string): Promise<JobRecord[]> {
  const since = all ? "1970-01-01" : "now-1days";
  const [acct, queue] = await Promise.all([
    onController(cluster, ["sacct", "-X", "-a", "-n", "-P", "-S", since, "-o", SACCT_FORMAT], viewAs(as)),
    onController(cluster, ["squeue", "-h", "-r", "-o", SQUEUE_FORMAT], viewAs(as)),
  ]);
  if (queue.code !== 0) throw new CliError(`squeue: ${queue.err.trim()}`, 1);
  if (acct.code !== 0) process.stderr.write(`warning: accounting unavailable (${acct.err.trim()}); showing the queue only\n`);
  return mergeJobs(parseSqueue(queue.out), acct.code === 0 ? parseSacct(acct.out) : []);
}

function checkJobId(id: string): void {
  if (!/^\d+(_\d+)?$/.test(id)) throw new CliError(`${id}: expected a job id such as 42 or 42_3`, 2);
}

/**
 * What Slurm knows of a job id (as root, or as `as`); a clear error when it knows nothing. Under
 * PrivateData=jobs a user is not shown another user's job: for them that job does not exist.
 */
async function findJob(cluster: Cluster, id: string, as?: string): Promise<JobRecord[]> {
  checkJobId(id);
  const records = await jobRecords(cluster, [id], as);
  if (records.length === 0) throw new CliError(as === undefined ? `no job ${id} in the queue or in accounting` : `${as} has no job ${id} in the queue or in accounting`, 1);
  return records;
}

/** Slurm's complaint as one line, without the `<command>: error: ` prefixes. */
function slurmRefusal(res: ExecResult, command: string): string {
  const lines = (res.err || res.out).split("\n").map((l) => l.trim().replace(new RegExp(`^${command}: (error: )?`), "")).filter(Boolean);
  return lines.join("; ") || `exit ${res.code}`;
}

/**
 * Cancels a job, as root or as `as`. As a user, scancel runs as them, so Slurm decides: their own
 * job is cancelled, another user's is refused with Slurm's reason. A job they cannot see (another
 * user's under PrivateData) is left to scancel to refuse too.
 */
export async function cancelJob(cluster: Cluster, id: string, as?: string): Promise<JobRecord[]> {
  if (as === undefined) {
    const records = await findJob(cluster, id);
    const live = records.filter((r) => !jobEnded(r.state));
    if (live.length === 0) throw new CliError(`job ${id} has already ended (${records.map((r) => `${r.id} ${r.state}`).join(", ")})`, 1);
    await slurm(cluster, ["scancel", id]);
    return live;
  }
  checkJobId(id);
  const records = await jobRecords(cluster, [id], as);
  const live = records.filter((r) => !jobEnded(r.state));
  if (records.length > 0 && live.length === 0) throw new CliError(`job ${id} has already ended (${records.map((r) => `${r.id} ${r.state}`).join(", ")})`, 1);
  const res = await onController(cluster, ["scancel", id], { user: as });
  // scancel exits 1 on a refusal; its "error:" lines are taken as one even if a version exits 0.
  if (res.code !== 0 || /\berror:/.test(res.err)) throw new CliError(`scancel as ${as}: ${slurmRefusal(res, "scancel")}`, 1);
  return live;
}

interface JobOutputFile {
  jobId: string;
  path: string;
  /** The job's user, from accounting: the file is read as them. */
  user: string;
}

/**
 * The output file of a job (each task's, for an array), from accounting's StdOut and WorkDir. With
 * `as`, accounting is asked as that user and a job that is not theirs is refused: its output is
 * then read as them, never as another user.
 */
export async function outputFiles(cluster: Cluster, id: string, as?: string): Promise<JobOutputFile[]> {
  checkJobId(id);
  const out = await slurm(cluster, ["sacct", "-X", "-n", "-P", "-j", id, "-o", "JobID,JobIDRaw,JobName,User,NodeList,StdOut,WorkDir"], viewAs(as));
  // Nothing in accounting yet: either the job is only in the queue (no file to name) or there is none.
  if (!out.trim()) return findJob(cluster, id, as).then(() => []);
  const files = out
    .split("\n")
    .filter((l) => l.trim())
    .map((line) => {
      const [jobId, rawId, name, user, nodeList, stdout, workDir] = line.split("|");
      const firstNode = nodeList.replace(/\[(\d+).*$/, "$1").split(",")[0];
      const file = expandOutputPattern(stdout || "slurm-%j.out", { id: jobId, rawId, name, user, firstNode });
      return { jobId, path: file.startsWith("/") ? file : `${workDir}/${file}`, user };
    })
    .filter((f) => !f.jobId.includes("[")); // a pending array's summary line has no file yet
  const other = as === undefined ? undefined : files.find((f) => f.user !== as);
  if (other) throw new CliError(`job ${id} is ${other.user ? `${other.user}'s` : "no user's in accounting"}, not ${as}'s: with --user ${as}, only ${as}'s own jobs' output is read`, 1);
  return files;
}

/**
 * Reads a job's output from a byte offset, run as the job's user: exit 3 refuses a symlink or
 * anything else that is not a regular file, exit 4 says there is no file (yet). The open itself
 * follows no symlink (dd iflag=nofollow), so swapping the file after the test gains nothing, and
 * nonblock keeps a FIFO swapped in from hanging the read.
 */
const READ_OUTPUT_SCRIPT = [
  'if [ -L "$1" ]; then echo "$1 is a symbolic link" >&2; exit 3; fi',
  'if [ ! -e "$1" ]; then exit 4; fi',
  'if [ ! -f "$1" ]; then echo "$1 is not a regular file" >&2; exit 3; fi',
  'exec dd if="$1" iflag=nofollow,nonblock,skip_bytes skip="$2" bs=65536 status=none',
].join("\n");

/**
 * A job's output file from a byte offset (undefined while there is none), read on the controller
 * as the user the job ran as, never as root: a path the user controls (a symlink to the munge key,
 * --output=/etc/...) gives only what that user may read, and only from a regular file.
 */
export async function readFrom(cluster: Cluster, file: JobOutputFile, offset: number): Promise<string | undefined> {
  if (!file.user) throw new CliError(`accounting names no user for job ${file.jobId}: its output is not read as root`, 1);
  const res = await onController(cluster, ["sh", "-c", READ_OUTPUT_SCRIPT, "read-job-output", file.path, String(offset)], { user: file.user });
  if (res.code === 0) return res.out;
  if (res.code === 4) return undefined;
  const why = (res.err || res.out).trim() || `exit ${res.code}`;
  if (res.code === 3) throw new CliError(`job ${file.jobId}'s output: refused to read ${why}`, 1);
  throw new CliError(`job ${file.jobId}'s output: cannot read ${file.path} as ${file.user}: ${why}`, 1);
}

/** Every output file of a job, read whole ("(no output file)" for one not written yet); `as` as in outputFiles. */
export async function readJobOutput(cluster: Cluster, id: string, as?: string): Promise<{ path: string; text: string }[]> {
  const files = await outputFiles(cluster, id, as);
  return Promise.all(files.map(async (f) => ({ path: f.path, text: (await readFrom(cluster, f, 0)) ?? "(no output file)\n" })));
}

/** Writes a job's output as it grows, until the job has ended and nothing more came; `as` as in outputFiles. */
export async function followJobOutput(cluster: Cluster, id: string, write: (text: string) => void, as?: string, pollMs = 1000): Promise<void> {
  const offsets = new Map<string, number>();
  for (;;) {
    const ended = (await findJob(cluster, id, as)).every((r) => jobEnded(r.state));
    for (const f of await outputFiles(cluster, id, as)) {
      const text = await readFrom(cluster, f, offsets.get(f.path) ?? 0);
      if (text) {
        write(text);
        offsets.set(f.path, (offsets.get(f.path) ?? 0) + Buffer.byteLength(text));
      }
    }
    if (ended) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export async function drainNode(cluster: Cluster, node: string, reason: string): Promise<void> {
  await requireNode(cluster, node);
  if (!reason.trim()) throw new CliError("drain needs --reason: Slurm records why a node was taken out", 2);
  await slurm(cluster, ["scontrol", "update", `NodeName=${node}`, "State=DRAIN", `Reason=${reason}`]);
}

export async function resumeNode(cluster: Cluster, node: string): Promise<void> {
  await requireNode(cluster, node);
  await slurm(cluster, ["scontrol", "update", `NodeName=${node}`, "State=RESUME"]);
}

async function requireNode(cluster: Cluster, node: string): Promise<void> {
  const nodes = await clusterNodes(cluster);
  if (!nodes.some((n) => n.name === node)) throw new CliError(`no node ${node} in the cluster (nodes: ${nodes.map((n) => n.name).join(", ")})`, 1);
}
