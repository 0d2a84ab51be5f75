// The cluster behind a stack, as the operator commands reach it: the controller container on the
// stack's Docker engine, the user commands act as (the first configured user unless --user names
// another; jobs are submitted from their home on the shared volume), and the outputs the checks
// compare against.
import { USERS_SCHEMA } from "../config/accounting";
import { PROJECT_LABEL, STACK_LABEL } from "../config/spec";
import { ContainerExec, ExecOptions, ExecResult } from "../docker/container-exec";
import { CliError } from "./errors";
import { ClusterStackOutputs, STACK_OUTPUTS_SCHEMA, StackOutputs } from "../config/stack-outputs";
import { stackConfig, stackDockerHost, stackOutputs } from "./stacks";

/** A cluster stack's outputs, parsed with the schema stacks/cluster.ts produces them from. */
type ClusterOutputs = ClusterStackOutputs;

/** A stack's outputs checked against the schema; a mismatch is one line naming the first difference. */
function parseOutputs(stack: string, raw: unknown): StackOutputs {
  const parsed = STACK_OUTPUTS_SCHEMA.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new CliError(`stack ${stack}'s outputs are not what this version writes (${issue.path.join(".") || "outputs"}: ${issue.message}): bring it up again (slurm-cluster up ${stack})`, 1);
}

export interface Cluster {
  /** The stack that runs the controller (the stack asked for, or the one a workers stack joins). */
  readonly stack: string;
  readonly outputs: ClusterOutputs;
  readonly engine: ContainerExec;
  /** Who jobs run as (the first user, or the one --user names); null when the stack has no users (then root submits). */
  readonly user: string | null;
  /** The submitting user's home on the shared volume (where runs and job output go). */
  readonly home: string;
  /** Labels that select the stack's containers. */
  readonly labels: string[];
}

/**
 * What commands that reach only the cluster's daemons (backup, accounting queries) need of it: its
 * engine and labels, and the outputs that name the controller and the database. The program makes
 * one from the spec to back up before an upgrade (stacks/upgrade.ts).
 */
export type ClusterDaemons = Pick<Cluster, "stack" | "engine" | "labels"> & {
  readonly outputs: Pick<ClusterOutputs, "clusterName" | "slurmVersion" | "database"> & { readonly controller: Pick<ClusterOutputs["controller"], "containerName"> };
};

/** Resolves a stack to its cluster; a workers stack leads to its controller stack. */
export async function openCluster(stack: string, note: (line: string) => void = () => undefined): Promise<Cluster> {
  let parsed = parseOutputs(stack, await stackOutputs(stack, true));
  let clusterStack = stack;
  if (parsed.role === "workers") {
    clusterStack = parsed.controllerStack;
    note(`stack ${stack} is a workers stack: using its cluster's controller stack ${clusterStack}`);
    parsed = parseOutputs(clusterStack, await stackOutputs(clusterStack, true));
  }
  if (parsed.role !== "cluster") throw new CliError(`stack ${clusterStack} is not a cluster stack`, 1);
  const outputs = parsed;
  const engine = new ContainerExec(stackDockerHost(clusterStack));
  await engine.ping().catch((e: Error) => {
    throw new CliError(`no Docker engine answers at ${engine.dockerHost} (${e.message}): start Docker (scripts/start-docker.sh)`, 1);
  });
  const user = outputs.accounting?.users[0] ?? null;
  return {
    stack: clusterStack,
    outputs,
    engine,
    user,
    home: userHome(outputs, user),
    labels: [`${PROJECT_LABEL}=slurm-cluster`, `${STACK_LABEL}=${clusterStack}`],
  };
}

function userHome(outputs: ClusterOutputs, user: string | null): string {
  return user ? `${outputs.sharedVolume.mountPath}/home/${user}` : outputs.sharedVolume.mountPath;
}

/**
 * The names in the stack's `slurm-cluster:users` config, read with the schema the program uses;
 * empty when the key is not set or does not parse (only a hint depends on it).
 */
function configuredUsers(stack: string): string[] {
  try {
    const text = stackConfig(stack, [])["slurm-cluster:users"];
    const parsed = text === undefined ? undefined : USERS_SCHEMA.safeParse(text);
    return parsed?.success ? parsed.data.map((u) => u.name) : [];
  } catch {
    return [];
  }
}

/**
 * The cluster as one of its users (--user): jobs are submitted from their home and commands run
 * as them. The name must be one of the users the deployed cluster has (its `accounting.users`
 * output); anything else is refused here, before any command runs. Undefined keeps the cluster
 * as it was opened (the first user).
 */
export function asClusterUser(cluster: Cluster, name: string | undefined, declared: () => string[] = () => configuredUsers(cluster.stack)): Cluster {
  if (name === undefined) return cluster;
  const users = cluster.outputs.accounting.users;
  if (!users.includes(name)) {
    const hint = declared().includes(name)
      ? `${name} is in slurm-cluster:users but not on the cluster yet: slurm-cluster up ${cluster.stack}`
      : `--user takes one of them; a new user is added to slurm-cluster:users, then slurm-cluster up ${cluster.stack}`;
    throw new CliError(`no user ${name} in stack ${cluster.stack}'s users (${users.join(", ") || "none"}); ${hint}`, 2);
  }
  return { ...cluster, user: name, home: userHome(cluster.outputs, name) };
}

/** Runs a Slurm command on the controller as root (Slurm's administrator). */
export function onController(cluster: Pick<ClusterDaemons, "engine" | "outputs">, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return cluster.engine.run(cluster.outputs.controller.containerName, cmd, opts);
}

/** As onController, but a non-zero exit is an error quoting the command's stderr. */
export async function slurm(cluster: Cluster, cmd: string[], opts: ExecOptions = {}): Promise<string> {
  const res = await onController(cluster, cmd, opts);
  if (res.code !== 0) throw new CliError(`${cmd[0]}: ${(res.err || res.out).trim() || `exit ${res.code}`}`, 1);
  return res.out;
}

/** Runs a command on the controller as the cluster's user (root when there is none). */
export function asUser(cluster: Cluster, cmd: string[], opts: Omit<ExecOptions, "user"> = {}): Promise<ExecResult> {
  return onController(cluster, cmd, { ...opts, user: cluster.user ?? undefined });
}
