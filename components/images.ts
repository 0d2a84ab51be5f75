import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ClusterSpec } from "../config";
import { workerContainerSettings } from "../config/render";
import { imageName, projectImage } from "./image";

/** Every image the stack builds, declared in one place. Monitoring images only when monitoring is on. */
export interface ClusterImages {
  /** The Slurm daemons' image (controller, slurmdbd, REST, exporter): Slurm and munge only. */
  readonly slurm: docker.Image;
  /**
   * The workers' image: the Slurm image with the job runtimes (jobRuntimes=true) or without, and
   * for cgroupMode=systemd its systemd variant built FROM that.
   */
  readonly worker: docker.Image;
  /** The login node's image (cluster stacks): the Slurm image with OpenSSH's server. */
  readonly login?: docker.Image;
  readonly database: docker.Image;
  readonly monitoring?: docker.Image;
  readonly slurmExporter?: docker.Image;
}

/**
 * Build arguments of the images built FROM the Debian base: the base and the Slurm release it
 * must provide (the Slurm image's build checks it; every tag starts with it).
 */
export function releaseBuildArgs(spec: Pick<ClusterSpec, "baseImage" | "slurmRelease">): Record<string, string> {
  return { BASE_IMAGE: spec.baseImage, SLURM_RELEASE: spec.slurmRelease };
}

export function declareImages(spec: ClusterSpec, opts: pulumi.CustomResourceOptions): ClusterImages {
  const { slurm, worker } = declareWorkerImages(spec, opts);
  const base = releaseBuildArgs(spec);
  const fromSlurm = { SLURM_IMAGE: imageName("slurm", base, spec.platform), SLURM_RELEASE: spec.slurmRelease };
  const afterSlurm = { ...opts, dependsOn: [slurm] };
  return {
    slurm,
    worker,
    login: spec.login ? projectImage("login-image", "slurm-login", fromSlurm, spec.platform, afterSlurm) : undefined,
    database: projectImage("database-image", "mariadb", base, spec.platform, opts),
    monitoring: spec.monitoring ? projectImage("monitoring-image", "monitoring", base, spec.platform, opts) : undefined,
    slurmExporter: spec.monitoring ? projectImage("slurm-exporter-image", "slurm-exporter", fromSlurm, spec.platform, afterSlurm) : undefined,
  };
}

/** The Slurm image and the workers' image, for spec.platform. */
export function declareWorkerImages(spec: ClusterSpec, opts: pulumi.CustomResourceOptions): Pick<ClusterImages, "slurm" | "worker"> {
  const base = releaseBuildArgs(spec);
  const slurm = projectImage("slurm-image", "slurm", base, spec.platform, opts);
  // Images built FROM another name it by its content-hash tag, and build after it.
  const fromSlurm = { SLURM_IMAGE: imageName("slurm", base, spec.platform), SLURM_RELEASE: spec.slurmRelease };
  const runtimes = spec.jobRuntimes
    ? projectImage("slurm-worker-image", "slurm-worker", fromSlurm, spec.platform, { ...opts, dependsOn: [slurm] })
    : slurm;
  if (workerContainerSettings(spec).image !== "slurm-systemd") return { slurm, worker: runtimes };
  const fromRuntimes = { SLURM_IMAGE: spec.jobRuntimes ? imageName("slurm-worker", fromSlurm, spec.platform) : fromSlurm.SLURM_IMAGE, SLURM_RELEASE: spec.slurmRelease };
  const worker = projectImage("slurm-systemd-image", "slurm-systemd", fromRuntimes, spec.platform, { ...opts, dependsOn: [runtimes] });
  return { slurm, worker };
}
