import * as pulumi from "@pulumi/pulumi";
import { TYPE_PREFIX } from "./container-parts";
import { ContainerExec, demuxDockerLog } from "../docker/container-exec";
import { releaseOfVersion } from "../config/upgrade";

/** What the registration check needs to ask the controller about one node. */
export interface NodeRegistrationArgs {
  /** Where scontrol runs: the controller's container, or (workers stacks) the worker's own. */
  readonly scontrolContainer: pulumi.Input<string>;
  /** Container running the node's slurmd (its log tail explains a failure). */
  readonly workerContainer: pulumi.Input<string>;
  /** Docker id of the worker container: a new container is checked again. */
  readonly workerContainerId: pulumi.Input<string>;
  /** Slurm node name. */
  readonly nodeName: pulumi.Input<string>;
  /** How long to wait for a usable state before failing the deployment. */
  readonly timeoutSeconds: pulumi.Input<number>;
  /** Command run in the worker to show slurmd's log (systemd workers log to the journal); default: docker logs. */
  readonly logCommand?: pulumi.Input<string[]>;
  /** The Docker engine the containers run on, as configured (unix://, ssh://, tcp:// with or without TLS, https://). */
  readonly dockerHost: pulumi.Input<string>;
  /** What the worker's slurmd announces (slurmd -Z --conf): a node record that differs is stale. */
  readonly announced: pulumi.Input<AnnouncedNode>;
  /** When the node is removed: how long to wait for its jobs after draining it. */
  readonly shrinkDrainSeconds: pulumi.Input<number>;
  /** When the node is removed and its jobs outlast the wait: cancel them (true) or fail (false). */
  readonly shrinkKillsJobs: pulumi.Input<boolean>;
}

/** The size, features and generic resources a worker announces when it registers. */
interface AnnouncedNode {
  cpus: number;
  memoryMb: number;
  features: string[];
  /** e.g. gpu:2 or gpu:a100:2; empty without GRES. */
  gres: string;
}

export interface RegistrationInputs {
  scontrolContainer: string;
  announced: AnnouncedNode;
  workerContainer: string;
  workerContainerId: string;
  nodeName: string;
  timeoutSeconds: number;
  logCommand?: string[];
  dockerHost: string;
  shrinkDrainSeconds: number;
  shrinkKillsJobs: boolean;
}

/** What the controller reported once the node was usable. */
interface NodeReport {
  state: string;
  cpus: number;
  memoryMb: number;
  slurmVersion: string;
  reason: string;
}

// Everything below runs inside Pulumi's dynamic-provider host: Pulumi serializes it with the
// provider, and with it what it calls in docker/ (by value: that code is the same code, not a
// copy; Node built-ins and packages such as dockerode and ssh2 are required there by name).
// tests/unit/provider-serialization.test.ts loads the serialized providers in a plain Node.

/** The engine's dockerode client, one per engine in this process (ContainerExec.shared). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function engine(dockerHost: string, env: NodeJS.ProcessEnv = process.env): any {
  return ContainerExec.shared(dockerHost, env).docker;
}

/** Runs a command in a container through the Docker API; returns exit code and output. */
export function dockerExec(dockerHost: string, container: string, cmd: string[], env: string[] = []): Promise<{ code: number; out: string; err: string }> {
  return ContainerExec.shared(dockerHost).run(container, cmd, { env });
}

/** The last lines of a container's log (stdout and stderr), as text. */
async function logTail(dockerHost: string, container: string, lines: number): Promise<string> {
  return demuxDockerLog(await engine(dockerHost).getContainer(container).logs({ stdout: true, stderr: true, tail: lines }));
}

/** The worker's slurmd log: its journal (logCommand) or the container's own log. */
async function slurmdLog(inputs: RegistrationInputs): Promise<string> {
  try {
    if (inputs.logCommand && inputs.logCommand.length > 0) {
      const res = await dockerExec(inputs.dockerHost, inputs.workerContainer, inputs.logCommand);
      return res.out + res.err;
    }
    return await logTail(inputs.dockerHost, inputs.workerContainer, 25);
  } catch (e) {
    return `(could not read the log of ${inputs.workerContainer}: ${e instanceof Error ? e.message : e})`;
  }
}

