import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ClusterSpec } from "../config";
import { STATE_SAVE_LOCATION } from "../config/render";
import { mungeKeyUpload, readinessCheck } from "./container-parts";
import { dockerLabels } from "./labels";

export interface ControllerArgs {
  /** The validated cluster spec. */
  spec: ClusterSpec;
  /** The Slurm image (runs slurmctld). */
  slurmImage: pulumi.Input<string>;
  /** The cluster's private Docker network name. */
  network: pulumi.Input<string>;
  /** The munge key, base64, secret. */
  mungeKeyBase64: pulumi.Input<string>;
  /** Rendered slurm.conf and cgroup.conf. */
  slurmConf: string;
  cgroupConf: string;
  /** The shared volume's name, mounted at spec.sharedMountPath. */
  sharedVolume: pulumi.Input<string>;
}

/** slurmctld, with its StateSaveLocation on a named volume so state survives a new container. */
export class Controller extends pulumi.ComponentResource {
  public readonly container: docker.Container;
  public readonly containerName: pulumi.Output<string>;
  public readonly address: pulumi.Output<string>;
  public readonly stateSaveVolume: pulumi.Output<string>;

  constructor(name: string, args: ControllerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("slurm:index:Controller", name, {}, opts);
    const { spec } = args;

    const stateSave = new docker.Volume(
      `${name}-statesave`,
      { name: spec.volumes.stateSave, labels: dockerLabels(spec, "controller") },
      { parent: this, retainOnDelete: true },
    );

    this.container = new docker.Container(
      `${name}-slurmctld`,
      {
        name: spec.containers.controller,
        hostname: spec.hosts.controller,
        image: args.slurmImage,
        command: ["controller"],
        labels: dockerLabels(spec, "controller"),
        networksAdvanced: [{ name: args.network, aliases: [spec.hosts.controller] }],
        mounts: [
          { type: "volume", source: stateSave.name, target: STATE_SAVE_LOCATION },
          { type: "volume", source: args.sharedVolume, target: spec.sharedMountPath },
        ],
        uploads: [
          mungeKeyUpload(args.mungeKeyBase64),
          { file: "/etc/slurm/slurm.conf", content: args.slurmConf },
          { file: "/etc/slurm/cgroup.conf", content: args.cgroupConf },
        ],
        healthcheck: readinessCheck(["CMD", "scontrol", "ping"]),
        wait: true,
        waitTimeout: 240,
        restart: "unless-stopped",
      },
      // slurmctld registers the cluster with slurmdbd at start, so it waits for what the caller names.
      { parent: this, dependsOn: opts?.dependsOn },
    );

    this.containerName = this.container.name;
    this.address = this.container.networkDatas.apply((n) => n?.[0]?.ipAddress ?? "");
    this.stateSaveVolume = stateSave.name;
    this.registerOutputs({
      containerName: this.containerName,
      address: this.address,
      stateSaveVolume: this.stateSaveVolume,
    });
  }
}
