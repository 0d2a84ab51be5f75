// Small helpers for the end-to-end suite: run the user-facing commands, ask Slurm through
// `docker exec`, and poll for events instead of sleeping for fixed times.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { poll } from "../../cli/poll";
import { PROJECT_ROOT } from "../../local-runner/program";
import { spawn } from "child_process";

/** Grafana's official image cannot be pulled on the build machine (no registry): e2e runs leave it off. */
export const NO_GRAFANA = ["-c", "grafana=false"];

/**
 * Runs a command that may take `-c key=value`, which is saved into Pulumi.<stack>.yaml as
 * `pulumi up -c` does; each e2e call states the whole configuration it wants, so the stack files
 * are put back as committed afterwards and one test's settings do not leak into the next.
 */
export function keepingStackFiles<T>(run: () => T): T {
  const files = fs.readdirSync(PROJECT_ROOT).filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f) && f !== "Pulumi.yaml");
  const saved = new Map(files.map((f) => [f, fs.readFileSync(path.join(PROJECT_ROOT, f), "utf8")]));
  try {
    return run();
  } finally {
    for (const [f, text] of saved) fs.writeFileSync(path.join(PROJECT_ROOT, f), text);
  }
}

/** Environment changes for a command: a value replaces the variable, undefined unsets it. */
export type EnvChanges = Record<string, string | undefined>;

/** This process's environment with `changes` made. */
export function changedEnv(changes: EnvChanges = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/**
 * Runs an npm script the way a user would; returns stdout and stderr, throws with stderr on failure.
 * `env`: changes to this process's environment for it (e.g. what an ssh:// or TLS engine needs).
 */
export function npmRunFull(script: string, args: string[], env?: EnvChanges): { stdout: string; stderr: string } {
  const res = keepingStackFiles(() =>
    spawnSync("npm", ["run", "-s", script, "--", ...args], { cwd: PROJECT_ROOT, encoding: "utf8", maxBuffer: 64 << 20, env: changedEnv(env) }),
  );
  process.stderr.write(res.stderr);
  if (res.status !== 0) throw new Error(`npm run ${script} ${args.join(" ")} failed (${res.status}):\n${res.stderr}`);
  return { stdout: res.stdout, stderr: res.stderr };
}

/** Runs an npm script the way a user would; returns stdout, throws with stderr on failure. */
export function npmRun(script: string, args: string[], env?: EnvChanges): string {
  return npmRunFull(script, args, env).stdout;
}

/** Follows a container's log until the container is gone; `stop()` returns what it printed. */
export function followLog(container: string): { stop(): Promise<string> } {
  const child = spawn("docker", ["logs", "-f", "--since", "0s", container]);
  let text = "";
  child.stdout.on("data", (b: Buffer) => (text += b.toString()));
  child.stderr.on("data", (b: Buffer) => (text += b.toString()));
  const ended = new Promise<void>((resolve) => child.on("close", () => resolve()));
  return {
    async stop() {
      await Promise.race([ended, new Promise((r) => setTimeout(r, 5000))]);
      child.kill();
      return text;
    },
  };
}

/** Docker events of one container (e.g. "die", with its exit code) until `stop()`. */
export function dockerEvents(container: string, event: string): { stop(): Promise<{ exitCode: string }[]> } {
  const child = spawn("docker", ["events", "--filter", `container=${container}`, "--filter", `event=${event}`, "--format", "{{json .Actor.Attributes}}"]);
  let text = "";
  child.stdout.on("data", (b: Buffer) => (text += b.toString()));
  return {
    async stop() {
      await new Promise((r) => setTimeout(r, 1000));
      child.kill();
      return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    },
  };
}

/** Ids of the stack's containers by name. */
export function containerIds(stack: string): Record<string, string> {
  const out = docker(["ps", "-a", "--no-trunc", "--format", "{{.Names}} {{.ID}}", "--filter", `label=com.slurm-cluster.stack=${stack}`]);
  return Object.fromEntries(out.split("\n").filter(Boolean).map((l) => l.split(" ")));
}

/** Runs a command in a container and returns its stdout (throws on a non-zero exit). */
export function dockerExec(container: string, cmd: string[], input?: string): string {
  return execFileSync("docker", ["exec", ...(input !== undefined ? ["-i"] : []), container, ...cmd], {
    encoding: "utf8",
    input,
  });
}

export function docker(args: string[]): string {
  return execFileSync("docker", args, { encoding: "utf8" }).trim();
}

/** Docker objects of a stack, found by the labels the program puts on everything. */
export function stackObjects(kind: "ps" | "network" | "volume", stack: string): string[] {
  const base = kind === "ps" ? ["ps", "-a"] : [kind, "ls"];
  const out = docker([...base, "-q", "--filter", "label=com.slurm-cluster.project=slurm-cluster", "--filter", `label=com.slurm-cluster.stack=${stack}`]);
  return out ? out.split("\n").sort() : [];
}

/** Polls `check` (sync or async) until it returns a value (not undefined) or the time runs out. */
export function eventually<T>(what: string, seconds: number, check: () => T | undefined | Promise<T | undefined>): Promise<T> {
  return poll(what, seconds, check, { intervalMs: 500 });
}

/**
 * A job that runs until the test releases it (a file on the shared volume), bounded by --time so
 * a failed test leaves nothing running: a test that needs a job running across a slow operation
 * holds it for as long as that takes, instead of guessing a duration.
 */
export function heldJob(controller: string, sbatchArgs: string[]): { id: string; release(): void } {
  const marker = "/shared/.release-$SLURM_JOB_ID";
  const id = dockerExec(controller, ["sbatch", "--parsable", "--time=10", "-o", "/dev/null", ...sbatchArgs, "--wrap", `while [ ! -e ${marker} ]; do sleep 0.2; done; rm -f ${marker}`]).trim();
  return { id, release: () => void dockerExec(controller, ["touch", `/shared/.release-${id}`]) };
}

/** A job's state as accounting (sacct) records it. */
export function sacctState(controller: string, jobId: string): string | undefined {
  const out = dockerExec(controller, ["sacct", "-X", "-n", "-P", "-j", jobId, "-o", "State"]).trim();
  return out || undefined;
}

/** Waits until accounting records how a job ended (any state but PENDING, RUNNING, COMPLETING). */
export function waitForJobEnd(controller: string, jobId: string, seconds: number): Promise<string> {
  return eventually(`job ${jobId} finished`, seconds, () => {
    const s = sacctState(controller, jobId);
    return s && !["PENDING", "RUNNING", "COMPLETING"].includes(s) ? s : undefined;
  });
}

export { PROJECT_ROOT };