/**
 * A worker that keeps exiting will never register: say so at once instead of waiting out the timeout.
 * A worker restarting now with restarts behind it is in a loop; one that runs counts only the
 * restarts during this wait (restartsBefore: the count when it began), so a worker that restarted
 * while an earlier `up` left the controller down, and now runs, is not taken for one.
 */
async function crashLoop(dockerHost: string, container: string, restartsBefore: number): Promise<string | undefined> {
  const info = await engine(dockerHost).getContainer(container).inspect();
  const down = info.State.Restarting || !info.State.Running;
  const restarts = down ? info.RestartCount : info.RestartCount - restartsBefore;
  if (restarts >= 2 || (!info.State.Running && !info.State.Restarting && info.State.ExitCode !== 0)) {
    return `the container ${container} keeps stopping (restarted ${info.RestartCount} times, last exit code ${info.State.ExitCode})`;
  }
  return undefined;
}

/** Asks the controller about one node, in Slurm's JSON; undefined while the controller cannot answer. */
type NodeRecord = NodeReport & { known: boolean; slurmdStartedAt: number; features: string[]; gres: string };

interface NodesAnswer {
  at: number;
  nodes: Promise<{ name?: string; [field: string]: unknown }[] | undefined>;
}

/**
 * Every node the controller knows, asked at most once a second per controller however many
 * registration checks poll it: 64 workers registering would otherwise cost 64 execs (and munge
 * credentials) a second. The answers live on globalThis because each dynamic resource's provider
 * is its own deserialized copy of this module, in one process.
 */
function controllerNodes(dockerHost: string, container: string, fresh = false): NodesAnswer["nodes"] {
  const shared = globalThis as { slurmClusterNodeAnswers?: Map<string, NodesAnswer> };
  const answers = (shared.slurmClusterNodeAnswers ??= new Map());
  const key = `${dockerHost}|${container}`;
  const last = answers.get(key);
  if (!fresh && last && Date.now() - last.at < 900) return last.nodes;
  const nodes = dockerExec(dockerHost, container, ["scontrol", "--json", "show", "nodes"]).then((res) =>
    res.code === 0 ? (JSON.parse(res.out).nodes ?? []) : undefined,
  );
  answers.set(key, { at: Date.now(), nodes });
  return nodes;
}

async function queryNode(inputs: RegistrationInputs, fresh = false): Promise<NodeRecord | undefined> {
  const nodes = await controllerNodes(inputs.dockerHost, inputs.scontrolContainer, fresh);
  if (nodes === undefined) return undefined;
  const node = nodes.find((n) => n.name === inputs.nodeName) as Record<string, any> | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  // Workers are dynamic nodes: the controller knows a node once its slurmd has registered.
  if (!node) return { known: false, state: "NOT_REGISTERED", cpus: 0, memoryMb: 0, slurmVersion: "", reason: "", slurmdStartedAt: 0, features: [], gres: "" };
  return {
    known: true,
    features: node.features ?? [],
    // gres as "gpu:a100:2(S:0)": the socket binding is not part of what was announced.
    gres: String(node.gres ?? "").replace(/\([^)]*\)/g, ""),
    slurmdStartedAt: (node.slurmd_start_time?.number ?? 0) * 1000,
    // DYNAMIC_NORM marks how the node joined (slurmd -Z), not a state: left out.
    state: (node.state ?? []).filter((f: string) => f !== "DYNAMIC_NORM").join("+"),
    cpus: node.cpus ?? 0,
    memoryMb: node.real_memory ?? 0,
    slurmVersion: node.version ?? "",
    reason: node.reason ?? "",
  };
}

