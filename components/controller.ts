import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ClusterSpec } from "../config";
import { SLURMCTLD_HTTP_KEY_PATH, SLURMCTLD_PORT, STATE_SAVE_LOCATION } from "../config/render";
import { SRUN_PORTS } from "../config/spec";
import {
  REPLACE_ON_CHANGES, STOP_GRACE_SECONDS, SlurmNodeFiles, TYPE_PREFIX, httpReadinessCheck, jwtKeyUpload, onNetwork, readinessCheck, sharedMount, slurmUploads,
} from "./container-parts";
import { dockerLabels } from "./labels";
import { containerBaseline } from "../config/render/container-baseline";

export interface ControllerArgs {
  /** The part of the validated spec it reads. */
  readonly spec: Pick<ClusterSpec, "volumes" | "containers" | "hosts" | "advertiseAddress" | "sharedMountPath" | "labels" | "serviceMemoryMb" | "userProcessLimit" | "slurmRelease">;
  /** The Slurm image (runs slurmctld). */
  readonly slurmImage: pulumi.Input<string>;
  /** Network, munge key, Slurm config files and shared volume. */
  readonly files: SlurmNodeFiles;
  /** The REST API's JWT key, base64, secret. */
  readonly jwtKeyBase64: pulumi.Input<string>;
  /** Slurm 26.05 with monitoring: the key slurmctld's HTTP listener checks the metrics token with, base64, secret. */
  readonly metricsKeyBase64?: pulumi.Input<string>;
}

/**
 * Ready when slurmctld serves requests: on 26.05 its own /readyz on SlurmctldPort (no credential,
 * no RPC); 24.11 has no HTTP listener, so an `scontrol ping` (a munge credential and an RPC).
 */
export function controllerReadiness(spec: Pick<ClusterSpec, "slurmRelease">) {
  return spec.slurmRelease === "26.05" ? httpReadinessCheck(SLURMCTLD_PORT, "/readyz") : readinessCheck(["CMD", "scontrol", "ping"]);
}

/**
 * With advertiseAddress set, other machines' workers join: slurmctld's port and srun's ports are
 * published there (only there). slurmdbd and the database are never published.
 */
function publishedForOtherMachines(spec: ControllerArgs["spec"]) {
  if (!spec.advertiseAddress) return undefined;
  const srun = Array.from({ length: SRUN_PORTS.last - SRUN_PORTS.first + 1 }, (_, i) => SRUN_PORTS.first + i);
  return [SLURMCTLD_PORT, ...srun].map((port) => ({ internal: port, external: port, ip: spec.advertiseAddress, protocol: "tcp" }));
}

/** slurmctld, with its StateSaveLocation on a named volume so state survives a new container. */
export class Controller extends pulumi.ComponentResource {
  public readonly containerName: pulumi.Output<string>;
  public readonly address: pulumi.Output<string>;
  public readonly stateSaveVolume: pulumi.Output<string>;

  constructor(name: string, args: ControllerArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}:index:Controller`, name, {}, opts);
    const { spec, files } = args;

    const stateSave = new docker.Volume(
      `${name}-statesave`,
      { name: spec.volumes.stateSave, labels: dockerLabels(spec, "controller") },
      { parent: this, retainOnDelete: true },
    );

    const container = new docker.Container(
      `${name}-slurmctld`,
      {
        name: spec.containers.controller,
        hostname: spec.hosts.controller,
        image: args.slurmImage,
        ...containerBaseline(spec, "controller"),
        command: ["controller"],
        labels: dockerLabels(spec, "controller"),
        networksAdvanced: onNetwork(files, spec.hosts.controller),
        mounts: [{ type: "volume", source: stateSave.name, target: STATE_SAVE_LOCATION }, sharedMount(spec, files)],
        uploads: [
          ...slurmUploads(files),
          jwtKeyUpload(args.jwtKeyBase64),
          ...(args.metricsKeyBase64 ? [{ file: SLURMCTLD_HTTP_KEY_PATH, contentBase64: args.metricsKeyBase64, permissions: "0600" }] : []),
        ],
        ports: publishedForOtherMachines(spec),
        healthcheck: controllerReadiness(spec),
        wait: true,
        waitTimeout: 240,
        restart: "unless-stopped",
        // slurmctld writes its state on SIGTERM; without time for it, recent jobs are lost.
        destroyGraceSeconds: STOP_GRACE_SECONDS,
      },
      // slurmctld registers the cluster with slurmdbd at start, so it waits for what the caller names.
      { parent: this, dependsOn: opts?.dependsOn, replaceOnChanges: REPLACE_ON_CHANGES },
    );

    this.containerName = container.name;
    this.address = container.networkDatas.apply((n) => n?.[0]?.ipAddress ?? "");
    this.stateSaveVolume = stateSave.name;
    this.registerOutputs({
      containerName: this.containerName,
      address: this.address,
      stateSaveVolume: this.stateSaveVolume,
    });
  }
}
