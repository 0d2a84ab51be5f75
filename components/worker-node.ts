import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ClusterSpec, WorkerSpec } from "../config";
import { WorkerContainerSettings, gpuPathInContainer, renderGresConf, renderWorkerNodeConf, workerCgroupSubtree } from "../config/render";
import { REPLACE_ON_CHANGES, STOP_GRACE_SECONDS, SlurmNodeFiles, TYPE_PREFIX, httpReadinessCheck, onNetwork, sharedMount, slurmUploads } from "./container-parts";
import { dockerLabels } from "./labels";
import { containerBaseline } from "../config/render/container-baseline";
import { NodeRegistration, UpgradeDrain } from "./node-registration";

export interface WorkerNodeArgs {
  /** The part of the validated spec it reads. */
  readonly spec: Pick<
    ClusterSpec,
    | "role" | "controller" | "advertiseAddress" | "hosts" | "gpus" | "workerCpus" | "workerMemoryMb" | "nodeFeatures" | "sharedMountPath"
    | "registrationTimeoutSeconds" | "dockerHost" | "shrinkDrainSeconds" | "shrinkKillsJobs" | "clusterName" | "project" | "stack" | "labels" | "serviceMemoryMb" | "userProcessLimit" | "slurmRelease"
    | "upgrade"
  >;
  /** Which worker this is. */
  readonly worker: WorkerSpec;
  /** Container settings for the spec's cgroupMode and host cgroup version. */
  readonly settings: WorkerContainerSettings;
  /** The worker image (the Slurm image, or its systemd variant). */
  readonly image: pulumi.Input<string>;
  /** Network, munge key, Slurm config files and shared volume. */
  readonly files: SlurmNodeFiles;
  /**
   * The controller's container name: the registration check asks slurmctld there. Absent in a
   * workers stack (the controller is on another machine): it asks from the worker itself.
   */
  readonly controllerContainer?: pulumi.Input<string>;
  /** The controller's container name as a plain name (no wait for the container). */
  readonly controllerName?: string;
  /**
   * Upgrades of slurmRelease: the workers this one's drain waits for (the previous batch, back
   * with the new release), so the batches go one after another.
   */
  readonly upgradeAfter?: pulumi.Resource[];
}

/**
 * The worker's healthcheck command: on 26.05 slurmd's own /readyz on its port (slurmd serves
 * requests, whichever way it was started); 24.11 has no HTTP listener, so the mode's check (a
 * slurmd process, or its systemd unit active).
 */
export function workerHealthcheck(spec: Pick<ClusterSpec, "slurmRelease">, worker: Pick<WorkerSpec, "slurmdPort">, settings: Pick<WorkerContainerSettings, "healthcheck">): string[] {
  return spec.slurmRelease === "26.05" ? httpReadinessCheck(worker.slurmdPort, "/readyz").tests : settings.healthcheck;
}

/**
 * How a worker of a workers stack is reached across machines: its slurmd port published on this
 * host's advertised address (and nowhere else), and the controller's name resolving to the
 * controller's machine, where slurmctld is published.
 */
function acrossMachines(spec: WorkerNodeArgs["spec"], worker: WorkerSpec) {
  if (spec.role !== "workers" || !spec.controller?.controllerAddress) return {};
  return {
    ports: [{ internal: worker.slurmdPort, external: worker.slurmdPort, ip: spec.advertiseAddress, protocol: "tcp" }],
    hosts: [{ host: spec.hosts.controller, ip: spec.controller.controllerAddress }],
    // The entrypoint refuses a node name another machine's node holds (another address).
    envs: [`SLURM_NODE_ADDRESS=${spec.advertiseAddress}`],
  };
}

/** The worker's GPUs: the NVIDIA runtime's devices by index, or the device files themselves. */
function gpuAccess(spec: WorkerNodeArgs["spec"], worker: WorkerSpec) {
  if (worker.gpuDevices.length === 0) return {};
  if (spec.gpus.nvidiaRuntime) {
    const ids = worker.gpuDevices.map((d) => /(\d+)$/.exec(d)?.[1] ?? d);
    return { gpus: `"device=${ids.join(",")}"` };
  }
  return { devices: worker.gpuDevices.map((d) => ({ hostPath: d, containerPath: gpuPathInContainer(d), permissions: "rwm" })) };
}

/** A dependsOn option as a list (it may be one resource, a list, or an Input of them; the program passes lists). */
function dependencies(dependsOn: pulumi.ComponentResourceOptions["dependsOn"]): pulumi.Resource[] {
  if (dependsOn === undefined) return [];
  if (Array.isArray(dependsOn)) return dependsOn as pulumi.Resource[];
  if (pulumi.Resource.isInstance(dependsOn)) return [dependsOn];
  throw new Error("WorkerNode: dependsOn must be a resource or a list of resources");
}

/** One slurmd container, and the check that it registered with the controller as usable. */
export class WorkerNode extends pulumi.ComponentResource {
  public readonly nodeName: pulumi.Output<string>;
  public readonly containerName: pulumi.Output<string>;
  /** Slurm's view once the node registered (IDLE, MIXED, ...), and what it announced. */
  public readonly state: pulumi.Output<string>;
  public readonly cpus: pulumi.Output<number>;
  public readonly memoryMb: pulumi.Output<number>;
  public readonly slurmVersion: pulumi.Output<string>;