/** Whether slurmctld's record of the node is not what its slurmd now announces. */
export function staleRecord(node: { state: string; cpus: number; memoryMb: number; features: string[]; gres: string }, announced: AnnouncedNode): boolean {
  return (
    node.state.includes("INVALID_REG") ||
    node.cpus !== announced.cpus ||
    node.memoryMb !== announced.memoryMb ||
    [...node.features].sort().join(",") !== [...announced.features].sort().join(",") ||
    node.gres !== announced.gres
  );
}

/** Usable: the base state is one a job can be scheduled on, and no flag takes it out of service. */
function isUsable(state: string): boolean {
  const flags = state.split("+");
  const usable = ["IDLE", "MIXED", "ALLOCATED", "COMPLETING"].includes(flags[0]);
  const blocked = flags.some((f) => ["DRAIN", "DRAINED", "DRAINING", "NOT_RESPONDING", "FAIL", "INVALID_REG", "NOT_REGISTERED_SINCE_START"].includes(f));
  return usable && !blocked;
}

/** Polls the controller until the node is usable or the timeout passes, then fails with the evidence. */
export async function waitUntilUsable(inputs: RegistrationInputs): Promise<NodeReport> {
  const deadline = Date.now() + inputs.timeoutSeconds * 1000;
  let last: NodeRecord | undefined;
  let lastError = "";
  let stopping: string | undefined;
  // The controller remembers a node's last state: only a registration from a slurmd started
  // in this container counts (a replaced worker that crashes would otherwise look IDLE).
  const worker = await engine(inputs.dockerHost).getContainer(inputs.workerContainer).inspect();
  let containerStartedAt = Date.parse(worker.State.StartedAt);
  const restartsBefore = worker.RestartCount;
  let reRegistered = false;
  // After changing the node, ask afresh rather than take the shared answer from before the change.
  let fresh = false;
  for (;;) {
    try {
      last = await queryNode(inputs, fresh);
      fresh = false;
      if (last?.known && last.state.includes("DRAIN") && (last.reason === REMOVAL_REASON || last.reason.startsWith(UPGRADE_REASON))) {
        // A removal that did not finish (its jobs outlasted the wait), and the worker is wanted
        // again; or a node drained for its upgrade, now back with the new slurmd.
        await scontrol(inputs, ["update", `NodeName=${inputs.nodeName}`, "State=RESUME"]);
        fresh = true;
        continue;
      }
      if (last?.known && last.slurmdStartedAt >= containerStartedAt - 2000 && !reRegistered && staleRecord(last, inputs.announced)) {
        // slurmctld keeps a dynamic node's record as the node first registered (size, features,
        // GRES) and holds a new container to it: one that announces fewer GPUs is INVALID_REG,
        // one with more is not given them. The record is of a container that is gone: delete it
        // and restart slurmd, which registers the node afresh. Once only.
        await scontrol(inputs, ["delete", `NodeName=${inputs.nodeName}`]);
        await engine(inputs.dockerHost).getContainer(inputs.workerContainer).restart({ t: 10 });
        const restarted = await engine(inputs.dockerHost).getContainer(inputs.workerContainer).inspect();
        containerStartedAt = Date.parse(restarted.State.StartedAt);
        reRegistered = true;
        fresh = true;
        continue;
      }
      if (last && last.known && isUsable(last.state) && last.slurmdStartedAt >= containerStartedAt - 2000) {
        const { known: _known, slurmdStartedAt: _started, features: _features, gres: _gres, ...report } = last;
        return report;
      }
      stopping = await crashLoop(inputs.dockerHost, inputs.workerContainer, restartsBefore);
      if (stopping) break;
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
      // A worker in a restart loop fails the exec into it ("is restarting"): over a slow engine
      // link (ssh://) nearly every exec lands in a restart, so its crash loop is checked here too.
      stopping = await crashLoop(inputs.dockerHost, inputs.workerContainer, restartsBefore).catch(() => undefined);
      if (stopping) break;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const tail = await slurmdLog(inputs);
  const state = last ? last.state : "no answer from slurmctld";
  const reason = last?.reason ? ` (reason: ${last.reason})` : "";
  const why = stopping ? `cannot register: ${stopping}; state ${state}` : `did not become usable within ${inputs.timeoutSeconds}s: state ${state}`;
  throw new Error(
    `Slurm node ${inputs.nodeName} ${why}${reason}${lastError ? `; last error: ${lastError}` : ""}.\n` +
      `Last lines of the slurmd log (${inputs.workerContainer}):\n${tail.trimEnd()}`,
  );
}

/**
 * What refresh reports: the node's state now, or why it cannot be usable (its container is gone
 * or stopped, or slurmd has not registered since the container started).
 */
async function currentReport(inputs: RegistrationInputs): Promise<NodeReport> {
  const worker = await engine(inputs.dockerHost).getContainer(inputs.workerContainer).inspect().catch(() => undefined);
  const empty = { cpus: 0, memoryMb: 0, slurmVersion: "", reason: "" };
  if (!worker) return { ...empty, state: "CONTAINER_MISSING" };
  if (!worker.State.Running) return { ...empty, state: "CONTAINER_STOPPED" };
  const node = await queryNode(inputs, true).catch(() => undefined);
  if (!node) return { ...empty, state: "NO_ANSWER_FROM_SLURMCTLD" };
  const { known: _known, slurmdStartedAt, features: _features, gres: _gres, ...report } = node;
  if (slurmdStartedAt < Date.parse(worker.State.StartedAt) - 2000) return { ...report, state: `${report.state}+NOT_REGISTERED_SINCE_START` };
  return report;
}

/** The drain reason of a node being removed; a node declared again is resumed only from this. */
const REMOVAL_REASON = "removed by slurm-cluster (workerCount lowered)";

/** Ids of the jobs that have the node allocated (running, or completing). */
async function jobsOnNode(inputs: RegistrationInputs): Promise<string[]> {
  const res = await dockerExec(inputs.dockerHost, inputs.scontrolContainer, ["squeue", "-h", "-w", inputs.nodeName, "-t", "RUNNING,COMPLETING,CONFIGURING,SUSPENDED", "-o", "%i"]);
  if (res.code !== 0) throw new Error(`squeue on ${inputs.scontrolContainer} failed: ${(res.err || res.out).trim()}`);
  return res.out.split("\n").map((l: string) => l.trim()).filter(Boolean);
}

async function scontrol(inputs: RegistrationInputs, args: string[]): Promise<void> {
  const res = await dockerExec(inputs.dockerHost, inputs.scontrolContainer, ["scontrol", ...args]);
  if (res.code !== 0) throw new Error(`scontrol ${args.join(" ")} failed: ${(res.err || res.out).trim()}`);
}

/** The drain reason of a node whose slurmd is being replaced by another release's (a prefix: the release follows). */
const UPGRADE_REASON = "upgrading Slurm by slurm-cluster to";

/**
 * Drains a node (no new jobs) and waits up to shrinkDrainSeconds for the jobs on it. Jobs that
 * outlast the wait are cancelled when shrinkKillsJobs is set; otherwise this fails naming them
 * and `why` the node is drained, and the node stays drained with its container running, so
 * nothing is lost and a later `up` tries again.
 */
async function drainNode(inputs: RegistrationInputs, reason: string, why: string, progress: (line: string) => void): Promise<void> {
  await scontrol(inputs, ["update", `NodeName=${inputs.nodeName}`, "State=DRAIN", `Reason=${reason}`]);
  const deadline = Date.now() + inputs.shrinkDrainSeconds * 1000;
  let jobs = await jobsOnNode(inputs);
  let told = "";
  while (jobs.length > 0 && Date.now() < deadline) {
    // Said once for each set of jobs waited for, not at every poll.
    if (jobs.join(",") !== told) progress(`${inputs.nodeName}: drained, waiting up to ${inputs.shrinkDrainSeconds}s for job(s) ${jobs.join(", ")}`);
    told = jobs.join(",");
    await new Promise((r) => setTimeout(r, 2000));
    jobs = await jobsOnNode(inputs);
  }
  if (jobs.length === 0) return;
  if (!inputs.shrinkKillsJobs) {
    throw new Error(
      `Slurm node ${inputs.nodeName} still runs job(s) ${jobs.join(", ")} after ${inputs.shrinkDrainSeconds}s (slurm-cluster:shrinkDrainSeconds); ` +
        `${why} would kill them. The node stays drained: run up again once they end, or set slurm-cluster:shrinkKillsJobs=true ` +
        `(it takes effect at the next up, before the node is touched).`,
    );
  }
  await dockerExec(inputs.dockerHost, inputs.scontrolContainer, ["scancel", ...jobs]);
  const cancelDeadline = Date.now() + 60_000;
  while ((await jobsOnNode(inputs)).length > 0 && Date.now() < cancelDeadline) await new Promise((r) => setTimeout(r, 1000));
}

/**
 * Takes a node out of the cluster before its container goes: drain it, wait for its jobs
 * (drainNode), then remove it from Slurm.
 */
async function removeNode(inputs: RegistrationInputs, progress: (line: string) => void = () => undefined): Promise<void> {
  const controller = await engine(inputs.dockerHost).getContainer(inputs.scontrolContainer).inspect().catch(() => undefined);
  if (!controller?.State.Running) return; // no controller: no Slurm state to remove the node from
  const known = await queryNode(inputs, true);
  if (!known) throw new Error(`cannot remove Slurm node ${inputs.nodeName}: slurmctld in ${inputs.scontrolContainer} does not answer`);
  if (!known.known) return; // never registered, or already removed
  await drainNode(inputs, REMOVAL_REASON, "removing it", progress);
  await scontrol(inputs, ["delete", `NodeName=${inputs.nodeName}`]);
}

/** What the upgrade gate of one worker needs: the node, where to ask slurmctld, and the release wanted. */
export interface UpgradeDrainInputs {
  scontrolContainer: string;
  dockerHost: string;
  nodeName: string;
  /** The release the worker's new container runs (slurmRelease). */
  release: string;
  shrinkDrainSeconds: number;
  shrinkKillsJobs: boolean;
  /** Whether this `up` changes the stack's release (spec.upgrade): a gate created without it asks nothing. */
  upgrading: boolean;
}

/**
 * Before a worker's container is replaced by one of another Slurm release: a node whose slurmd
 * runs another release is drained and its jobs waited for (drainNode), so no running job is lost
 * with the old container. The registration check resumes the node once the new slurmd registered.
 * Nothing to do for a node Slurm does not know yet (a new worker), one already on the release,
 * or when there is no container to ask slurmctld from (a workers stack's first up).
 */
async function drainBeforeUpgrade(inputs: UpgradeDrainInputs): Promise<string> {
  const asked = await engine(inputs.dockerHost).getContainer(inputs.scontrolContainer).inspect().catch(() => undefined);
  if (!asked?.State.Running) return "";
  const like: RegistrationInputs = {
    ...inputs,
    announced: { cpus: 0, memoryMb: 0, features: [], gres: "" },
    workerContainer: "",
    workerContainerId: "",
    timeoutSeconds: 0,
  };
  const node = await queryNode(like, true);
  if (!node) throw new Error(`cannot upgrade Slurm node ${inputs.nodeName}: slurmctld, asked in ${inputs.scontrolContainer}, does not answer`);
  if (!node.known || !node.slurmVersion) return "";
  const running = releaseOfVersion(node.slurmVersion);
  if (running === inputs.release) return "";
  // On the deployment's stderr (the runner's output; the Pulumi CLI's provider log).
  const progress = (line: string) => console.error(`[upgrade] ${line}`);
  progress(`${inputs.nodeName}: draining it to replace its slurmd ${node.slurmVersion} by Slurm ${inputs.release}'s`);
  await drainNode(like, `${UPGRADE_REASON} ${inputs.release}`, `replacing its slurmd ${node.slurmVersion} by Slurm ${inputs.release}'s`, progress);
  return node.slurmVersion;
}


const registrationProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: RegistrationInputs) {
    const report = await waitUntilUsable(inputs);
    return { id: `${inputs.workerContainer}/${inputs.nodeName}`, outs: { ...inputs, ...report } };
  },
  async diff(_id: string, olds: RegistrationInputs, news: RegistrationInputs) {
    const keys: (keyof RegistrationInputs)[] = ["scontrolContainer", "announced", "workerContainer", "workerContainerId", "nodeName", "timeoutSeconds", "logCommand", "dockerHost", "shrinkDrainSeconds", "shrinkKillsJobs"];
    const changed = keys.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
    // After a refresh that found the node unusable, check it again (an update waits for it).
    const stale = !isUsable((olds as RegistrationInputs & Partial<NodeReport>).state ?? "");
    return { changes: changed.length > 0 || stale, replaces: [] };
  },
  async read(id: string, props: RegistrationInputs & NodeReport) {
    return { id, props: { ...props, ...(await currentReport(props)) } };
  },
  async update(_id: string, _olds: RegistrationInputs, news: RegistrationInputs) {
    return { outs: { ...news, ...(await waitUntilUsable(news)) } };
  },
  async delete(_id: string, olds: RegistrationInputs) {
    await removeNode(olds);
  },
};

const upgradeDrainProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: UpgradeDrainInputs) {
    // A new worker, or a worker of a stack made before this gate existed that is upgraded now.
    return { id: inputs.nodeName, outs: { ...inputs, drainedFrom: inputs.upgrading ? await drainBeforeUpgrade(inputs) : "" } };
  },
  async diff(_id: string, olds: UpgradeDrainInputs, news: UpgradeDrainInputs) {
    const keys: (keyof UpgradeDrainInputs)[] = ["scontrolContainer", "dockerHost", "nodeName", "release", "shrinkDrainSeconds", "shrinkKillsJobs"];
    return { changes: keys.some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k])), replaces: [] };
  },
  async update(_id: string, _olds: UpgradeDrainInputs, news: UpgradeDrainInputs) {
    return { outs: { ...news, drainedFrom: await drainBeforeUpgrade(news) } };
  },
};

/**
 * The gate a worker's container waits behind: when the stack's Slurm release changes, the node is
 * drained and its running jobs waited for before the container of the new release replaces it.
 */
export class UpgradeDrain extends pulumi.dynamic.Resource {
  /** The slurmd version the node ran when it was drained for the upgrade; empty when it was not. */
  declare public readonly drainedFrom: pulumi.Output<string>;

  constructor(name: string, args: { [K in keyof UpgradeDrainInputs]: pulumi.Input<UpgradeDrainInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    super(upgradeDrainProvider, name, { ...args, drainedFrom: undefined }, opts, TYPE_PREFIX, "UpgradeDrain");
  }
}

/**
 * Verifies that a slurmd registered with the controller: `pulumi up` waits until the node is
 * IDLE/MIXED/ALLOCATED, or fails naming the node, its state and reason, and the slurmd log tail.
 */
export class NodeRegistration extends pulumi.dynamic.Resource {
  declare public readonly nodeName: pulumi.Output<string>;
  declare public readonly state: pulumi.Output<string>;
  declare public readonly cpus: pulumi.Output<number>;
  declare public readonly memoryMb: pulumi.Output<number>;
  declare public readonly slurmVersion: pulumi.Output<string>;
  declare public readonly reason: pulumi.Output<string>;

  constructor(name: string, args: NodeRegistrationArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      registrationProvider,
      name,
      { ...args, state: undefined, cpus: undefined, memoryMb: undefined, slurmVersion: undefined, reason: undefined },
      opts,
      TYPE_PREFIX,
      "NodeRegistration",
    );
  }
}
