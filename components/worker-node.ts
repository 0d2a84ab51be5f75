import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ClusterSpec, WorkerSpec } from "../config";
import { WorkerContainerSettings } from "../config/render";
import { mungeKeyUpload } from "./container-parts";
import { dockerLabels } from "./labels";
import { NodeRegistration } from "./node-registration";

export interface WorkerNodeArgs {
  /** The validated cluster spec. */
  spec: ClusterSpec;
  /** Which worker this is. */
  worker: WorkerSpec;
  /** Container settings for the spec's cgroupMode and host cgroup version. */
  settings: WorkerContainerSettings;
  /** The worker image (the Slurm image, or its systemd variant). */
  image: pulumi.Input<string>;
  /** The cluster's private Docker network name. */
  network: pulumi.Input<string>;
  /** The munge key, base64, secret. */
  mungeKeyBase64: pulumi.Input<string>;
  /** Rendered slurm.conf and cgroup.conf. */
  slurmConf: string;
  cgroupConf: string;
  /** The shared volume's name, mounted at spec.sharedMountPath. */
  sharedVolume: pulumi.Input<string>;
  /** The controller's container name: the registration check asks slurmctld there. */
  controllerContainer: pulumi.Input<string>;
}

/** One slurmd container, and the check that it registered with the controller as usable. */
export class WorkerNode extends pulumi.ComponentResource {
  public readonly container: docker.Container;
  public readonly registration: NodeRegistration;
  public readonly nodeName: pulumi.Output<string>;
  public readonly state: pulumi.Output<string>;

  constructor(name: string, args: WorkerNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("slurm:index:WorkerNode", name, {}, opts);
    const { spec, worker, settings } = args;

    this.container = new docker.Container(
      `${name}-slurmd`,
      {
        name: worker.containerName,
        hostname: worker.nodeName,
        image: args.image,
        command: settings.command,
        labels: dockerLabels(spec, "worker"),
        networksAdvanced: [{ name: args.network, aliases: [worker.nodeName] }],
        mounts: [{ type: "volume", source: args.sharedVolume, target: spec.sharedMountPath }, ...settings.mounts],
        uploads: [
          mungeKeyUpload(args.mungeKeyBase64),
          { file: "/etc/slurm/slurm.conf", content: args.slurmConf },
          { file: "/etc/slurm/cgroup.conf", content: args.cgroupConf },
        ],
        capabilities: settings.capabilityAdds.length > 0 ? { adds: settings.capabilityAdds } : undefined,
        securityOpts: settings.securityOpts.length > 0 ? settings.securityOpts : undefined,
        privileged: settings.privileged || undefined,
        cgroupnsMode: settings.cgroupnsMode,
        tmpfs: Object.keys(settings.tmpfs).length > 0 ? settings.tmpfs : undefined,
        stopSignal: settings.stopSignal,
        memory: spec.workerMemoryMb + settings.memoryHeadroomMb,
        healthcheck: {
          tests: settings.healthcheck,
          interval: "5s",
          timeout: "5s",
          retries: 3,
          startPeriod: "10s",
        },
        restart: "unless-stopped",
      },
      // Workers start after the controller; the caller names it.
      { parent: this, dependsOn: opts?.dependsOn },
    );

    this.registration = new NodeRegistration(
      `${name}-registration`,
      {
        controllerContainer: args.controllerContainer,
        workerContainer: this.container.name,
        workerContainerId: this.container.id,
        nodeName: worker.nodeName,
        timeoutSeconds: spec.registrationTimeoutSeconds,
        logCommand: settings.logCommand,
      },
      { parent: this },
    );

    this.nodeName = pulumi.output(worker.nodeName);
    this.state = this.registration.state;
    this.registerOutputs({ nodeName: this.nodeName, state: this.state });
  }
}
