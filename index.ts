import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { loadClusterSpec } from "./config";
import { renderCgroupConf, renderSlurmConf, workerContainerSettings } from "./config/render";
import { Controller } from "./components/controller";
import { imageName, projectImage } from "./components/image";
import { dockerLabels } from "./components/labels";
import { MonitoringStack } from "./components/monitoring-stack";
import { MungeKey } from "./components/munge-key";
import { SlurmDb } from "./components/slurm-db";
import { WorkerNode } from "./components/worker-node";

// The program: stack config -> validated spec -> rendered Slurm files -> components -> outputs.
// Exported as a function so the same program runs under `pulumi up` and under the test engine.
export = async () => {
  const spec = await loadClusterSpec(); // throws before any resource exists when config is bad
  const slurmConf = renderSlurmConf(spec);
  const cgroupConf = renderCgroupConf(spec);

  const network = new docker.Network("network", {
    name: spec.network,
    driver: "bridge",
    labels: dockerLabels(spec, "network"),
  });
  const sharedVolume = new docker.Volume(
    "shared",
    { name: spec.volumes.shared, labels: dockerLabels(spec, "shared") },
    { retainOnDelete: true }, // users' job files live here
  );
  const slurmImage = projectImage("slurm-image", "slurm", { BASE_IMAGE: spec.baseImage }, {});
  const workerSettings = workerContainerSettings(spec);
  // systemd workers run a variant built FROM the Slurm image.
  const workerImage =
    workerSettings.image === "slurm-systemd"
      ? projectImage("slurm-systemd-image", "slurm-systemd", { SLURM_IMAGE: imageName("slurm", { BASE_IMAGE: spec.baseImage }) }, { dependsOn: [slurmImage] })
      : slurmImage;
  const munge = new MungeKey("munge");

  const db = new SlurmDb("accounting", {
    spec,
    slurmImage: slurmImage.imageName,
    network: network.name,
    mungeKeyBase64: munge.keyBase64,
  });

  const controller = new Controller(
    "controller",
    {
      spec,
      slurmImage: slurmImage.imageName,
      network: network.name,
      mungeKeyBase64: munge.keyBase64,
      slurmConf,
      cgroupConf,
      sharedVolume: sharedVolume.name,
    },
    { dependsOn: [db.slurmdbd] },
  );

  const workers = spec.workers.map(
    (worker) =>
      new WorkerNode(
        worker.nodeName,
        {
          spec,
          worker,
          settings: workerSettings,
          image: workerImage.imageName,
          network: network.name,
          mungeKeyBase64: munge.keyBase64,
          slurmConf,
          cgroupConf,
          sharedVolume: sharedVolume.name,
          controllerContainer: controller.containerName,
        },
        { dependsOn: [controller.container] },
      ),
  );

  const monitoring = spec.monitoring
    ? new MonitoringStack(
        "monitoring",
        {
          spec,
          monitoring: spec.monitoring,
          network: network.name,
          slurmImageName: imageName("slurm", { BASE_IMAGE: spec.baseImage }),
          slurmImage,
          mungeKeyBase64: munge.keyBase64,
          slurmConf,
        },
        { dependsOn: [controller.container] },
      )
    : undefined;

  // Stack outputs: stable names, read by dashboards and scripts (documented in the README).
  return {
    clusterName: spec.clusterName,
    slurmVersion: workers[0].registration.slurmVersion,
    cgroupMode: spec.cgroupMode,
    hostCgroupVersion: spec.hostCgroupVersion,
    network: network.name,
    controller: {
      containerName: controller.containerName,
      hostname: spec.hosts.controller,
      address: controller.address,
      stateSaveVolume: controller.stateSaveVolume,
    },
    nodes: workers.map((w) => ({
      name: w.registration.nodeName,
      containerName: w.container.name,
      state: w.registration.state,
      cpus: w.registration.cpus,
      memoryMb: w.registration.memoryMb,
    })),
    database: {
      host: spec.hosts.database,
      address: db.databaseAddress,
      port: spec.database.port,
      name: spec.database.name,
      user: spec.database.user,
      password: db.password,
    },
    sharedVolume: { name: sharedVolume.name, mountPath: spec.sharedMountPath },
    monitoring: monitoring
      ? {
          prometheusUrl: monitoring.prometheusUrl,
          slurmExporterUrl: monitoring.slurmExporterUrl,
          grafanaUrl: monitoring.grafanaUrl ?? null,
          grafanaAdminUser: monitoring.grafanaAdminUser ?? null,
          grafanaAdminPassword: monitoring.grafanaAdminPassword ?? null,
        }
      : null,
  } satisfies Record<string, pulumi.Input<unknown>>;
};