  constructor(name: string, args: WorkerNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}:index:WorkerNode`, name, {}, opts);
    const { spec, worker, settings, files } = args;
    // The container's limit: what Slurm may give to jobs plus room for slurmd, munged (and systemd).
    const memory = spec.workerMemoryMb + settings.memoryHeadroomMb;
    // cgroup v1: the worker's own parent cgroup in each controller Slurm uses, and nothing above it.
    const cgroupSubtree = workerCgroupSubtree(settings, worker.containerName);
    const gresConf = renderGresConf(spec, worker);

    // A new release replaces the container: first the node is drained and its jobs waited for.
    const drain = new UpgradeDrain(
      `${name}-upgrade-drain`,
      {
        // Only an upgrade waits for the (new) controller; otherwise workers start beside it. A
        // workers stack asks from the worker's own (old) container, by name: it is about to be replaced.
        scontrolContainer: spec.upgrade && args.controllerContainer ? args.controllerContainer : (args.controllerName ?? worker.containerName),
        dockerHost: spec.dockerHost,
        nodeName: worker.nodeName,
        release: spec.slurmRelease,
        shrinkDrainSeconds: spec.shrinkDrainSeconds,
        shrinkKillsJobs: spec.shrinkKillsJobs,
        upgrading: spec.upgrade !== undefined,
      },
      { parent: this, dependsOn: [...dependencies(opts?.dependsOn), ...(args.upgradeAfter ?? [])] },
    );

    const container = new docker.Container(
      `${name}-slurmd`,
      {
        name: worker.containerName,
        hostname: worker.nodeName,
        image: args.image,
        command: settings.command,
        labels: dockerLabels(spec, "worker"),
        networksAdvanced: onNetwork(files, worker.nodeName),
        mounts: [sharedMount(spec, files), ...settings.mounts],
        uploads: [
          ...slurmUploads(files),
          { file: "/etc/slurm/dynamic-node.conf", content: renderWorkerNodeConf(spec, worker) },
          ...(gresConf ? [{ file: "/etc/slurm/gres.conf", content: gresConf }] : []),
        ],
        ...acrossMachines(spec, worker),
        ...gpuAccess(spec, worker),
        // Docker's capabilities dropped but for slurmd's and the mode's (config/render/container-baseline.ts).
        ...containerBaseline(spec, "worker", {
          capabilityAdds: settings.capabilityAdds,
          securityOpts: settings.securityOpts,
          memoryMb: memory,
          systemd: settings.image === "slurm-systemd",
        }),
        privileged: settings.privileged || undefined,
        cgroupnsMode: settings.cgroupnsMode,
        cgroupParent: cgroupSubtree.cgroupParent,
        volumes: cgroupSubtree.volumes.length > 0 ? cgroupSubtree.volumes : undefined,
        tmpfs: Object.keys(settings.tmpfs).length > 0 ? settings.tmpfs : undefined,
        stopSignal: settings.stopSignal,
        // memory and memorySwap (the same: no swap beyond the limit, set together so an in-place
        // memory update is accepted) come with the baseline above.
        // Every 30 s: each probe is an exec, and 64 workers probing every 5 s kept 2 cores busy.
        // Nothing waits on it (registration is checked through slurmctld); `health` reads it.
        healthcheck: {
          tests: workerHealthcheck(spec, worker, settings),
          interval: "30s",
          timeout: "5s",
          retries: 3,
          startPeriod: "10s",
        },
        restart: "unless-stopped",
        // slurmd (or systemd, which stops munge and slurmd) ends cleanly on its stop signal.
        destroyGraceSeconds: STOP_GRACE_SECONDS,
      },
      // Workers start after the controller; the caller names it.
      { parent: this, dependsOn: [...dependencies(opts?.dependsOn), drain], replaceOnChanges: REPLACE_ON_CHANGES },
    );

    const registration = new NodeRegistration(
      `${name}-registration`,
      {
        scontrolContainer: args.controllerContainer ?? container.name,
        announced: {
          cpus: spec.workerCpus,
          memoryMb: spec.workerMemoryMb,
          features: spec.nodeFeatures,
          gres: spec.gpus.perWorker > 0 ? `gpu:${spec.gpus.type ? `${spec.gpus.type}:` : ""}${spec.gpus.perWorker}` : "",
        },
        workerContainer: container.name,
        workerContainerId: container.id,
        nodeName: worker.nodeName,
        timeoutSeconds: spec.registrationTimeoutSeconds,
        logCommand: settings.logCommand,
        dockerHost: spec.dockerHost,
        shrinkDrainSeconds: spec.shrinkDrainSeconds,
        shrinkKillsJobs: spec.shrinkKillsJobs,
      },
      { parent: this },
    );

    this.nodeName = pulumi.output(worker.nodeName);
    this.containerName = container.name;
    this.state = registration.state;
    this.cpus = registration.cpus;
    this.memoryMb = registration.memoryMb;
    this.slurmVersion = registration.slurmVersion;
    this.registerOutputs({
      nodeName: this.nodeName,
      containerName: this.containerName,
      state: this.state,
      cpus: this.cpus,
      memoryMb: this.memoryMb,
      slurmVersion: this.slurmVersion,
    });
  }
}
