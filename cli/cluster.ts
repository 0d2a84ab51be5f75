// The cluster behind a stack, as the operator commands reach it: the controller container on the
// stack's Docker engine, the first configured user (jobs are submitted as that user, from their
// home on the shared volume), and the outputs the checks compare against.
import { PROJECT_LABEL, STACK_LABEL } from "../config/spec";
import { ContainerExec, ExecOptions, ExecResult } from "../docker/container-exec";
import { CliError } from "./errors";
import { stackDockerHost, stackOutputs } from "./stacks";

/** The part of a cluster stack's outputs the CLI reads. */
export interface ClusterOutputs {
  readonly role: "cluster" | "workers";
  readonly clusterName: string;
  readonly slurmVersion: string;
  readonly controllerStack?: string;
  readonly controller: { readonly containerName: string };
  readonly nodes: { readonly name: string; readonly containerName: string }[];
  readonly database: { readonly host: string; readonly port: number; readonly name: string; readonly user: string; readonly password: string };
  readonly sharedVolume: { readonly mountPath: string };
  readonly accounting?: { readonly users: string[] };
  readonly monitoring: { readonly prometheusUrl: string } | null;
}

export interface Cluster {
  /** The stack that runs the controller (the stack asked for, or the one a workers stack joins). */
  readonly stack: string;
  readonly outputs: ClusterOutputs;
  readonly engine: ContainerExec;
  /** Who jobs run as; null when the stack declares no users (then root submits). */
  readonly user: string | null;
  /** The submitting user's home on the shared volume (where runs and job output go). */
  readonly home: string;
  /** Labels that select the stack's containers. */
  readonly labels: string[];
}

/** Resolves a stack to its cluster; a workers stack leads to its controller stack. */
export async function openCluster(stack: string, note: (line: string) => void = () => undefined): Promise<Cluster> {
  let outputs = (await stackOutputs(stack, true)) as unknown as ClusterOutputs;
  let clusterStack = stack;
  if (outputs.role === "workers" && outputs.controllerStack) {
    clusterStack = outputs.controllerStack;
    note(`stack ${stack} is a workers stack: using its cluster's controller stack ${clusterStack}`);
    outputs = (await stackOutputs(clusterStack, true)) as unknown as ClusterOutputs;
  }
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
    home: user ? `${outputs.sharedVolume.mountPath}/home/${user}` : outputs.sharedVolume.mountPath,
    labels: [`${PROJECT_LABEL}=slurm-cluster`, `${STACK_LABEL}=${clusterStack}`],
  };
}

/** Runs a Slurm command on the controller as root (Slurm's administrator). */
export function onController(cluster: Cluster, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
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
