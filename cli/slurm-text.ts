// Slurm's command output, read into the shapes the CLI prints (and documents for --json). Pure
// functions: each command's text is asked for in a fixed, pipe-separated format (the *_FORMAT
// constants) so parsing does not depend on column widths.

export interface SlurmNode {
  name: string;
  /** Slurm's state, lower case, with its flags: idle, mixed, allocated, down*, drained, ... */
  state: string;
  cpus: number;
  memoryMb: number;
  features: string[];
  partitions: string[];
  /** Why the node is down or drained; empty when it is not. */
  reason: string;
}

/** sinfo -N -h -o SINFO_NODE_FORMAT: one line per node and partition. */
export const SINFO_NODE_FORMAT = "%N|%t|%c|%m|%f|%P|%E";

export function parseSinfoNodes(text: string): SlurmNode[] {
  const nodes = new Map<string, SlurmNode>();
  for (const line of text.split("\n").filter((l) => l.trim())) {
    const [name, state, cpus, memory, features, partition, reason] = line.split("|");
    const known = nodes.get(name);
    const part = partition.replace(/\*$/, "");
    if (known) {
      if (!known.partitions.includes(part)) known.partitions.push(part);
      continue;
    }
    nodes.set(name, {
      name,
      state,
      cpus: Number(cpus),
      memoryMb: Number(memory),
      features: features && features !== "(null)" ? features.split(",") : [],
      partitions: [part],
      reason: reason && reason !== "none" ? reason : "",
    });
  }
  return [...nodes.values()].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
}

/** States in which a node takes jobs (sinfo's short names; a trailing * means not responding). */
export function nodeUsable(state: string): boolean {
  return /^(idle|mix|alloc|comp)$/.test(state);
}

export interface JobRecord {
  id: string;
  name: string;
  user: string;
  state: string;
  /** "code:signal" as Slurm prints it. */
  exitCode: string;
  elapsed: string;
  /** The nodes it ran on, or why it waits (squeue's reason) while pending. */
  nodes: string;
  submitted: string;
}

/** sacct -X -n -P -o SACCT_FORMAT */
export const SACCT_FORMAT = "JobID,JobName,User,State,ExitCode,Elapsed,NodeList,Submit";

export function parseSacct(text: string): JobRecord[] {
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((line) => {
      const [id, name, user, state, exitCode, elapsed, nodes, submitted] = line.split("|");
      // "CANCELLED by 1001" -> CANCELLED: the reason is not part of the state.
      return { id, name, user, state: state.split(" ")[0], exitCode, elapsed, nodes, submitted };
    });
}

/** squeue -h -o SQUEUE_FORMAT (array tasks one per line with -r). */
export const SQUEUE_FORMAT = "%i|%j|%u|%T|%M|%R|%V";

export function parseSqueue(text: string): JobRecord[] {
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((line) => {
      const [id, name, user, state, elapsed, nodesOrReason, submitted] = line.split("|");
      return { id, name, user, state, exitCode: "", elapsed, nodes: nodesOrReason, submitted };
    });
}

/** Queue and accounting together: one line per job (array task), the queue's view winning while a job is live. */
export function mergeJobs(queue: JobRecord[], accounting: JobRecord[]): JobRecord[] {
  const byId = new Map<string, JobRecord>();
  for (const j of accounting) byId.set(j.id, j);
  for (const j of queue) byId.set(j.id, { ...byId.get(j.id), ...j, exitCode: byId.get(j.id)?.exitCode ?? "" });
  return [...byId.values()].sort((a, b) => compareJobIds(a.id, b.id));
}

function compareJobIds(a: string, b: string): number {
  const [aj, at = "-1"] = a.split("_");
  const [bj, bt = "-1"] = b.split("_");
  return Number(aj) - Number(bj) || Number(at) - Number(bt) || a.localeCompare(b);
}

/** States a job does not leave. */
export function jobEnded(state: string): boolean {
  return !/^(PENDING|RUNNING|REQUEUED|RESIZING|SUSPENDED|COMPLETING|CONFIGURING|STAGE_OUT|SIGNALING|REQUEUE_HOLD|REQUEUE_FED|RESV_DEL_HOLD|SPECIAL_EXIT|STOPPED)$/.test(state);
}

/** The exit code a shell would give a job: its code, 128 + signal when killed, 1 when it ended badly with neither. */
export function jobExitCode(job: Pick<JobRecord, "state" | "exitCode">): number {
  const [code, signal] = job.exitCode.split(":").map(Number);
  if (code > 0) return code;
  if (signal > 0) return 128 + signal;
  return job.state === "COMPLETED" ? 0 : 1;
}

/** A job's StdOut as sacct gives it (with its % patterns), for one job or array task. */
export function expandOutputPattern(pattern: string, job: { id: string; rawId: string; name: string; user: string; firstNode: string }): string {
  const [jobId, task] = job.id.split("_");
  const values: Record<string, string> = {
    "%": "%",
    A: jobId,
    a: task ?? "4294967294",
    j: job.rawId, // an array task's own job id (JobIDRaw), not its array's
    J: job.rawId,
    x: job.name,
    u: job.user,
    N: job.firstNode,
  };
  return pattern.replace(/%(\d*)([%AajJxuN])/g, (_m, width: string, key: string) => {
    const v = values[key];
    return width && /^\d+$/.test(v) ? v.padStart(Number(width), "0") : v;
  });
}

/** Slurm's time limit formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or UNLIMITED. */
export function validTimeLimit(value: string): boolean {
  return /^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE)$/i.test(value);
}

/** A memory size as sbatch --mem takes it: a number with an optional K, M, G or T suffix. */
export function validMemory(value: string): boolean {
  return /^\d+[KMGT]?$/i.test(value);
}

/** An array spec: indexes and ranges (with an optional :step), separated by commas, optional %limit. */
export function validArraySpec(value: string): boolean {
  return /^(\d+(-\d+(:\d+)?)?)(,\d+(-\d+(:\d+)?)?)*(%\d+)?$/.test(value);
}
