// up, down and outputs of a stack: through the Pulumi Automation API when a `pulumi` binary is on
// PATH (the user's own backend and stack), otherwise through the local runner, which stands in
// for it on a machine without the Pulumi CLI. SLURM_CLUSTER_RUNNER=local|pulumi forces one.
// The Pulumi SDK and the runner's engine are loaded by the calls that use them: reading a stack's
// outputs from the runner's state needs neither.
import type { Stack } from "@pulumi/pulumi/automation";
import { resolveDockerHost } from "../docker/engine";
import { PROJECT_ROOT } from "../config/project";
import { ResolvedOutput, lastOutputs, printableOutputs } from "../local-runner/outputs";
import { pulumiOnPath, setConfigOverrides } from "../local-runner/pulumi-cli";
import { readStackConfig } from "../local-runner/stack-config";
import { CliError } from "./errors";

type Runner = "pulumi" | "local";

/** Which runner deploys: the environment's choice, else Pulumi when its CLI is installed. */
export function chooseRunner(env = process.env, pulumiPath: () => string | undefined = pulumiOnPath): Runner {
  const forced = env.SLURM_CLUSTER_RUNNER;
  if (forced === "local" || forced === "pulumi") return forced;
  if (forced) throw new CliError(`SLURM_CLUSTER_RUNNER=${forced}: use local or pulumi`, 2);
  return pulumiPath() ? "pulumi" : "local";
}

interface UpOptions {
  readonly overrides: string[];
  readonly refresh: boolean;
  readonly progress: (line: string) => void;
}

/** Brings a stack up; resolves to its outputs with secrets shown or masked. */
export async function stackUp(stack: string, opts: UpOptions, showSecrets: boolean, runner = chooseRunner()): Promise<unknown> {
  stackConfig(stack, opts.overrides); // an unknown stack or a bad -c fails here, before anything runs
  if (runner === "local") {
    const result = await localRunner().up(stack, { overrides: opts.overrides, refresh: opts.refresh, progress: opts.progress });
    return printableOutputs(result.outputs, showSecrets);
  }
  const ws = await pulumiStack(stack, opts.overrides);
  await ws.up({ refresh: opts.refresh, onOutput: (text) => text.split("\n").filter(Boolean).forEach(opts.progress) });
  return pulumiOutputs(ws, showSecrets);
}

export async function stackDown(stack: string, volumes: boolean, progress: (line: string) => void, runner = chooseRunner()): Promise<void> {
  stackConfig(stack, []);
  if (runner === "local") {
    await localRunner().down(stack, { volumes, progress });
    return;
  }
  if (volumes) {
    throw new CliError("down --volumes is the local runner's clean slate; with Pulumi run `pulumi destroy` and remove the retained volumes with `docker volume rm`", 2);
  }
  const ws = await pulumiStack(stack, []);
  await ws.destroy({ onOutput: (text) => text.split("\n").filter(Boolean).forEach(progress) });
}

/** The stack's outputs as `pulumi stack output --json` prints them. */
export async function stackOutputs(stack: string, showSecrets: boolean, runner = chooseRunner()): Promise<Record<string, unknown>> {
  stackConfig(stack, []);
  if (runner === "local") {
    try {
      return lastOutputs(stack, showSecrets) as Record<string, unknown>;
    } catch {
      throw new CliError(`stack ${stack} has no cluster: bring it up first (slurm-cluster up ${stack})`, 1);
    }
  }
  const outputs = await pulumiOutputs(await pulumiStack(stack, []), showSecrets);
  if (Object.keys(outputs).length === 0) throw new CliError(`stack ${stack} has no cluster: bring it up first (slurm-cluster up ${stack})`, 1);
  return outputs;
}

/** The stack's config as the program sees it; an unknown stack is one clear line. */
export function stackConfig(stack: string, overrides: string[]): Record<string, string> {
  try {
    // Secret values stay with the runner that deploys (the Pulumi CLI decrypts them): not needed here.
    return readStackConfig(stack, overrides, undefined, "omit");
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
}

/** The Docker engine a stack deploys to, as the program decides it. */
export function stackDockerHost(stack: string): string {
  return resolveDockerHost(stackConfig(stack, [])["docker:host"]);
}

/** The calls the CLI makes of the local runner's engine (local-runner/engine.ts). */
export interface LocalRunner {
  up(stack: string, opts: { overrides: string[]; refresh: boolean; progress: (line: string) => void }): Promise<{ outputs: Record<string, ResolvedOutput> }>;
  down(stack: string, opts: { volumes: boolean; progress: (line: string) => void }): Promise<unknown>;
}

/**
 * The local runner's engine, from the same tree as this file: the build in dist/ holds the engine
 * and the Pulumi program it runs in-process, the sources run through ts-node (cli/launch.js).
 */
function localRunner(): LocalRunner {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("../local-runner/engine");
}

async function pulumiStack(stack: string, overrides: string[]): Promise<Stack> {
  const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
  const ws = await LocalWorkspace.createOrSelectStack({ stackName: stack, workDir: PROJECT_ROOT });
  await setConfigOverrides(ws, overrides);
  return ws;
}

async function pulumiOutputs(ws: Stack, showSecrets: boolean): Promise<Record<string, unknown>> {
  const outputs = await ws.outputs();
  if (showSecrets) return Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, o.value]));
  const { exportedStackOutputs, maskedOutputs } = await import("./secret-outputs");
  return maskedOutputs(outputs, exportedStackOutputs(await ws.exportStack()));
}
